"""A graph store: many report heterographs plus metadata in one file.

The file is written by :func:`dgl.save_graphs` to a temporary name and renamed into
place, so an interrupted ``graphclr graphs build`` never leaves a truncated store. The
metadata (report ids, vocabulary, build options, anything the caller adds) travels inside
the same file as a JSON blob in DGL's graph-label dictionary, so graphs and ids can never
drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphclr.utils import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import dgl

__all__ = ["GraphStore", "save_graph_store", "load_graph_store", "STORE_FORMAT"]

STORE_FORMAT = "graphclr-graph-store/1"
_META_KEY = "__graphclr_meta__"


@dataclass
class GraphStore:
    """Graphs, their report ids and the store's metadata."""

    graphs: list[dgl.DGLHeteroGraph]
    ids: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def index(self) -> dict[str, int]:
        """Report id -> position."""
        return {rid: i for i, rid in enumerate(self.ids)}


def save_graph_store(path: str | os.PathLike[str], graphs: Sequence[dgl.DGLHeteroGraph],
                     ids: Sequence[str], metadata: dict[str, Any] | None = None) -> None:
    """Write graphs, ids and JSON-serialisable metadata to ``path`` atomically."""
    import torch
    import dgl

    if len(graphs) != len(ids):
        raise ValueError(f"{len(graphs)} graphs but {len(ids)} ids")
    if len(set(ids)) != len(ids):
        raise ValueError("report ids in a graph store must be unique")
    meta = {"format": STORE_FORMAT, "ids": list(ids), "metadata": metadata or {}}
    blob = torch.frombuffer(bytearray(json.dumps(meta).encode("utf-8")), dtype=torch.uint8)
    with atomic_path(path) as tmp:
        dgl.save_graphs(str(tmp), list(graphs), {_META_KEY: blob.clone()})


def load_graph_store(path: str | os.PathLike[str], indices: Sequence[int] | None = None) -> GraphStore:
    """Read a store written by :func:`save_graph_store` (optionally only some graphs)."""
    import dgl

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such graph store")
    try:
        graphs, labels = dgl.load_graphs(str(path), None if indices is None else list(indices))
    except Exception as err:  # DGL raises bare DGLError/RuntimeError on foreign files
        raise ValueError(f"{path}: not a readable DGL graph file ({err})") from None
    if _META_KEY not in labels:
        raise ValueError(f"{path}: not a graphclr graph store (no metadata)")
    meta = json.loads(bytes(labels[_META_KEY].tolist()).decode("utf-8"))
    if meta.get("format") != STORE_FORMAT:
        raise ValueError(f"{path}: unsupported store format {meta.get('format')!r}")
    ids = meta["ids"] if indices is None else [meta["ids"][i] for i in indices]
    return GraphStore(graphs=list(graphs), ids=ids, metadata=meta["metadata"])
