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
other columns      labels, ``1`` / ``0`` / ``-1`` / blank (or pass ``pathologies=``).
=================  =======================================================================

A manifest *directory* holds ``manifest.csv`` and, when rows have ``graph_id``,
``graphs.json``; ``graphclr synth build`` writes exactly that.
"""

from __future__ import annotations

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
           "RESERVED_COLUMNS", "resolve_manifest"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
GRAPHS_NAME = "graphs.json"
#: manifest columns that are never labels (besides ``meta_*``)
RESERVED_COLUMNS: tuple[str, ...] = ("id", "path", "image", "image_path", "text", "report",
                                     "graph_id", "graph_json", "patient_id", "study_id",
                                     "split", "view")
_PATH_SYNONYMS = ("path", "image_path", "image", "Path")


def resolve_manifest(path: str | os.PathLike[str]) -> Path:
    """A manifest file, or ``<dir>/manifest.csv`` when given a directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    return path


class ManifestDataset(CXRDataset):
    """Items listed in a CSV manifest (see the module docstring for the columns).

    Args:
        manifest: the CSV file, or a directory holding ``manifest.csv``.
        graphs: RadGraph JSON / mapping / graphs for the ``graph_id`` column (default
            ``graphs.json`` beside the manifest, if that column exists).
        image_root: folder that relative ``path`` values start from (default: the
            manifest's folder).
        split: keep only rows whose ``split`` equals this.
        pathologies: label columns (default: every column that is not reserved, not
            ``meta_*`` and numeric).
        uncertain: mapping of ``-1`` labels (default ``"keep"``: a manifest means what it says).
        transform, strict, decode_size, cache: see :class:`~graphclr.data.base.CXRDataset`.
    """

    def __init__(self, manifest: str | os.PathLike[str], *, graphs: GraphInput | None = None,
                 image_root: str | os.PathLike[str] | None = None, split: str | None = None,
                 pathologies: Sequence[str] | None = None, uncertain: str = "keep",
                 transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None, cache: str | os.PathLike[str] | None = None) -> None:
        super().__init__(transform=transform, strict=strict, decode_size=decode_size, cache=cache)
        self.manifest = resolve_manifest(manifest)
        self.root = Path(image_root) if image_root is not None else self.manifest.parent
        try:
            table = pd.read_csv(self.manifest, low_memory=False, keep_default_na=True)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{self.manifest}: not a readable CSV file ({err})") from None
        path_col = next((c for c in _PATH_SYNONYMS if c in table.columns), None)
        if path_col is None:
            raise ValueError(f"{self.manifest}: needs a 'path' column (image file), found "
                             f"{list(table.columns)[:10]}")
        if path_col != "path":
            table = table.rename(columns={path_col: "path"})
        if "report" in table.columns and "text" not in table.columns:
            table = table.rename(columns={"report": "text"})
        if pathologies is None:
            pathologies = [c for c in table.columns if c not in RESERVED_COLUMNS
                           and not str(c).startswith("meta_")
                           and pd.api.types.is_numeric_dtype(table[c])]
        self.pathologies = list(pathologies)
        values, bad = parse_label_columns(table, self.pathologies)
        keep = np.ones(len(table), dtype=bool)
        for b in bad:
            self._problem("bad_label", b.where(str(self.manifest)),
                          f"value {b.value!r} is not 1, 0, -1 or blank")
            keep[b.line - 2] = False
        missing_path = table["path"].isna().to_numpy()
        for i in np.flatnonzero(missing_path & keep):
            self._problem("bad_row", f"{self.manifest}: line {i + 2}", "empty 'path'")
            keep[i] = False
        if "id" not in table.columns:
            table["id"] = [str(PurePath(str(p)).with_suffix("")) for p in table["path"]]
        table["id"] = table["id"].astype(str)
        dup = table["id"].duplicated(keep="first").to_numpy() & keep
        for i in np.flatnonzero(dup):
            self._problem("duplicate_id", f"{self.manifest}: line {i + 2}",
                          f"id {table['id'].iat[i]!r} repeats an earlier row")
            keep[i] = False
        if split is not None:
            if "split" not in table.columns:
                raise ValueError(f"{self.manifest}: split={split!r} needs a 'split' column")
            keep &= (table["split"].astype(str) == split).to_numpy()
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
                    self._problem("report_without_graph", f"{self.manifest}: line {i + 2}",
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
