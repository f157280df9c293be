"""CSV manifests, image folders (real Hannover radiographs), the image cache."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_data_fixtures import radgraph_record, truncate_file, write_image

from graphclr.data import (
    CSVDataset,
    ImageFolderDataset,
    ManifestDataset,
    build_image_cache,
    check_dataset,
    load_image,
)
from graphclr.data.cache import ImageCache

REPO = Path(__file__).resolve().parent.parent
HANNOVER_FIXTURE = REPO / "tests" / "fixtures" / "hannover"
HANNOVER_SHARED = REPO.parent / "shared" / "data" / "hannover-cxr"


def write_manifest(root: Path, *, graph_column: str = "graph_id") -> Path:
    rows = []
    graphs = {}
    for k in range(5):
        write_image(root / "img" / f"i{k}.png", seed=k)
        row = {"path": f"img/i{k}.png", "patient_id": f"pt{k // 2}", "split": "train" if k < 4 else "test",
               "Cardiomegaly": [1, 0, -1, None, 1][k], "Edema": [0, 0, 1, 1, None][k],
               "meta_note": k}
        record = radgraph_record(f"report {k} left effusion", [("effusion", "OBS-DP", 3, [])])
        if graph_column == "graph_id":
            row["graph_id"] = f"g{k}"
            graphs[f"g{k}"] = record
        else:
            row["graph_json"] = json.dumps(record)
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    if graphs:
        graphs["unused"] = radgraph_record("nothing", [])
        (root / "graphs.json").write_text(json.dumps(graphs))
    return root / "manifest.csv"


@pytest.mark.parametrize("graph_column", ["graph_id", "graph_json"])
def test_manifest_items_labels_and_graphs(tmp_path: Path, graph_column: str) -> None:
    write_manifest(tmp_path, graph_column=graph_column)
    ds = ManifestDataset(tmp_path)  # the directory form
    assert CSVDataset is ManifestDataset
    assert len(ds) == 5 and ds.paired
    assert ds.pathologies == ["Cardiomegaly", "Edema"]  # meta_* and reserved columns are not labels
    assert ds.labels[:, 0].tolist()[:3] == [1, 0, -1] and math.isnan(ds.labels[3, 0])
    item = ds[2]
    assert item["id"] == "img/i2" and item["patient_id"] == "pt1"
    assert item["graph"].entities[0].tokens == "effusion" and item["text"] == "report 2 left effusion"
    assert item["image"].shape == (1, 80, 96)
    assert len(ManifestDataset(tmp_path / "manifest.csv", split="test")) == 1
    assert ManifestDataset(tmp_path, uncertain="nan").labels[2, 0] != ManifestDataset(tmp_path).labels[2, 0]


def test_manifest_problems(tmp_path: Path) -> None:
    path = write_manifest(tmp_path)
    table = pd.read_csv(path)
    table.loc[1, "Edema"] = 3
    table.loc[3, "graph_id"] = "missing-graph"
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"manifest.csv: line 3, column 'Edema'"):
        ManifestDataset(tmp_path)
    ds = ManifestDataset(tmp_path, strict=False)
    assert len(ds) == 3 and sorted(s.kind for s in ds.skipped) == ["bad_label", "report_without_graph"]
    report = check_dataset(tmp_path, "csv")
    assert report.num("bad_label") == 1 and report.num("report_without_graph") == 1
    # g3 lost its row, so it and "unused" are graphs without images
    assert report.num("graph_without_image") == 2
    truncate_file(tmp_path / "img" / "i0.png")
    (tmp_path / "img" / "i4.png").unlink()
    report = check_dataset(tmp_path, "csv")
    assert report.num("unreadable_image") == 1 and report.num("missing_image") == 1
    assert report.counts["rows"] == 5 and report.counts["readable_images"] == 3


def test_manifest_needs_path_and_graphs(tmp_path: Path) -> None:
    pd.DataFrame({"file": ["a.png"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ValueError, match="needs a 'path' column"):
        ManifestDataset(tmp_path / "m.csv")
    pd.DataFrame({"path": ["a.png"], "graph_id": ["x"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(FileNotFoundError, match="graph_id"):
        ManifestDataset(tmp_path / "m.csv")


@pytest.fixture(scope="module")
def model_transforms():
    """The ResNet-18 model's (train, eval) transforms, from the public factory."""
    from graphclr.examples import example_radgraph_path
    from graphclr.graphs import Vocabulary
    from graphclr.models import create_model_and_transforms
    from graphclr.reports.schema import read_radgraph

    vocab = Vocabulary.from_graphs(read_radgraph(example_radgraph_path()))
    model, train_tf, eval_tf = create_model_and_transforms("graphclr-resnet18", vocab=vocab)
    return model, train_tf, eval_tf


@pytest.mark.parametrize("root", [HANNOVER_FIXTURE,
                                  pytest.param(HANNOVER_SHARED, marks=pytest.mark.skipif(
                                      not HANNOVER_SHARED.is_dir(), reason="../shared is not on this machine"))],
                         ids=["fixture", "shared"])
def test_hannover_radiographs_load_through_the_image_folder(root: Path, model_transforms) -> None:
    model, train_tf, eval_tf = model_transforms
    size = model.preprocess_cfg["image_size"]
    ds = ImageFolderDataset(root / "png", metadata=root / "data.csv", transform=eval_tf)
    expected = sorted(p.stem for p in (root / "png").glob("*.png"))
    assert ds.csv["id"].tolist() == expected
    meta = pd.read_csv(root / "data.csv", dtype=str).set_index("image_id")
    assert ds.csv["patient_id"].tolist() == [meta.loc[i, "patient_id"] for i in expected]
    assert set(ds.csv["projection"]) <= {"ap", "pa"}
    picks = range(len(ds)) if len(ds) <= 3 else np.linspace(0, len(ds) - 1, 4).astype(int)
    for i in picks:
        item = ds[int(i)]
        with load_image(ds.image_path(int(i))) as img:
            w, h = img.size
        assert w >= 500 and h >= 500  # real sizes, not thumbnails
        assert item["image"].shape == (model.preprocess_cfg["channels"], size, size)
        assert torch.isfinite(item["image"]).all() and item["image"].std() > 0
    batch = torch.stack([ds[0]["image"], ImageFolderDataset(root / "png", transform=train_tf)[0]["image"]])
    with torch.no_grad():
        features = model.encode_image(batch, normalize=True)
    assert features.shape[0] == 2 and torch.allclose(features.norm(dim=-1), torch.ones(2), atol=1e-4)
    assert check_dataset(root / "png", "folder").ok


def test_image_cache_round_trip_resume_and_partial(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    ds = ManifestDataset(tmp_path)
    cache = build_image_cache(ds, tmp_path / "cache", size=32, progress=False)
    assert cache.complete and len(cache) == 5
    # rows hold the resized image
    from graphclr.data import resize_square

    expected = np.asarray(resize_square(load_image(ds.image_path(3)), 32))
    assert np.array_equal(cache.array("img/i3.png"), expected)
    cached = ManifestDataset(tmp_path, cache=tmp_path / "cache")
    assert cached[3]["image"].shape == (1, 32, 32)
    assert torch.allclose(cached[3]["image"][0], torch.from_numpy(expected / 255.0).float())
    # survives pickling into DataLoader workers
    loader = torch.utils.data.DataLoader(cached, batch_size=5, num_workers=1,
                                         collate_fn=lambda b: torch.stack([x["image"] for x in b]))
    assert next(iter(loader)).shape == (5, 1, 32, 32)
    # a resumed build writes only what is missing; a different item list is refused
    done = np.load(tmp_path / "cache" / "done.npy")
    done[[1, 4]] = False
    np.save(tmp_path / "cache" / "done.npy", done)
    partial = ImageCache(tmp_path / "cache")
    assert len(partial) == 3 and not partial.has("img/i1.png")
    (tmp_path / "img" / "i1.png").unlink()
    resumed = build_image_cache(ds, tmp_path / "cache", size=32, progress=False)
    assert len(resumed) == 4 and not resumed.complete
    assert "i1.png" in json.loads((tmp_path / "cache" / "meta.json").read_text())["failed"][0]
    with pytest.raises(ValueError, match="other items or size"):
        build_image_cache(ds, tmp_path / "cache", size=64, progress=False)


def test_folder_dataset_skips_corrupt_files(tmp_path: Path) -> None:
    for k in range(3):
        write_image(tmp_path / "sub" / f"x{k}.jpg", seed=k)
    truncate_file(tmp_path / "sub" / "x1.jpg")
    ds = ImageFolderDataset(tmp_path, strict=False)
    assert [ds[i]["idx"] for i in range(3)] == [0, 2, 2]
    assert ds.labels.shape == (3, 0)
    shutil.rmtree(tmp_path / "sub")
    assert len(ImageFolderDataset(tmp_path)) == 0
