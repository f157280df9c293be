"""Report graphs looked up by key, parsed lazily.

RadGraph's ``MIMIC-CXR_graphs.json`` holds 220,763 reports; turning every record into a
:class:`~graphclr.reports.schema.ReportGraph` up front would cost minutes and gigabytes before the
first batch. :class:`GraphLookup` keeps the raw JSON records and parses one when an item
asks for it (a malformed record then fails at that item; ``graphclr data check`` parses
them all ahead of time). Graphs produced in memory (the extractor's output) are used as is.

Keys are normalised by a dataset-specific function, so that ``p18/p18004941/s58821758.txt``
(RadGraph), ``s58821758`` and ``58821758`` (other report readers) all name the same study.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Union

from graphclr.reports.schema import RadGraphFormatError, ReportGraph

__all__ = ["GraphLookup", "GraphInput"]

log = logging.getLogger(__name__)

#: what a dataset's ``graphs=`` argument accepts
GraphInput = Union[str, os.PathLike, Mapping[str, Any], Iterable[ReportGraph], "GraphLookup"]


class GraphLookup:
    """Normalised key -> report graph.

    Args:
        entries: normalised key -> either a :class:`ReportGraph` or a raw RadGraph record
            (``{"text", "entities", ...}`` or the test-set ``labeler_1`` layout).
        raw_keys: normalised key -> the key as it appeared in the source (for messages).
        source: a name for messages (usually the JSON file).
        labeler: which annotation to read from test-set records (default ``labeler_1``).
    """

    def __init__(self, entries: dict[str, Any], raw_keys: dict[str, str] | None = None,
                 source: str | None = None, labeler: str | None = None) -> None:
        self._entries = entries
        self.raw_keys = raw_keys or {k: k for k in entries}
        self.source = source
        self.labeler = labeler
        #: raw keys that normalised to a key already seen (the first one is kept)
        self.duplicates: list[str] = []

    @classmethod
    def from_any(cls, graphs: GraphInput, key_fn: Callable[[str], str | None] = str,
                 *, labeler: str | None = None) -> GraphLookup:
        """Build a lookup from a RadGraph JSON path, a mapping, or graphs (e.g. extractor output).

        Keys for which ``key_fn`` returns ``None`` are ignored (logged once with a count).
        """
        if isinstance(graphs, GraphLookup):
            return graphs
        source = None
        if isinstance(graphs, (str, os.PathLike)):
            path = Path(graphs)
            source = str(path)
            try:
                with path.open("r", encoding="utf-8") as fh:
                    data = json.load(fh)
            except json.JSONDecodeError as err:
                raise RadGraphFormatError(
                    f"not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}",
                    source=source) from None
            except UnicodeDecodeError as err:   # e.g. a binary graph store given as JSON
                raise RadGraphFormatError(f"not a RadGraph JSON text file ({err.reason} at byte "
                                          f"{err.start})", source=source) from None
            if not isinstance(data, Mapping):
                raise RadGraphFormatError("top level must be an object keyed by report id",
                                          source=source)
            items: Iterable[tuple[str, Any]] = data.items()
        elif isinstance(graphs, Mapping):
            items = graphs.items()
        else:
            items = ((g.id, g) for g in graphs)
        entries: dict[str, Any] = {}
        raw_keys: dict[str, str] = {}
        dup: list[str] = []
        ignored = 0
        for raw, value in items:
            key = key_fn(str(raw))
            if key is None:
                ignored += 1
                continue
            if key in entries:
                dup.append(str(raw))
                continue
            entries[key] = value
            raw_keys[key] = str(raw)
        if ignored:
            log.warning("%s: %d graph key(s) not recognised and ignored", source or "graphs", ignored)
        lookup = cls(entries, raw_keys, source, labeler)
        lookup.duplicates = dup
        if dup:
            log.warning("%s: %d graph key(s) repeat a study already seen; the first is kept",
                        source or "graphs", len(dup))
        return lookup

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> Iterable[str]:
        return self._entries.keys()

    def get(self, key: str) -> ReportGraph:
        """The graph for ``key``; raises ``KeyError`` if absent, ``RadGraphFormatError`` if malformed."""
        value = self._entries[key]
        if isinstance(value, ReportGraph):
            return value
        graph = ReportGraph.from_radgraph_record(self.raw_keys.get(key, key), value, labeler=self.labeler)
        graph.validate()
        return graph

    def validate_all(self) -> list[RadGraphFormatError]:
        """Parse every record; return the errors (with the source file named)."""
        errors = []
        for key in self._entries:
            try:
                self.get(key)
            except RadGraphFormatError as err:
                errors.append(err.with_source(self.source) if self.source else err)
        return errors
