"""Linear probes on frozen, cached image features.

The linear-evaluation protocol of ConVIRT, GLoRIA and IGCL: freeze the pretrained image
encoder, cache its (projected, un-normalised) embeddings, and train one linear layer to
predict the labels. The probe is tiny, so it trains on cached features in seconds and the
protocol can repeat it over label fractions and seeds.

Loss. By default each label is its own binary logistic regression:

.. math::
    \\mathcal{L}(W, b) = \\sum_j \\Big[\\frac{1}{|\\Omega_j|}\\sum_{i \\in \\Omega_j}
        \\operatorname{BCE}\\big(\\sigma(x_i^\\top w_j + b_j),\\, y_{ij}\\big)
        + \\frac{\\lambda}{2}\\lVert w_j \\rVert^2\\Big]

where :math:`\\Omega_j` holds the images whose label :math:`j` is given (NaN labels are
masked, not counted as negatives). The labels' problems are independent: label
:math:`j` alone is an L2-regularised logistic regression. With ``loss="softmax_ce"`` the probe reproduces the
reference implementation's quirk instead: one softmax over the labels and cross-entropy
against the multi-hot target, :math:`-\\sum_j y_{ij} \\log \\operatorname{softmax}(z_i)_j`.
That couples the labels (an image cannot be confidently positive for two of them) and is
offered only to reproduce the reference's numbers.

Model selection. The probe is trained for ``epochs`` epochs and the epoch with the best
mean validation AUROC (over labels with both classes in the validation set) is kept; among
epochs with equal validation AUROC the latest wins (a small validation set saturates within
an epoch or two, and the first of many tied epochs is a barely trained probe). Training
stops ``patience`` epochs after the last such epoch.

``solver="lbfgs"`` minimises the same objective full-batch to convergence without epoch
selection; with ``weight_decay = 1 / (C * n)`` and unstandardised features it reaches
scikit-learn's ``LogisticRegression(C=C)`` optimum, which the tests use as the reference.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["ProbeConfig", "LinearProbe", "train_linear_probe", "probe_scores", "mean_auroc"]

log = logging.getLogger(__name__)

Array = np.ndarray


@dataclass
class ProbeConfig:
    """Hyper-parameters of a linear probe.

    Args:
        loss: ``"bce"`` (per-label binary logistic loss, the default) or ``"softmax_ce"``
            (the reference implementation's softmax cross-entropy over multi-hot targets).
        epochs: passes over the training features; the best epoch on validation is kept.
        lr: Adam learning rate (on standardised features, 1e-2 reaches weights of order
            one within a hundred steps, so even a 1% subset, one batch per epoch, trains).
        weight_decay: L2 penalty ``lambda`` on the weights (not the bias), added to each
            label's mean loss as ``lambda / 2 * ||w_j||^2``.
        batch_size: mini-batch size (Adam); capped at the training-set size.
        standardize: z-score features with the training mean/std before the linear layer
            (the same linear family; it only conditions the optimisation).
        solver: ``"adam"`` (mini-batch, epoch selection on validation) or ``"lbfgs"``
            (full batch to convergence, no selection).
        patience: stop after this many epochs without validation improvement (None: never).
        seed: seeds initialisation and batch order.
        threads: torch intra-op threads while the probe trains (restored afterwards). A
            linear layer on a few thousand rows is far faster on one thread: with more,
            each tiny op pays thread wake-ups, 4x slower measured on 2 busy cores.
            ``None`` leaves torch's setting alone.
    """

    loss: Literal["bce", "softmax_ce"] = "bce"
    epochs: int = 100
    lr: float = 1e-2
    weight_decay: float = 0.0
    batch_size: int = 64
    standardize: bool = True
    solver: Literal["adam", "lbfgs"] = "adam"
    patience: int | None = 20
    seed: int = 0
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.loss not in ("bce", "softmax_ce"):
            raise ValueError(f"ProbeConfig.loss must be 'bce' or 'softmax_ce'; got {self.loss!r}")
        if self.solver not in ("adam", "lbfgs"):
            raise ValueError(f"ProbeConfig.solver must be 'adam' or 'lbfgs'; got {self.solver!r}")
        if self.epochs < 1:
            raise ValueError(f"ProbeConfig.epochs must be >= 1; got {self.epochs}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LinearProbe:
    """A trained probe: ``scores = f((x - mean) / std @ weight + bias)``.

    ``f`` is the sigmoid for ``loss="bce"`` and the softmax over labels for
    ``"softmax_ce"``; AUROC only needs the ranking, which :meth:`decision_function`
    (the logits) gives for the BCE probe.
    """

    weight: Array                # [D, L]
    bias: Array                  # [L]
    mean: Array                  # [D]
    std: Array                   # [D]
    loss: str = "bce"
    best_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def decision_function(self, x: Array) -> Array:
        """Logits ``[N, L]``."""
        x = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        return x @ self.weight + self.bias

    def predict_scores(self, x: Array) -> Array:
        """Probabilities ``[N, L]`` (sigmoid per label, or softmax over labels)."""
        z = self.decision_function(x)
        if self.loss == "softmax_ce":
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=1, keepdims=True)
        return 1.0 / (1.0 + np.exp(-z))


def mean_auroc(y_true: Array, y_score: Array) -> float:
    """Mean per-label AUROC over labels that have both classes among their given values.

    NaN when no label qualifies. The values equal :func:`sklearn.metrics.roc_auc_score`'s
    (computed by the vectorised path of :mod:`graphclr.eval.metrics`, which the tests check
    against scikit-learn), because this runs after every probe epoch.
    """
    from graphclr.eval.metrics import _replicates

    vals = _replicates(np.asarray(y_true, dtype=float), [np.asarray(y_score, dtype=float)],
                       ("auroc",), None)[0, :, 0]
    vals = vals[np.isfinite(vals)]
    return float(np.mean(vals)) if len(vals) else float("nan")


def _check_xy(x: Array, y: Array, what: str) -> tuple[Array, Array]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"{what}: features must be [N, D] and labels [N, L] with the same N; "
                         f"got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError(f"{what}: no examples")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: features contain NaN or inf")
    return x, y


def _loss(logits: Any, y: Any, mask: Any, kind: str) -> Any:
    import torch
    import torch.nn.functional as F

    if kind == "softmax_ce":
        return -(y * mask * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    per = F.binary_cross_entropy_with_logits(logits, y, reduction="none") * mask
    return (per.sum(dim=0) / mask.sum(dim=0).clamp_min(1.0)).sum()


def train_linear_probe(train_x: Array, train_y: Array, config: ProbeConfig | None = None, *,
                       val_x: Array | None = None, val_y: Array | None = None,
                       device: str = "cpu") -> LinearProbe:
    """Train a linear probe on cached features.

    Args:
        train_x: ``[N, D]`` frozen features.
        train_y: ``[N, L]`` labels, 1/0, NaN = not given (masked out of the loss).
        config: hyper-parameters (defaults: BCE, Adam lr 1e-2, batch 64, 100 epochs,
            patience 20).
        val_x, val_y: validation features/labels for epoch selection (Adam solver). Without
            them the last epoch is kept.
        device: torch device for training (the features are small; CPU is usually fine).

    Returns:
        the probe with the selected epoch's weights and the per-epoch ``history``
        (``{"epoch", "train_loss", "val_mean_auroc"}``).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 4)); y = (x[:, :2] > 0).astype(float)
        >>> probe = train_linear_probe(x, y, ProbeConfig(epochs=30, lr=0.05), val_x=x, val_y=y)
        >>> mean_auroc(y, probe.predict_scores(x)) > 0.95
        True
    """
    import torch

    cfg = config or ProbeConfig()
    if cfg.threads is None:
        return _train(train_x, train_y, cfg, val_x, val_y, device)
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(train_x, train_y, cfg, val_x, val_y, device)
    finally:
        torch.set_num_threads(before)


def _train(train_x: Array, train_y: Array, cfg: ProbeConfig, val_x: Array | None,
           val_y: Array | None, device: str) -> LinearProbe:
    import torch

    x, y = _check_xy(train_x, train_y, "training set")
    if val_x is not None and val_y is not None:
        vx, vy = _check_xy(val_x, val_y, "validation set")
        if vx.shape[1] != x.shape[1] or vy.shape[1] != y.shape[1]:
            raise ValueError(f"validation set has {vx.shape[1]} features/{vy.shape[1]} labels; "
                             f"training set has {x.shape[1]}/{y.shape[1]}")
    else:
        vx = vy = None
    if cfg.standardize:
        mean = x.mean(axis=0).astype(np.float64)
        std = x.std(axis=0).astype(np.float64)
        std[std < 1e-8] = 1.0
    else:
        mean = np.zeros(x.shape[1])
        std = np.ones(x.shape[1])
    gen = torch.Generator().manual_seed(cfg.seed)
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32, device=device)
    mask = torch.as_tensor(~np.isnan(y), dtype=torch.float32, device=device)
    yt = torch.as_tensor(np.nan_to_num(y, nan=0.0), dtype=torch.float32, device=device)
    n, d = xt.shape
    n_labels = yt.shape[1]
    layer = torch.nn.Linear(d, n_labels).to(device)
    with torch.no_grad():  # seeded init, independent of the global RNG
        bound = 1.0 / np.sqrt(d)
        layer.weight.copy_(torch.empty(n_labels, d).uniform_(-bound, bound, generator=gen))
        layer.bias.zero_()

    def objective(idx: Any = None) -> Any:
        xb, yb, mb = (xt, yt, mask) if idx is None else (xt[idx], yt[idx], mask[idx])
        loss = _loss(layer(xb), yb, mb, cfg.loss)
        if cfg.weight_decay:
            loss = loss + 0.5 * cfg.weight_decay * layer.weight.pow(2).sum()
        return loss

    def snapshot() -> LinearProbe:
        return LinearProbe(layer.weight.detach().cpu().double().numpy().T.copy(),
                           layer.bias.detach().cpu().double().numpy().copy(), mean, std, cfg.loss)

    history: list[dict[str, float]] = []
    if cfg.solver == "lbfgs":
        opt = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=cfg.epochs * 50,
                                tolerance_grad=1e-10, tolerance_change=1e-14,
                                history_size=50, line_search_fn="strong_wolfe")

        def closure() -> Any:
            opt.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        final = float(opt.step(closure))
        probe = snapshot()
        probe.history = [{"epoch": 1, "train_loss": final}]
        probe.best_epoch = 1
        return probe

    opt = torch.optim.Adam(layer.parameters(), lr=cfg.lr)
    bs = max(1, min(cfg.batch_size, n))
    best: tuple[float, int, LinearProbe] | None = None
    since_best = 0
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, bs):
            idx = perm[start:start + bs].to(device)
            opt.zero_grad()
            loss = objective(idx)
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        rec = {"epoch": epoch, "train_loss": total / n}
        if vx is not None:
            current = snapshot()
            score = mean_auroc(vy, current.decision_function(vx) if cfg.loss == "bce"
                               else current.predict_scores(vx))
            rec["val_mean_auroc"] = score
            # ties go to the later epoch: a small validation set often reaches its best
            # AUROC (even 1.0) within an epoch or two and then cannot tell epochs apart;
            # keeping the first would stop at a barely trained probe
            if best is None or (np.isfinite(score) and (not np.isfinite(best[0]) or score >= best[0])):
                best = (score, epoch, current)
                since_best = 0
            else:
                since_best += 1
        history.append(rec)
        if cfg.patience is not None and vx is not None and since_best >= cfg.patience:
            break
    if best is None:
        probe = snapshot()
        probe.best_epoch = len(history)
    else:
        probe = copy.copy(best[2])
        probe.best_epoch = best[1]
    probe.history = history
    return probe


def probe_scores(probe: LinearProbe, x: Array) -> Array:
    """The scores the protocol ranks: logits for BCE probes, softmax for ``softmax_ce``."""
    return probe.decision_function(x) if probe.loss == "bce" else probe.predict_scores(x)
