"""MIMIC-CXR-JPG + RadGraph: counts, pairing, labels, frontal filter, broken trees."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_data_fixtures import truncate_file, write_mimic_tree

from graphclr.data import ImageLoadError, MIMICCXRDataset, check_dataset, collate_items
from graphclr.reports.schema import ReportGraph


@pytest.fixture
def tree(tmp_path: Path):
    return write_mimic_tree(tmp_path / "mimic-cxr-jpg")


def test_frontal_filter_and_splits(tree) -> None:
    assert len(MIMICCXRDataset(tree.root)) == 5  # PA/AP only; LATERAL, LL and blank dropped
    assert len(MIMICCXRDataset(tree.root, views=None)) == 8
    train = MIMICCXRDataset(tree.root, split="train")
    assert sorted(train.csv["id"].str[:8]) == ["aaaa0001", "aaaa0003"]
    assert set(MIMICCXRDataset(tree.root, split="test").csv["ViewPosition"]) == {"AP", "PA"}
    assert len(MIMICCXRDataset(tree.root, views=("LATERAL", "LL"))) == 2


def test_labels_follow_the_study_and_uncertain_policy(tree) -> None:
    ds = MIMICCXRDataset(tree.root, views=None)
    col = ds.pathologies.index
    row = ds.csv.index[ds.csv["id"].str.startswith("aaaa0002")][0]  # study 50414267, lateral
    lab = ds.labels[row]
    assert lab[col("Cardiomegaly")] == 1 and lab[col("Atelectasis")] == 1
    assert lab[col("Pneumothorax")] == 0
    assert math.isnan(lab[col("Edema")])  # -1 -> NaN under the default U-Ignore
    assert math.isnan(lab[col("No Finding")])  # blank
    ones = MIMICCXRDataset(tree.root, views=None, uncertain="ones")
    assert ones.labels[row, col("Edema")] == 1
    keep = MIMICCXRDataset(tree.root, views=None, uncertain="keep")
    assert keep.labels[row, col("Edema")] == -1
    neg = MIMICCXRDataset(tree.root, views=None, labels="negbio")
    assert neg.labels[row, col("Cardiomegaly")] == 0
    assert MIMICCXRDataset(tree.root, labels=None).labels.shape == (5, 14)


def test_paired_items_share_their_study_graph(tree) -> None:
    ds = MIMICCXRDataset(tree.root, graphs=tree.graphs)
    assert ds.paired
    # 5 frontal images; study 53189527 (1 frontal image) has no graph
    assert len(ds) == 4 and ds.num_without_graph == 1
    items = {ds[i]["id"][:8]: ds[i] for i in range(len(ds))}
    assert set(items) == {"aaaa0001", "bbbb0001", "cccc0001", "cccc0002"}
    a, b = items["cccc0001"], items["cccc0002"]
    assert isinstance(a["graph"], ReportGraph)
    assert a["graph"].id == b["graph"].id == "p18/p18004941/s58821758.txt"
    assert a["text"] == "small left pleural effusion . no pneumothorax ."
    assert a["patient_id"] == "18004941" and a["study_id"] == "58821758"
    assert a["path"].endswith("files/p18/p18004941/s58821758/cccc0001-11111111-22222222-33333333-44444444.jpg")
    assert a["image"].shape == (1, 80, 96) and a["image"].dtype == torch.float32
    assert a["labels"].shape == (14,)
    batch = collate_items([a, b])
    assert batch["image"].shape == (2, 1, 80, 96) and len(batch["graph"]) == 2


def test_graphs_keyed_by_study_id_in_other_spellings(tree) -> None:
    import json

    records = json.loads(tree.graphs.read_text())
    respelled = {f"s{k.split('/s')[1][:-4]}" if i % 2 else k.split("/s")[1][:-4]: v
                 for i, (k, v) in enumerate(records.items())}
    ds = MIMICCXRDataset(tree.root, graphs=respelled)
    assert len(ds) == 4


def test_uncompressed_csv_files_are_read(tmp_path: Path) -> None:
    tree = write_mimic_tree(tmp_path / "m", gz=False)
    assert len(MIMICCXRDataset(tree.root)) == 5


def test_missing_metadata_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    with pytest.raises(FileNotFoundError, match="metadata"):
        MIMICCXRDataset(tmp_path)


def test_bad_label_value_names_file_line_and_column(tree) -> None:
    path = tree.root / "mimic-cxr-2.0.0-chexpert.csv.gz"
    table = pd.read_csv(path)
    table.loc[2, "Edema"] = 2.0  # study 57375967, line 4 of the file
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"line 4, column 'Edema'.*'2.0'"):
        MIMICCXRDataset(tree.root)
    ds = MIMICCXRDataset(tree.root, strict=False)
    assert len(ds) == 4  # the one frontal image of study 57375967 is skipped
    assert [s.kind for s in ds.skipped] == ["bad_label"]
    assert "57375967" not in set(ds.csv["study_id"].astype(str))


def test_missing_and_corrupt_images(tree) -> None:
    ds = MIMICCXRDataset(tree.root)
    missing = ds.image_path(0)
    missing.unlink()
    truncate_file(ds.image_path(2))
    with pytest.raises(ImageLoadError, match="missing"):
        ds[0]
    with pytest.raises(ImageLoadError, match="unreadable"):
        ds[2]
    lenient = MIMICCXRDataset(tree.root, strict=False)
    got = [lenient[i]["idx"] for i in range(len(lenient))]
    assert got == [1, 1, 3, 3, 4]  # each bad item is replaced by the next readable one
    assert sorted(lenient.bad_items) == [0, 2]
    assert {b.kind for b in lenient.bad_items.values()} == {"missing_image", "unreadable_image"}
    # a whole epoch through a DataLoader completes
    loader = torch.utils.data.DataLoader(lenient, batch_size=2, collate_fn=collate_items)
    assert sum(len(b["id"]) for b in loader) == 5

    report = check_dataset(tree.root, "mimic", graphs=tree.graphs)
    assert report.num("missing_image") == 1 and report.num("unreadable_image") == 1
    assert str(missing) in report.problems["missing_image"][0]


def test_check_counts_and_graph_consistency(tree) -> None:
    report = check_dataset(tree.root, "mimic", graphs=tree.graphs)
    assert report.counts["images"] == 8 and report.counts["studies"] == 4
    assert report.counts["patients"] == 3 and report.counts["frontal_images"] == 5
    assert report.counts["graphs"] == 4
    assert report.problems["graph_without_image"] == [
        f"{tree.orphan_graph_key}: no existing image of this study"]
    assert report.problems["report_without_graph"] == ["study s53189527: has images but no graph"]
    assert not report.ok
    clean = check_dataset(tree.root, "mimic")
    assert clean.ok, clean.summary()


def test_malformed_graph_record_is_reported_and_skipped(tree) -> None:
    import json

    records = json.loads(tree.graphs.read_text())
    key = "p10/p10000764/s57375967.txt"
    records[key]["entities"]["1"]["label"] = "NOT-A-LABEL"
    tree.graphs.write_text(json.dumps(records))
    report = check_dataset(tree.root, "mimic", graphs=tree.graphs)
    assert report.num("malformed_graph") == 1 and key in report.problems["malformed_graph"][0]
    ds = MIMICCXRDataset(tree.root, graphs=tree.graphs)
    bad = int(np.flatnonzero(ds.csv["study_id"] == 57375967)[0])
    with pytest.raises(ValueError, match="NOT-A-LABEL"):
        ds[bad]
    lenient = MIMICCXRDataset(tree.root, graphs=tree.graphs, strict=False)
    assert lenient[bad]["idx"] == bad + 1
