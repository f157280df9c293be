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

* **Edge types** (:data:`~graphclr.graphs.arrays.CANONICAL_ETYPES`): each relation between
  each ordered pair of node types, plus a reverse type ``<relation>_rev`` for each. The
  RadGraph schema pairs four of them (``observation -located_at-> anatomy``,
  ``observation -suggestive_of-> observation``, ``observation -modify-> observation``,
  ``anatomy -modify-> anatomy``); relations between pairs it does not make (about 1% of
  human RadGraph annotations: ``anatomy -located_at-> anatomy``,
  ``observation -modify-> anatomy``) keep their own type, so nothing annotated is dropped.
  Every graph declares all 24, even when empty, so :func:`dgl.batch` accepts any mix.
* **Empty reports** (no entities) give a graph with zero nodes of either type. DGL
  batches and reads out such graphs; the encoders in :mod:`graphclr.nn` give them a
  finite embedding from a learned ``[GRAPH]`` token.

Edge direction follows RadGraph: ``head -> tail`` (a finding is ``located_at`` its
anatomy; a modifier ``modify``-s what it qualifies).

Every graph is built through :class:`~graphclr.graphs.batch.ReportBatch` and DGL's public
constructors (``dgl.heterograph``, ``dgl.graph``); the model does not need them, it
reads the :class:`ReportBatch` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from graphclr.constants import NUM_RELATION_IDS
# the names graphclr.graphs.build has always offered, now defined in graphclr.graphs.arrays
from graphclr.graphs.arrays import CANONICAL_ETYPES, ETYPE_RELATION_ID, FORWARD_ETYPES  # noqa: F401
from graphclr.graphs.arrays import NODE_FEATURES, SCHEMA_ETYPES, GraphArrays  # noqa: F401
from graphclr.graphs.arrays import connected_components, encode_report  # noqa: F401
from graphclr.graphs.batch import ReportBatch
from graphclr.graphs.vocab import Vocabulary
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import dgl
    import torch

__all__ = [
    "CANONICAL_ETYPES", "FORWARD_ETYPES", "SCHEMA_ETYPES", "NODE_FEATURES", "GraphArrays",
    "ReportBatch", "encode_report", "connected_components", "to_heterograph", "batch_graphs",
    "build_graphs", "to_homogeneous", "graph_component_counts", "empty_heterograph",
]


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
    return batch_graphs([graph], vocab, max_tokens=max_tokens)


def batch_graphs(graphs: Sequence[ReportGraph | GraphArrays], vocab: Vocabulary | None = None, *,
                 max_tokens: int = 4) -> dgl.DGLHeteroGraph:
    """One batched heterograph from many reports, without a graph per report.

    The result equals ``dgl.batch([to_heterograph(g) for g in graphs])``: same node and
    edge order, data, and ``batch_num_nodes``/``batch_num_edges``.
    """
    if len(graphs) == 0:
        raise ValueError("batch_graphs needs at least one graph")
    return ReportBatch.from_reports(graphs, vocab, max_tokens=max_tokens).to_dgl()


def build_graphs(graphs: Iterable[ReportGraph], vocab: Vocabulary | None = None, *,
                 max_tokens: int = 4, chunk_size: int = 1024) -> list[dgl.DGLHeteroGraph]:
    """One heterograph per report, each equal to :func:`to_heterograph` of its report.

    Reports are batched ``chunk_size`` at a time (one ``dgl.heterograph`` call per chunk)
    and each graph is cut from its chunk with :func:`dgl.slice_batch`, which costs a
    fraction of a ``dgl.heterograph`` call with all 24 edge types (the collector is paused
    meanwhile).
    """
    import dgl

    from graphclr.utils import paused_gc

    reports = list(graphs)
    out: list[dgl.DGLHeteroGraph] = []
    with paused_gc():
        for i in range(0, len(reports), chunk_size):
            chunk = ReportBatch.from_reports(reports[i: i + chunk_size], vocab,
                                             max_tokens=max_tokens).to_dgl()
            out.extend(dgl.slice_batch(chunk, j) for j in range(chunk.batch_size))
    return out


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
    It is :meth:`ReportBatch.to_dgl` ``(homogeneous=True)`` of the batch.

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
    return ReportBatch.from_dgl(g).to_dgl(homogeneous=True)


#: ``num_rels`` for ``RelGraphConv`` on graphs from :func:`to_homogeneous`.
NUM_RELATIONS_HOMOGENEOUS = NUM_RELATION_IDS
