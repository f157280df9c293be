"""The evaluation protocol as one typed config and one runner (graphclr.eval.config / .run)."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from graphclr.eval import FeatureSet, ProbeConfig, few_shot_eval, linear_probe_eval
from graphclr.eval.config import EVALUATIONS, EvalConfig, Evaluation, LinearProbeCfg
from graphclr.eval.run import evaluate_features


def _features(n: int = 240, seed: int = 0, reports: bool = True) -> FeatureSet:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, :3] + 0.5 * rng.normal(size=(n, 3)) > 0.3).astype(np.float32)
    rep = x / np.linalg.norm(x, axis=1, keepdims=True) if reports else None
    return FeatureSet(x, y, ["Edema", "Effusion_Left", "Effusion_Right"], [f"i{seed}_{k}" for k in range(n)],
                      [f"p{seed}_{k // 2}" for k in range(n)], rep, [f"r{k}" for k in range(n)] if reports else None)


def test_eval_config_reads_the_default_spec_strictly():
    from graphclr.runner import default_spec_path

    spec = json.loads(default_spec_path().read_text())
    cfg = EvalConfig.from_dict(spec["evaluations"], labels=spec["labels"])
    assert cfg.names() == ["linear_probe", "few_shot", "zero_shot", "laterality", "retrieval", "counterfactual"]
    assert cfg.get("counterfactual").families == ("binding", "laterality", "negation", "zone", "size")
    assert cfg.get("linear_probe").fractions == (0.01, 0.1, 1.0) and cfg.get("few_shot").ks == (1, 5, 10)
    task = cfg.get("laterality").tasks[0]
    assert (task.left, task.right, task.seeds, task.prompts) == ("Effusion_Left", "Effusion_Right", None,
                                                                 "effusion_laterality")
    assert cfg.probe == ProbeConfig(epochs=60, lr=0.01, batch_size=64, patience=20)
    assert cfg.seeds() == {"probe": [0, 1, 2], "few-shot": [0], "bootstrap": 0}
    assert cfg.test_labels()[-2:] == ["Effusion_Left", "Effusion_Right"]
    assert cfg.needs_reports() and not EvalConfig.from_dict({"linear_probe": {}}).needs_reports()
    # what is not there does not run, and defaults are the documented ones
    only = EvalConfig.from_dict({"few_shot": {}})
    assert only.names() == ["few_shot"] and only.get("linear_probe") is None
    assert only.probe_seeds() == LinearProbeCfg().seeds == (0, 1, 2)


@pytest.mark.parametrize("bad, message", [
    ({"linear_probes": {}}, r"evaluations: unknown field\(s\) \['linear_probes'\]"),
    ({"probe": {"epoch": 3}}, r"evaluations.probe: unknown field\(s\) \['epoch'\]"),
    ({"few_shot": {"ks": [0]}}, r"evaluations.few_shot.ks: each value must be an integer >= 1; got 0"),
    ({"linear_probe": {"seeds": "0"}}, r"evaluations.linear_probe.seeds: expected a non-empty list"),
    ({"laterality": {"name": "x"}}, r"evaluations.laterality: expected a list of tasks"),
    ({"laterality": [{"name": "x", "left": "L"}]}, r"evaluations.laterality\[0\]: .*right"),
    ({"n_bootstrap": -1}, r"evaluations.n_bootstrap: expected an integer >= 0"),
])
def test_eval_config_names_the_bad_field(bad, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig.from_dict(bad)


def test_a_benchmark_spec_with_a_typo_in_an_evaluation_is_refused_when_loaded(tmp_path):
    from graphclr.runner import default_spec_path, load_spec

    spec = json.loads(default_spec_path().read_text())
    spec["evaluations"]["few_shot"]["k"] = [1]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"spec.json: evaluations.few_shot: unknown field\(s\) \['k'\]"):
        load_spec(path)


def test_evaluate_features_equals_the_protocol_functions_called_directly():
    train, val, test = _features(240, 0), _features(80, 1), _features(120, 2)
    cfg = EvalConfig.from_dict({"n_bootstrap": 50, "probe": {"epochs": 15},
                                "linear_probe": {"fractions": [0.5, 1.0], "seeds": [0, 1]},
                                "few_shot": {"ks": [2], "seeds": [3]}, "retrieval": {"ks": [1, 5]},
                                "laterality": [{"name": "side", "left": "Effusion_Left", "right": "Effusion_Right"}]},
                               labels=["Edema"])
    feats = {"train": train, "val": val, "test": test}
    results, scores = evaluate_features(None, feats, cfg)
    assert list(results) == ["linear_probe", "few_shot", "laterality", "retrieval"]
    pc = ProbeConfig(epochs=15)
    lp = linear_probe_eval(train, val, test, labels=["Edema"], fractions=(0.5, 1.0), seeds=(0, 1), config=pc,
                           n_bootstrap=50)
    assert results["linear_probe"]["50%"]["metrics"] == lp["50%"]["metrics"]
    np.testing.assert_array_equal(scores["linear_probe/100%"], lp["100%"]["mean_scores"])
    fs = few_shot_eval(train, val, test, labels=["Edema"], ks=(2,), seeds=(3,), config=pc, n_bootstrap=50)
    assert results["few_shot"]["K=2"]["metrics"] == fs["K=2"]["metrics"] and results["few_shot"]["K=2"]["seeds"] == [3]
    # the laterality probe uses the linear probe's seeds unless it names its own
    assert results["laterality"]["side"]["probe"]["100%"]["seeds"] == [0, 1]
    one_sided = ((test.labels[:, 1] == 1) ^ (test.labels[:, 2] == 1)).sum()
    assert results["laterality"]["side"]["n_test"] == one_sided
    assert "laterality/side/probe/100%" in scores
    # reports embedded exactly as the images: every image retrieves its own report first
    assert results["retrieval"]["image_to_report"][1] == 1.0
    # unpaired test items: retrieval has nothing to report and is left out
    unpaired = {**feats, "test": _features(120, 2, reports=False)}
    assert "retrieval" not in evaluate_features(None, unpaired, EvalConfig.from_dict({"retrieval": {}}))[0]


def test_adding_an_evaluation_is_one_registry_entry(monkeypatch):
    @dataclass(frozen=True)
    class CountCfg:
        label: str = "Edema"

    def run_count(ctx, cfg):
        col = ctx.test.label_names.index(cfg.label)
        return {"positives": int(ctx.test.labels[:, col].sum())}, {"": ctx.test.labels[:, [col]]}

    mod = types.ModuleType("graphclr_test_count")
    mod.run_count = run_count
    monkeypatch.setitem(sys.modules, "graphclr_test_count", mod)
    monkeypatch.setitem(EVALUATIONS, "count", Evaluation("count", CountCfg, "graphclr_test_count:run_count"))
    cfg = EvalConfig.from_dict({"count": {"label": "Effusion_Left"}})
    test = _features(50, 4)
    results, scores = evaluate_features(None, {"train": test, "test": test}, cfg)
    assert results == {"count": {"positives": int(test.labels[:, 1].sum())}}
    np.testing.assert_array_equal(scores["count"], test.labels[:, [1]])
    with pytest.raises(ValueError, match=r"evaluations.count: unknown field\(s\) \['lable'\]"):
        EvalConfig.from_dict({"count": {"lable": "x"}})
