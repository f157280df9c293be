r"""Winoground-style scores of counterfactual pairs, and a linear probe on the changed fact.

A pair ``k`` holds two images ``I_0, I_1`` and their two reports ``R_0, R_1``, which differ
in one fact (:mod:`graphclr.synth.counterfactual`). With ``s_k[i, j] = sim(I_i, R_j)``
(cosine similarity of the model's embeddings):

* **image score** -- each image is more similar to its own report than to the other report,
  counted per image: :math:`\frac{1}{2n}\sum_k\sum_i [s_k[i,i] > s_k[i,1-i]]`; chance 1/2;
* **text score** -- each report is more similar to its own image, per report:
  :math:`\frac{1}{2n}\sum_k\sum_j [s_k[j,j] > s_k[1-j,j]]`; chance 1/2;
* **group score** -- all four comparisons of a pair hold,
  :math:`\frac{1}{n}\sum_k [\min(s_k[0,0], s_k[1,1]) > \max(s_k[0,1], s_k[1,0])]`; chance 1/6
  (4 of the 24 orderings of four exchangeable similarities put both matches above both mismatches).

Ties count as failures (as in Winoground): a report encoder that cannot tell the two
reports apart (a bag of words, on binding and negation pairs) scores 0, not chance. ``image_pair``/``text_pair`` are the per-pair versions of the first
two (both images of a pair right; chance 1/4), which is what the Winoground paper reports
(it names them the other way round: its *text* score picks the caption for an image).

:func:`fact_probe` fits a logistic-regression probe on frozen embeddings to predict the fact
itself (``y`` of :class:`~graphclr.synth.counterfactual.CounterfactualPair`), in
cross-validation folds over *pairs* (both versions of a pair in the same fold).
:func:`score_counterfactuals` renders, embeds and scores pair sets for a model.

Examples:
    >>> import numpy as np
    >>> sim = np.array([[[0.9, 0.2], [0.1, 0.8]],     # both images and both reports right
    ...                 [[0.5, 0.6], [0.1, 0.7]]])    # image 0 prefers report 1
    >>> s = winoground_scores(sim)
    >>> s["image"], s["text"], s["group"], s["image_pair"]
    (0.75, 1.0, 0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CHANCE", "comparisons", "winoground_scores", "pair_similarities", "fact_probe", "embed_pairs",
           "score_counterfactuals"]

#: the expected scores of a model whose similarities are exchangeable noise
CHANCE: dict[str, float] = {"image": 0.5, "text": 0.5, "group": 1 / 6, "image_pair": 0.25, "text_pair": 0.25}


def comparisons(sim: Any) -> tuple[np.ndarray, np.ndarray]:
    """The four comparisons of each pair of ``sim`` ``[n, 2, 2]``: ``image[k, i]`` (image
    ``i`` prefers its own report) and ``text[k, j]`` (report ``j`` prefers its own image);
    a pair passes the group score when all four hold."""
    s = np.asarray(sim, dtype=np.float64)
    if s.ndim != 3 or s.shape[1:] != (2, 2):
        raise ValueError(f"sim must be [n_pairs, 2, 2] (image, report), got shape {s.shape}")
    img = np.stack([s[:, 0, 0] > s[:, 0, 1], s[:, 1, 1] > s[:, 1, 0]], axis=1)   # image i: own report wins
    txt = np.stack([s[:, 0, 0] > s[:, 1, 0], s[:, 1, 1] > s[:, 0, 1]], axis=1)   # report j: own image wins
    return img, txt


def winoground_scores(sim: Any) -> dict[str, float]:
    """Image, text and group scores (and the per-pair ones) of ``sim`` ``[n, 2, 2]``,
    ``sim[k, i, j]`` = similarity of image ``i`` and report ``j`` of pair ``k``."""
    img, txt = comparisons(sim)
    if len(img) == 0:
        return {k: float("nan") for k in CHANCE} | {"n_pairs": 0}
    return {"image": float(img.mean()), "text": float(txt.mean()),
            "group": float((img.all(axis=1) & txt.all(axis=1)).mean()),
            "image_pair": float(img.all(axis=1).mean()), "text_pair": float(txt.all(axis=1).mean()),
            "n_pairs": int(len(img))}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def pair_similarities(image_emb: Any, report_emb: Any) -> np.ndarray:
    """Cosine similarities ``[n, 2, 2]`` from image and report embeddings ``[n, 2, d]``."""
    a, b = np.asarray(image_emb, np.float64), np.asarray(report_emb, np.float64)
    if a.ndim != 3 or a.shape[1] != 2 or a.shape != b.shape:
        raise ValueError(f"embeddings must both be [n_pairs, 2, d]; got {a.shape} and {b.shape}")
    return np.einsum("kid,kjd->kij", _unit(a), _unit(b))


def fact_probe(features: Any, y: Any, *, folds: int = 5, seed: int = 0, config: Any = None) -> dict[str, float]:
    """Cross-validated linear probe on the fact: ``features`` ``[n, 2, d]``, ``y`` ``[n, 2]`` (0/1).

    Pairs are dealt into ``folds`` folds (seeded); each fold is predicted by a probe
    (:func:`graphclr.eval.probe.train_linear_probe`, full-batch L-BFGS by default) trained
    on the others. Returns the accuracy (logit > 0) and AUROC over all held-out items.
    """
    from graphclr.eval.metrics import auroc
    from graphclr.eval.probe import ProbeConfig, train_linear_probe

    x = np.asarray(features, np.float64)
    t = np.asarray(y, np.float64)
    if x.ndim != 3 or x.shape[1] != 2 or t.shape != x.shape[:2]:
        raise ValueError(f"features must be [n_pairs, 2, d] and y [n_pairs, 2]; got {x.shape} and {t.shape}")
    n = len(x)
    if n < 2:
        return {"accuracy": float("nan"), "auroc": float("nan"), "folds": 0}
    k = min(folds, n)
    fold = np.empty(n, np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    cfg = config or ProbeConfig(solver="lbfgs", epochs=200, weight_decay=1e-3, seed=seed)
    score = np.zeros((n, 2))
    for f in range(k):
        tr = fold != f
        probe = train_linear_probe(x[tr].reshape(-1, x.shape[2]), t[tr].reshape(-1, 1), cfg)
        score[~tr] = probe.decision_function(x[~tr].reshape(-1, x.shape[2])).reshape(-1, 2)
    flat_y, flat_s = t.reshape(-1), score.reshape(-1)
    return {"accuracy": float(((flat_s > 0) == (flat_y > 0.5)).mean()), "auroc": float(auroc(flat_y, flat_s)),
            "folds": int(k)}


def embed_pairs(model: Any, pairs: Sequence[Any], *, image_size: int | None = None, batch_size: int = 64,
                device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Unit image and report embeddings ``[n_pairs, 2, d]`` of the pairs' rendered images and
    their texts or graphs (whichever ``model`` reads); arguments as :func:`score_counterfactuals`."""
    import torch
    from PIL import Image

    from graphclr.data.base import report_key_of
    from graphclr.eval.features import encode_reports
    from graphclr.models.image import image_transform
    from graphclr.synth.paint import Renderer

    pre = dict(getattr(model, "preprocess_cfg", None) or {})
    size = int(image_size or pre.get("image_size", 224))
    transform = image_transform(pre, is_train=False) if pre else None
    renderer = Renderer(max(size, 32))
    key = report_key_of(model)
    reports = [p.graphs[i] if key == "graph" else p.texts[i] for p in pairs for i in (0, 1)]
    cases = [p.cases[i] for p in pairs for i in (0, 1)]
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(cases), batch_size):
                imgs = [Image.fromarray(renderer.render(c), mode="L") for c in cases[start:start + batch_size]]
                x = torch.stack([transform(im) if transform else torch.from_numpy(np.asarray(im, np.float32) / 255)[None]
                                 for im in imgs]).to(device)
                out.append(model.encode_image(x, normalize=True).float().cpu().numpy())
    finally:
        model.train(was_training)
    image_emb = np.concatenate(out)
    report_emb = encode_reports(model, reports, batch_size=batch_size, device=device)
    d = image_emb.shape[1]
    return image_emb.reshape(-1, 2, d), report_emb.reshape(-1, 2, report_emb.shape[1])


def score_counterfactuals(model: Any, pairs: Mapping[str, Sequence[Any]] | Sequence[Any], *,
                          image_size: int | None = None, batch_size: int = 64, device: str = "cpu",
                          probe_folds: int = 5, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Scores of ``model`` on counterfactual pairs, per family.

    Args:
        model: a contrastive model (``encode_image``, ``encode_report``, ``report_processor``,
            ``report_key``, ``preprocess_cfg``).
        pairs: ``{family: [CounterfactualPair, ...]}`` (as built by
            :func:`graphclr.synth.counterfactual_set.build_counterfactuals`) or one list.
        image_size: render size (default: the model's preprocessing size); pass the
            synthetic benchmark's build ``--size`` so probe images are drawn as its images
            were (the model's transform then resizes them the same way).
        batch_size, device: embedding batches and where the model runs.
        probe_folds, seed: :func:`fact_probe` folds and seed.

    Returns:
        ``{family: {"n_pairs", "image", "text", "group", "image_pair", "text_pair",
        "probe_image": {...}, "probe_report": {...}}}`` (probes: :func:`fact_probe` on the
        image and on the report embeddings).
    """
    groups = dict(pairs) if isinstance(pairs, Mapping) else {"all": list(pairs)}
    result: dict[str, dict[str, Any]] = {}
    for family, ps in groups.items():
        ps = list(ps)
        if not ps:
            result[family] = winoground_scores(np.zeros((0, 2, 2)))
            continue
        img, rep = embed_pairs(model, ps, image_size=image_size, batch_size=batch_size, device=device)
        y = np.array([p.y for p in ps], np.float64)
        scores: dict[str, Any] = winoground_scores(pair_similarities(img, rep))
        scores["probe_image"] = fact_probe(img, y, folds=probe_folds, seed=seed)
        scores["probe_report"] = fact_probe(rep, y, folds=probe_folds, seed=seed)
        result[family] = scores
    return result
