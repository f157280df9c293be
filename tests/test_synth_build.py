"""The benchmark builder: manifest + graphs + metadata that the CSV dataset reads; resume; CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_data_fixtures import write_image, write_openi_tree

from graphclr.cli import main
from graphclr.data import ManifestDataset, check_dataset
from graphclr.reports.schema import Entity, Relation, ReportGraph, write_radgraph
from graphclr.synth import LABEL_COLUMNS, build_synthetic_benchmark, load_synthetic


def hand_graphs() -> list[ReportGraph]:
    eff = ReportGraph("CXR10", "large right pleural effusion", [
        Entity("large", "OBS-DP", 0, 0), Entity("right", "ANAT-DP", 1, 1), Entity("pleural", "ANAT-DP", 2, 2),
        Entity("effusion", "OBS-DP", 3, 3)],
        [Relation("modify", 0, 3), Relation("located_at", 3, 2), Relation("modify", 1, 2)])
    normal = ReportGraph("CXR11", "no pneumothorax", [Entity("pneumothorax", "OBS-DA", 1, 1)])
    cardio = ReportGraph("CXR12", "cardiomegaly", [Entity("cardiomegaly", "OBS-DP", 0, 0)])
    return [eff, normal, cardio]


def test_build_writes_a_manifest_the_csv_dataset_reads(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    meta = build_synthetic_benchmark(out, n=7, size=64, seed=1, graphs=hand_graphs(), progress=False)
    assert meta["synthetic"] is True and "synthetic" in meta["notice"] and meta["name"].startswith("graphclr-synthetic")
    assert meta["num_items"] == 7 and meta["num_reports"] == 3 and meta["timing"]["rendered"] == 7
    manifest = pd.read_csv(out / "manifest.csv")
    assert list(manifest.columns[:5]) == ["id", "path", "patient_id", "split", "graph_id"]
    assert list(manifest.columns[5:5 + len(LABEL_COLUMNS)]) == list(LABEL_COLUMNS)
    assert all(i.startswith("synthetic-") for i in manifest["id"]) and manifest["id"].is_unique
    assert set(manifest["split"]) <= {"train", "val", "test"}
    # one report = one synthetic patient = one split
    assert (manifest.groupby("patient_id")["split"].nunique() == 1).all()
    row = manifest.set_index("graph_id").loc["CXR10"].iloc[0]
    assert row["Effusion_Right"] == 1 and row["Effusion_Left"] == 0 and row["No Finding"] == 0
    assert (manifest.set_index("graph_id").loc["CXR11", "No Finding"] == 1).all()
    assert (manifest.set_index("graph_id").loc["CXR12", "Cardiomegaly"] == 1).all()
    drawn = json.loads(row["meta_findings"])
    assert drawn[0]["name"] == "effusion" and drawn[0]["side"] == "right" and drawn[0]["drawn"]

    ds = load_synthetic(out)
    assert isinstance(ds, ManifestDataset) and ds.paired and len(ds) == 7
    assert ds.pathologies == list(LABEL_COLUMNS) and not np.isnan(ds.labels).any()
    item = ds[0]
    assert item["image"].shape == (1, 64, 64) and isinstance(item["graph"], ReportGraph)
    assert item["graph"].id == manifest["graph_id"].iat[0]
    plain = ManifestDataset(out)  # no special knowledge needed: label columns are detected
    assert plain.pathologies == list(LABEL_COLUMNS)
    assert check_dataset(out, "csv").ok
    with Image.open(out / manifest["path"].iat[0]) as img:
        assert img.size == (64, 64) and img.mode == "L"


def test_build_is_deterministic_and_resumable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    build_synthetic_benchmark(a, n=4, size=48, seed=5, graphs=hand_graphs(), progress=False)
    build_synthetic_benchmark(b, n=4, size=48, seed=5, graphs=hand_graphs(), progress=False, workers=2)
    for name in pd.read_csv(a / "manifest.csv")["path"]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "manifest.csv").read_text() == (b / "manifest.csv").read_text()
    victim = sorted((a / "images").glob("*.png"))[0]
    victim.unlink()
    meta = build_synthetic_benchmark(a, n=4, size=48, seed=5, graphs=hand_graphs(), progress=False)
    assert meta["timing"]["rendered"] == 1 and meta["timing"]["skipped_existing"] == 3
    assert victim.read_bytes() == (b / "images" / victim.name).read_bytes()
    with pytest.raises(ValueError, match="other settings"):
        build_synthetic_benchmark(a, n=4, size=64, seed=5, graphs=hand_graphs(), progress=False)


def test_images_drawn_by_an_older_extractor_are_not_resumed(tmp_path: Path) -> None:
    """Images rendered from extracted graphs go stale when the extractor's output changes:
    a build records the extractor, and a folder made by another one is refused."""
    from graphclr.reports.extract.pipeline import EXTRACTOR_NAME

    out = tmp_path / "s"
    reports = [("r1", "Large right pleural effusion."), ("r2", "No pneumothorax.")]
    meta = build_synthetic_benchmark(out, n=2, size=32, seed=0, reports=reports, progress=False)
    assert meta["extractor"] == EXTRACTOR_NAME
    assert build_synthetic_benchmark(out, n=2, size=32, seed=0, graphs=hand_graphs()[:2],
                                     progress=False, overwrite=True)["extractor"] == "given graphs"
    build_synthetic_benchmark(out, n=2, size=32, seed=0, reports=reports, progress=False, overwrite=True)
    stored = json.loads((out / "metadata.json").read_text())
    stored["extractor"] = "graphclr.reports.extract/1"
    (out / "metadata.json").write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="other settings.*extractor"):
        build_synthetic_benchmark(out, n=2, size=32, seed=0, reports=reports, progress=False)


def test_backgrounds_from_a_folder(tmp_path: Path) -> None:
    for k in range(2):
        write_image(tmp_path / "bg" / f"b{k}.png", size=(120, 110), seed=k)
    meta = build_synthetic_benchmark(tmp_path / "o", n=3, size=48, graphs=hand_graphs(),
                                     backgrounds=tmp_path / "bg", progress=False)
    manifest = pd.read_csv(tmp_path / "o" / "manifest.csv")
    assert meta["num_backgrounds"] == 2 and set(manifest["meta_background"]) <= {"b0.png", "b1.png"}


@pytest.mark.slow
def test_cli_builds_from_an_openi_archive(tmp_path: Path, capsys) -> None:
    tgz, _ = write_openi_tree(tmp_path / "openi")
    out = tmp_path / "bench"
    assert main(["synth", "build", "--out", str(out), "--n", "6", "--size", "64", "--seed", "2",
                 "--reports", str(tgz)]) == 0
    printed = capsys.readouterr().out
    assert "6 images from 4 reports" in printed and "synthetic" in printed
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["graphs_source"].startswith("graphclr.reports.extract") and meta["seed"] == 2
    graphs = json.loads((out / "graphs.json").read_text())
    assert set(graphs) == {"CXR1", "CXR2", "CXR3", "CXR4"}
    manifest = pd.read_csv(out / "manifest.csv")
    cxr2 = manifest[manifest["graph_id"] == "CXR2"].iloc[0]
    # "Small left pleural effusion. Heart size is enlarged." -> drawn on the patient's left
    assert cxr2["Effusion_Left"] == 1 and cxr2["Cardiomegaly"] == 1
    assert main(["data", "check", str(out), "--format", "csv"]) == 0


def test_cli_uses_given_graphs(tmp_path: Path) -> None:
    write_radgraph(tmp_path / "g.json", hand_graphs())
    assert main(["synth", "build", "--out", str(tmp_path / "o"), "--n", "2", "--size", "32",
                 "--graphs", str(tmp_path / "g.json")]) == 0
    assert len(pd.read_csv(tmp_path / "o" / "manifest.csv")) == 2
