"""CheXpert train/valid/test layouts: counts, labels, frontal filter, broken trees."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_data_fixtures import truncate_file, write_chexpert_test, write_chexpert_tree

from graphclr.data import CHEXPERT_LABELS, CheXpertDataset, ImageLoadError, check_dataset


@pytest.fixture
def tree(tmp_path: Path):
    return write_chexpert_tree(tmp_path)


@pytest.mark.parametrize("which", ["parent", "dataset_dir"])
def test_train_and_valid_from_either_root(tree, which: str) -> None:
    root = tree.parent if which == "parent" else tree.dataset_dir
    train = CheXpertDataset(root, "train")
    assert len(train) == 5 and set(train.csv["view"]) == {"Frontal"}
    assert len(CheXpertDataset(root, "train", views=None)) == 7
    valid = CheXpertDataset(root, "valid")
    assert len(valid) == 2
    assert train.csv["patient_id"].tolist() == ["patient00001", "patient00002", "patient00002",
                                                "patient00003", "patient00004"]
    assert train.image_path(0).is_file()
    assert train[0]["id"] == "patient00001/study1/view1_frontal"


def test_labels_one_zero_uncertain_blank(tree) -> None:
    col = CHEXPERT_LABELS.index
    train = CheXpertDataset(tree.parent, "train")
    row1 = train.labels[1]  # patient00002/study2: Cardiomegaly -1, Lung Opacity 1
    assert math.isnan(row1[col("Cardiomegaly")]) and row1[col("Lung Opacity")] == 1
    assert math.isnan(row1[col("Pleural Effusion")])  # blank
    assert train.labels[2, col("Pleural Effusion")] == 0
    zeros = CheXpertDataset(tree.parent, "train", uncertain="zeros")
    assert zeros.labels[1, col("Cardiomegaly")] == 0
    assert CheXpertDataset(tree.parent, "train", uncertain="keep").labels[1, col("Cardiomegaly")] == -1
    totals = CheXpertDataset(tree.parent, "train", uncertain="keep").totals()
    assert totals["Cardiomegaly"] == {"positive": 1, "negative": 0, "uncertain": 1, "missing": 3}
    valid = CheXpertDataset(tree.parent, "valid")
    assert valid.labels[0, col("Cardiomegaly")] == 1 and valid.labels[1, col("No Finding")] == 1
    assert not (valid.labels != valid.labels).any()  # valid has no blanks


@pytest.mark.parametrize("style", ["groundtruth", "chexlocalize"])
def test_test_set_layouts(tmp_path: Path, style: str) -> None:
    studies = write_chexpert_test(tmp_path, style)
    ds = CheXpertDataset(tmp_path, "test")
    assert len(ds) == 3  # the lateral view of patient64742 is dropped
    assert len(CheXpertDataset(tmp_path, "test", views=None)) == 4
    by_study = {s: ds.labels[i] for i, s in enumerate(ds.csv["study_id"])}
    for study, lab in studies.items():
        assert by_study[study].tolist() == [float(x) for x in lab]
    assert all(ds.image_path(i).is_file() for i in range(len(ds)))


def test_bad_label_value(tree) -> None:
    path = tree.dataset_dir / "train.csv"
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[5 + CHEXPERT_LABELS.index("Edema")] = "2.0"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"train.csv: line 4, column 'Edema'"):
        CheXpertDataset(tree.parent, "train")
    ds = CheXpertDataset(tree.parent, "train", strict=False)
    assert len(ds) == 4 and ds.skipped[0].kind == "bad_label"
    assert check_dataset(tree.parent, "chexpert").num("bad_label") == 1


def test_missing_and_corrupt_images(tree) -> None:
    ds = CheXpertDataset(tree.parent, "train")
    ds.image_path(1).unlink()
    truncate_file(ds.image_path(3), keep=0.6)
    with pytest.raises(ImageLoadError):
        ds[1]
    lenient = CheXpertDataset(tree.parent, "train", strict=False)
    assert [lenient[i]["idx"] for i in range(5)] == [0, 2, 2, 4, 4]
    report = check_dataset(tree.parent, "chexpert")
    assert report.counts["train_images"] == 7 and report.counts["valid_images"] == 3
    assert report.counts["train_patients"] == 4
    assert report.num("missing_image") == 1 and report.num("unreadable_image") == 1


def test_check_clean_tree(tree, tmp_path: Path) -> None:
    report = check_dataset(tree.parent, "chexpert")
    assert report.ok, report.summary()
    assert report.counts["valid_rows"] == 3


def test_chexzero_arrangement_finds_the_test_images(tmp_path: Path) -> None:
    """groundtruth.csv at the root, images under CheXpert/test/ (CheXzero's data/ folder)."""
    studies = write_chexpert_test(tmp_path, "chexzero")
    assert (tmp_path / "groundtruth.csv").is_file() and not (tmp_path / "CheXpert-v1.0").exists()
    ds = CheXpertDataset(tmp_path, "test", views=None)
    assert len(ds) == 4 and ds.root == tmp_path / "CheXpert"
    assert ds.image_path(0) == tmp_path / "CheXpert/test/patient64741/study1/view1_frontal.jpg"
    assert all(ds.image_path(i).is_file() for i in range(len(ds)))
    assert {s: ds.labels[i].tolist() for i, s in enumerate(ds.csv["study_id"])} == \
        {s: [float(x) for x in lab] for s, lab in studies.items()}
    report = check_dataset(tmp_path, "chexpert")
    assert report.num("missing_image") == 0, report.summary()


def test_no_finding_convention_keep_by_default_zero_as_torchxrayvision(tree) -> None:
    col = CHEXPERT_LABELS.index
    # patient00001: No Finding 1, Support Devices 1, every other label blank
    keep = CheXpertDataset(tree.parent, "train")
    assert keep.no_finding == "keep"
    row = keep.labels[0]
    assert row[col("No Finding")] == 1 and row[col("Support Devices")] == 1
    assert all(math.isnan(row[col(n)]) for n in CHEXPERT_LABELS if n not in ("No Finding", "Support Devices"))
    zero = CheXpertDataset(tree.parent, "train", no_finding="zero")
    expected = [1.0 if n in ("No Finding", "Support Devices") else 0.0 for n in CHEXPERT_LABELS]
    assert zero.labels[0].tolist() == expected
    # rows without No Finding = 1 are untouched (NaN equal to NaN)
    assert ((zero.labels[1:] == keep.labels[1:]) | (zero.labels[1:] != zero.labels[1:])).all()
    assert ((keep.labels[1:] != keep.labels[1:]) == (zero.labels[1:] != zero.labels[1:])).all()
    with pytest.raises(ValueError, match=r"no_finding must be one of keep, zero, got 'ones'"):
        CheXpertDataset(tree.parent, "train", no_finding="ones")
