"""Cross-modal retrieval: image -> report and report -> image Recall@K.

Item ``i``'s image and report are a pair. Recall@K is the share of queries whose partner
ranks among the K most similar candidates by cosine similarity, computed with
:func:`sklearn.metrics.top_k_accuracy_score` on the similarity matrix (each query is a
"sample", each candidate a "class", the partner the true class).

Images of one study share one report. When ``groups`` is given (e.g. the report id), the
report side is deduplicated to one embedding per group: an image query is right when its
group's report ranks in the top K reports, and a report query ranks image *groups* by
their best-matching image and is right when its own group is in the top K (so several
images of one study cannot crowd the top K).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["retrieval_recall"]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _recall(sim: np.ndarray, truth: np.ndarray, ks: Sequence[int]) -> dict[int, float]:
    from sklearn.metrics import top_k_accuracy_score

    n_cand = sim.shape[1]
    if n_cand <= 2:  # scikit-learn reads two columns as a binary problem: add a never-ranked one
        sim = np.concatenate([sim, np.full((sim.shape[0], 1), sim.min() - 1.0)], axis=1)
    labels = np.arange(sim.shape[1])
    out = {}
    for k in ks:
        if k >= n_cand:
            out[int(k)] = 1.0
            continue
        out[int(k)] = float(top_k_accuracy_score(truth, sim, k=k, labels=labels))
    return out


def _best_of_group(sim: np.ndarray, group_idx: np.ndarray, n_groups: int) -> np.ndarray:
    """Per query row, the max similarity over each group's candidates: ``[Q, n_groups]``."""
    out = np.full((sim.shape[0], n_groups), -np.inf)
    for g in range(n_groups):
        out[:, g] = sim[:, group_idx == g].max(axis=1)
    return out


def retrieval_recall(image_features: np.ndarray, report_features: np.ndarray, *,
                     ks: Sequence[int] = (1, 5, 10), groups: Sequence[Any] | None = None
                     ) -> dict[str, Any]:
    """Recall@K both ways.

    Args:
        image_features, report_features: ``[N, D]`` embeddings, row ``i`` of each a pair.
        ks: the K values.
        groups: optional group key per item (report id); items of a group share a report.

    Returns:
        ``{"image_to_report": {k: recall}, "report_to_image": {k: recall}, "n_queries": ...,
        "n_candidates": ..., "chance": {k: k / candidates}}``.

    Examples:
        >>> img = np.eye(3); rep = np.eye(3)[[0, 2, 1]]
        >>> retrieval_recall(img, rep, ks=(1,))["image_to_report"]
        {1: 0.3333333333333333}
    """
    img = _normalise(image_features)
    rep = _normalise(report_features)
    if img.shape != rep.shape:
        raise ValueError(f"image features {img.shape} and report features {rep.shape} must match")
    n = len(img)
    if groups is None:
        sim = img @ rep.T
        truth = np.arange(n)
        i2r = _recall(sim, truth, ks)
        r2i = _recall(sim.T, truth, ks)
        n_cand = n
        n_rep = n
    else:
        keys = [str(g) for g in groups]
        if len(keys) != n:
            raise ValueError(f"{len(keys)} group keys for {n} items")
        uniq = {k: i for i, k in enumerate(dict.fromkeys(keys))}
        gidx = np.array([uniq[k] for k in keys])
        first = np.array([keys.index(k) for k in uniq])   # one report per group
        sim = img @ rep[first].T                            # [N images, G reports]
        i2r = _recall(sim, gidx, ks)
        # report query g: its best-ranked image group decides; rank image *groups* by
        # their best image, so duplicate images of one group do not crowd the top K
        r2i = _recall(_best_of_group(sim.T, gidx, len(uniq)), np.arange(len(uniq)), ks)
        n_cand = len(uniq)
        n_rep = len(uniq)
    return {"image_to_report": i2r, "report_to_image": r2i, "n_queries": {"image": n, "report": n_rep},
            "n_candidates": n_cand, "chance": {int(k): min(1.0, k / n_cand) for k in ks}}
