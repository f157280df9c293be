"""The igcl evaluation preset against hand-computed values: U-Ones/blank targets, the
probe's first Adam step on a table with blanks, the first-best epoch rule, sklearn's
fraction split (rounding down), seeded few-shot draws, top-p MCC with ties, the
reference interval rule, pooled-prediction and paired-difference bootstraps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphclr.eval.igcl_preset import (
    IGCLPresetCfg,
    few_shot_indices,
    fraction_subset_indices,
    igcl_probe_eval,
    paired_difference_bootstrap,
    pooled_bootstrap,
    reference_interval,
    reference_mcc,
    reference_targets,
    train_reference_probe,
)

NAN = np.nan
RAW = np.array([[1, NAN], [-1, 0], [NAN, 1]], dtype=float)     # labels A, B; blanks and -1


def test_u_ones_and_blank_to_zero():
    assert reference_targets(RAW).tolist() == [[1, 0], [1, 0], [0, 1]]
    assert np.isnan(reference_targets(RAW, blank_to_zero=False)[0, 1])
    assert reference_targets(RAW, uncertain_to_one=False)[1, 0] == -1


def test_u_ones_probe_first_adam_step_hand_worked(one_thread):
    # x = 1 for every row, zero init, one full batch: logits 0, softmax (.5, .5).
    # U-Ones targets [[1,0],[1,0],[0,1]]: loss = log 2 per row; dL/dz = mean(softmax - y)
    # = (-1/6, +1/6). Adam's first step moves each weight by -lr * sign(grad).
    cfg = IGCLPresetCfg(labels=("A", "B"), epochs=3, batch_size=32)
    x = np.ones((3, 1))
    vx, vy = np.array([[0.0], [1.0]]), np.array([[0, 1], [1, 0]], dtype=float)
    probe = train_reference_probe(x, reference_targets(RAW), vx, vy, cfg,
                                  init=(np.zeros((1, 2)), np.zeros(2)))
    assert probe.history[0]["train_loss"] == pytest.approx(math.log(2), abs=1e-6)
    # AUROC is 1.0 after every epoch: the FIRST best epoch is kept, with its weights
    assert [h["val_mean_auroc"] for h in probe.history] == [1.0, 1.0, 1.0]
    assert probe.best_epoch == 1
    np.testing.assert_allclose(probe.weight, [[5e-3, -5e-3]], atol=1e-8)
    np.testing.assert_allclose(probe.bias, [5e-3, -5e-3], atol=1e-8)
    # uncertain -> 0 instead: the gradients cancel and the first step does nothing
    flat = train_reference_probe(x, reference_targets(RAW, uncertain_to_one=False).clip(0), vx, vy,
                                 IGCLPresetCfg(labels=("A", "B"), epochs=1),
                                 init=(np.zeros((1, 2)), np.zeros(2)))
    np.testing.assert_allclose(flat.weight, 0, atol=1e-9)


def test_probe_refuses_nan_targets():
    with pytest.raises(ValueError, match="reference_targets"):
        train_reference_probe(np.ones((3, 1)), RAW, np.ones((2, 1)), np.ones((2, 2)))


def test_fraction_subset_is_sklearn_train_part():
    # sklearn: n_test = ceil(test_size * n), so the kept part rounds down
    assert len(fraction_subset_indices(10, 0.3)) == 3
    assert len(fraction_subset_indices(7, 0.5)) == 3
    a, b = fraction_subset_indices(1000, 0.01), fraction_subset_indices(1000, 0.01)
    assert len(a) == 10 and a.tolist() == b.tolist() and len(set(a.tolist())) == 10
    assert fraction_subset_indices(7, 1.0).tolist() == list(range(7))


def test_few_shot_counts_only_raw_ones_and_never_reuses():
    raw = np.array([[1, 1], [-1, 1], [1, NAN], [0, 1], [NAN, -1], [1, 0]], dtype=float)
    idx = few_shot_indices(raw, 1, seed=3)
    assert len(idx) == 2 and len(set(idx.tolist())) == 2
    assert raw[idx[0], 0] == 1 and raw[idx[1], 1] == 1
    assert few_shot_indices(raw, 1, seed=3).tolist() == idx.tolist()
    # label A has exactly three raw positives (rows 0, 2, 5; -1 and blank do not count)
    assert set(few_shot_indices(raw, 2, seed=0)[:2].tolist()) <= {0, 2, 5}
    assert sorted(few_shot_indices(raw[:, :1], 3, seed=5).tolist()) == [0, 2, 5]
    # one row positive for both: A takes it, none is left for B
    with pytest.raises(ValueError, match="B has only 0 unused"):
        few_shot_indices(raw[[0]], 1, seed=0, labels=["A", "B"])


def test_reference_mcc_ties_and_single_class():
    # p = 1, threshold 0.8 (the largest), two scores tie at it: 2 predicted positive
    y, s = np.array([1, 0, 0, 0]), np.array([0.8, 0.8, 0.1, 0.2])
    tp, fp, tn, fn = 1, 1, 2, 0
    want = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert reference_mcc(y, s) == pytest.approx(want)
    assert reference_mcc(np.zeros(4), s) == 0.0


def test_reference_interval_positions():
    vals = np.random.default_rng(0).permutation(np.arange(1.0, 101.0))
    assert reference_interval(vals, 0.05) == (50.5, 2.0, 97.0)   # indices int(2.5)-1, int(97.5)-1


def test_pooled_predictions_hand_worked():
    cfg = IGCLPresetCfg(labels=("A", "No Finding"), n_bootstrap=0)
    y = np.array([[1, 0], [0, 1]], dtype=float)
    run1 = np.array([[0.9, 0.1], [0.1, 0.9]])
    run2 = np.array([[0.2, 0.3], [0.8, 0.4]])
    out = pooled_bootstrap(y, [run1, run2], cfg)
    # pooled A: positives {0.9, 0.2}, negatives {0.1, 0.8}: 3 of 4 pairs ordered -> 0.75
    # (the per-run mean would be (1 + 0) / 2 = 0.5)
    assert out["auroc"]["A"]["value"] == pytest.approx(0.75)
    # No Finding: positives {0.9, 0.4} above negatives {0.1, 0.3} -> 1.0, left out of the
    # mean (which would otherwise be 0.875)
    assert out["auroc"]["No Finding"]["value"] == pytest.approx(1.0)
    assert out["auroc"]["mean"]["value"] == pytest.approx(0.75)
    assert out["n_rows"] == 4


def test_bootstrap_seeded_and_paired_difference():
    rng = np.random.default_rng(1)
    y = (rng.random((60, 2)) < 0.4).astype(float)
    a = [y + rng.normal(0, 0.5, y.shape) for _ in range(2)]
    b = [rng.normal(0, 1, y.shape) for _ in range(2)]
    cfg = IGCLPresetCfg(labels=("A", "No Finding"), n_bootstrap=50, bootstrap_seed=7)
    one, two = pooled_bootstrap(y, a, cfg), pooled_bootstrap(y, a, cfg)
    assert one == two
    m = one["auroc"]["mean"]
    assert m["ci_low"] <= m["value"] <= m["ci_high"]
    same = paired_difference_bootstrap(y, a, a, cfg)
    assert same["auroc"]["mean"] == {"value": 0.0, "boot_mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    diff = paired_difference_bootstrap(y, a, b, cfg)
    want = one["auroc"]["A"]["value"] - pooled_bootstrap(y, b, cfg)["auroc"]["A"]["value"]
    assert diff["auroc"]["A"]["value"] == pytest.approx(want)
    assert diff["auroc"]["mean"]["ci_low"] > 0
    with pytest.raises(ValueError, match="as many runs"):
        paired_difference_bootstrap(y, a, b[:1], cfg)


def test_config_is_strict():
    assert IGCLPresetCfg.from_dict({"fractions": [0.1], "epochs": 5}).fractions == (0.1,)
    with pytest.raises(ValueError, match="unknown field"):
        IGCLPresetCfg.from_dict({"epoch": 5})
    with pytest.raises(ValueError, match="loss="):
        IGCLPresetCfg(loss="bce")


def test_probe_eval_end_to_end_on_feature_sets(one_thread):
    from graphclr.eval.features import FeatureSet

    rng = np.random.default_rng(0)
    labels = ["Cardiomegaly", "No Finding", "Edema"]            # stored order differs

    def fs(n):
        x = rng.normal(size=(n, 4)).astype(np.float32)
        raw = np.where(x[:, :3] > 0.3, 1.0, np.where(x[:, :3] < -2.5, -1.0, 0.0))
        raw[rng.random(raw.shape) < 0.05] = NAN
        return FeatureSet(x, raw.astype(np.float32), labels, [str(i) for i in range(n)], [""] * n)

    train, val, test = fs(300), fs(80), fs(80)
    cfg = IGCLPresetCfg(labels=("Edema", "Cardiomegaly", "No Finding"), num_runs=2, n_bootstrap=20,
                        lr=0.1)   # 50 steps of 5e-3 barely move a random init
    out = igcl_probe_eval(train, val, test, cfg, fraction=0.5)
    assert out["n_train"] == 150 and out["n_rows"] == 160 and len(out["best_epochs"]) == 2
    assert out["auroc"]["mean"]["value"] > 0.7              # chance is 0.5
    shot = igcl_probe_eval(train, val, test, cfg, k=3)
    assert shot["n_train"] == 9
    with pytest.raises(ValueError, match="Fracture"):
        igcl_probe_eval(train, val, test, IGCLPresetCfg(labels=("Fracture",)), fraction=0.1)


def test_igcl_evaluation_in_the_eval_config(one_thread):
    from graphclr.eval.config import EVALUATIONS, EvalConfig
    from graphclr.eval.evaluations import EvalContext
    from graphclr.eval.features import FeatureSet

    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    raw = np.where(x[:, :2] > 0, 1.0, 0.0).astype(np.float32)
    raw[::7, 0] = -1
    fs = FeatureSet(x, raw, ["Edema", "No Finding"], [str(i) for i in range(120)], [""] * 120)
    cfg = EvalConfig.from_dict({"igcl": {"labels": ["Edema", "No Finding"], "fractions": [0.5],
                                         "few_shot_ks": [2], "num_runs": 1, "n_bootstrap": 5}})
    assert cfg.names() == ["igcl"] and cfg.get("igcl").epochs == 10
    messages = []
    ctx = EvalContext(None, {"train": fs, "val": fs, "test": fs}, cfg, echo=messages.append)
    result, scores = EVALUATIONS["igcl"].runner()(ctx, cfg.get("igcl"))
    assert scores == {} and set(result) == {"fraction_0.5", "k_2"} and result["fraction_0.5"]["n_train"] == 60
    assert result["k_2"]["n_train"] == 4 and len(messages) == 2
    with pytest.raises(ValueError, match="validation"):
        EVALUATIONS["igcl"].runner()(EvalContext(None, {"train": fs, "test": fs}, cfg), cfg.get("igcl"))
    with pytest.raises(ValueError, match="epoch"):
        EvalConfig.from_dict({"igcl": {"epoch": 3}})
