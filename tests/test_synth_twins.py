"""Counterfactual pairs for pretraining (``train_counterfactuals``): only from training
reports, both versions of a pair one synthetic patient, never in a probe split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from graphclr.synth import COUNTERFACTUAL_FAMILIES, build_synthetic_benchmark, load_synthetic
from graphclr.synth.build import report_split
from graphclr.synth.counterfactual_set import training_pairs

#: hand-written reports (not Open-i text)
TEXTS = [
    "FINDINGS: Small left pleural effusion. Heart size is normal. IMPRESSION: Left effusion.",
    "FINDINGS: Lungs are clear. No pneumothorax. IMPRESSION: No acute disease.",
    "FINDINGS: Opacity in the right lower lobe. IMPRESSION: Right lower lobe pneumonia.",
    "FINDINGS: The heart is enlarged. No pleural effusion. IMPRESSION: Cardiomegaly.",
    "FINDINGS: Large right pneumothorax. IMPRESSION: Right pneumothorax.",
]
REPORTS = [(f"CXR{i}", TEXTS[i % len(TEXTS)]) for i in range(30)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("twins")
    build_synthetic_benchmark(out, size=32, seed=0, reports=REPORTS, progress=False,
                              train_counterfactuals=list(COUNTERFACTUAL_FAMILIES))
    return out


def test_pairs_come_from_training_reports_only_and_stay_out_of_probe_splits(built: Path) -> None:
    meta = json.loads((built / "metadata.json").read_text())
    m = pd.read_csv(built / "manifest.csv")
    extra = m[m["split"] == "pretrain"]
    train_ids = {rid for rid, _ in REPORTS if report_split(rid, 0) == "train"}
    assert len(extra) > 0 and set(extra["meta_report_id"]) <= train_ids
    assert meta["num_reports"] == len(REPORTS) and meta["split_counts"]["pretrain"] == len(extra)
    assert meta["num_items"] == len(REPORTS) + len(extra)
    assert meta["train_counterfactuals"] == list(COUNTERFACTUAL_FAMILIES)
    # the probe splits and the plain training split are what they were without pairs
    for split in ("train", "val", "test"):
        assert not load_synthetic(built, split=split).csv["id"].str.contains("counterfactual").any()
    both = load_synthetic(built, split=("train", "pretrain"))
    assert len(both) == (m["split"] == "train").sum() + len(extra)


def test_each_pair_is_one_patient_two_texts_one_changed_fact(built: Path) -> None:
    m = pd.read_csv(built / "manifest.csv")
    extra = m[m["split"] == "pretrain"]
    graphs = {g["id"] if "id" in g else k: g for k, g in json.loads((built / "graphs.json").read_text()).items()}
    assert (extra.groupby("patient_id").size() == 2).all()
    families = set()
    for pid, rows in extra.groupby("patient_id"):
        a, b = rows.iloc[0], rows.iloc[1]
        assert a["id"].endswith("-a") and b["id"].endswith("-b")
        family = pid.split("-")[2]
        families.add(family)
        ta, tb = graphs[a["graph_id"]]["text"], graphs[b["graph_id"]]["text"]
        wa, wb = ta.lower().split(), tb.lower().split()
        assert ta != tb and len(wa) == len(wb)
        if family in ("binding", "negation"):
            assert sorted(wa) == sorted(wb)                    # the same words, other order
        else:
            assert sum(x != y for x, y in zip(wa, wb)) == 1    # one word edited
        fa, fb = json.loads(a["meta_findings"]), json.loads(b["meta_findings"])
        changed = [(x, y) for x, y in zip(fa, fb) if x != y]
        assert len(fa) == len(fb) and 1 <= len(changed) <= 2
        with Image.open(built / a["path"]) as ia, Image.open(built / b["path"]) as ib:
            diff = np.asarray(ia, dtype=int) - np.asarray(ib, dtype=int)
        assert 0 < (diff != 0).mean() < 0.5          # same patient, only the fact's region differs
    assert families == set(COUNTERFACTUAL_FAMILIES)   # families taken in turn


def test_training_pairs_take_the_families_in_turn() -> None:
    from graphclr.reports.extract import extract_report

    graphs = [extract_report(t, f"R{i}") for i, t in enumerate(TEXTS)]
    pairs = training_pairs(graphs, ["laterality", "negation"], seed=0)
    assert [p.family for p in pairs] == ["laterality", "negation"] * 2 + ["laterality"]
    assert [p.source_id for p in pairs] == [g.id for g in graphs]
    with pytest.raises(ValueError, match="unknown counterfactual families"):
        training_pairs(graphs, ["sideways"])


def test_backgrounds_are_refused_with_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be combined with backgrounds"):
        build_synthetic_benchmark(tmp_path / "x", size=32, reports=REPORTS[:3], backgrounds=tmp_path,
                                  train_counterfactuals=["laterality"], progress=False)


def test_the_runner_pretrains_on_the_pairs_but_never_probes_them(tmp_path: Path) -> None:
    from graphclr.runner.data import prepare_data

    section = {"kind": "synthetic", "root": str(tmp_path / "d"), "n": 30, "size": 32, "seed": 0,
               "train_counterfactuals": ["laterality", "negation"]}
    build_synthetic_benchmark(section["root"], size=32, seed=0, reports=REPORTS, progress=False,
                              train_counterfactuals=section["train_counterfactuals"])
    data = prepare_data(section, tmp_path, ["Pleural Effusion"], progress=False)
    assert data.pretrain.csv["split"].isin(["train", "pretrain"]).all()
    assert (data.pretrain.csv["split"] == "pretrain").any()
    assert (data.probe_train.csv["split"] == "train").all()
    assert "pretraining-only images" in data.description


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _differences(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [path]


def test_the_counterfactual_training_spec_is_the_default_plus_pairs(load_benchmark) -> None:
    from graphclr.runner import default_spec_path

    repo = Path(__file__).resolve().parent.parent
    mine = json.loads((repo / "benchmarks" / "specs" / "counterfactual_training.json").read_text())
    default = json.loads(default_spec_path().read_text())
    assert _differences(default, mine) == [
        ".budget.batch_groups", ".budget.checkpoint_every", ".budget.max_steps", ".budget.warmup_steps",
        ".dataset.train_counterfactuals", ".description", ".name", ".quick.budget.checkpoint_every",
        ".quick.budget.max_steps", ".quick.budget.warmup_steps", ".quick.name"]
    # the budget is the one the recorded validation-pair cells choose (benchmarks/counterfactual_training.py
    # --probe-split val, choose_budget); the quick run keeps twice the quick default's
    cells = json.loads((repo / "benchmarks" / "results" / "counterfactual_budget_val.json").read_text())["cells"]
    assert {c["probe_split"] for c in cells} == {"val"}
    assert mine["budget"]["max_steps"] == load_benchmark("counterfactual_training").choose_budget(cells)[0]
    assert mine["quick"]["budget"]["max_steps"] == 2 * default["quick"]["budget"]["max_steps"]
    assert mine["budget"]["warmup_steps"] * 10 == mine["budget"]["max_steps"]   # as in the default
    assert mine["dataset"]["train_counterfactuals"] == list(COUNTERFACTUAL_FAMILIES)
    assert mine["budget"]["batch_groups"] == "patient_id"


@pytest.mark.slow
def test_quick_counterfactual_training_end_to_end(tmp_path: Path, load_benchmark, monkeypatch) -> None:
    from graphclr.cli import main

    repo = Path(__file__).resolve().parent.parent
    spec = repo / "benchmarks" / "specs" / "counterfactual_training.json"
    out = tmp_path / "run"
    sets = ["--set", "seeds=[0]", "--set", 'encoders=[{"name": "graph", "model": "tiny"}]',
            "--set", 'evaluations={"counterfactual": {"max_per_family": 8, "probe_folds": 2}}',
            "--set", "dataset.n=300", "--set", "budget.max_steps=6", "--set", "budget.batch_size=16"]
    assert main(["benchmark", str(spec), "--quick", "--out", str(out), "--no-progress", *sets]) == 0
    results = json.loads((out / "results.json").read_text())
    meta = json.loads((out / "data" / "metadata.json").read_text())
    assert meta["split_counts"]["pretrain"] > 0 and meta["train_counterfactuals"] == list(COUNTERFACTUAL_FAMILIES)
    cfg = json.loads((out / "encoders" / "graph" / "pretrain" / "train_config.json").read_text())
    assert cfg["batch_groups"] == "patient_id"
    assert results["dataset"]["n_pretrain"] == results["dataset"]["n_train"] + meta["split_counts"]["pretrain"]
    assert set(results["encoders"]["graph"]["counterfactual"]) == set(COUNTERFACTUAL_FAMILIES)
    assert {r["split"] for r in results["encoders"]["graph"]["counterfactual"].values()} == {"test"}
    # the failure breakdown reads the run back: its failures per family are the run's group score
    ids = tmp_path / "ids.csv"
    pd.DataFrame({"filename": sorted({p.source_id for ps in _cached_pairs(out).values() for p in ps})}).to_csv(ids)
    monkeypatch.setattr("sys.argv", ["counterfactual_failures.py", "--run", str(out), "--dev-ids", str(ids),
                                     "--out", str(tmp_path / "failures.json")])
    assert load_benchmark("counterfactual_failures").main() == 0
    seed0 = json.loads((tmp_path / "failures.json").read_text())["seeds"]["seed-0"]
    for family in ("binding", "negation"):
        cf = results["encoders"]["graph"]["counterfactual"][family]
        fails = sum(v["fail"] for v in seed0[family].values())
        assert sum(v["pairs"] for v in seed0[family].values()) == cf["n_pairs"]
        assert fails == pytest.approx((1 - cf["group"]) * cf["n_pairs"], abs=1e-6)


def _cached_pairs(run: Path) -> dict:
    import pickle

    (cache,) = (run / "counterfactuals").glob("pairs-*.pkl")
    with cache.open("rb") as fh:
        return pickle.load(fh)


def test_cli_builds_pairs_and_names_a_bad_family(tmp_path: Path, capsys) -> None:
    from graphclr.cli import main

    reports = tmp_path / "reports.csv"
    pd.DataFrame({"id": [r for r, _ in REPORTS], "text": [t for _, t in REPORTS]}).to_csv(reports, index=False)
    assert main(["synth", "build", "--out", str(tmp_path / "s"), "--size", "32", "--reports", str(reports),
                 "--train-counterfactuals", "sideways"]) != 0
    assert "unknown families ['sideways'] (allowed: binding" in capsys.readouterr().err
