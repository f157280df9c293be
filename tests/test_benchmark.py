"""graphclr benchmark: specs, the report, and the quick built-in benchmark end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from graphclr.runner import default_spec_path, load_spec, parse_set
from graphclr.eval.report import format_ci, markdown_report


def _spec_file(tmp_path, **changes):
    spec = json.loads(default_spec_path().read_text())
    spec.update(changes)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_default_spec_compares_graph_and_text_encoders_under_one_budget():
    spec = load_spec()
    assert spec.synthetic and spec["dataset"]["kind"] == "synthetic"
    assert spec.encoder_names() == ["graph", "text-transformer", "bag-of-words"]
    assert spec["evaluations"]["linear_probe"]["fractions"] == [0.01, 0.1, 1.0]
    assert spec["evaluations"]["n_bootstrap"] == 500     # the budget for 3 seeds in ~15 minutes (docs/results.md)
    assert spec.seeds() == [0, 1, 2] and load_spec(quick=True).seeds() == [0, 1]
    # the first seed's run is OUT itself (a one-seed run's layout), the others OUT/seeds/seed-S
    assert [spec.seed_dir("out", s) for s in spec.seeds()] == [Path("out"), Path("out/seeds/seed-1"),
                                                                Path("out/seeds/seed-2")]
    assert spec["evaluations"]["counterfactual"]["max_per_family"] >= 200
    assert spec["evaluations"]["counterfactual"]["families"] == ["binding", "laterality", "negation", "zone", "size"]
    assert {t["left"] for t in spec["evaluations"]["laterality"]} == {"Effusion_Left"}
    quick = load_spec(quick=True)
    assert quick["budget"]["max_steps"] < spec["budget"]["max_steps"]
    assert quick["dataset"]["n"] < spec["dataset"]["n"]
    assert quick["budget"]["batch_size"] == spec["budget"]["batch_size"]   # merged, not replaced


def test_set_overrides_and_environment_variables(tmp_path, monkeypatch):
    over = parse_set(["budget.max_steps=7", "evaluations.linear_probe.seeds=[0]", "name=x"])
    spec = load_spec(overrides=over)
    assert spec["budget"]["max_steps"] == 7 and spec["evaluations"]["linear_probe"]["seeds"] == [0]
    assert spec["budget"]["batch_size"] == 64 and spec.name == "x"
    path = _spec_file(tmp_path, dataset={"kind": "manifest", "manifest": "${MY_DATA}/manifest.csv"})
    monkeypatch.delenv("MY_DATA", raising=False)
    with pytest.raises(ValueError, match="MY_DATA is not set"):
        load_spec(path)
    monkeypatch.setenv("MY_DATA", str(tmp_path / "d"))
    assert load_spec(path)["dataset"]["manifest"] == str(tmp_path / "d" / "manifest.csv")
    rel = _spec_file(tmp_path, dataset={"kind": "manifest", "manifest": "data/manifest.csv"})
    assert load_spec(rel)["dataset"]["manifest"] == str((tmp_path / "data" / "manifest.csv").resolve())


def test_seed_and_seeds_together_are_refused_not_one_ignored():
    with pytest.raises(ValueError, match=r"fields 'seed' \(1\) and 'seeds' \[0, 1, 2\] are both set.*--set seeds=\[1\]"):
        load_spec(overrides={"seed": 1})
    assert load_spec(overrides={"seeds": [1]}).seeds() == [1]


def test_bad_specs_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"spec.json: unknown field\(s\) \['budgett'\]"):
        load_spec(_spec_file(tmp_path, budgett={}))
    dup = load_spec()["encoders"][:1] * 2
    with pytest.raises(ValueError, match="unique"):
        load_spec(_spec_file(tmp_path, encoders=dup))
    with pytest.raises(FileNotFoundError, match="default"):
        load_spec("no-such-spec")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_set(["budget"])


def _stats(v, lo, hi):
    return {"value": v, "ci_low": lo, "ci_high": hi}


def test_markdown_report_tables():
    def probe(v):
        per = {lab: {"auroc": _stats(v, v - 0.1, v + 0.1), "mcc": _stats(v / 2, None, None)} for lab in ("A", "B")}
        return {"fraction": 0.1, "n_train": [10, 12], "metrics": {"mean": {"auroc": _stats(v, v - 0.05, v + 0.05),
                                                                         "mcc": _stats(v / 2, 0.1, 0.4)},
                                                                "per_label": per}}
    results = {"name": "t", "synthetic": True, "labels": ["A", "B"], "n_bootstrap": 1000,
               "encoders": {"graph": {"linear_probe": {"10%": probe(0.8)}},
                            "text": {"linear_probe": {"10%": probe(0.7)}}}}
    md = markdown_report(results)
    assert "The images in this benchmark are synthetic" in md
    assert "| graph | **0.800 (0.750-0.850)** |" in md
    assert "| text | 0.700 (0.650-0.750) |" in md
    assert "| graph | 11 |" in md            # mean training size over seeds
    assert format_ci(_stats(float("nan"), 0, 1)) == "n/a" and format_ci(_stats(0.5, None, None)) == "0.500"


@pytest.mark.slow
def test_quick_benchmark_end_to_end_and_resume(tmp_path, capsys):
    from graphclr.cli import main

    out = tmp_path / "run"
    # stage 1 (what torchrun runs on many GPUs): pretraining only, no report yet
    assert main(["benchmark", "--quick", "--out", str(out), "--no-progress", "--pretrain-only"]) == 0
    assert not (out / "report.md").exists()
    assert all((out / "encoders" / n / "pretrain" / "model.pt").is_file()
               and (out / "seeds" / "seed-1" / "encoders" / n / "pretrain" / "model.pt").is_file()
               for n in ("graph", "text-transformer", "bag-of-words"))
    capsys.readouterr()
    # stage 2: one process evaluates, reusing the pretrained encoders
    assert main(["benchmark", "--quick", "--out", str(out), "--no-progress", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("pretraining already done (resumed)") == 6     # 3 encoders x 2 pretraining seeds
    assert f"report:  {out / 'report.md'}" in printed and "synthetic" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["synthetic"] is True and results["command"].startswith("graphclr benchmark --quick")
    assert results["command"].endswith("--resume")
    assert results["env"]["torch"] and results["seeds"]["pretraining"] == [0, 1]
    assert list(results["encoders"]) == ["graph", "text-transformer", "bag-of-words"]
    budgets = set()
    for name, enc in results["encoders"].items():
        assert enc["pretrain"]["steps"] == results["budget"]["max_steps"]
        budgets.add(enc["pretrain"]["steps"])
        for frac in ("10%", "100%"):
            auc = enc["linear_probe"][frac]["metrics"]["mean"]["auroc"]
            assert 0.0 <= auc["ci_low"] <= auc["value"] <= auc["ci_high"] <= 1.0
        assert set(enc["zero_shot"]["labels"]) == set(results["labels"])
        assert "pleural-effusion-side" in enc["laterality"]
        assert enc["retrieval"]["image_to_report"]["1"] >= 0.0
        cf = enc["counterfactual"]
        assert list(cf) == ["binding", "laterality", "negation", "zone", "size"]
        assert all(f["n_pairs"] == 24 and 0.0 <= f["group"] <= min(f["image_pair"], f["text_pair"]) for f in cf.values())
    # two pretraining seeds: mean +- sd of every headline number over them, paired graph-vs-baseline differences
    multi = results["multi_seed"]
    assert multi["seeds"] == [0, 1] and multi["reference"] == "graph"
    zs = multi["metrics"]["zero_shot/mean AUROC"]["graph"]
    assert zs["values"][0] == results["encoders"]["graph"]["zero_shot"]["metrics"]["mean"]["auroc"]["value"]
    seed1 = json.loads((out / "seeds" / "seed-1" / "encoders" / "graph" / "results.json").read_text())
    assert zs["values"][1] == seed1["zero_shot"]["metrics"]["mean"]["auroc"]["value"]
    assert zs["mean"] == pytest.approx(sum(zs["values"]) / 2)
    assert set(multi["paired"]["counterfactual:binding/group"]) == {"text-transformer", "bag-of-words"}
    report = (out / "report.md").read_text()
    assert "The images in this benchmark are synthetic" in report
    assert "## Linear probe: mean AUROC over labels" in report and "| 10% labels | 100% labels |" in report
    assert "## Zero-shot from prompt graphs" in report and "## Laterality: pleural-effusion-side" in report
    assert "## Over 2 pretraining seeds (0, 1): mean ± sd" in report and "paired per seed" in report
    assert "## Counterfactual probes" in report and "| *chance* | 0.5 | 0.5 | 0.167 | 0.5 |" in report
    for family in ("binding", "laterality", "negation", "zone", "size"):
        assert f"### {family} (24 pairs)" in report
    for png in ("auroc_vs_label_fraction", "roc_linear_probe", "roc_zero_shot", "training_loss"):
        assert (out / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    # resuming a finished run recomputes nothing and reports the same numbers
    assert main(["benchmark", "--quick", "--out", str(out), "--no-progress", "--resume"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["encoders"] == results["encoders"]
    assert "[graph] already done (resumed)" in capsys.readouterr().out
    # graphclr eval on an encoder's checkpoint, with the run's data and evaluations, is the same code:
    # the same numbers (zero-shot prompt embeddings may differ in the last float bits)
    ran = json.loads((out / "spec.json").read_text())
    (tmp_path / "dataset.json").write_text(json.dumps({**ran["dataset"], "root": str(out / "data")}))
    (tmp_path / "evaluations.json").write_text(json.dumps(ran["evaluations"]))
    ev = tmp_path / "eval"
    assert main(["eval", str(out / "encoders" / "graph" / "pretrain" / "model.pt"), "--dataset",
                 str(tmp_path / "dataset.json"), "--config", str(tmp_path / "evaluations.json"), "--labels",
                 ",".join(ran["labels"]), "--name", "graph", "--threads", "1", "--out", str(ev),
                 "--no-progress"]) == 0
    evaluated = json.loads((ev / "results.json").read_text())
    assert evaluated["dataset"]["n_test"] == results["dataset"]["n_test"]
    mine, theirs = evaluated["encoders"]["graph"], results["encoders"]["graph"]
    for key in ("linear_probe", "few_shot", "laterality", "retrieval", "counterfactual"):
        assert mine[key] == theirs[key], key
    assert mine["zero_shot"]["metrics"]["mean"]["auroc"]["value"] == \
        pytest.approx(theirs["zero_shot"]["metrics"]["mean"]["auroc"]["value"], abs=1e-6)
    assert (ev / "report.md").read_text().startswith("# graphclr eval: ")
    # a different budget in the same directory is refused, not mixed in
    with pytest.raises(ValueError, match="another dataset/model/budget"):
        main(["-v", "benchmark", "--quick", "--out", str(out), "--no-progress", "--resume",
              "--set", "budget.max_steps=31"])
    assert np.isfinite(results["wall_seconds"])
