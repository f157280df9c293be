r"""Report graphs as DGL heterographs.

Layout of every graph built here:

* **Node types** ``"anatomy"`` and ``"observation"``. Within a type, nodes keep the order
  of the report's entities.
* **Node data** (on both types):

  ================= ============ =======================================================
  key               dtype/shape  meaning
  ================= ============ =======================================================
  ``certainty``     int64 [N]    0 present, 1 absent, 2 uncertain
  ``entity_type``   int64 [N]    kind * 3 + certainty (6-way; covers RadGraph-XL)
  ``tokens``        int64 [N,T]  vocabulary ids of the entity's tokens, 0-padded to T
  ``num_tokens``    int64 [N]    how many of the T ids are real (>= 1)
  ``component``     int64 [N]    weakly connected component id, local to the report
  ``entity_index``  int64 [N]    index into ``ReportGraph.entities``
  ================= ============ =======================================================

* **Edge types** (:data:`CANONICAL_ETYPES`): the RadGraph schema's relations between
  the node types it allows, ``observation -located_at-> anatomy``,
  ``observation -suggestive_of-> observation``, ``observation -modify-> observation`` and
  ``anatomy -modify-> anatomy``, plus a reverse type ``<relation>_rev`` for each.
  Every graph declares all eight, even when empty, so :func:`dgl.batch` accepts any mix.
* **Relations outside the schema** (e.g. ``anatomy -located_at-> anatomy``, which
  model-made graphs such as RadGraph's inference set occasionally contain) have no edge
  type. They stay in the :class:`~graphclr.reports.schema.ReportGraph` (and so in any JSON written
  from it) but are left out of the DGL graph; :attr:`GraphArrays.num_off_schema` counts
  them and ``graphclr graphs build`` reports the total.
* **Empty reports** (no entities) give a graph with zero nodes of either type. DGL
  batches and reads out such graphs; the encoders in :mod:`graphclr.nn` give them a
  finite embedding from a learned ``[GRAPH]`` token.

Edge direction follows RadGraph: ``head -> tail`` (a finding is ``located_at`` its
anatomy; a modifier ``modify``-s what it qualifies).

Speed: ``dgl.heterograph`` spends milliseconds per call on validation and on building a
full DGL graph per edge type. :func:`batch_graphs` therefore builds a whole batch from
flat arrays in one go, and :func:`to_heterograph` uses the same low-level path; both are
checked against ``dgl.heterograph``/``dgl.batch`` in the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from graphclr.constants import (
    ANATOMY,
    CERTAINTY_ID,
    LABEL_TO_KIND_CERTAINTY,
    LOCATED_AT,
    MODIFY,
    NODE_TYPES,
    NUM_RELATION_IDS,
    OBSERVATION,
    RELATION_IDS,
    RELATIONS,
    REVERSE_SUFFIX,
    SUGGESTIVE_OF,
)
from graphclr.graphs.vocab import Vocabulary
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import dgl
    import torch

__all__ = [
    "CANONICAL_ETYPES",
    "FORWARD_ETYPES",
    "NODE_FEATURES",
    "GraphArrays",
    "encode_report",
    "connected_components",
    "to_heterograph",
    "batch_graphs",
    "build_graphs",
    "to_homogeneous",
    "graph_component_counts",
    "empty_heterograph",
]

_KIND_ID = {k: i for i, k in enumerate(NODE_TYPES)}
#: entity label -> (kind id, certainty id)
_LABEL_IDS = {label: (_KIND_ID[k], CERTAINTY_ID[c]) for label, (k, c) in LABEL_TO_KIND_CERTAINTY.items()}
_REL_ID = {r: i for i, r in enumerate(RELATIONS)}
_NCERT = len(CERTAINTY_ID)

#: The schema's relations, ``(head type, relation, tail type)``.
FORWARD_ETYPES: tuple[tuple[str, str, str], ...] = (
    (OBSERVATION, LOCATED_AT, ANATOMY),
    (ANATOMY, MODIFY, ANATOMY),
    (OBSERVATION, MODIFY, OBSERVATION),
    (OBSERVATION, SUGGESTIVE_OF, OBSERVATION),
)
#: Forward edge types and their reverses, sorted as DGL sorts canonical edge types, so
#: that index ``i`` here is DGL's edge-type id ``i``.
CANONICAL_ETYPES: tuple[tuple[str, str, str], ...] = tuple(sorted(FORWARD_ETYPES + tuple(
    (d, r + REVERSE_SUFFIX, s) for s, r, d in FORWARD_ETYPES)))
_ETYPE_INDEX = {c: i for i, c in enumerate(CANONICAL_ETYPES)}
#: (relation id, head kind id, tail kind id) -> (forward etype index, reverse etype index)
_PAIR_ETYPES: dict[tuple[int, int, int], tuple[int, int]] = {
    (_REL_ID[r], _KIND_ID[s], _KIND_ID[d]): (_ETYPE_INDEX[(s, r, d)],
                                            _ETYPE_INDEX[(d, r + REVERSE_SUFFIX, s)])
    for s, r, d in FORWARD_ETYPES}
#: Relation id (``edata["rel"]`` on homogeneous graphs) of each canonical edge type.
ETYPE_RELATION_ID: tuple[int, ...] = tuple(RELATION_IDS[c[1]] for c in CANONICAL_ETYPES)
NODE_FEATURES: tuple[str, ...] = ("certainty", "entity_type", "tokens", "num_tokens",
                                  "component", "entity_index")


class GraphArrays(NamedTuple):
    """A report graph as flat NumPy arrays, in entity order (N entities, E relations).

    The cheap intermediate between a :class:`ReportGraph` and a DGL graph. Computing it
    is plain Python; many of them batch straight into one DGL graph
    (:func:`batch_graphs`) without a DGL graph per report. Picklable, so data-loader
    workers can make them.
    """

    kind: np.ndarray          # int64 [N]: 0 anatomy, 1 observation
    certainty: np.ndarray     # int64 [N]
    tokens: np.ndarray        # int64 [N, T]
    num_tokens: np.ndarray    # int64 [N]
    src: np.ndarray           # int64 [E'] head entity of each in-schema relation
    dst: np.ndarray           # int64 [E'] tail entity
    etype: np.ndarray         # int64 [E'] index into CANONICAL_ETYPES of the forward type
    component: np.ndarray     # int64 [N]
    num_components: int
    num_off_schema: int       # relations left out: their node types have no edge type

    @property
    def num_nodes(self) -> int:
        return int(self.kind.shape[0])


def connected_components(num_nodes: int, src: Sequence[int], dst: Sequence[int]) -> tuple[list[int], int]:
    """Weakly connected components by union-find.

    Components are numbered in order of their lowest node index, so the numbering
    depends only on the graph, never on edge order.

    Examples:
        >>> connected_components(5, [0, 3], [2, 4])
        ([0, 1, 0, 2, 2], 3)
    """
    parent = list(range(num_nodes))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(src, dst):
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    labels: dict[int, int] = {}
    out = []
    for i in range(num_nodes):
        root = find(i)
        if root not in labels:
            labels[root] = len(labels)
        out.append(labels[root])
    return out, len(labels)


def encode_report(graph: ReportGraph, vocab: Vocabulary | None = None, *,
                  max_tokens: int = 4) -> GraphArrays:
    """Turn a report graph into :class:`GraphArrays`.

    Components are computed on the in-schema relations only, so they are the weakly
    connected components of the DGL graph that is built from these arrays.

    Args:
        graph: the report graph.
        vocab: maps entity tokens to ids; without one every token id is ``<unk>`` (1).
        max_tokens: tokens kept per entity (the first ``max_tokens``); RadGraph entities
            are nearly always one to three tokens.
    """
    kinds: list[int] = []
    certs: list[int] = []
    flat_tokens: list[int] = []
    num_tokens: list[int] = []
    src: list[int] = []
    dst: list[int] = []
    etype: list[int] = []
    off = _append_report(graph, vocab, max_tokens, kinds, certs, flat_tokens, num_tokens,
                         src, dst, etype)
    n = len(kinds)
    comp, ncomp = connected_components(n, src, dst)
    i64 = np.int64
    return GraphArrays(np.array(kinds, dtype=i64), np.array(certs, dtype=i64),
                       np.array(flat_tokens, dtype=i64).reshape(n, max_tokens),
                       np.array(num_tokens, dtype=i64), np.array(src, dtype=i64),
                       np.array(dst, dtype=i64), np.array(etype, dtype=i64),
                       np.array(comp, dtype=i64), ncomp, off)


def _append_report(graph: ReportGraph, vocab: Vocabulary | None, max_tokens: int,
                   kinds: list[int], certs: list[int], flat_tokens: list[int],
                   num_tokens: list[int], src: list[int], dst: list[int], etype: list[int],
                   memo: dict[tuple[str, str], tuple[int, int, list[int], int]] | None = None) -> int:
    """Append one report's entities and in-schema relations to flat lists (entity indices
    shifted by the entities already there); return the number of off-schema relations
    left out.

    ``memo`` caches each distinct (label, text) entity's encoding: within a batch the same
    entities ("heart", "clear", "lungs", ...) recur many times.
    """
    memo = {} if memo is None else memo
    add_kind, add_cert, add_count = kinds.append, certs.append, num_tokens.append
    first = len(kinds)
    for ent in graph.entities:  # the hot loop of batching: locals only
        key = (ent.label, ent.tokens)
        enc = memo.get(key)
        if enc is None:
            enc = memo[key] = _encode_entity(ent.label, ent.tokens, vocab, max_tokens)
        add_kind(enc[0])
        add_cert(enc[1])
        flat_tokens += enc[2]
        add_count(enc[3])
    off = 0
    for rel in graph.relations:
        pair = _PAIR_ETYPES.get((_REL_ID[rel.type], kinds[first + rel.head], kinds[first + rel.tail]))
        if pair is None:
            off += 1
            continue
        src.append(first + rel.head)
        dst.append(first + rel.tail)
        etype.append(pair[0])
    return off


def _encode_entity(label: str, text: str, vocab: Vocabulary | None,
                   max_tokens: int) -> tuple[int, int, list[int], int]:
    """(kind id, certainty id, token ids padded to ``max_tokens``, number of real ids)."""
    k, c = _LABEL_IDS[label]
    words = text.split()[:max_tokens]
    if vocab is None:
        ids = [Vocabulary.unk_id] * (len(words) or 1)
    else:
        ids = vocab.lookup(words) or [Vocabulary.unk_id]
    return k, c, ids + [0] * (max_tokens - len(ids)), len(ids)


class _Batch(NamedTuple):
    """Many reports' arrays, concatenated (entity indices global to the batch)."""

    sizes: np.ndarray        # entities per report
    n_rel: np.ndarray        # in-schema relations per report
    kind: np.ndarray
    certainty: np.ndarray
    tokens: np.ndarray
    num_tokens: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    etype: np.ndarray
    component: np.ndarray    # local to each report


def _batch_from_reports(graphs: Sequence[ReportGraph], vocab: Vocabulary | None,
                        max_tokens: int) -> _Batch:
    """Encode a batch in one pass: flat lists for every report, and the components of the
    whole batch found at once by SciPy (components never cross reports, and SciPy numbers
    them by lowest node, as :func:`connected_components` does)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as sp_components

    kinds: list[int] = []
    certs: list[int] = []
    flat_tokens: list[int] = []
    num_tokens: list[int] = []
    src: list[int] = []
    dst: list[int] = []
    etype: list[int] = []
    sizes, n_rel = [], []
    memo: dict[tuple[str, str], tuple[int, int, list[int], int]] = {}
    for g in graphs:
        before_e, before_r = len(kinds), len(src)
        _append_report(g, vocab, max_tokens, kinds, certs, flat_tokens, num_tokens,
                       src, dst, etype, memo)
        sizes.append(len(kinds) - before_e)
        n_rel.append(len(src) - before_r)
    i64 = np.int64
    n = len(kinds)
    src_a, dst_a = np.array(src, dtype=i64), np.array(dst, dtype=i64)
    sizes_a = np.array(sizes, dtype=i64)
    if n:
        adj = coo_matrix((np.ones(src_a.shape[0], dtype=np.int8), (src_a, dst_a)), shape=(n, n))
        _, labels = sp_components(adj, directed=False)
        labels = labels.astype(i64)
        starts = np.zeros(len(sizes), dtype=i64)
        np.cumsum(sizes_a[:-1], out=starts[1:])
        nonempty = sizes_a > 0
        first_label = np.zeros(len(sizes), dtype=i64)
        first_label[nonempty] = labels[starts[nonempty]]
        component = labels - np.repeat(first_label, sizes_a)
    else:
        component = np.zeros(0, dtype=i64)
    return _Batch(sizes_a, np.array(n_rel, dtype=i64), np.array(kinds, dtype=i64),
                  np.array(certs, dtype=i64), np.array(flat_tokens, dtype=i64).reshape(n, max_tokens),
                  np.array(num_tokens, dtype=i64), src_a, dst_a, np.array(etype, dtype=i64), component)


def _batch_from_arrays(arrays: Sequence[GraphArrays]) -> _Batch:
    sizes = np.fromiter((a.kind.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    ent_start = np.zeros(len(arrays), dtype=np.int64)
    np.cumsum(sizes[:-1], out=ent_start[1:])
    kind = np.concatenate([a.kind for a in arrays])
    width = max(a.tokens.shape[1] for a in arrays)
    if all(a.tokens.shape[1] == width for a in arrays):
        tokens = np.concatenate([a.tokens for a in arrays])
    else:
        tokens = np.zeros((kind.shape[0], width), dtype=np.int64)
        for a, start in zip(arrays, ent_start.tolist()):
            tokens[start: start + a.tokens.shape[0], : a.tokens.shape[1]] = a.tokens
    n_rel = np.fromiter((a.src.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    rel_offset = np.repeat(ent_start, n_rel)
    return _Batch(sizes, n_rel, kind, np.concatenate([a.certainty for a in arrays]), tokens,
                  np.concatenate([a.num_tokens for a in arrays]),
                  np.concatenate([a.src for a in arrays]) + rel_offset,
                  np.concatenate([a.dst for a in arrays]) + rel_offset,
                  np.concatenate([a.etype for a in arrays]),
                  np.concatenate([a.component for a in arrays]))


def _as_arrays(graph: ReportGraph | GraphArrays, vocab: Vocabulary | None,
               max_tokens: int) -> GraphArrays:
    return graph if isinstance(graph, GraphArrays) else encode_report(graph, vocab, max_tokens=max_tokens)


class _HeteroFactory:
    """Builds report heterographs straight from edge arrays.

    Creates each relation's graph index with DGL's C entry point, reuses cached empty
    relations, and shallow-copies a template graph (the pattern of ``DGLGraph.local_var``)
    so that type bookkeeping is done once per process. Relies on DGL 2.1.0 internals (the
    pinned version); ``tests/test_graphs.py`` checks the result against ``dgl.heterograph``.
    """

    def __init__(self) -> None:
        import copy

        import dgl
        import torch
        from dgl import backend as F
        from dgl import heterograph_index as hgi
        from dgl import utils as dutils
        from dgl._ffi.object_generic import convert_to_object
        from dgl.frame import Column, Frame, Scheme

        self._copy = copy.copy
        self._hgi = hgi
        self._toindex = dutils.toindex
        self._to_nd = F.to_dgl_nd
        self._Frame = Frame
        self._Column = Column
        self._Scheme = Scheme
        self._schemes: dict[tuple[int, ...], Any] = {}
        self._torch = torch
        # the C entry point behind hgi.create_unitgraph_from_coo, taking DGL arrays
        self._unit_from_coo = hgi._CAPI_DGLHeteroCreateUnitGraphFromCOO
        empty = torch.zeros(0, dtype=torch.int64)
        self.template = dgl.heterograph({c: (empty, empty) for c in CANONICAL_ETYPES},
                                        num_nodes_dict={t: 0 for t in NODE_TYPES},
                                        idtype=torch.int64)
        if tuple(self.template.canonical_etypes) != CANONICAL_ETYPES:  # pragma: no cover
            raise RuntimeError("DGL orders edge types differently from graphclr: "
                               f"{self.template.canonical_etypes}")
        if tuple(self.template.ntypes) != NODE_TYPES:  # pragma: no cover
            raise RuntimeError(f"DGL orders node types differently: {self.template.ntypes}")
        self.metagraph = self.template._graph.metagraph
        self.rel_ntypes = [1 if s == d else 2 for s, _, d in CANONICAL_ETYPES]
        self.rel_ends = [(_KIND_ID[s], _KIND_ID[d]) for s, _, d in CANONICAL_ETYPES]
        self._empty_nd = F.to_dgl_nd(empty)
        # converted once: DGL's FFI would otherwise rebuild this list object per relation
        self._formats = convert_to_object(["coo", "csr", "csc"])
        self._empty_cache: dict[tuple[int, int, int], Any] = {}

    def _empty(self, k: int, a: int, b: int) -> Any:
        key = (k, a, b)
        idx = self._empty_cache.get(key)
        if idx is None:
            idx = self._unit_from_coo(k, a, b, self._empty_nd, self._empty_nd, self._formats,
                                      False, False)
            if len(self._empty_cache) < 65536:
                self._empty_cache[key] = idx
        return idx

    def make(self, num_nodes: Sequence[int], edges: Sequence[tuple[np.ndarray, np.ndarray] | None],
             node_data: Sequence[dict[str, np.ndarray]]) -> dgl.DGLHeteroGraph:
        """``num_nodes`` and ``node_data`` per node type (DGL order); ``edges`` per
        canonical edge type, ``None`` when empty."""
        from_numpy, to_nd = self._torch.from_numpy, self._to_nd
        rels = []
        num_edges = []
        converted: dict[int, Any] = {}  # a reverse type reuses its forward arrays

        def nd(arr: np.ndarray) -> Any:
            out = converted.get(id(arr))
            if out is None:
                out = converted[id(arr)] = to_nd(from_numpy(arr))
            return out

        for i, uv in enumerate(edges):
            a, b = self.rel_ends[i]
            if uv is None:
                rels.append(self._empty(self.rel_ntypes[i], num_nodes[a], num_nodes[b]))
                num_edges.append(0)
            else:
                rels.append(self._unit_from_coo(self.rel_ntypes[i], num_nodes[a], num_nodes[b],
                                                nd(uv[0]), nd(uv[1]), self._formats, False, False))
                num_edges.append(int(uv[0].shape[0]))
        gidx = self._hgi.create_heterograph_from_relations(
            self.metagraph, rels, self._toindex(list(num_nodes), "int64"))
        g = self._copy(self.template)
        g._graph = gidx
        g._batch_num_nodes = None
        g._batch_num_edges = None
        Frame, Column = self._Frame, self._Column
        node_frames = []
        for data, n in zip(node_data, num_nodes):
            frame = Frame(num_rows=n)
            # columns with a known scheme: skips DGL's per-column scheme inference
            frame._columns = {k: Column(from_numpy(v), self._scheme(v)) for k, v in data.items()}
            node_frames.append(frame)
        g._node_frames = node_frames
        g._edge_frames = [Frame(num_rows=n) for n in num_edges]
        return g

    def _scheme(self, arr: np.ndarray) -> Any:
        key = arr.shape[1:]
        scheme = self._schemes.get(key)
        if scheme is None:
            scheme = self._schemes[key] = self._Scheme(tuple(key), self._torch.int64)
        return scheme


_FACTORY: _HeteroFactory | None = None


def _factory() -> _HeteroFactory:
    # Built on first use (it costs one dgl.heterograph call) and cached per process; it
    # holds only immutable graph indices, never data visible to callers.
    global _FACTORY
    if _FACTORY is None:
        _FACTORY = _HeteroFactory()
    return _FACTORY


def _split_by_type(kind: np.ndarray, certainty: np.ndarray, tokens: np.ndarray,
                   num_tokens: np.ndarray, component: np.ndarray, entity_index: np.ndarray
                   ) -> tuple[list[int], list[dict[str, np.ndarray]], np.ndarray]:
    """Node data per node type, and each entity's id within its type."""
    local = np.empty_like(kind)
    counts, data = [], []
    entity_type = kind * _NCERT + certainty
    for t in range(len(NODE_TYPES)):
        idx = np.flatnonzero(kind == t)
        local[idx] = np.arange(idx.shape[0])
        counts.append(int(idx.shape[0]))
        data.append({"certainty": certainty[idx], "entity_type": entity_type[idx],
                     "tokens": tokens[idx], "num_tokens": num_tokens[idx],
                     "component": component[idx], "entity_index": entity_index[idx]})
    return counts, data, local


def _edges_by_type(local: np.ndarray, src: np.ndarray, dst: np.ndarray, etype: np.ndarray
                   ) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per canonical edge type, ``(u, v)`` in type-local ids (reverse types mirrored)."""
    edges: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(CANONICAL_ETYPES)
    if src.shape[0] == 0:
        return edges
    u_all, v_all = local[src], local[dst]
    for fi in np.unique(etype).tolist():
        m = etype == fi
        u, v = u_all[m], v_all[m]
        edges[fi] = (u, v)
        edges[_REVERSE_OF[fi]] = (v, u)
    return edges


_REVERSE_OF = {f: r for f, r in _PAIR_ETYPES.values()}


def to_heterograph(graph: ReportGraph | GraphArrays, vocab: Vocabulary | None = None, *,
                   max_tokens: int = 4) -> dgl.DGLHeteroGraph:
    """One report as a DGL heterograph (see the module docstring for its layout).

    Examples:
        >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
        >>> rg = ReportGraph("r1", "small left effusion", [
        ...     Entity("small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
        ...     Entity("effusion", "OBS-DP", 2, 2)],
        ...     [Relation("modify", 0, 2), Relation("located_at", 2, 1)])
        >>> g = to_heterograph(rg)
        >>> g.num_nodes("anatomy"), g.num_nodes("observation")
        (1, 2)
        >>> g.num_edges(("observation", "located_at", "anatomy"))
        1
    """
    a = _as_arrays(graph, vocab, max_tokens)
    counts, node_data, local = _split_by_type(a.kind, a.certainty, a.tokens, a.num_tokens,
                                              a.component, np.arange(a.kind.shape[0]))
    return _factory().make(counts, _edges_by_type(local, a.src, a.dst, a.etype), node_data)


def batch_graphs(graphs: Sequence[ReportGraph | GraphArrays], vocab: Vocabulary | None = None, *,
                 max_tokens: int = 4) -> dgl.DGLHeteroGraph:
    """Build one batched heterograph from many reports, without a graph per report.

    The result equals ``dgl.batch([to_heterograph(g) for g in graphs])``: same node and
    edge order, data, and ``batch_num_nodes``/``batch_num_edges``.
    """
    import torch

    bsz = len(graphs)
    if bsz == 0:
        raise ValueError("batch_graphs needs at least one graph")
    if all(isinstance(g, ReportGraph) for g in graphs):
        b = _batch_from_reports(graphs, vocab, max_tokens)  # type: ignore[arg-type]
    else:
        b = _batch_from_arrays([_as_arrays(g, vocab, max_tokens) for g in graphs])
    sizes, n_rel, kind, etype = b.sizes, b.n_rel, b.kind, b.etype
    ent_start = np.zeros(bsz, dtype=np.int64)
    np.cumsum(sizes[:-1], out=ent_start[1:])
    entity_index = np.arange(kind.shape[0], dtype=np.int64) - np.repeat(ent_start, sizes)
    counts, node_data, local = _split_by_type(kind, b.certainty, b.tokens, b.num_tokens,
                                              b.component, entity_index)
    src, dst = b.src, b.dst
    g = _factory().make(counts, _edges_by_type(local, src, dst, etype), node_data)

    graph_of_node = np.repeat(np.arange(bsz), sizes)
    g._batch_num_nodes = {
        t: torch.from_numpy(np.bincount(graph_of_node[kind == i], minlength=bsz))
        for i, t in enumerate(NODE_TYPES)}
    edge_graph = np.repeat(np.arange(bsz), n_rel)
    per_type = np.zeros((len(CANONICAL_ETYPES), bsz), dtype=np.int64)
    np.add.at(per_type, (etype, edge_graph), 1)
    for f, r in _REVERSE_OF.items():
        per_type[r] = per_type[f]
    g._batch_num_edges = {c: torch.from_numpy(per_type[i]) for i, c in enumerate(CANONICAL_ETYPES)}
    return g


def build_graphs(graphs: Iterable[ReportGraph], vocab: Vocabulary | None = None, *,
                 max_tokens: int = 4) -> list[dgl.DGLHeteroGraph]:
    """One heterograph per report (the collector is paused while they are made)."""
    from graphclr.utils import paused_gc

    with paused_gc():
        return [to_heterograph(g, vocab, max_tokens=max_tokens) for g in graphs]


def empty_heterograph() -> dgl.DGLHeteroGraph:
    """A report graph with no entities (all edge types declared, zero nodes)."""
    return to_heterograph(ReportGraph(id="", text=""))


def graph_component_counts(g: dgl.DGLHeteroGraph) -> torch.Tensor:
    """Number of weakly connected components of each graph in a (batched) heterograph."""
    import torch

    bsz = g.batch_size
    counts = torch.zeros(bsz, dtype=torch.int64)
    for t in g.ntypes:
        if g.num_nodes(t) == 0:
            continue
        graph_ids = torch.repeat_interleave(torch.arange(bsz), g.batch_num_nodes(t))
        counts = counts.scatter_reduce(0, graph_ids, g.nodes[t].data["component"] + 1,
                                       reduce="amax")
    return counts


def to_homogeneous(g: dgl.DGLHeteroGraph) -> dgl.DGLGraph:
    """A (batched) report heterograph as one homogeneous graph, ready for ``RelGraphConv``.

    Unlike :func:`dgl.to_homogeneous`, which orders nodes by type and forgets the batch,
    nodes here stay grouped by report (each report's anatomy nodes, then its observation
    nodes), so ``batch_num_nodes`` is kept and DGL's readout functions pool per report.

    Data on the result:

    * ``ndata``: every node feature of the heterograph, plus ``dgl.NTYPE`` (0 anatomy,
      1 observation), ``dgl.NID`` (id within its node type), ``"graph_id"`` (report index
      in the batch) and ``"component_id"`` (component index unique over the batch,
      numbered report by report).
    * ``edata``: ``"rel"`` (relation id in :data:`graphclr.constants.RELATION_IDS`:
      ``located_at``, ``modify``, ``suggestive_of``, then their reverses; use
      ``num_rels=6``) and ``dgl.ETYPE`` (index into :data:`CANONICAL_ETYPES`).

    Edges are grouped by report and, within a report, by edge type, so
    ``batch_num_edges`` is kept too.
    """
    import dgl
    import torch

    bsz = g.batch_size
    per_type = torch.stack([g.batch_num_nodes(t) for t in NODE_TYPES], dim=1)  # [B, 2]
    per_graph = per_type.sum(1)
    graph_start = torch.cumsum(per_graph, 0) - per_graph
    node_graph = torch.repeat_interleave(torch.arange(bsz), per_graph)
    new_ids = []
    before = torch.zeros(bsz, dtype=torch.int64)
    for ti in range(len(NODE_TYPES)):
        n_t = per_type[:, ti]
        gid = torch.repeat_interleave(torch.arange(bsz), n_t)
        type_start = torch.cumsum(n_t, 0) - n_t
        rank = torch.arange(int(n_t.sum())) - type_start[gid]
        new_ids.append(graph_start[gid] + before[gid] + rank)
        before = before + n_t
    total = int(per_graph.sum())

    srcs, dsts, etids = [], [], []
    for ei, canon in enumerate(CANONICAL_ETYPES):
        u, v = g.edges(etype=canon)
        if u.numel() == 0:
            continue
        srcs.append(new_ids[_KIND_ID[canon[0]]][u])
        dsts.append(new_ids[_KIND_ID[canon[2]]][v])
        etids.append(torch.full_like(u, ei))
    if srcs:
        src, dst, etid = torch.cat(srcs), torch.cat(dsts), torch.cat(etids)
        order = torch.argsort(node_graph[src], stable=True)
        src, dst, etid = src[order], dst[order], etid[order]
    else:
        src = dst = etid = torch.zeros(0, dtype=torch.int64)
    h = dgl.graph((src, dst), num_nodes=total, idtype=torch.int64)
    h.edata["rel"] = torch.tensor(ETYPE_RELATION_ID, dtype=torch.int64)[etid]
    h.edata[dgl.ETYPE] = etid

    for name in g.nodes[NODE_TYPES[0]].data.keys():
        first = g.nodes[NODE_TYPES[0]].data[name]
        out = first.new_zeros((total, *first.shape[1:]))
        for ti, t in enumerate(NODE_TYPES):
            if g.num_nodes(t):
                out[new_ids[ti]] = g.nodes[t].data[name]
        h.ndata[name] = out
    ntype_col = torch.zeros(total, dtype=torch.int64)
    nid_col = torch.zeros(total, dtype=torch.int64)
    for ti, t in enumerate(NODE_TYPES):
        ntype_col[new_ids[ti]] = ti
        nid_col[new_ids[ti]] = torch.arange(g.num_nodes(t))
    h.ndata[dgl.NTYPE] = ntype_col
    h.ndata[dgl.NID] = nid_col
    h.ndata["graph_id"] = node_graph
    if "component" in h.ndata:
        ncomp = graph_component_counts(g)
        comp_start = torch.cumsum(ncomp, 0) - ncomp
        h.ndata["component_id"] = comp_start[node_graph] + h.ndata["component"]
    h.set_batch_num_nodes(per_graph)
    h.set_batch_num_edges(torch.bincount(node_graph[src], minlength=bsz))
    return h


#: ``num_rels`` for ``RelGraphConv`` on graphs from :func:`to_homogeneous`.
NUM_RELATIONS_HOMOGENEOUS = NUM_RELATION_IDS
