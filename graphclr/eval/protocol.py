"""The evaluation protocol on cached features: label-fraction probes, few-shot, zero-shot,
laterality probes.

Each function takes :class:`~graphclr.eval.features.FeatureSet` objects (training pool,
validation set for epoch selection, test set), runs every repeat, and scores the test
predictions with :func:`~graphclr.eval.metrics.evaluate_scores`. Training subsets come from
:mod:`graphclr.data.subsets`: drawn at patient level, deterministic in their seed, and never
containing a validation or test patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from graphclr.eval.features import FeatureSet
from graphclr.eval.metrics import evaluate_scores
from graphclr.eval.probe import ProbeConfig, probe_scores, train_linear_probe
from graphclr.constants import EVAL_LABELS

__all__ = ["DEFAULT_LABELS", "patients_of", "fraction_subset", "fraction_key", "k_shot_subset_indices",
           "linear_probe_eval", "few_shot_eval", "zero_shot_eval", "laterality_task"]

log = logging.getLogger(__name__)

#: CheXpert's 5 competition labels + No Finding (the IGCL/CheXzero evaluation labels)
DEFAULT_LABELS: tuple[str, ...] = EVAL_LABELS


def patients_of(fs: FeatureSet) -> np.ndarray:
    """Patient id per item; an item without one is its own patient (its id)."""
    return np.array([p if p else f"item:{i}" for p, i in zip(fs.patient_ids, fs.ids)])


def _held_out(*sets: FeatureSet | None) -> set[str]:
    out: set[str] = set()
    for fs in sets:
        if fs is not None:
            out.update(str(p) for p in patients_of(fs))
    return out


def fraction_subset(train: FeatureSet, fraction: float, seed: int, *,
                    exclude: Sequence[FeatureSet | None] = ()) -> np.ndarray:
    """Indices of a patient-level ``fraction`` of ``train`` (via ``graphclr.data.subsets``)."""
    from graphclr.data.subsets import label_fraction_indices

    return label_fraction_indices(patients_of(train), fraction, seed,
                                  exclude_patients=_held_out(*exclude) or None)


def k_shot_subset_indices(train: FeatureSet, k: int, seed: int, *,
                          exclude: Sequence[FeatureSet | None] = ()) -> np.ndarray:
    """Indices of a K-shot subset of ``train`` (K positives per label, distinct patients)."""
    from graphclr.data.subsets import k_shot_indices

    return k_shot_indices(train.labels, patients_of(train), k=k, seed=seed,
                          exclude_patients=_held_out(*exclude) or None)


def _check_labels(sets: Sequence[FeatureSet], labels: Sequence[str]) -> list[FeatureSet]:
    return [fs.select_labels(labels) for fs in sets]


def _repeat_probes(train: FeatureSet, val: FeatureSet | None, test: FeatureSet,
                   subsets: Sequence[tuple[int, np.ndarray]], config: ProbeConfig,
                   device: str) -> dict[str, Any]:
    runs, n_train, n_pos, epochs = [], [], [], []
    for seed, idx in subsets:
        sub = train.subset(idx)
        probe = train_linear_probe(sub.features, sub.labels, replace(config, seed=seed),
                                   val_x=None if val is None else val.features,
                                   val_y=None if val is None else val.labels, device=device)
        runs.append(probe_scores(probe, test.features))
        n_train.append(int(len(idx)))
        n_pos.append([int(np.nansum(sub.labels[:, j] == 1)) for j in range(sub.labels.shape[1])])
        epochs.append(int(probe.best_epoch))
    return {"runs": runs, "n_train": n_train, "n_pos_train": n_pos, "best_epoch": epochs,
            "seeds": [int(s) for s, _ in subsets]}


def linear_probe_eval(train: FeatureSet, val: FeatureSet | None, test: FeatureSet, *,
                      labels: Sequence[str] = DEFAULT_LABELS,
                      fractions: Sequence[float] = (0.01, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2),
                      config: ProbeConfig | None = None, n_bootstrap: int = 1000,
                      bootstrap_seed: int = 0, device: str = "cpu",
                      on_run: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Linear probes at each label fraction, repeated over seeds.

    For fraction ``f`` and seed ``s`` the probe trains on a patient-level subset holding
    ``f`` of the training images (drawn with seed ``s``, nested across fractions), selects
    its epoch on ``val``'s mean AUROC, and scores ``test``. The seeds' test scores are
    evaluated together (mean over seeds, bootstrap CI over test images).

    Returns:
        ``{fraction_key: {"fraction", "n_train", "n_pos_train", "best_epoch", "seeds",
        "metrics", "mean_scores"}}`` with ``fraction_key`` like ``"1%"``; ``mean_scores``
        is the seed-averaged ``[N, L]`` test score array (for ROC plots).
    """
    cfg = config or ProbeConfig()
    train, test = _check_labels([train, test], labels)
    val = val.select_labels(labels) if val is not None else None
    out: dict[str, Any] = {}
    for f in fractions:
        key = fraction_key(f)
        subsets = [(int(s), fraction_subset(train, f, int(s), exclude=[val, test])) for s in seeds]
        res = _repeat_probes(train, val, test, subsets, cfg, device)
        metrics = evaluate_scores(test.labels, res["runs"], labels, n_bootstrap=n_bootstrap,
                                  seed=bootstrap_seed)
        out[key] = {"fraction": float(f), **{k: v for k, v in res.items() if k != "runs"},
                    "metrics": metrics, "mean_scores": np.mean(res["runs"], axis=0)}
        if on_run:
            on_run(f"linear probe {key}: mean AUROC {metrics['mean']['auroc']['value']:.3f}")
    return out


def fraction_key(f: float) -> str:
    """``0.01 -> "1%"``, ``0.1 -> "10%"``, ``1.0 -> "100%"``, ``0.005 -> "0.5%"``."""
    pct = 100.0 * float(f)
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else f"{pct:g}%"


def few_shot_eval(train: FeatureSet, val: FeatureSet | None, test: FeatureSet, *,
                  labels: Sequence[str] = DEFAULT_LABELS, ks: Sequence[int] = (1, 5, 10),
                  seeds: Sequence[int] = (0,), config: ProbeConfig | None = None,
                  n_bootstrap: int = 1000, bootstrap_seed: int = 0, device: str = "cpu",
                  on_run: Callable[[str], None] | None = None) -> dict[str, Any]:
    """K-shot probes: K positive images per label (distinct patients), each seed fixed.

    Seed ``s`` draws the K-shot subset and initialises the probe. As in the reference, the
    epoch is selected on the full validation set.

    Returns ``{"K=1": {...}, ...}`` shaped like :func:`linear_probe_eval`'s entries.
    """
    cfg = config or ProbeConfig()
    train, test = _check_labels([train, test], labels)
    val = val.select_labels(labels) if val is not None else None
    out: dict[str, Any] = {}
    for k in ks:
        subsets = [(int(s), k_shot_subset_indices(train, int(k), int(s), exclude=[val, test]))
                   for s in seeds]
        res = _repeat_probes(train, val, test, subsets, cfg, device)
        metrics = evaluate_scores(test.labels, res["runs"], labels, n_bootstrap=n_bootstrap,
                                  seed=bootstrap_seed)
        out[f"K={int(k)}"] = {"k": int(k), **{kk: v for kk, v in res.items() if kk != "runs"},
                              "metrics": metrics, "mean_scores": np.mean(res["runs"], axis=0)}
        if on_run:
            on_run(f"few-shot K={k}: mean AUROC {metrics['mean']['auroc']['value']:.3f}")
    return out


def zero_shot_eval(model: Any, test: FeatureSet, prompts: Any = "chexpert5", *,
                   labels: Sequence[str] | None = None, extractor: Any = None,
                   n_bootstrap: int = 1000, bootstrap_seed: int = 0, device: str = "cpu"
                   ) -> dict[str, Any]:
    """Zero-shot scores from prompt graphs (or text, for text models), with metrics.

    ``labels`` defaults to the prompt set's labels that ``test`` has.
    """
    from graphclr.eval.zeroshot import build_zero_shot_classifier, load_prompts, zero_shot_scores

    pset = load_prompts(prompts) if not hasattr(prompts, "labels") else prompts
    names = list(labels) if labels is not None else [n for n in pset.names if n in test.label_names]
    if not names:
        raise ValueError(f"none of the prompt labels {pset.names} is a label of the test set "
                         f"({test.label_names})")
    test = test.select_labels(names)
    clf = build_zero_shot_classifier(model, pset, labels=names, extractor=extractor, device=device)
    scores = zero_shot_scores(test.features, clf)
    metrics = evaluate_scores(test.labels, scores, names, n_bootstrap=n_bootstrap, seed=bootstrap_seed)
    return {"labels": names, "metrics": metrics, "mean_scores": scores}


def laterality_task(fs: FeatureSet, left: str, right: str, name: str = "left") -> FeatureSet:
    """Images with a finding on exactly one side, labelled 1 = left, 0 = right.

    E.g. ``laterality_task(fs, "Effusion_Left", "Effusion_Right")`` asks whether the image
    encoder knows *which side* the effusion is on, which a report graph says explicitly
    (``effusion located_at left``) and a bag of words only loosely.
    """
    fs2 = fs.select_labels([left, right])
    l_, r_ = fs2.labels[:, 0], fs2.labels[:, 1]
    keep = np.flatnonzero(((l_ == 1) & (r_ == 0)) | ((l_ == 0) & (r_ == 1)))
    sub = fs2.subset(keep)
    return FeatureSet(sub.features, sub.labels[:, :1].copy(), [name], sub.ids, sub.patient_ids)
