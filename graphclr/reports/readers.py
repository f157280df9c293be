"""Report readers: the Open-i archive, MIMIC-CXR report trees, CSV files and text files.

Every reader yields :class:`Report` objects (``id``, ``text``, ``source``, ``metadata``);
the extractor (:mod:`graphclr.reports.extract`) and the datasets read those. Reports keep their
section headers in ``text`` (``"FINDINGS: ..."``) so that the extractor can choose
sections; readers never drop text.

* :func:`read_openi` (:mod:`graphclr.reports.openi`): the Indiana University / Open-i
  reports, ``NLMCXR_reports.tgz`` or its extracted ``ecgen-radiology/*.xml``, read in
  place (CC BY-NC-ND: graphclr never copies them). ``id`` is ``CXR<n>``;
  ``metadata["images"]`` lists the report's image ids (``CXR1_1_IM-0001-3001``); the MeSH
  major/automatic index terms are kept too.
* :func:`read_mimic_reports`: ``files/p10/p10000032/s50414267.txt`` trees (or the
  ``mimic-cxr-reports.zip``); ``id`` is ``p10/p10000032/s50414267.txt``, the key of
  RadGraph's ``MIMIC-CXR_graphs.json``.
* :func:`read_report_csv`: a CSV with id and text columns.
* :func:`read_text_files`: one report per ``.txt`` file, id = file name without suffix.
* :func:`read_reports`: any of the above, chosen by path.

Bad input raises :class:`ReportFormatError` naming the file (and line or record); with
``strict=False`` the reader skips the record instead and appends the message to the
``skipped`` list it was given (or logs it when there is none). docs/bad_input.md lists
every case.

Examples:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.csv")
    >>> _ = open(path, "w").write('id,text\\nr1,"No effusion."\\nr2,Small effusion, left.\\n')
    >>> skipped = []
    >>> [r.id for r in read_report_csv(path, strict=False, skipped=skipped)]
    ['r1']
    >>> print(skipped[0].split(": ", 1)[1])
    line 3: 3 fields, the header has 2 (a text with unquoted commas?)
"""

from __future__ import annotations

import csv
import os
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from graphclr.reports._record import Report, ReportFormatError
from graphclr.reports._record import fail as _fail
from graphclr.reports.openi import (
    OPENI_SECTIONS,
    openi_archive_path,
    parse_openi_fast,
    parse_openi_xml,
    read_openi,
)

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
    "parse_openi_fast",
    "CSV_FIELD_LIMIT",
]

_MIMIC_ID = re.compile(r"(?:^|/)(p\d{2}/p(\d+)/s(\d+)\.txt)$")


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
        raise ReportFormatError(f"{where}: not UTF-8 text (byte 0x{data[err.start]:02x} at "
                                f"offset {err.start})") from None


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
        try:
            zf = zipfile.ZipFile(p)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise ReportFormatError(f"{p}: not a zip archive, or damaged ({err})") from None
        with zf:
            names = sorted((rid, n) for n in zf.namelist() if (rid := mimic_report_id(n)))
            if not names:
                raise ReportFormatError(f"{p}: no pNN/pNNNNNNNN/sNNNNNNNN.txt reports in the zip")
            for rid, name in names:
                where = f"{p}:{name}"
                try:
                    data = zf.read(name)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
                    _fail(f"{where}: damaged zip member ({err})", strict, skipped)
                    continue
                try:
                    yield _mimic_report(rid, _decode(data, where), where)
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
#: the CSV reader's field size limit (Python's default, 131,072 characters, is shorter
#: than some reports); a report longer than the extractor's ``max_chars`` is skipped there
CSV_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def read_report_csv(path: str | os.PathLike[str], id_column: str = "id",
                    text_column: str = "text", *, source: str = "csv", strict: bool = True,
                    skipped: list[str] | None = None) -> Iterator[Report]:
    """Reports from a CSV with an id and a text column; other columns go to ``metadata``.

    Every record is checked: it must have exactly as many fields as the header (a report
    with unquoted commas has more), no quoted field may run to the end of the file (an
    unterminated quote), the id must be non-empty and unique, and the text must be UTF-8.
    Line numbers are the physical line where the record starts.

    Raises:
        ReportFormatError: a missing column (names the columns found); with ``strict``
            (default) any bad record, naming the line. With ``strict=False`` the record is
            skipped and its message appended to ``skipped``.
    """
    p = Path(path)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with p.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            cols = next(reader, [])
        except csv.Error as err:
            raise ReportFormatError(f"{p}: line 1: bad header ({err})") from None
        if any(_BAD_BYTE.search(c) for c in cols):
            raise ReportFormatError(f"{p}: line 1: the header is not UTF-8 text")
        for col in (id_column, text_column):
            if col not in cols:
                raise ReportFormatError(f"{p}: no column {col!r} (columns: {', '.join(cols) or 'none'})")
        i_id, i_text = cols.index(id_column), cols.index(text_column)
        meta_cols = [(j, c) for j, c in enumerate(cols) if c and j not in (i_id, i_text)]
        seen: dict[str, int] = {}
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                why = ("unterminated quote: the quoted field runs to the end of the file"
                       if "end of data" in str(err) else f"malformed record ({err})")
                _fail(f"{p}: line {line}: {why}", strict, skipped)
                line = reader.line_num + 1
                continue
            start, line = line, reader.line_num + 1
            where = f"{p}: line {start}"
            if not row:
                continue
            if len(row) != len(cols):
                more = " (a text with unquoted commas?)" if len(row) > len(cols) else ""
                _fail(f"{where}: {len(row)} fields, the header has {len(cols)}{more}",
                      strict, skipped)
                continue
            rid, text = row[i_id].strip(), row[i_text]
            if not rid:
                _fail(f"{where}: empty {id_column!r}", strict, skipped)
                continue
            if rid in seen:
                _fail(f"{where}: id {rid!r} repeats line {seen[rid]}", strict, skipped)
                continue
            bad = next((f for f in row if _BAD_BYTE.search(f)), None)
            if bad is not None:
                byte = ord(_BAD_BYTE.search(bad).group()) - 0xDC00
                _fail(f"{where}: report {rid!r} is not UTF-8 text (byte 0x{byte:02x})",
                      strict, skipped)
                continue
            seen[rid] = start
            yield Report(id=rid, text=text, source=source,
                         metadata={c: row[j] for j, c in meta_cols})


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
        except OSError as err:
            _fail(f"{p}: cannot be read ({err.strerror or err})", strict, skipped)
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
