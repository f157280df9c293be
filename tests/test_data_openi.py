"""Open-i: report archive (graphclr.reports.readers.read_openi) + NLMCXR_png, paired by image id."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_data_fixtures import (
    OPENI_REPORTS,
    openi_reports,
    radgraph_record,
    truncate_file,
    write_image,
    write_openi_tree,
)

from graphclr.data import ImageLoadError, OpenIDataset, check_dataset
from graphclr.data.openi import openi_dicom_image_id


def graphs_for(ids: list[str]) -> dict:
    return {rid: radgraph_record(f"report {rid} effusion", [("effusion", "OBS-DP", 2, [])]) for rid in ids}


def test_pairs_images_with_their_report_from_the_archive(tmp_path: Path) -> None:
    tgz, png = write_openi_tree(tmp_path)
    ds = OpenIDataset(png, reports=tgz, graphs=graphs_for(["CXR1", "CXR2", "CXR3"]))
    # report 4 names no image; 5 images in all
    assert len(ds) == 5 and ds.num_reports == 4 and ds.num_reports_without_images == 1
    by_id = {ds.csv["id"].iat[i]: i for i in range(len(ds))}
    a, b = ds[by_id["CXR1_1_IM-0001-3001"]], ds[by_id["CXR1_1_IM-0001-4001"]]
    assert a["graph"].id == b["graph"].id == "CXR1" and a["patient_id"] == "CXR1"
    assert "The heart is normal in size." in a["text"]  # the report text, from the XML
    assert a["path"].endswith("NLMCXR_png/CXR1_1_IM-0001-3001.png")
    assert a["image"].shape == (1, 80, 96)


def test_extracts_graphs_when_none_are_given(tmp_path: Path) -> None:
    tgz, png = write_openi_tree(tmp_path)
    ds = OpenIDataset(png, reports=tgz)  # graphs="extract" by default
    item = ds[int((ds.csv["report_id"] == "CXR2").to_numpy().argmax())]
    tokens = {e.tokens.lower() for e in item["graph"].entities}
    assert "effusion" in tokens and item["graph"].id == "CXR2"


def test_unpaired_reports_and_missing_images(tmp_path: Path) -> None:
    tgz, png = write_openi_tree(tmp_path, missing=("CXR3_IM-1384-2001-0001",))
    ds = OpenIDataset(png, reports=openi_reports(), graphs=graphs_for(["CXR1", "CXR3"]))
    assert sorted(ds.csv["report_id"].unique()) == ["CXR1", "CXR3"]
    assert len(ds) == 3 and ds.num_missing_images == 1 and ds.num_without_graph == 1
    text_only = OpenIDataset(png, reports=openi_reports(), graphs=None)
    assert not text_only.paired and "graph" not in text_only[0] and text_only[0]["text"]
    write_image(png / "CXR99_1_IM-9999-1001.png")
    report = check_dataset(png, "openi", reports=tgz, graphs=graphs_for(["CXR1", "CXR3", "CXR77"]))
    assert report.counts["reports"] == 4 and report.counts["images_named_by_reports"] == 5
    assert report.problems["missing_image"] == [f"{png / 'CXR3_IM-1384-2001-0001.png'}: named by report CXR3"]
    assert report.problems["unlisted_image"] == [f"{png / 'CXR99_1_IM-9999-1001.png'}: no report names this image"]
    assert report.problems["report_without_graph"] == ["CXR2: has images but no graph"]
    assert report.problems["graph_without_image"] == ["CXR77: no existing image of this report"]


def test_corrupt_png_is_skipped_in_lenient_mode(tmp_path: Path) -> None:
    tgz, png = write_openi_tree(tmp_path)
    truncate_file(png / "CXR2_IM-0652-1001.png")
    ds = OpenIDataset(png, reports=tgz, graphs=graphs_for(["CXR1", "CXR2", "CXR3"]))
    bad = int((ds.csv["id"] == "CXR2_IM-0652-1001").to_numpy().argmax())
    with pytest.raises(ImageLoadError):
        ds[bad]
    lenient = OpenIDataset(png, reports=tgz, graphs=graphs_for(["CXR1", "CXR2", "CXR3"]), strict=False)
    assert lenient[bad]["idx"] == bad + 1
    assert check_dataset(png, "openi", reports=tgz).num("unreadable_image") == 1


def test_views_from_the_dicom_table_and_labels_by_report(tmp_path: Path) -> None:
    tgz, png = write_openi_tree(tmp_path)
    table = pd.DataFrame({"imageid": ["CXR1_IM-0001-3001", "CXR1_IM-0001-4001", "CXR2_IM-0652-1001"],
                          "View Position": ["PA", "LL", "AP"]})
    table.to_csv(tmp_path / "dicom.csv", index=False)
    ds = OpenIDataset(png, reports=tgz, graphs=None, views=("PA", "AP"), dicom_metadata=tmp_path / "dicom.csv")
    assert sorted(ds.csv["id"]) == ["CXR1_1_IM-0001-3001", "CXR2_IM-0652-1001"]
    assert openi_dicom_image_id("CXR3_IM-1384-2001-0001") == "CXR3_IM-1384-2001-0001"
    labels = pd.DataFrame({"filename": ["CXR1", "CXR2"], "Effusion": [0, 1], "normal": [1, 0]})
    lab = OpenIDataset(png, reports=tgz, graphs=None, labels=labels)
    assert lab.pathologies == ["Effusion", "normal"]
    rows = {r: lab.labels[i].tolist() for i, r in enumerate(lab.csv["report_id"])}
    assert rows["CXR2"] == [1.0, 0.0] and rows["CXR1"] == [0.0, 1.0]
    assert all(v != v for v in rows["CXR3"])  # not in the label table: NaN


def test_image_ids_with_and_without_the_k_part(tmp_path: Path) -> None:
    """CXR1_1_IM-..., CXR2_IM-... and CXR3_IM-...-0001 (the three released spellings) all pair
    with their files and their report, and all find their view in the DICOM table."""
    tgz, png = write_openi_tree(tmp_path)
    ds = OpenIDataset(png, reports=tgz, graphs=None)
    pairs = dict(zip(ds.csv["id"], ds.csv["report_id"]))
    assert pairs == {"CXR1_1_IM-0001-3001": "CXR1", "CXR1_1_IM-0001-4001": "CXR1",
                     "CXR2_IM-0652-1001": "CXR2", "CXR3_IM-1384-1001": "CXR3",
                     "CXR3_IM-1384-2001-0001": "CXR3"}
    assert all(ds.image_path(i) == png / f"{ds.csv['id'].iat[i]}.png" and ds.image_path(i).is_file()
               for i in range(len(ds)))
    pd.DataFrame({"imageid": ["CXR1_IM-0001-3001", "CXR2_IM-0652-1001", "CXR3_IM-1384-1001",
                              "CXR3_IM-1384-2001-0001"],
                  "View Position": ["PA", "AP", "LL", "PA"]}).to_csv(tmp_path / "dicom.csv", index=False)
    views = OpenIDataset(png, reports=tgz, graphs=None, views=("PA", "AP"), dicom_metadata=tmp_path / "dicom.csv")
    assert sorted(views.csv["id"]) == ["CXR1_1_IM-0001-3001", "CXR2_IM-0652-1001", "CXR3_IM-1384-2001-0001"]
    assert [openi_dicom_image_id(i) for i in pairs] == ["CXR1_IM-0001-3001", "CXR1_IM-0001-4001",
                                                       "CXR2_IM-0652-1001", "CXR3_IM-1384-1001",
                                                       "CXR3_IM-1384-2001-0001"]


def test_real_archive_pairs_report_ids_with_image_ids(tmp_path: Path) -> None:
    """The shipped archive's image ids are what NLMCXR_png names its files (no images here)."""
    from graphclr.reports.readers import read_openi

    reports = list(read_openi())
    assert len(reports) == 3955
    ids = [i for r in reports for i in r.metadata.get("images", [])]
    assert len(ids) == 7470 and all(i.startswith("CXR") and "_IM-" in i for i in ids)
    # only CXR1 carries "_<k>_", as the fixture writer spells it
    assert [i for i in ids if re.match(r"CXR\d+_\d+_", i)] == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]
    report = check_dataset(tmp_path, "openi", level="exists")
    assert report.counts["reports"] == 3955 and report.num("missing_image") == 7470
    json.dumps(report.to_dict())  # serialisable


def test_fixture_reports_match_what_the_writer_wrote() -> None:
    assert {r.id for r in openi_reports()} == {f"CXR{u}" for u in OPENI_REPORTS}
