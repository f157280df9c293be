"""Label-fraction and K-shot training subsets, drawn at patient level, deterministically.

The linear-probe protocol (ConVIRT, GLoRIA, IGCL) trains on 1 %, 10 % and 100 % of the
CheXpert training labels; few-shot probes train on K positives per label. Drawing images
independently would put a patient's other images in the test pool's neighbourhood and make
subset sizes depend on how many images each patient has, so every function here draws
*patients*:

* :func:`label_fraction_indices` shuffles the distinct patients with ``seed`` and keeps the
  smallest prefix holding ``fraction`` of the *images*, so the subsets are **nested**
  (1 % ⊂ 10 % ⊂ 100 % for one seed) and the image count is within one patient of the target;
* :func:`k_shot_indices` walks patients in a seeded order and, for each label, takes
  patients that have a positive image for it until K positive *images* are collected (one
  image per patient per label), so every label gets K positives from K distinct patients
  (fewer only if the pool has fewer);
* both take ``exclude_patients`` (the validation and test patients) and never return one of
  their images; :func:`patient_split_indices` makes such a validation split from a pool.

All functions return sorted ``int64`` index arrays into the dataset (or arrays) they were
given and accept either a dataset with ``.labels`` / ``csv["patient_id"]`` or the arrays.
They use their own ``numpy.random.default_rng(seed)``; global random state is untouched.

Examples:
    >>> import numpy as np
    >>> patients = np.array(["a", "a", "b", "c", "c", "c", "d", "e"])
    >>> small = label_fraction_indices(patients, 0.25, seed=0)
    >>> big = label_fraction_indices(patients, 0.5, seed=0)
    >>> set(small) <= set(big), len(set(patients[small]) & set(patients[np.setdiff1d(np.arange(8), small)]))
    (True, 0)
    >>> labels = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [0, 0], [0, 1], [1, 0], [0, 0]], float)
    >>> shot = k_shot_indices(labels, patients, k=2, seed=0)
    >>> [int(np.nansum(labels[shot, j] == 1) >= 2) for j in range(2)]
    [1, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["label_fraction_indices", "k_shot_indices", "patient_split_indices",
           "label_fraction_subset", "k_shot_subset", "LABEL_FRACTIONS"]

#: the label fractions of the linear-probe protocol
LABEL_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 1.0)


def _patients_of(data: Any) -> np.ndarray:
    if hasattr(data, "csv"):
        if "patient_id" not in data.csv.columns:
            raise ValueError(f"{type(data).__name__} has no csv['patient_id']: patient-level "
                             "subsets need patient ids (pass them as an array instead)")
        return data.csv["patient_id"].astype(str).to_numpy()
    return np.asarray([str(p) for p in data])


def _order(patients: np.ndarray, seed: int, exclude: Iterable[str] | None) -> list[str]:
    """Distinct patients (sorted, so input order does not matter) in a seeded random order."""
    excluded = {str(p) for p in exclude} if exclude is not None else set()
    unique = sorted(set(patients.tolist()) - excluded)
    rng = np.random.default_rng(seed)
    return [unique[i] for i in rng.permutation(len(unique))]


def _by_patient(patients: np.ndarray) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(patients.tolist()):
        groups.setdefault(p, []).append(i)
    return groups


def label_fraction_indices(patients: Any, fraction: float, seed: int = 0, *,
                           exclude_patients: Iterable[str] | None = None) -> np.ndarray:
    """Indices of a patient-level subset holding ``fraction`` of the images.

    Args:
        patients: a dataset (its ``csv["patient_id"]``) or one patient id per item.
        fraction: in ``(0, 1]``; ``1.0`` returns every item of the non-excluded patients.
        seed: the patient shuffle's seed.
        exclude_patients: patients never drawn (validation/test patients).

    Returns:
        sorted item indices; at least one patient is drawn whenever any is available.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    pats = _patients_of(patients)
    groups = _by_patient(pats)
    order = _order(pats, seed, exclude_patients)
    pool = sum(len(groups[p]) for p in order)
    target = fraction * pool
    chosen: list[int] = []
    for p in order:
        if chosen and len(chosen) >= target - 1e-9:
            break
        chosen.extend(groups[p])
    return np.asarray(sorted(chosen), dtype=np.int64)


def k_shot_indices(labels: Any, patients: Any = None, k: int = 1, seed: int = 0, *,
                   columns: Sequence[int] | Sequence[str] | None = None,
                   exclude_patients: Iterable[str] | None = None) -> np.ndarray:
    """Indices of a K-shot subset: for each label, K positive images from K distinct patients.

    Args:
        labels: a dataset (``.labels`` and ``csv["patient_id"]``; then leave ``patients``
            ``None``) or a ``[N, L]`` array (1 = positive; anything else is not).
        patients: one patient id per item (when ``labels`` is an array).
        k: positives per label.
        seed: the patient order's seed.
        columns: the labels to cover (indices, or names when a dataset is given); default all.
        exclude_patients: patients never drawn.

    Returns:
        sorted item indices (the union over labels; an image positive for several labels
        counts for each of them only if its patient was drawn for that label).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if hasattr(labels, "labels"):
        dataset = labels
        arr = np.asarray(dataset.labels)
        pats = _patients_of(dataset)
        names = list(getattr(dataset, "pathologies", []))
        if columns is not None:
            columns = [names.index(c) if isinstance(c, str) else int(c) for c in columns]
    else:
        arr = np.asarray(labels, dtype=np.float64)
        if patients is None:
            raise ValueError("k_shot_indices needs patient ids with a label array")
        pats = _patients_of(patients)
    if arr.ndim != 2 or len(arr) != len(pats):
        raise ValueError(f"labels must be [N, L] with N = {len(pats)} patients' items, got {arr.shape}")
    cols = list(range(arr.shape[1])) if columns is None else [int(c) for c in columns]
    groups = _by_patient(pats)
    order = _order(pats, seed, exclude_patients)
    chosen: set[int] = set()
    for j in cols:
        taken = 0
        for p in order:
            if taken >= k:
                break
            pos = [i for i in groups[p] if arr[i, j] == 1]
            if pos:
                chosen.add(pos[0])
                taken += 1
    return np.asarray(sorted(chosen), dtype=np.int64)


def patient_split_indices(patients: Any, fractions: Sequence[float] = (0.9, 0.1), seed: int = 0
                          ) -> list[np.ndarray]:
    """Split items into patient-disjoint parts of about the given image fractions.

    Returns one sorted index array per fraction (fractions are normalised to sum to 1).
    """
    pats = _patients_of(patients)
    groups = _by_patient(pats)
    order = _order(pats, seed, None)
    total = float(sum(fractions))
    bounds = np.cumsum(fractions) / total * len(pats)
    parts: list[list[int]] = [[] for _ in fractions]
    filled = 0
    part = 0
    for p in order:
        while part < len(fractions) - 1 and filled >= bounds[part] - 1e-9:
            part += 1
        parts[part].extend(groups[p])
        filled += len(groups[p])
    return [np.asarray(sorted(x), dtype=np.int64) for x in parts]


def label_fraction_subset(dataset: Any, fraction: float, seed: int = 0, *,
                          exclude_patients: Iterable[str] | None = None) -> Any:
    """:func:`label_fraction_indices` as a :class:`~graphclr.data.base.SubsetDataset`."""
    from graphclr.data.base import SubsetDataset

    return SubsetDataset(dataset, label_fraction_indices(dataset, fraction, seed,
                                                         exclude_patients=exclude_patients))


def k_shot_subset(dataset: Any, k: int, seed: int = 0, *,
                  columns: Sequence[int] | Sequence[str] | None = None,
                  exclude_patients: Iterable[str] | None = None) -> Any:
    """:func:`k_shot_indices` as a :class:`~graphclr.data.base.SubsetDataset`."""
    from graphclr.data.base import SubsetDataset

    return SubsetDataset(dataset, k_shot_indices(dataset, k=k, seed=seed, columns=columns,
                                                 exclude_patients=exclude_patients))
