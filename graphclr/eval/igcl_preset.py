r"""The ``igcl`` evaluation preset: the reference IGCL/CXR-Learn CheXpert protocol, switch by switch.

graphclr's default protocol (:mod:`graphclr.eval.protocol`) masks blank and uncertain
labels, trains per-label BCE probes on standardised features and averages per-seed metrics.
This preset instead reproduces rajpurkarlab/IGCL's evaluation (``tuning/train/
chexpert_finetuning.py``, ``tuning/test/chexpert_eval.py``); each behaviour is a field of
:class:`IGCLPresetCfg`:

* **labels** (``labels``): Atelectasis, Cardiomegaly, Consolidation, Edema, No Finding,
  Pleural Effusion, in that order.
* **targets** (``blank_to_zero``, ``uncertain_to_one``): blank -> 0, then ``|y|``, so
  uncertain -1 -> 1 (U-Ones), for train, validation and test (:func:`reference_targets`).
* **probe** (``loss="softmax_ce"``, ``lr``, ``eps``, ``batch_size``, ``epochs``): one
  ``Linear(D, 6)`` on the raw (unstandardised) features, ``torch.nn.CrossEntropyLoss`` on
  the multi-hot target, :math:`-\frac1B\sum_i\sum_j y_{ij}\log\mathrm{softmax}(z_i)_j`,
  Adam (lr 5e-3, eps 1e-7), batch 32 with the last partial batch kept, 10 epochs;
  scores are the **logits** (:func:`train_reference_probe`).
* **epoch rule** (``selection="first_best"``): after each epoch, the mean over labels
  (NaN-skipping, No Finding included) of the validation AUROC; an epoch is kept only if
  it is strictly better than every earlier one, starting from 0, so the *first* best wins.
* **label fractions** (``subset_random_state=42``): ``train_test_split(range(N),
  test_size=1 - fraction, random_state=42)`` over images (every view, no patient
  grouping), the same subset for every run (:func:`fraction_subset_indices`); fraction 1
  is the whole set (the reference's call fails there).
* **few-shot** (``few_shot_seed``): for each label in turn, draw image indices uniformly
  (``randint(0, N-1)``) until ``K`` images with a *raw* label of exactly 1 are found, never
  reusing an index. The reference drew from Python's unseeded global RNG; here it is a
  ``random.Random(seed)`` (:func:`few_shot_indices`).
* **reporting** (``pool_runs``, ``mean_excludes``, ``n_bootstrap``, ``alpha``): the runs'
  test predictions are concatenated (``R x N`` rows, labels repeated) and scored as one
  set; per-label AUROC and MCC, their means leaving out No Finding; 1000 bootstrap
  resamples of the pooled rows; the interval is the reference's ``compute_cis``: the
  sorted replicates at positions ``int(alpha/2 n) - 1`` and ``int((1 - alpha/2) n) - 1``,
  with the replicates' mean (:func:`pooled_bootstrap`).
* **MCC**: binarised as the reference did: positive when the score is ``>=`` the
  ``p``-th largest score (``p`` positives; ties may add positives), then
  ``matthews_corrcoef`` (:func:`reference_mcc`).
* **paired difference** (:func:`paired_difference_bootstrap`): model A minus model B on
  the same resampled rows, per label and for the means.

Resampling is seeded (``bootstrap_seed``); the reference's ``sklearn.utils.resample``
was not. Replicates where a label has one class give NaN for it and are left out of that
label's interval (the reference kept NaNs in its sorted list).

Examples:
    >>> import numpy as np
    >>> reference_targets(np.array([[1.0, -1.0, np.nan, 0.0]])).tolist()
    [[1.0, 1.0, 0.0, 0.0]]
    >>> reference_mcc(np.array([1, 0, 1, 0]), np.array([0.9, 0.5, 0.5, 0.1]))  # 3 called positive
    0.5773502691896258
"""

from __future__ import annotations

import logging
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphclr.nn._config import dataclass_from_dict

__all__ = ["IGCL_LABELS", "IGCLPresetCfg", "reference_targets", "fraction_subset_indices",
           "few_shot_indices", "train_reference_probe", "ReferenceProbe", "reference_mcc",
           "pooled_bootstrap", "paired_difference_bootstrap", "reference_interval",
           "igcl_probe_eval", "run_igcl"]

log = logging.getLogger(__name__)

IGCL_LABELS: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                                "No Finding", "Pleural Effusion")


@dataclass(frozen=True)
class IGCLPresetCfg:
    """Every switch of the ``igcl`` preset (see the module doc); defaults = the reference."""

    labels: tuple[str, ...] = IGCL_LABELS
    blank_to_zero: bool = True
    uncertain_to_one: bool = True
    loss: str = "softmax_ce"
    lr: float = 5e-3
    eps: float = 1e-7
    batch_size: int = 32
    epochs: int = 10
    selection: str = "first_best"
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    subset_random_state: int = 42
    few_shot_ks: tuple[int, ...] = ()
    few_shot_seed: int = 0
    num_runs: int = 5
    pool_runs: bool = True
    mean_excludes: tuple[str, ...] = ("No Finding",)
    n_bootstrap: int = 1000
    alpha: float = 0.05
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        checks = [("loss", self.loss in ("softmax_ce",), "'softmax_ce'"),
                  ("selection", self.selection in ("first_best",), "'first_best'"),
                  ("epochs", self.epochs >= 1, ">= 1"), ("batch_size", self.batch_size >= 1, ">= 1"),
                  ("num_runs", self.num_runs >= 1, ">= 1"), ("alpha", 0 < self.alpha < 1, "in (0, 1)"),
                  ("fractions", all(0 < f <= 1 for f in self.fractions), "each in (0, 1]"),
                  ("few_shot_ks", all(k >= 1 for k in self.few_shot_ks), "each >= 1"),
                  ("n_bootstrap", self.n_bootstrap >= 0, ">= 0")]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"igcl preset: {name}={getattr(self, name)!r}; allowed: {allowed}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "igcl preset") -> IGCLPresetCfg:
        """Strict: an unknown field is an error naming ``where``; JSON lists become tuples."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return dataclass_from_dict(cls, data, where)

    @classmethod
    def from_json(cls, value: Any, where: str) -> IGCLPresetCfg:
        """The ``evaluations.igcl`` section of a spec (``{}`` or ``null``: the reference)."""
        return cls.from_dict({} if value is None else value, where=where)


def reference_targets(raw: np.ndarray, *, blank_to_zero: bool = True,
                      uncertain_to_one: bool = True) -> np.ndarray:
    """The reference's training/evaluation targets from raw CheXpert values (1, 0, -1, NaN)."""
    y = np.array(raw, dtype=np.float32, copy=True)
    if blank_to_zero:
        y = np.nan_to_num(y, nan=0.0)
    if uncertain_to_one:
        y = np.abs(y)
    return y


def fraction_subset_indices(n: int, fraction: float, random_state: int = 42) -> np.ndarray:
    """Training rows kept at ``fraction``: sklearn's ``train_test_split`` train part."""
    from sklearn.model_selection import train_test_split

    if fraction >= 1.0:
        return np.arange(n)
    train, _ = train_test_split(np.arange(n), test_size=1 - fraction, random_state=random_state)
    return np.asarray(train)


def few_shot_indices(raw: np.ndarray, k: int, seed: int, labels: Sequence[str] | None = None) -> np.ndarray:
    """The reference's K-shot draw (module doc), seeded; ``raw`` holds raw labels ``[N, L]``."""
    raw = np.asarray(raw, dtype=float)
    n, n_labels = raw.shape
    rng = random.Random(seed)
    chosen: list[int] = []
    taken: set[int] = set()
    for j in range(n_labels):
        available = int(sum(1 for i in np.flatnonzero(raw[:, j] == 1) if i not in taken))
        if available < k:
            name = labels[j] if labels else f"label {j}"
            raise ValueError(f"few-shot K={k}: {name} has only {available} unused positive images")
        found = 0
        while found < k:
            i = rng.randint(0, n - 1)
            if i in taken:
                continue
            if raw[i, j] == 1:
                chosen.append(i)
                taken.add(i)
                found += 1
    return np.asarray(chosen, dtype=np.int64)


@dataclass
class ReferenceProbe:
    """``logits = x @ weight + bias`` on raw features; ``best_epoch`` 0 = never selected."""

    weight: np.ndarray            # [D, L]
    bias: np.ndarray              # [L]
    best_epoch: int
    history: list[dict[str, float]]

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.weight + self.bias


def _nanmean_auroc(y: np.ndarray, s: np.ndarray) -> float:
    from graphclr.eval.metrics import auroc

    vals = [auroc(y[:, j], s[:, j]) for j in range(y.shape[1])]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def train_reference_probe(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray,
                          val_y: np.ndarray, cfg: IGCLPresetCfg | None = None, *,
                          seed: int = 0, init: tuple[np.ndarray, np.ndarray] | None = None
                          ) -> ReferenceProbe:
    """The reference's linear probe (module doc) on features and *targets* (0/1 arrays).

    ``seed`` seeds the layer's default ``nn.Linear`` initialisation and the batch order;
    ``init = (weight [D, L], bias [L])`` starts from given weights instead.
    If no epoch ever beats a validation AUROC of 0 (e.g. a validation set with one class
    per label), the last epoch is kept and ``best_epoch`` is 0.
    """
    import torch

    cfg = cfg or IGCLPresetCfg()
    x = torch.as_tensor(np.asarray(train_x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(train_y, dtype=np.float32))
    vx = torch.as_tensor(np.asarray(val_x, dtype=np.float32))
    vy = np.asarray(val_y, dtype=np.float32)
    if not (np.isfinite(train_y).all() and np.isfinite(vy).all()):
        raise ValueError("train_reference_probe takes targets without NaN: apply reference_targets first")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = torch.nn.Linear(x.shape[1], y.shape[1])
    if init is not None:
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(np.asarray(init[0]).T))
            layer.bias.copy_(torch.as_tensor(np.asarray(init[1])))
    opt = torch.optim.Adam(layer.parameters(), lr=cfg.lr, eps=cfg.eps)
    loss_fn = torch.nn.CrossEntropyLoss()          # soft (multi-hot) targets
    best, best_epoch, best_state, history = 0.0, 0, None, []
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            opt.zero_grad()
            loss = loss_fn(layer(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        with torch.no_grad():
            score = _nanmean_auroc(vy, layer(vx).numpy())
        history.append({"epoch": epoch, "train_loss": total / len(x), "val_mean_auroc": score})
        if score > best:                            # strict: the first best epoch wins
            best, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in layer.state_dict().items()}
    if best_state is None:
        log.warning("igcl probe: no epoch beat validation AUROC 0; keeping the last epoch")
        best_state = layer.state_dict()
    return ReferenceProbe(best_state["weight"].double().numpy().T.copy(),
                          best_state["bias"].double().numpy().copy(), best_epoch, history)


def reference_mcc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """MCC with the reference's top-p binarisation (``score >= p``-th largest score).

    As in the reference, a single-class ``y_true`` gives scikit-learn's 0.0 (with ``p = 0``
    the threshold is the smallest score, so everything is called positive).
    """
    from sklearn.metrics import matthews_corrcoef

    y_true = np.asarray(y_true).astype(int)
    y_score = np.asarray(y_score, dtype=float)
    p = int(y_true.sum())
    thresh = np.sort(y_score)[-p]
    return float(matthews_corrcoef(y_true, (y_score >= thresh).astype(int)))


def _metrics(y: np.ndarray, s: np.ndarray, labels: Sequence[str], excludes: Sequence[str]) -> np.ndarray:
    """``[2, L + 1]``: AUROC and MCC per label, then their mean over non-excluded labels."""
    from graphclr.eval.metrics import auroc

    out = np.full((2, len(labels) + 1), np.nan)
    for j in range(len(labels)):
        out[0, j] = auroc(y[:, j], s[:, j])
        out[1, j] = reference_mcc(y[:, j], s[:, j])
    keep = [j for j, name in enumerate(labels) if name not in excludes]
    with warnings.catch_warnings():                 # a replicate may have no finite label
        warnings.simplefilter("ignore", RuntimeWarning)
        out[:, -1] = np.nanmean(out[:, keep], axis=1) if keep else np.nan
    return out


def reference_interval(values: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    """``(mean, lower, upper)`` as the reference's ``compute_cis`` (NaN replicates dropped)."""
    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    lo = max(int(alpha / 2 * len(v)) - 1, 0)
    hi = max(int((1 - alpha / 2) * len(v)) - 1, 0)
    return float(v.mean()), float(v[lo]), float(v[hi])


def _pool(y_true: np.ndarray, runs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    runs = [np.asarray(r, dtype=float) for r in runs]
    if not runs or any(r.shape != y_true.shape for r in runs):
        raise ValueError(f"each run's scores must have the labels' shape {y_true.shape}")
    return np.tile(y_true, (len(runs), 1)), np.concatenate(runs)


def _summary(point: np.ndarray, reps: np.ndarray, labels: Sequence[str], alpha: float,
             excludes: Sequence[str], n_rows: int) -> dict[str, Any]:
    names = [*labels, "mean"]
    out: dict[str, Any] = {"labels": list(labels), "mean_excludes": list(excludes), "n_rows": n_rows,
                           "n_bootstrap": int(len(reps))}
    for m, metric in enumerate(("auroc", "mcc")):
        out[metric] = {}
        for j, name in enumerate(names):
            mean, lo, hi = reference_interval(reps[:, m, j], alpha) if len(reps) else (np.nan,) * 3
            out[metric][name] = {"value": float(point[m, j]), "boot_mean": mean, "ci_low": lo, "ci_high": hi}
    return out


def pooled_bootstrap(y_true: np.ndarray, runs: Sequence[np.ndarray], cfg: IGCLPresetCfg | None = None
                     ) -> dict[str, Any]:
    """Pooled-prediction metrics with reference bootstrap intervals (module doc).

    ``y_true`` ``[N, L]`` targets, ``runs`` one ``[N, L]`` score array per run. Returns
    ``{"auroc"|"mcc": {label|"mean": {"value", "boot_mean", "ci_low", "ci_high"}}, ...}``.
    """
    cfg = cfg or IGCLPresetCfg()
    y, s = _pool(np.asarray(y_true, dtype=float), runs)
    rng = np.random.default_rng(cfg.bootstrap_seed)
    reps = np.stack([_metrics(y[idx], s[idx], cfg.labels, cfg.mean_excludes)
                     for idx in rng.integers(0, len(y), size=(cfg.n_bootstrap, len(y)))]) \
        if cfg.n_bootstrap else np.zeros((0, 2, len(cfg.labels) + 1))
    return _summary(_metrics(y, s, cfg.labels, cfg.mean_excludes), reps, cfg.labels, cfg.alpha,
                    cfg.mean_excludes, len(y))


def paired_difference_bootstrap(y_true: np.ndarray, runs_a: Sequence[np.ndarray],
                                runs_b: Sequence[np.ndarray], cfg: IGCLPresetCfg | None = None
                                ) -> dict[str, Any]:
    """Model A minus model B (pooled runs each, same count), on shared resamples."""
    cfg = cfg or IGCLPresetCfg()
    if len(runs_a) != len(runs_b):
        raise ValueError(f"paired bootstrap needs as many runs of each model; got {len(runs_a)} "
                         f"and {len(runs_b)}")
    y, sa = _pool(np.asarray(y_true, dtype=float), runs_a)
    _, sb = _pool(np.asarray(y_true, dtype=float), runs_b)

    def diff(idx: Any) -> np.ndarray:
        return (_metrics(y[idx], sa[idx], cfg.labels, cfg.mean_excludes)
                - _metrics(y[idx], sb[idx], cfg.labels, cfg.mean_excludes))

    rng = np.random.default_rng(cfg.bootstrap_seed)
    reps = np.stack([diff(idx) for idx in rng.integers(0, len(y), size=(cfg.n_bootstrap, len(y)))]) \
        if cfg.n_bootstrap else np.zeros((0, 2, len(cfg.labels) + 1))
    return _summary(diff(slice(None)), reps, cfg.labels, cfg.alpha, cfg.mean_excludes, len(y))


def _columns(fs: Any, labels: Sequence[str]) -> np.ndarray:
    missing = [name for name in labels if name not in fs.label_names]
    if missing:
        raise ValueError(f"igcl preset: labels {missing} are not in the feature set "
                         f"(it has {fs.label_names})")
    return np.asarray(fs.labels, dtype=float)[:, [fs.label_names.index(n) for n in labels]]


def igcl_probe_eval(train: Any, val: Any, test: Any, cfg: IGCLPresetCfg | None = None, *,
                    fraction: float | None = None, k: int | None = None) -> dict[str, Any]:
    """One preset setting end to end on :class:`~graphclr.eval.features.FeatureSet` s.

    ``train``/``val``/``test`` carry *raw* CheXpert labels (1, 0, -1, NaN: datasets read
    with ``uncertain="keep"``). The training rows are the ``fraction`` subset (the same for
    every run) or, with ``k``, the seeded K-shot draw; ``cfg.num_runs`` probes (seeds
    0..R-1) are trained and their test logits pooled (:func:`pooled_bootstrap`).
    Returns the pooled summary plus ``"best_epochs"`` and ``"n_train"``.
    """
    cfg = cfg or IGCLPresetCfg()
    if (fraction is None) == (k is None):
        raise ValueError("igcl_probe_eval: give exactly one of fraction and k")
    raw = _columns(train, cfg.labels)
    rows = (fraction_subset_indices(len(raw), fraction, cfg.subset_random_state) if k is None
            else few_shot_indices(raw, k, cfg.few_shot_seed, cfg.labels))

    def targets(fs: Any) -> np.ndarray:
        return reference_targets(_columns(fs, cfg.labels), blank_to_zero=cfg.blank_to_zero,
                                 uncertain_to_one=cfg.uncertain_to_one)

    ty, vy, sy = targets(train)[rows], targets(val), targets(test)
    runs, best = [], []
    for run in range(cfg.num_runs):
        probe = train_reference_probe(train.features[rows], ty, val.features, vy, cfg, seed=run)
        runs.append(probe.logits(test.features))
        best.append(probe.best_epoch)
    out = pooled_bootstrap(sy, runs, cfg)
    out.update(best_epochs=best, n_train=int(len(rows)))
    return out


def run_igcl(ctx: Any, cfg: IGCLPresetCfg) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``igcl`` evaluation of :mod:`graphclr.eval.config`: every fraction and K of ``cfg``.

    Needs a validation split and *raw* labels (CheXpert read with ``"uncertain": "keep"``).
    """
    if ctx.val is None:
        raise ValueError("evaluations.igcl: the reference protocol selects epochs on a validation "
                         "split; give the spec a probe_val dataset")
    if not (np.asarray(ctx.train.labels) == -1).any():
        ctx.echo("igcl preset: no uncertain (-1) training labels; read CheXpert with "
                 "\"uncertain\": \"keep\" for U-Ones")
    settings = [(f"fraction_{f:g}", {"fraction": f}) for f in cfg.fractions]
    settings += [(f"k_{k}", {"k": k}) for k in cfg.few_shot_ks]
    results: dict[str, Any] = {}
    for key, kwargs in settings:
        res = results[key] = igcl_probe_eval(ctx.train, ctx.val, ctx.test, cfg, **kwargs)
        ctx.echo(f"igcl {key}: pooled mean AUROC {res['auroc']['mean']['value']:.3f} "
                 f"(n_train {res['n_train']})")
    return results, {}
