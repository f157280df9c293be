"""Linear probes, label-fraction and K-shot subsets, through graphclr.eval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from graphclr.eval import (
    FeatureSet,
    ProbeConfig,
    fraction_subset,
    k_shot_subset_indices,
    laterality_task,
    linear_probe_eval,
    mean_auroc,
    probe_scores,
    train_linear_probe,
)


def _problem(n: int = 300, d: int = 10, labels: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, labels))
    y = ((x @ w + rng.normal(size=(n, labels))) > 0.3).astype(np.float32)
    return x, y


def _features(n: int = 400, seed: int = 0, per_patient: int = 2) -> FeatureSet:
    x, y = _problem(n, labels=3, seed=seed)
    pats = [f"p{i // per_patient}" for i in range(n)]
    return FeatureSet(x, y, ["A", "B", "C"], [f"i{i}" for i in range(n)], pats)


def test_lbfgs_probe_reaches_sklearn_logistic_regression_optimum():
    x, y = _problem()
    c = 0.3
    probe = train_linear_probe(x, y, ProbeConfig(solver="lbfgs", standardize=False,
                                                 weight_decay=1.0 / (c * len(x)), epochs=20))
    for j in range(y.shape[1]):
        ref = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x, y[:, j])
        np.testing.assert_allclose(probe.weight[:, j], ref.coef_[0], atol=3e-3)
        assert probe.bias[j] == pytest.approx(ref.intercept_[0], abs=3e-3)
        np.testing.assert_allclose(probe.decision_function(x)[:, j], ref.decision_function(x), atol=2e-2)


def test_adam_probe_selects_the_best_validation_epoch_and_matches_sklearn_auroc():
    x, y = _problem(600, seed=1)
    tr, va, te = slice(0, 400), slice(400, 500), slice(500, 600)
    probe = train_linear_probe(x[tr], y[tr], ProbeConfig(epochs=40, patience=None), val_x=x[va], val_y=y[va])
    vals = [h["val_mean_auroc"] for h in probe.history]
    assert probe.best_epoch == len(vals) - int(np.argmax(vals[::-1]))   # the last best epoch
    # the kept weights are the selected epoch's: re-scoring validation gives its value
    assert mean_auroc(y[va], probe_scores(probe, x[va])) == pytest.approx(max(vals))
    ours = np.mean([roc_auc_score(y[te, j], probe_scores(probe, x[te])[:, j]) for j in range(3)])
    ref = np.mean([roc_auc_score(y[te, j], LogisticRegression(max_iter=2000).fit(x[tr], y[tr, j])
                                 .decision_function(x[te])) for j in range(3)])
    assert ours == pytest.approx(ref, abs=0.02)
    assert ours > 0.85


def test_tied_validation_epochs_keep_the_later_one():
    x, y = _problem(200, d=4, labels=1, seed=8)
    # a validation set of four well-separated points: every epoch scores AUROC 1.0
    vx = np.array([[5, 0, 0, 0], [6, 0, 0, 0], [-5, 0, 0, 0], [-6, 0, 0, 0]], np.float32)
    x[:, 0] = 3 * (y[:, 0] - 0.5) + x[:, 0]
    vy = np.array([[1], [1], [0], [0]], np.float32)
    probe = train_linear_probe(x, y, ProbeConfig(epochs=12, patience=None), val_x=vx, val_y=vy)
    assert all(h["val_mean_auroc"] == 1.0 for h in probe.history)
    assert probe.best_epoch == 12


def test_probe_masks_missing_labels_and_offers_softmax_ce():
    x, y = _problem(300, seed=2)
    y_missing = y.copy()
    y_missing[::3, 0] = np.nan
    probe = train_linear_probe(x, y_missing, ProbeConfig(epochs=30), val_x=x, val_y=y)
    assert np.isfinite(probe.weight).all()
    soft = train_linear_probe(x, y, ProbeConfig(epochs=30, loss="softmax_ce"), val_x=x, val_y=y)
    p = soft.predict_scores(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="loss"):
        ProbeConfig(loss="mse")


def test_probe_is_deterministic_in_its_seed():
    x, y = _problem(200, seed=3)
    a = train_linear_probe(x, y, ProbeConfig(epochs=5, seed=4))
    b = train_linear_probe(x, y, ProbeConfig(epochs=5, seed=4))
    c = train_linear_probe(x, y, ProbeConfig(epochs=5, seed=5))
    np.testing.assert_array_equal(a.weight, b.weight)
    assert not np.array_equal(a.weight, c.weight)


def test_label_fraction_subsets_are_deterministic_nested_and_patient_disjoint():
    fs = _features(400, per_patient=3)
    val, test = fs.subset(range(300, 350)), fs.subset(range(350, 400))
    pool = fs   # the pool overlaps val/test patients on purpose: they must be excluded
    held = set(val.patient_ids) | set(test.patient_ids)
    small = fraction_subset(pool, 0.1, seed=3, exclude=[val, test])
    again = fraction_subset(pool, 0.1, seed=3, exclude=[val, test])
    big = fraction_subset(pool, 0.5, seed=3, exclude=[val, test])
    other = fraction_subset(pool, 0.1, seed=4, exclude=[val, test])
    np.testing.assert_array_equal(small, again)
    assert set(small) <= set(big)
    assert not np.array_equal(small, other)
    chosen = {pool.patient_ids[i] for i in big}
    assert not chosen & held
    # whole patients: every image of a chosen patient is in, none of the others
    for p in chosen:
        assert {i for i, q in enumerate(pool.patient_ids) if q == p} <= set(big)
    n_pool = sum(1 for p in pool.patient_ids if p not in held)
    assert abs(len(small) - 0.1 * n_pool) <= 3


def test_k_shot_subsets_have_k_positives_from_distinct_patients():
    fs = _features(400, per_patient=2)
    test = fs.subset(range(360, 400))
    for k in (1, 5, 10):
        idx = k_shot_subset_indices(fs, k, seed=0, exclude=[test])
        np.testing.assert_array_equal(idx, k_shot_subset_indices(fs, k, seed=0, exclude=[test]))
        assert not {fs.patient_ids[i] for i in idx} & set(test.patient_ids)
        for j in range(3):
            pos = [i for i in idx if fs.labels[i, j] == 1]
            assert len(pos) >= k
            # K of them were drawn for this label, one per patient
            assert len({fs.patient_ids[i] for i in pos}) >= k


def test_linear_probe_eval_runs_fractions_and_seeds():
    fs = _features(500, seed=6)
    train, val, test = fs.subset(range(0, 350)), fs.subset(range(350, 420)), fs.subset(range(420, 500))
    res = linear_probe_eval(train, val, test, labels=["A", "B", "C"], fractions=(0.1, 1.0), seeds=(0, 1),
                            config=ProbeConfig(epochs=30), n_bootstrap=50)
    assert list(res) == ["10%", "100%"]
    assert res["100%"]["n_train"] == [350, 350]
    assert len(res["10%"]["seeds"]) == 2 and res["10%"]["n_train"][0] < 60
    full = res["100%"]["metrics"]["mean"]["auroc"]
    assert full["value"] > res["10%"]["metrics"]["mean"]["auroc"]["value"] - 0.05
    assert full["ci_low"] <= full["value"] <= full["ci_high"]
    assert res["100%"]["mean_scores"].shape == (80, 3)


def test_laterality_task_keeps_one_sided_cases():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]], np.float32)
    fs = FeatureSet(np.eye(5, dtype=np.float32), labels, ["L", "R"], list("abcde"), list("abcde"))
    task = laterality_task(fs, "L", "R")
    assert task.ids == ["a", "b", "e"]
    assert task.labels[:, 0].tolist() == [1, 0, 1]
