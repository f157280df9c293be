"""Report readers against hand-written fixtures in the exact Open-i / MIMIC-CXR layouts."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from graphclr.reports import readers as sources
from graphclr.reports.readers import (
    Report,
    ReportFormatError,
    mimic_report_id,
    openi_archive_path,
    parse_openi_xml,
    read_mimic_reports,
    read_openi,
    read_report_csv,
    read_reports,
    read_text_files,
)

FIX = Path(__file__).resolve().parent / "fixtures"
OPENI = FIX / "openi"
MIMIC = FIX / "reports" / "mimic"


@pytest.fixture
def openi_tgz(tmp_path: Path) -> Path:
    """The Open-i fixtures packed like NLMCXR_reports.tgz (members ecgen-radiology/<n>.xml)."""
    path = tmp_path / "NLMCXR_reports.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for f in sorted((OPENI / "ecgen-radiology").glob("*.xml")):
            tar.add(f, arcname=f"ecgen-radiology/{f.name}")
    return path


# --- Open-i ----------------------------------------------------------------------------
def test_read_openi_folder_ids_sections_images_mesh() -> None:
    reports = list(read_openi(OPENI))
    assert [r.id for r in reports] == ["CXR1", "CXR2", "CXR10"]  # numeric order, not 1, 10, 2
    r2 = reports[1]
    assert r2.source == "openi"
    assert r2.metadata["images"] == ["CXR2_IM-0652-1001", "CXR2_IM-0652-2001"]
    assert r2.metadata["mesh_major"] == ["Pleural Effusion/left/small", "Cardiomegaly/mild"]
    assert r2.metadata["mesh_automatic"] == ["atelectases"]
    assert r2.metadata["sections"]["findings"].startswith("Small left pleural effusion")
    # every non-empty section, in report order, with its header
    assert r2.text.split("\n\n")[0] == "COMPARISON: XXXX, XXXX."
    assert [line.split(":")[0] for line in r2.text.split("\n\n")] == [
        "COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION"]


def test_read_openi_empty_sections_and_no_images() -> None:
    r10 = [r for r in read_openi(OPENI) if r.id == "CXR10"][0]
    assert r10.metadata["sections"]["findings"] == ""
    assert r10.metadata["images"] == []
    assert "FINDINGS" not in r10.text and r10.text.startswith("INDICATION: Chest pain")


def test_read_openi_tgz_and_single_file_agree_with_folder(openi_tgz: Path) -> None:
    folder = [(r.id, r.text, r.metadata["images"]) for r in read_openi(OPENI / "ecgen-radiology")]
    archive = [(r.id, r.text, r.metadata["images"]) for r in read_openi(openi_tgz)]
    assert folder == archive
    one = list(read_openi(OPENI / "ecgen-radiology" / "2.xml"))
    assert [r.id for r in one] == ["CXR2"]


def test_read_openi_bad_xml_names_file_and_can_be_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "ecgen-radiology"
    shutil.copytree(OPENI / "ecgen-radiology", folder)
    (folder / "5.xml").write_text("<eCitation><uId id='CXR5'/>", encoding="utf-8")
    with pytest.raises(ReportFormatError, match=r"5\.xml: not valid XML"):
        list(read_openi(tmp_path))
    skipped: list[str] = []
    ids = [r.id for r in read_openi(tmp_path, strict=False, skipped=skipped)]
    assert ids == ["CXR1", "CXR2", "CXR10"] and len(skipped) == 1 and "5.xml" in skipped[0]


def test_parse_openi_xml_requires_uid() -> None:
    with pytest.raises(ReportFormatError, match="x.xml: no <uId"):
        parse_openi_xml(b"<eCitation></eCitation>", "x.xml")


def test_openi_archive_path_without_torchxrayvision(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install 'torchxrayvision==1.5.7'"):
        openi_archive_path()


def test_openi_archive_path_does_not_import_torchxrayvision() -> None:
    if importlib.util.find_spec("torchxrayvision") is None:
        with pytest.raises(FileNotFoundError):
            openi_archive_path()
        return
    already = "torchxrayvision" in sys.modules
    path = openi_archive_path()
    assert path.name == "NLMCXR_reports.tgz" and path.is_file()
    assert ("torchxrayvision" in sys.modules) == already


# --- MIMIC-CXR --------------------------------------------------------------------------
def test_mimic_ids_match_radgraph_keys_and_metadata() -> None:
    reports = list(read_mimic_reports(MIMIC))
    assert [r.id for r in reports] == ["p10/p10000032/s50414267.txt",
                                       "p10/p10000032/s53189527.txt",
                                       "p11/p11000011/s51029426.txt"]
    assert reports[0].metadata["subject_id"] == 10000032
    assert reports[0].metadata["study_id"] == 50414267
    assert reports[0].source == "mimic"
    assert "FINDINGS:" in reports[0].text and "INDICATION:" in reports[0].text
    # the same key layout as RadGraph's MIMIC-CXR_graphs.json
    import json

    keys = json.loads((FIX / "radgraph" / "MIMIC-CXR_graphs.json").read_text(encoding="utf-8"))
    assert "p11/p11000011/s51029426.txt" in keys


def test_mimic_root_variants_and_zip(tmp_path: Path) -> None:
    expected = [r.id for r in read_mimic_reports(MIMIC)]
    assert [r.id for r in read_mimic_reports(MIMIC / "files")] == expected
    assert [r.id for r in read_mimic_reports(MIMIC / "files" / "p10")] == expected[:2]
    zpath = tmp_path / "mimic-cxr-reports.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(MIMIC.rglob("*.txt")):
            zf.write(f, f.relative_to(MIMIC).as_posix())
    zipped = list(read_mimic_reports(zpath))
    assert [r.id for r in zipped] == expected
    assert zipped[1].text == (MIMIC / "files/p10/p10000032/s53189527.txt").read_text()


def test_mimic_report_id() -> None:
    assert mimic_report_id("x/files/p12/p12000018/s50523487.txt") == "p12/p12000018/s50523487.txt"
    assert mimic_report_id("files/p12/s50523487.txt") is None
    assert mimic_report_id("p1/p12000018/s50523487.txt") is None


def test_mimic_empty_folder_and_bad_bytes(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no MIMIC-CXR reports"):
        list(read_mimic_reports(tmp_path))
    bad = tmp_path / "files" / "p10" / "p10000001" / "s50000001.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"FINDINGS: \xff\xfe")
    with pytest.raises(ReportFormatError, match=r"s50000001\.txt: not UTF-8"):
        list(read_mimic_reports(tmp_path))
    assert list(read_mimic_reports(tmp_path, strict=False)) == []


# --- CSV and text -----------------------------------------------------------------------
def test_read_report_csv() -> None:
    reports = list(read_report_csv(FIX / "reports" / "reports.csv"))
    assert [r.id for r in reports] == ["case-1", "case-2", "case-3"]
    assert reports[0].text == ("FINDINGS: Moderate cardiomegaly. Mild pulmonary edema.\n"
                               "IMPRESSION: Cardiomegaly with mild edema.")
    assert reports[0].metadata == {"site": "A"} and reports[0].source == "csv"
    assert reports[2].text == ""


def test_read_report_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("report,body\nx,y\n", encoding="utf-8")
    with pytest.raises(ReportFormatError, match=r"r\.csv: no column 'id' \(columns: report, body\)"):
        list(read_report_csv(p))
    assert [r.text for r in read_report_csv(p, id_column="report", text_column="body")] == ["y"]
    p.write_text("id,text\na,one\n,two\na,three\nb,four\n", encoding="utf-8")
    with pytest.raises(ReportFormatError, match=r"r\.csv: line 3: empty 'id'"):
        list(read_report_csv(p))
    skipped: list[str] = []
    got = [(r.id, r.text) for r in read_report_csv(p, strict=False, skipped=skipped)]
    assert got == [("a", "one"), ("b", "four")]
    assert any("line 4: id 'a' repeats line 2" in s for s in skipped)


def test_read_text_files_ids_and_duplicates(tmp_path: Path) -> None:
    files = sorted((FIX / "reports" / "text").glob("*.txt"))
    reports = list(read_text_files(files))
    assert [r.id for r in reports] == ["alpha", "beta"]
    other = tmp_path / "alpha.txt"
    other.write_text("No effusion.", encoding="utf-8")
    with pytest.raises(ReportFormatError, match="id 'alpha' is also the id of"):
        list(read_text_files([*files, other]))


def test_read_reports_detects_each_layout(openi_tgz: Path) -> None:
    got = {r.id: r.source for r in read_reports([
        openi_tgz, MIMIC, FIX / "reports" / "reports.csv", FIX / "reports" / "text",
        MIMIC / "files/p10/p10000032/s50414267.txt"])}
    assert got == {"CXR1": "openi", "CXR2": "openi", "CXR10": "openi",
                   "p10/p10000032/s50414267.txt": "mimic", "p10/p10000032/s53189527.txt": "mimic",
                   "p11/p11000011/s51029426.txt": "mimic", "case-1": "csv", "case-2": "csv",
                   "case-3": "csv", "alpha": "text", "beta": "text"}
    assert [r.id for r in read_reports(OPENI)] == ["CXR1", "CXR2", "CXR10"]


def test_read_reports_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(read_reports(tmp_path / "missing.csv"))
    odd = tmp_path / "r.parquet"
    odd.write_bytes(b"")
    with pytest.raises(ReportFormatError, match="unknown report input"):
        list(read_reports(odd))


def test_report_is_a_plain_dataclass() -> None:
    r = Report("a", "text")
    assert (r.source, r.metadata) == ("text", {})
    assert sources.OPENI_SECTIONS == ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")


# --- the fast Open-i parser against its slow twin ---------------------------------------
_HEAD = (b'<?xml version="1.0" encoding="utf-8"?>\n<eCitation><uId id="CXR9"/><MedlineCitation>'
         b'<Article><Abstract><AbstractText Label="FINDINGS">No <b>effusion</b> &amp; clear.'
         b'</AbstractText></Abstract></Article></MedlineCitation><MeSH><major>normal</major></MeSH>')


@pytest.mark.parametrize("tail", [
    b'<parentImage id="CXR9_1"><caption>a</caption></parentImage>\n</eCitation>\n',
    b'<parentImage id="CXR9_1"></parentImage><parentImage id="CXR9_2"><panel/></parentImage></eCitation>',
    b"<parentImage id='CXR9_1'></parentImage></eCitation>",                # other quotes: slow path
    b'<parentImage id="CXR&amp;9"></parentImage></eCitation>',            # an entity: slow path
    b'<parentImage id=""></parentImage><parentImage id="x"></parentImage></eCitation>',
    b'<parentImage id="a"><parentImage id="b"></parentImage></parentImage></eCitation>',
    b'<parentImage id="a"></parentImage><MeSH><major>late</major></MeSH></eCitation>',
    b'</eCitation>',
])
def test_fast_openi_parser_equals_the_full_parse(tail: bytes) -> None:
    data = _HEAD + tail
    assert sources.parse_openi_fast(data, "9.xml") == parse_openi_xml(data, "9.xml")


def test_fast_openi_parser_fails_like_the_full_parse() -> None:
    for data in (_HEAD + b'<parentImage id="a"></parentImage>',           # no </eCitation>
                 _HEAD.replace(b"</MeSH>", b"") + b'<parentImage id="a"></parentImage></eCitation>'):
        with pytest.raises(ReportFormatError) as slow:
            parse_openi_xml(data, "9.xml")
        with pytest.raises(ReportFormatError) as fast:
            sources.parse_openi_fast(data, "9.xml")
        assert str(fast.value) == str(slow.value)


@pytest.mark.slow
def test_fast_openi_parser_equals_the_full_parse_on_the_archive() -> None:
    from graphclr.reports.openi import _archive_members

    members, damage = _archive_members(openi_archive_path())
    assert damage is None and len(members) == 3955
    for name, data in members:
        assert sources.parse_openi_fast(data, name) == parse_openi_xml(data, name), name


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_archive_reader_agrees_with_tarfile(tmp_path: Path, fmt: int) -> None:
    """The plain-tar fast path and tarfile (pax/long names go there) read the same members."""
    import io

    from graphclr.reports.openi import _archive_members, _plain_tar_files

    path = tmp_path / "r.tgz"
    long_dir = "ecgen-radiology/" + "d" * 120 + "/"  # > 100 characters: prefix, L or pax
    with tarfile.open(path, "w:gz", format=fmt) as tar:
        for f in sorted((OPENI / "ecgen-radiology").glob("*.xml")):
            tar.add(f, arcname=f"ecgen-radiology/{f.name}")
        info = tarfile.TarInfo(long_dir + "7.xml")
        data = (OPENI / "ecgen-radiology" / "2.xml").read_bytes().replace(b"CXR2", b"CXR7")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    members, damage = _archive_members(path)
    with tarfile.open(path) as tar:
        expected = [(m.name, tar.extractfile(m).read()) for m in tar if m.name.endswith(".xml")]
    assert damage is None and members == expected and len(members) == 4
    import gzip

    plain = _plain_tar_files(gzip.decompress(path.read_bytes()))
    assert (plain is None) == (fmt != tarfile.USTAR_FORMAT)
