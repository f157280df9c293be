"""Metrics of graphclr.eval against straightforward scikit-learn computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from graphclr.eval.metrics import (
    _replicates,
    evaluate_scores,
    mcc_top_p,
    plot_roc_curves,
    read_reader_points,
    top_p_predictions,
)


def _data(n: int = 80, labels: int = 3, seed: int = 0, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < 0.35).astype(float)
    s = y * 0.8 + rng.normal(size=(n, labels))
    if ties:
        s = np.round(s, 1)
    return y, s


def test_mcc_top_p_is_sklearn_mcc_at_the_p_th_score():
    y, s = _data(200, 1, seed=1)
    y, s = y[:, 0].astype(int), s[:, 0]
    p = int(y.sum())
    threshold = np.sort(s)[::-1][p - 1]          # the p-th highest score (no ties here)
    expected = matthews_corrcoef(y, (s >= threshold).astype(int))
    assert mcc_top_p(y, s) == pytest.approx(expected, abs=1e-12)
    assert top_p_predictions(y, s).sum() == p


def test_top_p_breaks_ties_by_position_and_calls_exactly_p_positive():
    y = np.array([1, 1, 0, 0, 0])
    s = np.array([0.5, 0.1, 0.5, 0.5, 0.0])
    assert top_p_predictions(y, s).tolist() == [1, 0, 1, 0, 0]


def test_point_estimates_are_sklearn_means_over_runs():
    y, s = _data(120, 3)
    s2 = s + np.random.default_rng(5).normal(size=s.shape)
    res = evaluate_scores(y, [s, s2], ["A", "B", "C"], n_bootstrap=0)
    for j, name in enumerate("ABC"):
        auc = np.mean([roc_auc_score(y[:, j], r[:, j]) for r in (s, s2)])
        mcc = np.mean([mcc_top_p(y[:, j], r[:, j]) for r in (s, s2)])
        assert res["per_label"][name]["auroc"]["value"] == pytest.approx(auc, abs=1e-12)
        assert res["per_label"][name]["mcc"]["value"] == pytest.approx(mcc, abs=1e-12)
    mean_auc = np.mean([res["per_label"][n]["auroc"]["value"] for n in "ABC"])
    assert res["mean"]["auroc"]["value"] == pytest.approx(mean_auc)


def test_missing_labels_are_scored_on_given_images_only():
    y, s = _data(100, 2, seed=3)
    y[::7, 1] = np.nan
    res = evaluate_scores(y, s, ["A", "B"], n_bootstrap=0)
    given = ~np.isnan(y[:, 1])
    assert res["per_label"]["B"]["auroc"]["value"] == pytest.approx(roc_auc_score(y[given, 1], s[given, 1]))
    assert res["per_label"]["B"]["auroc"]["n"] == int(given.sum())


@pytest.mark.parametrize("ties", [False, True])
def test_vectorised_bootstrap_replicates_equal_sklearn_on_every_resample(ties):
    y, s = _data(60, 3, seed=7, ties=ties)
    runs = [s, s[::-1].copy()]
    rng = np.random.default_rng(11)
    indices = rng.integers(0, len(y), size=(40, len(y)))
    reps = _replicates(y, runs, ("auroc", "mcc"), indices)
    for b, idx in enumerate(indices):
        for j in range(3):
            yt = y[idx, j].astype(int)
            if yt.min() == yt.max():
                assert np.isnan(reps[b, j]).all()
                continue
            auc = np.mean([roc_auc_score(yt, r[idx, j]) for r in runs])
            mcc = np.mean([matthews_corrcoef(yt, top_p_predictions(yt, r[idx, j])) for r in runs])
            assert reps[b, j, 0] == pytest.approx(auc, abs=1e-12)
            assert reps[b, j, 1] == pytest.approx(mcc, abs=1e-12)


def test_bootstrap_ci_equals_a_plain_sklearn_loop_over_1000_resamples():
    y, s = _data(50, 1, seed=2)
    res = evaluate_scores(y, s, ["A"], metrics=("auroc",), n_bootstrap=1000, seed=4)
    rng = np.random.default_rng(4)                      # the documented resampling
    indices = rng.integers(0, len(y), size=(1000, len(y)))
    reps = [roc_auc_score(y[i, 0], s[i, 0]) for i in indices if 0 < y[i, 0].sum() < len(i)]
    lo, hi = np.percentile(reps, [2.5, 97.5])
    got = res["per_label"]["A"]["auroc"]
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    assert got["n_bootstrap_used"] == len(reps)
    assert got["ci_low"] < got["value"] < got["ci_high"]


def test_bootstrap_is_reproducible_and_mcc_mean_excludes_no_finding():
    y, s = _data(90, 2, seed=9)
    a = evaluate_scores(y, s, ["Edema", "No Finding"], n_bootstrap=100, seed=1)
    b = evaluate_scores(y, s, ["Edema", "No Finding"], n_bootstrap=100, seed=1)
    assert a == b
    assert a["mean"]["mcc"]["labels"] == ["Edema"]
    assert a["mean"]["auroc"]["labels"] == ["Edema", "No Finding"]


def test_bad_inputs_are_named():
    y, s = _data(20, 2)
    with pytest.raises(ValueError, match="2 label columns"):
        evaluate_scores(y, s, ["A"], n_bootstrap=0)
    s[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate_scores(y, s, ["A", "B"], n_bootstrap=0)


def test_reader_points_and_roc_png(tmp_path):
    csv = tmp_path / "readers.csv"
    csv.write_text("reader,label,fpr,tpr\nrad1,A,0.1,0.7\nrad2,A,0.2,0.8\n")
    points = read_reader_points(csv)
    assert [(p.reader, p.fpr, p.tpr) for p in points] == [("rad1", 0.1, 0.7), ("rad2", 0.2, 0.8)]
    y, s = _data(60, 2)
    png = plot_roc_curves(y, {"model": s}, ["A", "B"], tmp_path / "roc.png", readers=points, title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.csv"
    bad.write_text("reader,label,fpr,tpr\nrad1,A,0.1,0.7\nrad1,B,x,0.7\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: field 'fpr'"):
        read_reader_points(bad)
