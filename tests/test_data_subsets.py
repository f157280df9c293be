"""Patient-level label-fraction and K-shot subsets: deterministic, nested, patient-disjoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_data_fixtures import write_chexpert_tree

from graphclr.data import (
    CheXpertDataset,
    SubsetDataset,
    k_shot_indices,
    k_shot_subset,
    label_fraction_indices,
    label_fraction_subset,
    patient_split_indices,
)


def pool(n_patients: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, n_patients)
    patients = np.repeat([f"p{i:04d}" for i in range(n_patients)], counts)
    labels = (rng.random((len(patients), 4)) < [0.3, 0.1, 0.05, 0.5]).astype(float)
    labels[rng.random(labels.shape) < 0.1] = np.nan
    return patients, labels


def test_fraction_is_patient_level_nested_and_deterministic() -> None:
    patients, _ = pool()
    subsets = {f: label_fraction_indices(patients, f, seed=3) for f in (0.01, 0.1, 1.0)}
    assert len(subsets[1.0]) == len(patients)
    assert set(subsets[0.01]) <= set(subsets[0.1]) <= set(subsets[1.0])
    for f, idx in subsets.items():
        chosen = set(patients[idx])
        rest = set(patients[np.setdiff1d(np.arange(len(patients)), idx)])
        assert not chosen & rest  # every image of a chosen patient, none of the others
        assert len(idx) >= f * len(patients) - 1e-9
        # within one patient of the target
        biggest = max(np.sum(patients == p) for p in chosen)
        assert len(idx) < f * len(patients) + biggest
    assert np.array_equal(label_fraction_indices(patients, 0.1, seed=3), subsets[0.1])
    assert not np.array_equal(label_fraction_indices(patients, 0.1, seed=4), subsets[0.1])


def test_order_of_items_does_not_change_the_patients_drawn() -> None:
    patients, _ = pool()
    perm = np.random.default_rng(1).permutation(len(patients))
    a = set(patients[label_fraction_indices(patients, 0.1, seed=0)])
    b = set(patients[perm][label_fraction_indices(patients[perm], 0.1, seed=0)])
    assert a == b


def test_excluded_patients_are_never_drawn() -> None:
    patients, labels = pool()
    val, test = patient_split_indices(patients, (0.8, 0.2), seed=0)
    held_out = set(patients[test])
    assert not held_out & set(patients[val])
    for idx in (label_fraction_indices(patients, 1.0, seed=0, exclude_patients=held_out),
                k_shot_indices(labels, patients, k=5, seed=0, exclude_patients=held_out)):
        assert not set(patients[idx]) & held_out


def test_k_shot_gives_k_positives_per_label_from_distinct_patients() -> None:
    patients, labels = pool()
    for k in (1, 5, 10):
        idx = k_shot_indices(labels, patients, k=k, seed=2)
        for j in range(labels.shape[1]):
            pos = idx[labels[idx, j] == 1]
            assert len(pos) >= k
        assert len(idx) <= k * labels.shape[1]
    assert np.array_equal(k_shot_indices(labels, patients, k=5, seed=2),
                          k_shot_indices(labels, patients, k=5, seed=2))
    # a rare label with fewer positive patients than K gets them all
    rare = np.zeros((6, 1))
    rare[[1, 4], 0] = 1
    assert k_shot_indices(rare, ["a", "a", "b", "c", "d", "d"], k=5).tolist() == [1, 4]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=120), st.floats(0.01, 1.0), st.integers(0, 99))
def test_fraction_properties_hold_for_any_pool(pats: list[int], fraction: float, seed: int) -> None:
    patients = np.asarray([f"p{p}" for p in pats])
    idx = label_fraction_indices(patients, fraction, seed)
    assert len(idx) >= 1 and np.all(np.diff(idx) > 0)
    chosen = set(patients[idx])
    assert all(i in idx for i in np.flatnonzero(np.isin(patients, list(chosen))))


def test_subsets_of_a_dataset_keep_the_contract(tmp_path: Path) -> None:
    write_chexpert_tree(tmp_path)
    ds = CheXpertDataset(tmp_path, "train")
    sub = label_fraction_subset(ds, 0.5, seed=0)
    assert isinstance(sub, SubsetDataset)
    assert len(sub) == len(sub.csv) == len(sub.labels) >= 3
    assert set(sub.csv["patient_id"]) < set(ds.csv["patient_id"])
    item = sub[0]
    assert item["idx"] == 0 and ds.csv["id"].iat[item["source_idx"]] == item["id"]
    shots = k_shot_subset(ds, k=1, columns=["Pleural Effusion"], seed=0)
    assert len(shots) == 1 and shots.labels[0, ds.pathologies.index("Pleural Effusion")] == 1
    with pytest.raises(ValueError, match="fraction"):
        label_fraction_indices(ds, 0.0)
