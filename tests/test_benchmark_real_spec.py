"""The real-protocol spec (benchmarks/specs/graphclr_chexpert.json) runs on fixture trees in the
released MIMIC-CXR-JPG, RadGraph and CheXpert layouts, shrunk with --set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_data_fixtures import write_chexpert_test, write_chexpert_tree, write_mimic_tree

SPEC = Path(__file__).resolve().parent.parent / "benchmarks" / "specs" / "graphclr_chexpert.json"


def test_real_protocol_spec_names_the_released_files():
    from graphclr.runner import load_spec

    spec = json.loads(SPEC.read_text())
    ds = spec["dataset"]
    assert ds["pretrain"] == {"type": "mimic", "root": "${MIMIC_CXR_JPG}", "split": "train",
                              "graphs": "${RADGRAPH}/MIMIC-CXR_graphs.json"}
    assert (ds["probe_train"]["split"], ds["probe_val"]["split"], ds["test"]["split"]) == ("train", "valid", "test")
    assert spec["evaluations"]["linear_probe"]["fractions"] == [0.01, 0.1, 1.0]
    assert spec["evaluations"]["few_shot"]["ks"] == [1, 5, 10]
    assert {e["name"] for e in spec["encoders"]} >= {"graph", "igcl", "rgcn-mean", "text-transformer",
                                                     "bag-of-words", "minilm"}
    assert spec["budget"]["batch_size"] == 250 and spec["budget"]["epochs"] == 10
    with pytest.raises(ValueError, match="MIMIC_CXR_JPG is not set"):
        load_spec(SPEC)


@pytest.mark.slow
def test_real_protocol_spec_runs_on_fixture_trees(tmp_path, monkeypatch):
    from graphclr.cli import main

    mimic = write_mimic_tree(tmp_path / "mimic-cxr-jpg")
    write_chexpert_tree(tmp_path / "chexpert")
    write_chexpert_test(tmp_path / "chexpert-test")
    monkeypatch.setenv("MIMIC_CXR_JPG", str(mimic.root))
    monkeypatch.setenv("RADGRAPH", str(mimic.graphs.parent))
    monkeypatch.setenv("CHEXPERT", str(tmp_path / "chexpert"))
    monkeypatch.setenv("CHEXPERT_TEST", str(tmp_path / "chexpert-test"))
    small = [
        {"name": "graph", "model": "tiny"},
        {"name": "bag-of-words", "model": "text-bow", "overrides": {"text_cfg": {"hidden": 16, "width": 16}}},
    ]
    out = tmp_path / "run"
    args = ["-v", "benchmark", str(SPEC), "--out", str(out), "--no-progress",
            "--set", "model={\"embed_dim\": 16, \"image_cfg\": {\"backbone\": \"cpu-cnn\", \"image_size\": 32}}",
            "--set", f"encoders={json.dumps(small)}",
            "--set", "budget={\"max_steps\": 2, \"batch_size\": 1, \"num_workers\": 0, \"checkpoint_every\": 1}",
            "--set", "evaluations.n_bootstrap=20", "--set", "evaluations.probe={\"epochs\": 3}",
            "--set", "evaluations.linear_probe.seeds=[0]", "--set", "evaluations.few_shot.ks=[1]",
            "--set", "threads=1"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["synthetic"] is False
    assert "synthetic" not in (out / "report.md").read_text().split("\n")[2]
    # MIMIC train split: two frontal images, one of whose studies has a RadGraph graph
    assert results["dataset"]["n_pretrain"] == 1
    assert (results["dataset"]["n_train"], results["dataset"]["n_val"], results["dataset"]["n_test"]) == (5, 2, 3)
    for enc in results["encoders"].values():
        assert enc["pretrain"]["steps"] == 2
        assert set(enc["linear_probe"]) == {"1%", "10%", "100%"}
        assert enc["linear_probe"]["100%"]["n_train"] == [5]
        assert "K=1" in enc["few_shot"] and enc["zero_shot"]["labels"]
