r"""Report graphs as flat arrays: the edge-type layout, per-report encoding and batching.

A report with N entities and E relations becomes a :class:`GraphArrays` in entity order:
each entity's kind (0 anatomy, 1 observation), certainty, vocabulary token ids and
weakly connected component, and each relation as ``head -> tail`` with the index of its
forward canonical edge type. Many of them concatenate (:func:`concat_arrays`, entity
indices shifted by the entities before) into one :class:`ArrayBatch`, from which both the
model input (:class:`graphclr.graphs.batch.ReportBatch`) and the DGL heterograph
(:func:`graphclr.graphs.build.batch_graphs`) are made.

**Edge types.** A relation :math:`r` from a node of type :math:`s` to one of type
:math:`d` has the canonical edge type :math:`(s, r, d)` and a reverse type
:math:`(d, r\_rev, s)`. The RadGraph schema pairs only four of them
(:data:`SCHEMA_ETYPES`: ``observation -located_at-> anatomy``, ``anatomy -modify-> anatomy``,
``observation -modify-> observation``, ``observation -suggestive_of-> observation``).
Human-annotated files carry a few relations between pairs the schema does not make
(``anatomy -located_at-> anatomy``, ``observation -modify-> anatomy``); they are kept
under their own canonical type, so :data:`FORWARD_ETYPES` holds every
(node type, relation, node type) triple and :data:`CANONICAL_ETYPES` them and their
reverses, sorted as DGL sorts them. Every relation's homogeneous id is its relation's
(:data:`ETYPE_RELATION_ID`), whichever node types it joins.

Examples:
    >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
    >>> rg = ReportGraph("r", "left lung opacity", [Entity("left", "ANAT-DP", 0, 0),
    ...     Entity("lung", "ANAT-DP", 1, 1), Entity("opacity", "OBS-DP", 2, 2)],
    ...     [Relation("located_at", 0, 1), Relation("located_at", 2, 1)])
    >>> a = encode_report(rg)
    >>> [CANONICAL_ETYPES[e] for e in a.etype.tolist()]
    [('anatomy', 'located_at', 'anatomy'), ('observation', 'located_at', 'anatomy')]
    >>> a.component.tolist(), a.num_off_schema
    ([0, 0, 0], 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from graphclr.constants import (
    ANATOMY,
    CERTAINTY_ID,
    LABEL_TO_KIND_CERTAINTY,
    LOCATED_AT,
    MODIFY,
    NODE_TYPES,
    OBSERVATION,
    RELATION_IDS,
    RELATIONS,
    REVERSE_SUFFIX,
    SUGGESTIVE_OF,
)
from graphclr.graphs.vocab import Vocabulary
from graphclr.reports.schema import ReportGraph

__all__ = [
    "SCHEMA_ETYPES", "FORWARD_ETYPES", "CANONICAL_ETYPES", "ETYPE_RELATION_ID", "REVERSE_ETYPE",
    "NODE_FEATURES", "GraphArrays", "ArrayBatch", "connected_components", "encode_report",
    "concat_arrays", "batch_arrays",
]

KIND_ID = {k: i for i, k in enumerate(NODE_TYPES)}
#: entity label -> (kind id, certainty id)
_LABEL_IDS = {label: (KIND_ID[k], CERTAINTY_ID[c]) for label, (k, c) in LABEL_TO_KIND_CERTAINTY.items()}
_REL_ID = {r: i for i, r in enumerate(RELATIONS)}
NUM_CERTAINTIES = len(CERTAINTY_ID)

#: The schema's relations, ``(head type, relation, tail type)``.
SCHEMA_ETYPES: tuple[tuple[str, str, str], ...] = (
    (OBSERVATION, LOCATED_AT, ANATOMY),
    (ANATOMY, MODIFY, ANATOMY),
    (OBSERVATION, MODIFY, OBSERVATION),
    (OBSERVATION, SUGGESTIVE_OF, OBSERVATION),
)
#: Every forward edge type: each relation between each ordered pair of node types.
FORWARD_ETYPES: tuple[tuple[str, str, str], ...] = tuple(
    (s, r, d) for s in NODE_TYPES for r in RELATIONS for d in NODE_TYPES)
#: Forward edge types and their reverses, sorted as DGL sorts canonical edge types, so
#: that index ``i`` here is DGL's edge-type id ``i``.
CANONICAL_ETYPES: tuple[tuple[str, str, str], ...] = tuple(sorted(FORWARD_ETYPES + tuple(
    (d, r + REVERSE_SUFFIX, s) for s, r, d in FORWARD_ETYPES)))
_ETYPE_INDEX = {c: i for i, c in enumerate(CANONICAL_ETYPES)}
#: (relation id, head kind id, tail kind id) -> forward etype index
_PAIR_ETYPE: dict[tuple[int, int, int], int] = {
    (_REL_ID[r], KIND_ID[s], KIND_ID[d]): _ETYPE_INDEX[(s, r, d)] for s, r, d in FORWARD_ETYPES}
_SCHEMA_INDEX = frozenset(_ETYPE_INDEX[c] for c in SCHEMA_ETYPES)
#: forward etype index -> its reverse's index
REVERSE_ETYPE: dict[int, int] = {_ETYPE_INDEX[(s, r, d)]: _ETYPE_INDEX[(d, r + REVERSE_SUFFIX, s)]
                                 for s, r, d in FORWARD_ETYPES}
#: Relation id (``edata["rel"]`` on homogeneous graphs) of each canonical edge type.
ETYPE_RELATION_ID: tuple[int, ...] = tuple(RELATION_IDS[c[1]] for c in CANONICAL_ETYPES)
#: Kind ids (head, tail) of each canonical edge type.
ETYPE_ENDS: tuple[tuple[int, int], ...] = tuple((KIND_ID[s], KIND_ID[d]) for s, _, d in CANONICAL_ETYPES)
NODE_FEATURES: tuple[str, ...] = ("certainty", "entity_type", "tokens", "num_tokens",
                                  "component", "entity_index")


class GraphArrays(NamedTuple):
    """A report graph as flat NumPy arrays, in entity order (N entities, E relations).

    The cheap intermediate between a :class:`ReportGraph` and a batch. Computing it is
    plain Python; many of them concatenate straight into one batch without a graph per
    report. Picklable, so data-loader workers can make them.
    """

    kind: np.ndarray          # int64 [N]: 0 anatomy, 1 observation
    certainty: np.ndarray     # int64 [N]
    tokens: np.ndarray        # int64 [N, T]
    num_tokens: np.ndarray    # int64 [N]
    src: np.ndarray           # int64 [E] head entity of each relation
    dst: np.ndarray           # int64 [E] tail entity
    etype: np.ndarray         # int64 [E] index into CANONICAL_ETYPES of the forward type
    component: np.ndarray     # int64 [N]
    num_components: int
    num_off_schema: int       # relations between node types the schema does not pair

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

    Args:
        graph: the report graph.
        vocab: maps entity tokens to ids; without one every token id is ``<unk>`` (1).
        max_tokens: tokens kept per entity (the first ``max_tokens``); RadGraph entities
            are nearly always one to three tokens.
    """
    lists: tuple[list[int], ...] = ([], [], [], [], [], [], [])
    off = _append_report(graph, vocab, max_tokens, *lists)
    kinds, certs, flat_tokens, num_tokens, src, dst, etype = lists
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
    """Append one report's entities and relations to flat lists (entity indices shifted by
    the entities already there); return the number of off-schema relations among them.

    ``memo`` caches each distinct (label, text) entity's encoding: within a batch the same
    entities ("heart", "clear", "lungs", ...) recur many times.
    """
    memo = {} if memo is None else memo
    add_kind, add_cert, add_count = kinds.append, certs.append, num_tokens.append
    first = len(kinds)
    for ent in graph.entities:  # the hot loop of batching: locals only
        key = (ent.source_label or ent.label, ent.tokens)  # XL labels keep anatomy certainty
        enc = memo.get(key)
        if enc is None:
            enc = memo[key] = _encode_entity(key[0], ent.tokens, vocab, max_tokens)
        add_kind(enc[0])
        add_cert(enc[1])
        flat_tokens += enc[2]
        add_count(enc[3])
    off = 0
    for rel in graph.relations:
        fi = _PAIR_ETYPE[(_REL_ID[rel.type], kinds[first + rel.head], kinds[first + rel.tail])]
        off += fi not in _SCHEMA_INDEX
        src.append(first + rel.head)
        dst.append(first + rel.tail)
        etype.append(fi)
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


class ArrayBatch(NamedTuple):
    """Many reports' arrays, concatenated in entity order (entity indices global to the batch)."""

    sizes: np.ndarray        # entities per report
    n_rel: np.ndarray        # relations per report
    kind: np.ndarray
    certainty: np.ndarray
    tokens: np.ndarray
    num_tokens: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    etype: np.ndarray
    component: np.ndarray    # local to each report


def _batch_from_reports(graphs: Sequence[ReportGraph], vocab: Vocabulary | None,
                        max_tokens: int) -> ArrayBatch:
    """Encode a batch in one pass: flat lists for every report, and the components of the
    whole batch found at once by SciPy (components never cross reports, and SciPy numbers
    them by lowest node, as :func:`connected_components` does)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as sp_components

    lists: tuple[list[int], ...] = ([], [], [], [], [], [], [])
    kinds, certs, flat_tokens, num_tokens, src, dst, etype = lists
    sizes, n_rel = [], []
    memo: dict[tuple[str, str], tuple[int, int, list[int], int]] = {}
    for g in graphs:
        before_e, before_r = len(kinds), len(src)
        _append_report(g, vocab, max_tokens, *lists, memo)
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
    return ArrayBatch(sizes_a, np.array(n_rel, dtype=i64), np.array(kinds, dtype=i64),
                      np.array(certs, dtype=i64), np.array(flat_tokens, dtype=i64).reshape(n, max_tokens),
                      np.array(num_tokens, dtype=i64), src_a, dst_a, np.array(etype, dtype=i64), component)


def concat_arrays(arrays: Sequence[GraphArrays]) -> ArrayBatch:
    """Concatenate per-report arrays (token widths padded to the widest)."""
    if not arrays:
        raise ValueError("a batch needs at least one graph")
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
    return ArrayBatch(sizes, n_rel, kind, np.concatenate([a.certainty for a in arrays]), tokens,
                      np.concatenate([a.num_tokens for a in arrays]),
                      np.concatenate([a.src for a in arrays]) + rel_offset,
                      np.concatenate([a.dst for a in arrays]) + rel_offset,
                      np.concatenate([a.etype for a in arrays]),
                      np.concatenate([a.component for a in arrays]))


def batch_arrays(graphs: Sequence[ReportGraph | GraphArrays], vocab: Vocabulary | None = None,
                 max_tokens: int = 4) -> ArrayBatch:
    """One :class:`ArrayBatch` from reports (encoded in one pass) or from their arrays."""
    if len(graphs) == 0:
        raise ValueError("a batch needs at least one graph")
    if all(isinstance(g, ReportGraph) for g in graphs):
        return _batch_from_reports(graphs, vocab, max_tokens)  # type: ignore[arg-type]
    return concat_arrays([g if isinstance(g, GraphArrays) else encode_report(g, vocab, max_tokens=max_tokens)
                          for g in graphs])
