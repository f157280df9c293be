r"""``ReportBatch``: a batch of report graphs as one homogeneous graph of plain tensors.

The report processor's output and the graph encoder's input. Made straight from the
concatenated :class:`~graphclr.graphs.arrays.GraphArrays` of the reports, with no DGL graph
in between, and moved to a device as one object (``batch.to("cuda")``); DGL stays the graph
API users see, through the :meth:`ReportBatch.to_dgl` view.

Layout (``B`` reports, ``N`` nodes, ``E`` edges):

* **Nodes** are grouped by report and, within a report, by node type (its anatomy nodes,
  then its observation nodes, each in entity order): report ``b`` holds nodes
  ``node_offsets[b]:node_offsets[b + 1]``.
* **Node data** ``ndata`` (``[N, ...]`` each): the features of
  :data:`~graphclr.graphs.arrays.NODE_FEATURES`, any a featurizer adds (``ngrams``,
  ``text_emb``), ``ntype`` (0 anatomy, 1 observation), ``nid`` (id within its node type
  over the batch), ``graph_id`` (report) and ``component_id`` (weakly connected
  component, unique over the batch and numbered report by report).
* **Edges** ``src -> dst`` with ``rel`` (relation id, ``num_rels = 6``) and ``etype``
  (index into :data:`~graphclr.graphs.arrays.CANONICAL_ETYPES`): every relation and its
  reverse. They are **sorted by relation** (``rel_counts[r]`` edges of relation ``r``);
  within a relation, by report, then edge type, then relation order in the report, so
  sorting them stably by (report, edge type) gives DGL's homogeneous view.

Examples:
    >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
    >>> mild, edema, lung = (Entity("mild", "OBS-DP", 0, 0), Entity("edema", "OBS-U", 1, 1),
    ...                      Entity("lung", "ANAT-DP", 2, 2))
    >>> rg = ReportGraph("r1", "mild edema lung", [mild, edema, lung],
    ...                  [Relation("modify", 0, 1), Relation("located_at", 1, 2)])
    >>> b = ReportBatch.from_reports([rg, ReportGraph("r2", "")])
    >>> b.batch_size, b.num_nodes, b.node_offsets.tolist()
    (2, 3, [0, 3, 3])
    >>> b.ndata["entity_index"].tolist(), b.rel.tolist(), b.rel_counts
    ([2, 0, 1], [0, 1, 3, 4], (1, 1, 0, 1, 1, 0))
    >>> b.to_dgl().num_edges(("observation", "located_at", "anatomy"))
    1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from graphclr.constants import NODE_TYPES, NUM_RELATION_IDS
from graphclr.graphs.arrays import (
    CANONICAL_ETYPES,
    ETYPE_RELATION_ID,
    NUM_CERTAINTIES,
    REVERSE_ETYPE,
    ArrayBatch,
    GraphArrays,
    batch_arrays,
)
from graphclr.graphs.vocab import Vocabulary
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import dgl
    import torch

__all__ = ["ReportBatch", "BATCH_KEYS"]

#: ``ndata`` keys the batch itself defines (not carried into the heterograph view).
BATCH_KEYS: tuple[str, ...] = ("ntype", "nid", "graph_id", "component_id")
_REL_OF = np.array(ETYPE_RELATION_ID, dtype=np.int64)
_REVERSE = np.zeros(len(CANONICAL_ETYPES), dtype=np.int64)
for _f, _r in REVERSE_ETYPE.items():
    _REVERSE[_f] = _r


@dataclass(frozen=True)
class ReportBatch:
    """A batch of report graphs as tensors (see the module doc for the layout)."""

    ndata: dict[str, torch.Tensor]
    src: torch.Tensor            #: [E] int64, edges sorted by relation
    dst: torch.Tensor            #: [E] int64
    rel: torch.Tensor            #: [E] int64 relation id
    etype: torch.Tensor          #: [E] int64 index into CANONICAL_ETYPES
    node_offsets: torch.Tensor   #: [B + 1] int64
    edge_counts: torch.Tensor    #: [B] int64 edges per report
    rel_counts: tuple[int, ...]  #: edges per relation id
    num_components: int
    batch_size: int
    num_nodes: int

    @property
    def num_edges(self) -> int:
        return sum(self.rel_counts)

    @property
    def graph_id(self) -> torch.Tensor:
        return self.ndata["graph_id"]

    @property
    def component_id(self) -> torch.Tensor:
        return self.ndata["component_id"]

    @property
    def device(self) -> torch.device:
        return self.src.device

    def to(self, device: Any, non_blocking: bool = False) -> ReportBatch:
        """The same batch with every tensor on ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> ReportBatch:
        """Every tensor in pinned memory (what ``DataLoader(pin_memory=True)`` calls)."""
        return self._map(lambda t: t.pin_memory())

    def _map(self, fn) -> ReportBatch:
        import torch

        changes: dict[str, Any] = {"ndata": {k: fn(v) for k, v in self.ndata.items()}}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                changes[f.name] = fn(value)
        return replace(self, **changes)

    def with_node_data(self, name: str, values: torch.Tensor) -> ReportBatch:
        """A batch with ``ndata[name] = values`` (``[N, ...]``, in the batch's node order)."""
        if values.shape[0] != self.num_nodes:
            raise ValueError(f"ndata[{name!r}] needs {self.num_nodes} rows, got {values.shape[0]}")
        return replace(self, ndata={**self.ndata, name: values})

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_reports(cls, graphs: Sequence[ReportGraph | GraphArrays], vocab: Vocabulary | None = None,
                     *, max_tokens: int = 4, node_data: Mapping[str, np.ndarray] | None = None
                     ) -> ReportBatch:
        """Batch reports (or their :class:`GraphArrays`); ``node_data`` adds features given
        per entity, in entity order over the batch."""
        return cls.from_arrays(batch_arrays(graphs, vocab, max_tokens), node_data)

    @classmethod
    def from_arrays(cls, b: ArrayBatch, node_data: Mapping[str, np.ndarray] | None = None) -> ReportBatch:
        """From concatenated arrays (:func:`~graphclr.graphs.arrays.batch_arrays`)."""
        bsz = int(b.sizes.shape[0])
        n = int(b.kind.shape[0])
        graph = np.repeat(np.arange(bsz, dtype=np.int64), b.sizes)
        ent_start = np.zeros(bsz, dtype=np.int64)
        np.cumsum(b.sizes[:-1], out=ent_start[1:])
        feats = {"certainty": b.certainty, "entity_type": b.kind * NUM_CERTAINTIES + b.certainty,
                 "tokens": b.tokens, "num_tokens": b.num_tokens, "component": b.component,
                 "entity_index": np.arange(n, dtype=np.int64) - ent_start[graph]}
        for k, v in (node_data or {}).items():
            if v.shape[0] != n:
                raise ValueError(f"node data {k!r} has {v.shape[0]} rows for {n} entities")
            feats[k] = v
        src = np.concatenate([b.src, b.dst])
        dst = np.concatenate([b.dst, b.src])
        etype = np.concatenate([b.etype, _REVERSE[b.etype]])
        return _assemble(bsz, graph, b.kind, feats, src, dst, etype)

    @classmethod
    def from_dgl(cls, g: dgl.DGLGraph) -> ReportBatch:
        """From a (batched) report heterograph, or its homogeneous view."""
        import dgl

        if len(g.ntypes) == 1 and "graph_id" in g.ndata:
            g = g.cpu()
            feats = {k: v.numpy() for k, v in g.ndata.items()
                     if k not in BATCH_KEYS and k not in (dgl.NTYPE, dgl.NID)}
            u, v = (t.numpy() for t in g.edges())
            return _assemble(int(g.batch_size), g.ndata["graph_id"].numpy(),
                             g.ndata[dgl.NTYPE].numpy(), feats, u, v, g.edata[dgl.ETYPE].numpy())
        if tuple(g.ntypes) != NODE_TYPES:
            raise ValueError(f"not a report graph: node types {g.ntypes}, expected {NODE_TYPES}")
        g = g.cpu()
        bsz = int(g.batch_size)
        counts = [g.num_nodes(t) for t in NODE_TYPES]
        start = np.cumsum([0] + counts[:-1])
        kind = np.repeat(np.arange(len(NODE_TYPES), dtype=np.int64), counts)
        graph = np.concatenate([np.repeat(np.arange(bsz, dtype=np.int64), g.batch_num_nodes(t).numpy())
                                for t in NODE_TYPES])
        keys = list(g.nodes[NODE_TYPES[0]].data.keys())
        feats = {k: np.concatenate([g.nodes[t].data[k].numpy() for t in NODE_TYPES]) for k in keys}
        src, dst, etype = [], [], []
        index = {c: i for i, c in enumerate(CANONICAL_ETYPES)}
        for c in g.canonical_etypes:
            if c not in index:
                raise ValueError(f"not a report graph: unknown edge type {c}")
            u, v = (t.numpy() for t in g.edges(etype=c))
            src.append(u + start[NODE_TYPES.index(c[0])])
            dst.append(v + start[NODE_TYPES.index(c[2])])
            etype.append(np.full(u.shape[0], index[c], dtype=np.int64))
        cat = (lambda x: np.concatenate(x) if x else np.zeros(0, dtype=np.int64))
        return _assemble(bsz, graph, kind, feats, cat(src), cat(dst), cat(etype))

    # --- DGL views ------------------------------------------------------------------------
    def to_dgl(self, *, homogeneous: bool = False) -> dgl.DGLGraph:
        """The batch as DGL sees it (on the CPU), built with DGL's public constructors.

        ``homogeneous=False``: the batched heterograph of
        :func:`graphclr.graphs.batch_graphs` (node data: every feature but
        :data:`BATCH_KEYS`). ``homogeneous=True``: the homogeneous view of
        :func:`graphclr.graphs.to_homogeneous` (edges grouped by report, then edge type;
        ``ndata`` adds ``dgl.NTYPE``, ``dgl.NID``, ``graph_id``, ``component_id``;
        ``edata`` has ``rel`` and ``dgl.ETYPE``).
        """
        import dgl
        import torch

        b = self.to("cpu")
        nd = b.ndata
        features = {k: v for k, v in nd.items() if k not in BATCH_KEYS}
        if homogeneous:
            key = b.graph_id.index_select(0, b.src) * len(CANONICAL_ETYPES) + b.etype
            order = torch.argsort(key, stable=True)
            h = dgl.graph((b.src[order], b.dst[order]), num_nodes=b.num_nodes, idtype=torch.int64)
            h.edata["rel"] = b.rel[order]
            h.edata[dgl.ETYPE] = b.etype[order]
            h.ndata.update(features)
            h.ndata[dgl.NTYPE] = nd["ntype"]
            h.ndata[dgl.NID] = nd["nid"]
            h.ndata["graph_id"] = nd["graph_id"]
            h.ndata["component_id"] = nd["component_id"]
            h.set_batch_num_nodes(torch.diff(b.node_offsets))
            h.set_batch_num_edges(b.edge_counts)
            return h
        ntype, nid, gid = nd["ntype"], nd["nid"], nd["graph_id"]
        masks = [ntype == t for t in range(len(NODE_TYPES))]
        data, num_edges = {}, {}
        for i, c in enumerate(CANONICAL_ETYPES):
            m = b.etype == i
            su, sv = b.src[m], b.dst[m]
            data[c] = (nid.index_select(0, su), nid.index_select(0, sv))
            num_edges[c] = torch.bincount(gid.index_select(0, su), minlength=b.batch_size)
        g = dgl.heterograph(data, num_nodes_dict={t: int(masks[i].sum()) for i, t in enumerate(NODE_TYPES)},
                            idtype=torch.int64)
        for i, t in enumerate(NODE_TYPES):
            for k, v in features.items():
                g.nodes[t].data[k] = v[masks[i]]
        g.set_batch_num_nodes({t: torch.bincount(gid[masks[i]], minlength=b.batch_size)
                               for i, t in enumerate(NODE_TYPES)})
        g.set_batch_num_edges(num_edges)
        return g


def _assemble(bsz: int, graph: np.ndarray, kind: np.ndarray, feats: Mapping[str, np.ndarray],
              src: np.ndarray, dst: np.ndarray, etype: np.ndarray) -> ReportBatch:
    """The batch from nodes in any order that keeps each node type's nodes in report order
    (their report ``graph``, ``kind``, features) and every edge with its canonical type."""
    import torch

    n = int(kind.shape[0])
    perm = np.argsort(graph * len(NODE_TYPES) + kind, kind="stable")   # node i = input row perm[i]
    new_id = np.empty(n, dtype=np.int64)
    new_id[perm] = np.arange(n, dtype=np.int64)
    nid = np.empty(n, dtype=np.int64)
    for t in range(len(NODE_TYPES)):
        idx = np.flatnonzero(kind == t)
        nid[idx] = np.arange(idx.shape[0])
    sizes = np.bincount(graph, minlength=bsz)
    offsets = np.zeros(bsz + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    comp = feats["component"]
    ncomp = np.zeros(bsz, dtype=np.int64)
    g_sorted, comp_sorted = graph[perm], comp[perm]
    nonempty = np.flatnonzero(sizes)
    if n:
        ncomp[nonempty] = np.maximum.reduceat(comp_sorted + 1, offsets[nonempty])
    comp_start = np.cumsum(ncomp) - ncomp
    src, dst = new_id[src], new_id[dst]
    rel = _REL_OF[etype]
    edge_graph = g_sorted[src]
    order = np.lexsort((etype, edge_graph, rel))
    t = torch.from_numpy
    ndata = {k: t(np.ascontiguousarray(v[perm])) for k, v in feats.items()}
    ndata["ntype"] = t(kind[perm])
    ndata["nid"] = t(nid[perm])
    ndata["graph_id"] = t(g_sorted)
    ndata["component_id"] = t(comp_start[g_sorted] + comp_sorted)
    rel = rel[order]
    return ReportBatch(ndata, t(src[order]), t(dst[order]), t(rel), t(etype[order]), t(offsets),
                       t(np.bincount(edge_graph, minlength=bsz)),
                       tuple(np.bincount(rel, minlength=NUM_RELATION_IDS).tolist()),
                       int(ncomp.sum()), bsz, n)
