"""RadGraph JSON files: streamed reading, exact writing.

A RadGraph file is one JSON object ``{report_id: record}``. :func:`iter_radgraph` reads it
one record at a time: the text is read in chunks of :data:`CHUNK` characters, each key and
record is decoded with :meth:`json.JSONDecoder.raw_decode` as soon as the buffer holds
all of it, and the buffer keeps only the record being read. Memory therefore grows with
the largest record, not with the file (``json.load`` of a 200 MB file holds about 1.9 GB
of dicts); :func:`read_radgraph` keeps only the parsed graphs. A record that does not fit
the buffer makes it grow geometrically, so every byte is decoded O(1) times on average.

Because the top-level object is read key by key, a **repeated report key** (which
``json.load`` resolves silently, the last copy winning) is seen: an error with
``strict=True``, and with ``strict=False`` the later copy is skipped and counted.

Examples:
    >>> import json, tempfile, os
    >>> rec = {"text": "no effusion", "entities": {"1": {"tokens": "effusion",
    ...        "label": "Observation::definitely absent", "start_ix": 1, "end_ix": 1,
    ...        "relations": []}}}
    >>> path = os.path.join(tempfile.mkdtemp(), "g.json")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write('{"a": %s, "b": %s, "a": %s}' % ((json.dumps(rec),) * 3))
    >>> coll = read_radgraph(path, strict=False)
    >>> [g.id for g in coll], [g.entities[0].label for g in coll]
    (['a', 'b'], ['OBS-DA', 'OBS-DA'])
    >>> print(coll.skipped[0].problem)
    repeated report key (first at record 1); this copy is skipped
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from graphclr.reports.schema import LABELERS, RadGraphFormatError, ReportGraph
from graphclr.utils import atomic_write

__all__ = ["RadGraphCollection", "iter_radgraph", "parse_radgraph", "read_radgraph",
           "to_radgraph_dict", "write_radgraph", "CHUNK"]

#: characters read at a time
CHUNK = 1 << 20
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


class RadGraphCollection(Sequence[ReportGraph]):
    """The graphs read from one RadGraph file, plus what was skipped or warned about.

    Attributes:
        graphs: the parsed graphs, in file order (two per record for the test set when
            both labelers are read).
        skipped: the errors of records dropped under ``strict=False``.
        warnings: the problems of records kept as read under ``strict=False`` (entity
            tokens that are not their span, self-relations, repeated relations).
        source: where the graphs came from.
    """

    def __init__(self, graphs: list[ReportGraph], skipped: list[RadGraphFormatError] | None = None,
                 source: str | None = None,
                 warnings: list[RadGraphFormatError] | None = None) -> None:
        self.graphs = graphs
        self.skipped = skipped or []
        self.warnings = warnings or []
        self.source = source

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i):  # type: ignore[override]
        return self.graphs[i]

    def __iter__(self) -> Iterator[ReportGraph]:
        return iter(self.graphs)

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @property
    def num_warnings(self) -> int:
        return len(self.warnings)

    def __repr__(self) -> str:
        return (f"RadGraphCollection({len(self.graphs)} graphs, {self.num_skipped} skipped, "
                f"{self.num_warnings} warnings, source={self.source!r})")


def _graphs_of(report_id: str, record: Any, labeler: str | None, strict: bool,
               warnings: list[RadGraphFormatError] | None) -> list[ReportGraph]:
    kw: dict[str, Any] = {"strict": strict, "warnings": warnings}
    if labeler == "all" and isinstance(record, Mapping) and any(k in record for k in LABELERS):
        return [ReportGraph.from_radgraph_record(report_id, record, labeler=lab, **kw)
                for lab in LABELERS if lab in record]
    lab = None if labeler == "all" else labeler
    return [ReportGraph.from_radgraph_record(report_id, record, labeler=lab, **kw)]


def _collect(items: Iterable[tuple[str, Any]], strict: bool, labeler: str | None,
             source: str | None, skipped: list[RadGraphFormatError],
             warnings: list[RadGraphFormatError]) -> Iterator[ReportGraph]:
    for report_id, record in items:
        local: list[RadGraphFormatError] = []
        try:
            graphs = _graphs_of(report_id, record, labeler, strict, local)
        except RadGraphFormatError as err:
            err = err.with_source(source) if source else err
            if strict:
                raise err from None
            skipped.append(err)
            continue
        warnings.extend(w.with_source(source) if source else w for w in local)
        yield from graphs


def parse_radgraph(data: Mapping[str, Any], *, strict: bool = True,
                   labeler: str | None = None, source: str | None = None) -> RadGraphCollection:
    """Parse a loaded RadGraph JSON object (``{report_id: record}``).

    Args:
        data: the JSON object.
        strict: raise on the first malformed record (default); with ``False`` skip it and
            record the error in :attr:`RadGraphCollection.skipped`, and keep records with
            soft problems, listed in :attr:`RadGraphCollection.warnings`.
        labeler: for the test set, ``"labeler_1"``, ``"labeler_2"`` or ``"all"`` (both, one
            graph each, sharing the report id). ``None`` reads ``labeler_1``. Records that
            do not nest labelers ignore it.
        source: a name for error messages (usually the file path).
    """
    if not isinstance(data, Mapping):
        raise RadGraphFormatError(
            f"top level must be an object keyed by report id, got {type(data).__name__}",
            source=source)
    skipped: list[RadGraphFormatError] = []
    warnings: list[RadGraphFormatError] = []
    graphs = list(_collect(data.items(), strict, labeler, source, skipped, warnings))
    return RadGraphCollection(graphs, skipped, source, warnings)


class _Reader:
    """The top-level object of a JSON file, key by key (see the module docstring)."""

    def __init__(self, fh: Any, source: str) -> None:
        self.fh, self.source = fh, source
        self.buf, self.pos, self.eof = "", 0, False
        self.lines_before = 0  # newlines in the text dropped from the buffer
        self.dropped = 0  # characters dropped from the buffer
        self.line_start = 0  # where the line of the buffer's first character starts

    def fill(self, at_least: int = CHUNK) -> bool:
        if self.eof:
            return False
        if self.pos > CHUNK:  # drop what has been decoded
            self.lines_before += self.buf.count("\n", 0, self.pos)
            nl = self.buf.rfind("\n", 0, self.pos)
            if nl >= 0:
                self.line_start = self.dropped + nl + 1
            self.dropped += self.pos
            self.buf, self.pos = self.buf[self.pos:], 0
        try:
            more = self.fh.read(max(at_least, CHUNK))
        except UnicodeDecodeError as err:
            raise RadGraphFormatError(f"not UTF-8 text (byte 0x{err.object[err.start]:02x})",
                                      source=self.source) from None
        self.eof = not more
        self.buf += more
        return bool(more)

    def error(self, msg: str, pos: int) -> RadGraphFormatError:
        line = self.lines_before + self.buf.count("\n", 0, pos) + 1
        nl = self.buf.rfind("\n", 0, pos)
        col = pos - nl if nl >= 0 else self.dropped + pos - self.line_start + 1
        return RadGraphFormatError(f"not valid JSON (line {line}, column {col}): {msg}",
                                   source=self.source)

    def peek(self) -> str:
        """The next non-space character ('' at the end of the file), not consumed."""
        while True:
            buf, n = self.buf, len(self.buf)
            while self.pos < n and buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < n:
                return buf[self.pos]
            if not self.fill():
                return ""

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.error(f"expected {what}" + (f", got {c!r}" if c else ", got the end of the file"),
                             self.pos)
        self.pos += 1
        return c

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as err:
                if self.eof:
                    raise self.error(err.msg, err.pos) from None
                self.fill(len(self.buf) - self.pos)  # maybe only incomplete: grow geometrically
                continue
            if end == len(self.buf) and not self.eof:  # a number may go on: decode again
                self.fill(len(self.buf) - self.pos)
                continue
            self.pos = end
            return obj

    def items(self) -> Iterator[tuple[str, Any, int]]:
        """``(key, value, record number)`` of the top-level object, in file order."""
        self.expect("{", "'{' (a RadGraph file is an object keyed by report id)")
        if self.peek() == "}":
            self.pos += 1
        else:
            n = 0
            while True:
                if self.peek() != '"':
                    raise self.error("expected a report id (a string)", self.pos)
                key = self.value()
                self.expect(":", "':'")
                n += 1
                yield key, self.value(), n
                if self.expect(",}", "',' or '}'") == "}":
                    break
        if self.peek():
            raise self.error("extra data after the top-level object", self.pos)


def iter_radgraph(path: str | os.PathLike[str], *, strict: bool = True, labeler: str | None = None,
                  skipped: list[RadGraphFormatError] | None = None,
                  warnings: list[RadGraphFormatError] | None = None) -> Iterator[ReportGraph]:
    """The graphs of a RadGraph JSON file, one record in memory at a time.

    ``skipped``/``warnings`` receive, with ``strict=False``, the errors of skipped records
    (repeated report keys included) and the problems of records kept as read; see
    :func:`parse_radgraph` for ``strict`` and ``labeler``. Invalid JSON always raises,
    naming the line and column.
    """
    path = Path(path)
    source = str(path)
    skipped = [] if skipped is None else skipped
    warnings = [] if warnings is None else warnings
    first: dict[str, int] = {}

    def unique(reader: _Reader) -> Iterator[tuple[str, Any]]:
        for key, record, n in reader.items():
            if key in first:
                err = RadGraphFormatError(
                    f"repeated report key (first at record {first[key]})"
                    + ("" if strict else "; this copy is skipped"), report_id=key, source=source)
                if strict:
                    raise err
                skipped.append(err)
                continue
            first[key] = n
            yield key, record

    with path.open("r", encoding="utf-8") as fh:
        yield from _collect(unique(_Reader(fh, source)), strict, labeler, source, skipped, warnings)


def read_radgraph(path: str | os.PathLike[str], *, strict: bool = True,
                  labeler: str | None = None) -> RadGraphCollection:
    """Read a RadGraph JSON file in any released layout, streamed (see
    :func:`iter_radgraph`), into a :class:`RadGraphCollection`."""
    skipped: list[RadGraphFormatError] = []
    warnings: list[RadGraphFormatError] = []
    graphs = list(iter_radgraph(path, strict=strict, labeler=labeler, skipped=skipped,
                                warnings=warnings))
    return RadGraphCollection(graphs, skipped, str(path), warnings)


def to_radgraph_dict(graphs: Iterable[ReportGraph]) -> dict[str, Any]:
    """Graphs as a RadGraph JSON object.

    Graphs that carry an ``annotator`` are nested under it (the test-set layout); graphs
    sharing an id and annotated by different labelers end up in one record.
    """
    out: dict[str, Any] = {}
    for g in graphs:
        if g.annotator is None:
            if g.id in out:
                raise RadGraphFormatError("duplicate report id", report_id=g.id)
            out[g.id] = g.to_radgraph_record()
            continue
        record = out.setdefault(g.id, {"text": g.text})
        if "entities" in record:
            raise RadGraphFormatError("report id used both with and without a labeler",
                                      report_id=g.id)
        if g.annotator in record:
            raise RadGraphFormatError(f"duplicate {g.annotator} annotation", report_id=g.id)
        record[g.annotator] = {"entities": g.entities_to_radgraph(), **g.annotator_metadata}
        for k, v in g.metadata.items():
            record.setdefault(k, v)
    # metadata goes after the labelers, as in the released test.json
    for rid, record in out.items():
        if any(k in record for k in LABELERS):
            labs = {k: record.pop(k) for k in LABELERS if k in record}
            meta = {k: record.pop(k) for k in list(record) if k != "text"}
            record.update(labs)
            record.update(meta)
    return out


def write_radgraph(path: str | os.PathLike[str], graphs: Iterable[ReportGraph], *,
                   indent: int | None = None) -> None:
    """Write graphs as RadGraph JSON, atomically (a temporary file renamed into place)."""
    data = to_radgraph_dict(graphs)
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=indent, ensure_ascii=False)
