"""A generic CSV manifest (image, report or graph, labels), and plain image folders.

Manifest format (``manifest.csv``; one row per image)
-----------------------------------------------------
=================  =======================================================================
column             meaning
=================  =======================================================================
``path``           image file, relative to the manifest's folder (or ``image_root``), or
                   absolute. Required.
``id``             item id (default: ``path`` without its extension).
``patient_id``     patient (used by patient-level subsets and splits).
``split``          e.g. ``train`` / ``val`` / ``test`` (select with ``split=``).
``text``           report text (``report`` is accepted as a synonym).
``graph_id``       key of the item's graph in a RadGraph JSON file (``graphs=``; default
                   ``graphs.json`` beside the manifest).
``graph_json``     the graph inline, as one RadGraph record (``{"text", "entities"}``).
``meta_*``         anything else worth keeping; never treated as labels.
other columns      labels, ``1`` / ``0`` / ``-1`` / blank, or the words ``yes`` / ``no``
                   / ``true`` / ``false`` (any case; read as 1 / 0). Or pass
                   ``pathologies=``.
=================  =======================================================================

Which columns are labels (unless ``pathologies=`` says): every column that is not reserved
and not ``meta_*`` and holds at least one label value. In such a column *every* other
non-blank value is a ``bad_label`` naming the physical line of the file (a quoted report
spanning several lines counts as several) and the column: an error with ``strict=True``,
a skipped row with ``strict=False``. A column with no label value at all (free text, e.g.
``sex``) is not a label; it is logged, and a ``meta_`` prefix silences that.

With ``split=`` a manifest with no row of that split is an error naming the splits it has.

A manifest *directory* holds ``manifest.csv`` and, when rows have ``graph_id``,
``graphs.json``; ``graphclr synth build`` writes exactly that.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from graphclr.data.base import CXRDataset, map_uncertain
from graphclr.data.graphsource import GraphInput, GraphLookup
from graphclr.data.images import IMAGE_EXTENSIONS
from graphclr.data.label_table import parse_label_columns
from graphclr.reports.schema import RadGraphFormatError, ReportGraph

__all__ = ["ManifestDataset", "CSVDataset", "ImageFolderDataset", "MANIFEST_NAME", "GRAPHS_NAME",
           "RESERVED_COLUMNS", "resolve_manifest", "read_manifest", "manifest_label_columns",
           "physical_lines", "words_as_labels", "LABEL_WORDS"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
GRAPHS_NAME = "graphs.json"
#: manifest columns that are never labels (besides ``meta_*``)
RESERVED_COLUMNS: tuple[str, ...] = ("id", "path", "image", "image_path", "text", "report",
                                     "graph_id", "graph_json", "patient_id", "study_id",
                                     "split", "view")
_PATH_SYNONYMS = ("path", "image_path", "image", "Path")
#: label words accepted besides 1 / 0 / -1 (compared lower-cased, stripped)
LABEL_WORDS: dict[str, float] = {"yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}
_LABEL_NUMBERS = frozenset({1.0, 0.0, -1.0})


def resolve_manifest(path: str | os.PathLike[str]) -> Path:
    """A manifest file, or ``<dir>/manifest.csv`` when given a directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    return path


def physical_lines(path: Path, n_rows: int) -> list[int]:
    """The 1-based file line on which each of the ``n_rows`` data rows starts.

    Quoted fields may hold line breaks, so row ``i`` is not always on line ``i + 2``.
    Falls back to ``i + 2`` when the file does not parse the same way as pandas read it.

    Examples:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "m.csv"
        >>> _ = p.write_text('path,text\\na.png,"two\\nlines"\\nb.png,one\\n')
        >>> physical_lines(p, 2)
        [2, 4]
    """
    starts: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            prev = 0
            for record in reader:
                if record:
                    starts.append(prev + 1)
                prev = reader.line_num
    except csv.Error:
        starts = []
    lines = starts[1:]
    return lines if len(lines) == n_rows else [i + 2 for i in range(n_rows)]


def read_manifest(path: Path) -> pd.DataFrame:
    """The manifest table, with ``path`` and ``text`` under their canonical names."""
    try:
        table = pd.read_csv(path, low_memory=False, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None
    path_col = next((c for c in _PATH_SYNONYMS if c in table.columns), None)
    if path_col is None:
        raise ValueError(f"{path}: needs a 'path' column (image file), found "
                         f"{list(table.columns)[:10]}")
    if path_col != "path":
        table = table.rename(columns={path_col: "path"})
    if "report" in table.columns and "text" not in table.columns:
        table = table.rename(columns={"report": "text"})
    return table


def _label_value(x: Any) -> float | None:
    """A cell's label value (1, 0, -1, or a :data:`LABEL_WORDS` word), else ``None``."""
    if isinstance(x, str):
        word = x.strip().lower()
        if word in LABEL_WORDS:
            return LABEL_WORDS[word]
        try:
            x = float(word)
        except ValueError:
            return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v in _LABEL_NUMBERS else None


def manifest_label_columns(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(label columns, free-text columns)`` of a manifest (see the module docstring)."""
    labels, text = [], []
    for c in table.columns:
        if c in RESERVED_COLUMNS or str(c).startswith("meta_"):
            continue
        col = table[c].dropna()
        if pd.api.types.is_numeric_dtype(table[c]) or any(_label_value(x) is not None for x in col):
            labels.append(c)
        else:
            text.append(c)
    return labels, text


def words_as_labels(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``table`` whose label words (``yes``/``no``/...) are numbers in ``columns``."""
    table = table.copy()
    for c in columns:
        if c in table.columns and table[c].dtype == object:
            table[c] = [LABEL_WORDS.get(x.strip().lower(), x) if isinstance(x, str) else x
                        for x in table[c]]
    return table


class ManifestDataset(CXRDataset):
    """Items listed in a CSV manifest (see the module docstring for the columns).

    Args:
        manifest: the CSV file, or a directory holding ``manifest.csv``.
        graphs: RadGraph JSON / mapping / graphs for the ``graph_id`` column (default
            ``graphs.json`` beside the manifest, if that column exists).
        image_root: folder that relative ``path`` values start from (default: the
            manifest's folder).
        split: keep only rows whose ``split`` equals this (or is one of these, a sequence:
            ``("train", "pretrain")``).
        pathologies: label columns (default: see the module docstring).
        uncertain: mapping of ``-1`` labels (default ``"keep"``: a manifest means what it says).
        transform, strict, decode_size, cache: see :class:`~graphclr.data.base.CXRDataset`.
    """

    def __init__(self, manifest: str | os.PathLike[str], *, graphs: GraphInput | None = None,
                 image_root: str | os.PathLike[str] | None = None, split: str | Sequence[str] | None = None,
                 pathologies: Sequence[str] | None = None, uncertain: str = "keep",
                 transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None, cache: str | os.PathLike[str] | None = None) -> None:
        super().__init__(transform=transform, strict=strict, decode_size=decode_size, cache=cache)
        self.manifest = resolve_manifest(manifest)
        self.root = Path(image_root) if image_root is not None else self.manifest.parent
        table = read_manifest(self.manifest)
        lines = physical_lines(self.manifest, len(table))
        if pathologies is None:
            pathologies, text_cols = manifest_label_columns(table)
            if text_cols:
                log.info("%s: column(s) %s hold no label values and are not labels (prefix them "
                         "with meta_ to say so)", self.manifest, text_cols)
        self.pathologies = list(pathologies)
        values, bad = parse_label_columns(words_as_labels(table, self.pathologies), self.pathologies)
        keep = np.ones(len(table), dtype=bool)
        for b in bad:
            self._problem("bad_label", f"{self.manifest}: line {lines[b.line - 2]}, column {b.column!r}",
                          f"value {b.value!r} is not 1, 0, -1, yes, no or blank")
            keep[b.line - 2] = False
        missing_path = table["path"].isna().to_numpy()
        for i in np.flatnonzero(missing_path & keep):
            self._problem("bad_row", f"{self.manifest}: line {lines[i]}", "empty 'path'")
            keep[i] = False
        if "id" not in table.columns:
            table["id"] = [str(PurePath(str(p)).with_suffix("")) for p in table["path"]]
        table["id"] = table["id"].astype(str)
        dup = table["id"].duplicated(keep="first").to_numpy() & keep
        for i in np.flatnonzero(dup):
            self._problem("duplicate_id", f"{self.manifest}: line {lines[i]}",
                          f"id {table['id'].iat[i]!r} repeats an earlier row")
            keep[i] = False
        if split is not None:
            if "split" not in table.columns:
                raise ValueError(f"{self.manifest}: split={split!r} needs a 'split' column")
            wanted = [split] if isinstance(split, str) else [str(x) for x in split]
            in_split = table["split"].astype(str).isin(wanted).to_numpy()
            if not in_split.any():
                have = sorted(table["split"].dropna().astype(str).unique())
                raise ValueError(f"{self.manifest}: no row has split {split!r}; the splits are {have}")
            keep &= in_split
        self.split = split

        self.graphs: GraphLookup | None = None
        self._inline: dict[int, Any] = {}
        if "graph_id" in table.columns:
            if graphs is None:
                default = self.manifest.parent / GRAPHS_NAME
                if not default.is_file():
                    raise FileNotFoundError(f"{self.manifest}: rows have 'graph_id' but no graphs= "
                                            f"was given and {default} does not exist")
                graphs = default
            self.graphs = GraphLookup.from_any(graphs, str)
            known = set(self.graphs.keys())
            has_id = table["graph_id"].notna().to_numpy()
            for i in np.flatnonzero(keep & has_id):
                if str(table["graph_id"].iat[i]) not in known:
                    self._problem("report_without_graph", f"{self.manifest}: line {lines[i]}",
                                  f"graph_id {table['graph_id'].iat[i]!r} is not in "
                                  f"{self.graphs.source or 'graphs'}", error=KeyError)
                    keep[i] = False
        elif graphs is not None:
            raise ValueError(f"{self.manifest}: graphs= given but the manifest has no 'graph_id' column")
        self.paired = "graph_id" in table.columns or "graph_json" in table.columns
        table = table[keep]
        self.labels = map_uncertain(values[keep], uncertain)
        self.uncertain = uncertain
        self.csv = table
        self._finish()

    @property
    def text_only(self) -> bool:
        """Report text but no graphs (see :meth:`attach_graphs`)."""
        return not self.paired and "text" in self.csv.columns and bool(self.csv["text"].notna().any())

    def attach_graphs(self, graphs: dict[str, ReportGraph], source: str = "extracted graphs") -> None:
        """Give a text-only manifest one graph per item id (e.g. extracted from its text).

        Items without a graph in ``graphs`` are dropped (``strict=True``: an error).
        """
        keep = np.ones(len(self.csv), dtype=bool)
        for i, item_id in enumerate(self.csv["id"]):
            if item_id not in graphs:
                self._problem("report_without_graph", f"{self.manifest}: item {item_id!r}",
                              f"no graph in {source}", error=KeyError)
                keep[i] = False
        self.csv = self.csv[keep].reset_index(drop=True).assign(graph_id=lambda t: t["id"])
        self.labels = self.labels[keep]
        self.graphs = GraphLookup(dict(graphs), source=source)
        self.paired = True

    def image_path(self, idx: int) -> Path:
        p = Path(str(self.csv["path"].iat[idx]))
        return p if p.is_absolute() else self.root / p

    def report(self, idx: int) -> tuple[Any, str | None]:
        row = self.csv.iloc[idx]
        text = row["text"] if "text" in self.csv.columns and pd.notna(row["text"]) else None
        graph: ReportGraph | None = None
        if "graph_json" in self.csv.columns and pd.notna(row.get("graph_json")):
            try:
                record = json.loads(row["graph_json"])
            except json.JSONDecodeError as err:
                raise RadGraphFormatError(f"graph_json is not valid JSON ({err.msg})",
                                          report_id=str(row["id"]), source=str(self.manifest)) from None
            graph = ReportGraph.from_radgraph_record(str(row["id"]), record)
        elif self.graphs is not None and pd.notna(row["graph_id"]):
            graph = self.graphs.get(str(row["graph_id"]))
        if graph is not None and text is None:
            text = graph.text
        if self.paired and graph is None:
            raise KeyError(f"{self.manifest}: item {row['id']!r} has no graph")
        return graph, text


#: the name the issue and docs use for the generic manifest dataset
CSVDataset = ManifestDataset


class ImageFolderDataset(CXRDataset):
    """Every image below a folder, for unpaired evaluation (e.g. the Hannover radiographs).

    Args:
        root: the folder (searched recursively for :data:`~graphclr.data.images.IMAGE_EXTENSIONS`).
        metadata: optional CSV joined on the file stem (``id_column``), e.g. Hannover's
            ``data.csv`` (``image_id``, ``patient_id``, ``projection``, ...).
        id_column: the metadata column holding the file stem.
        pathologies: metadata columns to use as labels (default none).
        transform, strict, decode_size, cache: see :class:`~graphclr.data.base.CXRDataset`.
    """

    def __init__(self, root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None,
                 id_column: str = "image_id", pathologies: Sequence[str] | None = None,
                 transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None, cache: str | os.PathLike[str] | None = None) -> None:
        super().__init__(transform=transform, strict=strict, decode_size=decode_size, cache=cache)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: image folder not found")
        files = sorted(p for p in self.root.rglob("*") if p.is_file()
                       and p.suffix.lower() in IMAGE_EXTENSIONS)
        rel = [p.relative_to(self.root).as_posix() for p in files]
        frame = pd.DataFrame({"id": [str(PurePath(r).with_suffix("")) for r in rel], "path": rel})
        frame["stem"] = [PurePath(r).stem for r in rel]
        self.pathologies = list(pathologies or [])
        if metadata is not None:
            meta = pd.read_csv(metadata, low_memory=False)
            if id_column not in meta.columns:
                raise ValueError(f"{metadata}: no {id_column!r} column (found {list(meta.columns)[:10]})")
            meta = meta.drop_duplicates(id_column).rename(columns={id_column: "stem"})
            meta["stem"] = meta["stem"].astype(str)
            frame = frame.merge(meta, on="stem", how="left")
            unmatched = int(frame[meta.columns.drop("stem")[0]].isna().sum()) if len(meta.columns) > 1 else 0
            if unmatched:
                log.info("%s: %d image(s) have no row in %s", self.root, unmatched, metadata)
        values, bad = parse_label_columns(frame, self.pathologies)
        for b in bad:
            self._problem("bad_label", b.where(str(metadata)), f"value {b.value!r}")
        self.labels = values
        self.csv = frame
        self._finish()
