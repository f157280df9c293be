r"""A graph store: many report heterographs plus metadata in one file.

Layout (format ``graphclr-graph-store/2``): the reports are cut into chunks of
``chunk_size`` (default 1024) consecutive reports, and each chunk is **one batched
heterograph** in the file (:func:`dgl.save_graphs`), so writing costs one
``dgl.heterograph`` call per chunk instead of one per report. Report ``i`` is report
``i mod chunk_size`` of chunk ``i div chunk_size``. DGL does not keep a batch's sizes on
disk, so the graph-label dictionary carries them: ``num_nodes`` ``[R, 2]`` (anatomy,
observation nodes per report) and ``num_edges`` ``[R, 24]`` (edges per report and
canonical edge type), besides the metadata (report ids, vocabulary, build options,
anything the caller adds) as a JSON blob, so graphs and ids can never drift apart.

Reading gives one heterograph per report, cut from its chunk by :func:`dgl.slice_batch`
(equal to :func:`~graphclr.graphs.to_heterograph` of the report: same node and edge data,
same edges of every type); only the chunks holding the requested reports are read.
Stores of format ``/1`` (one graph per report) are still read.

The file is written to a temporary name and renamed into place, so an interrupted
``graphclr graphs build`` never leaves a truncated store.

Examples:
    >>> import tempfile, os
    >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
    >>> from graphclr.graphs import encode_report
    >>> rg = ReportGraph("r1", "left effusion", [Entity("left", "ANAT-DP", 0, 0),
    ...     Entity("effusion", "OBS-DP", 1, 1)], [Relation("located_at", 1, 0)])
    >>> path = os.path.join(tempfile.mkdtemp(), "s.bin")
    >>> save_graph_store(path, [encode_report(rg), encode_report(ReportGraph("r2", ""))],
    ...                  ["r1", "r2"], chunk_size=1)
    >>> store = load_graph_store(path, indices=[1, 0])
    >>> store.ids, [g.num_nodes() for g in store.graphs]
    (['r2', 'r1'], [0, 2])
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

    from graphclr.graphs.arrays import GraphArrays

__all__ = ["GraphStore", "save_graph_store", "load_graph_store", "STORE_FORMAT", "DEFAULT_CHUNK_SIZE"]

STORE_FORMAT = "graphclr-graph-store/2"
_FORMAT_V1 = "graphclr-graph-store/1"   # one graph per report; still read
DEFAULT_CHUNK_SIZE = 1024
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


def save_graph_store(path: str | os.PathLike[str], graphs: Sequence[dgl.DGLHeteroGraph | GraphArrays],
                     ids: Sequence[str], metadata: dict[str, Any] | None = None, *,
                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
    """Write report graphs, ids and JSON-serialisable metadata to ``path`` atomically.

    ``graphs`` holds one entry per report: its heterograph
    (:func:`~graphclr.graphs.to_heterograph`) or, cheaper, its
    :class:`~graphclr.graphs.arrays.GraphArrays` (:func:`~graphclr.graphs.encode_report`),
    from which each chunk is built in one go.
    """
    import torch
    import dgl

    if len(graphs) != len(ids):
        raise ValueError(f"{len(graphs)} graphs but {len(ids)} ids")
    if len(set(ids)) != len(ids):
        raise ValueError("report ids in a graph store must be unique")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    chunks = [_batch(graphs[i: i + chunk_size]) for i in range(0, len(graphs), chunk_size)]
    num_nodes, num_edges = _batch_sizes(chunks)
    if not chunks:   # DGL cannot save an empty list: a placeholder chunk that is never read
        from graphclr.graphs.build import empty_heterograph
        chunks = [empty_heterograph()]
    meta = {"format": STORE_FORMAT, "ids": list(ids), "chunk_size": chunk_size,
            "metadata": metadata or {}}
    blob = torch.frombuffer(bytearray(json.dumps(meta).encode("utf-8")), dtype=torch.uint8)
    labels = {_META_KEY: blob.clone(), "num_nodes": num_nodes, "num_edges": num_edges}
    with atomic_path(path) as tmp:
        dgl.save_graphs(str(tmp), chunks, labels)


def load_graph_store(path: str | os.PathLike[str], indices: Sequence[int] | None = None) -> GraphStore:
    """Read a store written by :func:`save_graph_store` (optionally only some graphs, in
    the order of ``indices``)."""
    import dgl

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such graph store")
    meta, labels = _read_meta(path)
    ids = meta["ids"]
    wanted = list(range(len(ids))) if indices is None else [int(i) for i in indices]
    bad = [i for i in wanted if not 0 <= i < len(ids)]
    if bad:
        raise IndexError(f"{path}: no graph {bad[0]} (the store holds {len(ids)})")
    out_ids = [ids[i] for i in wanted]
    if meta["format"] == _FORMAT_V1:
        graphs, _ = _load(path, None if indices is None else wanted)
        return GraphStore(graphs=list(graphs), ids=out_ids, metadata=meta["metadata"])
    size = int(meta["chunk_size"])
    chunk_ids = sorted({i // size for i in wanted})
    loaded, _ = _load(path, chunk_ids) if chunk_ids else ([], None)
    chunks = dict(zip(chunk_ids, loaded))
    for c, g in chunks.items():
        _restore_batch(g, labels["num_nodes"][c * size: (c + 1) * size],
                       labels["num_edges"][c * size: (c + 1) * size])
    graphs = [dgl.slice_batch(chunks[i // size], i % size) for i in wanted]
    return GraphStore(graphs=graphs, ids=out_ids, metadata=meta["metadata"])


# --- helpers ---------------------------------------------------------------------------------
def _batch(graphs: Sequence[Any]) -> dgl.DGLHeteroGraph:
    """One batched heterograph of a chunk of per-report graphs or GraphArrays."""
    import dgl

    from graphclr.graphs.arrays import GraphArrays
    from graphclr.graphs.batch import ReportBatch

    if all(isinstance(g, GraphArrays) for g in graphs):
        return ReportBatch.from_reports(graphs).to_dgl()
    if any(isinstance(g, GraphArrays) for g in graphs):
        raise TypeError("save_graph_store: give either heterographs or GraphArrays, not a mix")
    return dgl.batch(list(graphs))


def _batch_sizes(chunks: Sequence[dgl.DGLHeteroGraph]):
    """``[R, ntypes]`` nodes and ``[R, etypes]`` edges per report over all chunks."""
    import torch

    from graphclr.constants import NODE_TYPES
    from graphclr.graphs.arrays import CANONICAL_ETYPES

    if not chunks:
        return (torch.zeros(0, len(NODE_TYPES), dtype=torch.int64),
                torch.zeros(0, len(CANONICAL_ETYPES), dtype=torch.int64))
    nodes = [torch.stack([g.batch_num_nodes(t) for t in g.ntypes], 1) for g in chunks]
    edges = [torch.stack([g.batch_num_edges(c) for c in g.canonical_etypes], 1) for g in chunks]
    return torch.cat(nodes).to(torch.int64), torch.cat(edges).to(torch.int64)


def _restore_batch(g: dgl.DGLHeteroGraph, num_nodes, num_edges) -> None:
    """Give a loaded chunk back the per-report sizes DGL does not save."""
    g.set_batch_num_nodes({t: num_nodes[:, i].to(g.idtype) for i, t in enumerate(g.ntypes)})
    g.set_batch_num_edges({c: num_edges[:, i].to(g.idtype) for i, c in enumerate(g.canonical_etypes)})


def _load(path: Path, idx: list[int] | None):
    import dgl

    try:
        return dgl.load_graphs(str(path), idx)
    except Exception as err:  # DGL raises bare DGLError/RuntimeError on foreign files
        raise ValueError(f"{path}: not a readable DGL graph file ({err})") from None


def _read_meta(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The store's metadata and labels, without reading any graph."""
    from dgl.data.utils import load_labels

    try:
        labels = load_labels(str(path))
    except Exception as err:
        raise ValueError(f"{path}: not a readable DGL graph file ({err})") from None
    if _META_KEY not in labels:
        raise ValueError(f"{path}: not a graphclr graph store (no metadata)")
    meta = json.loads(labels[_META_KEY].numpy().tobytes().decode("utf-8"))
    if meta.get("format") not in (STORE_FORMAT, _FORMAT_V1):
        raise ValueError(f"{path}: unsupported store format {meta.get('format')!r} (this graphclr "
                         f"reads {STORE_FORMAT!r} and {_FORMAT_V1!r}); rebuild it with "
                         "`graphclr graphs build ... --out " + str(path) + "`")
    return meta, labels
