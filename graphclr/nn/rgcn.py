r"""Relational graph convolutions over report graphs: ``dgl.nn.RelGraphConv``, made fast.

One layer of a relational GCN (Schlichtkrull et al., 2018), as ``dgl.nn.RelGraphConv``
computes it, is

.. math::

    h_v' = \sigma\Big(b + W_0 h_v + \sum_{r} \sum_{u \in \mathcal{N}_r(v)} c_{v,r}\, W_r h_u\Big)

with one weight :math:`W_r` per relation id (``edata["rel"]``: the three RadGraph relations
and their reverses, so ``num_rels = 6``), a self-loop weight :math:`W_0` and a
normaliser :math:`c_{v,r}`. ``norm="mean"`` uses :math:`c_{v,r} = 1/|\mathcal{N}_r(v)|`
(the reference implementation's PyG ``RGCNConv`` default); ``norm="sum"`` uses 1.
Regularisers limit the parameters per relation:

* ``"basis"``: :math:`W_r = \sum_b a_{rb} V_b` (``num_bases`` shared bases);
* ``"bdd"``: :math:`W_r = \operatorname{diag}(Q_{r1}, \dots, Q_{rK})`, ``K = num_bases``
  blocks, so a message costs :math:`d_{in} d_{out} / K` multiply-adds instead of
  :math:`d_{in} d_{out}`;
* ``None``: a full :math:`W_r` per relation.

The stock layer is slow on these small, sparse graphs (profiled in
``benchmarks/encoder_speed.py``): for ``"bdd"`` DGL's ``TypedLinear`` gathers a copy of the
block weights for every edge (an ``[E, d_in/K, d_out/K]`` tensor per batch), and its
message UDF and ``segment_mm`` kernels make several extra passes over ``[E, d]`` tensors.
:class:`FastRelGraphConv` *is* a ``dgl.nn.RelGraphConv`` (same parameters, same
``state_dict``, same maths) with a leaner forward: edges are sorted by relation once per
batch (:func:`edge_plan`, shared by every layer; a ``ReportBatch`` already holds them sorted), source states are gathered once,
each relation's messages are one dense product (``"basis"``/``None``) or one batched
product over the blocks (``"bdd"``), scaled by :math:`c_{v,r}` and summed into their
destinations with one ``index_add``. Relation groups are cut with ``split``/``unbind``,
whose backward is a single concatenation (indexing a slice per relation would allocate a
full-size zero gradient per relation). When the input comes from a token featurizer
(a :class:`BagInput`: each node's feature is a mean of embedding rows plus a type row),
every product of the first layer is taken on the batch's distinct embedding rows instead
of on its nodes and edges -- exact by linearity, and a few hundred rows instead of
thousands. :class:`RGCNStack` also computes each layer once per distinct computation
tree (:mod:`graphclr.nn.dedup`). With ``fast=False`` the layer runs DGL's own forward;
the tests check both against a per-edge reference.

Examples:
    >>> import dgl, torch
    >>> g = dgl.graph((torch.tensor([0, 1, 1]), torch.tensor([1, 0, 2])), num_nodes=3)
    >>> rel = torch.tensor([0, 3, 1])
    >>> _ = torch.manual_seed(0)
    >>> stack = RGCNStack(8, 16, num_layers=2, num_rels=6, regularizer="bdd", num_bases=4)
    >>> stack(g, torch.randn(3, 8), rel).shape
    torch.Size([3, 16])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from dgl.nn.pytorch import RelGraphConv
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    import dgl

__all__ = ["BagInput", "UniqueRows", "EdgeList", "EdgePlan", "edge_plan", "FastRelGraphConv", "RGCNStack"]

NORMS = ("mean", "sum")


class EdgeList(NamedTuple):
    """A graph as plain edge tensors (on any device), for the fast path without DGL."""

    src: torch.Tensor
    dst: torch.Tensor
    num_nodes: int


class BagInput(NamedTuple):
    r"""First-layer node features given as bags of embedding rows (token featurizers).

    Node ``v``'s input is :math:`x_v = \mathrm{mean}_{j \in \text{bag}(v)} T[j] + S[\tau_v]`:
    ``table`` ``[U, d]`` holds the batch's distinct token embeddings (row 0 is padding),
    ``index`` ``[N, L]`` each node's rows (0 pads), ``type_table`` ``[K, d]`` and ``types``
    ``[N]`` the type embedding. Every linear map :math:`M` then satisfies
    :math:`x_v M = \mathrm{mean}_j (T M)[j] + (S M)[\tau_v]`, so the first layer multiplies
    the ``U`` table rows instead of the ``N`` nodes and ``E`` edges.
    """

    table: torch.Tensor
    index: torch.Tensor
    type_table: torch.Tensor
    types: torch.Tensor

    def features(self) -> torch.Tensor:
        """The node features ``[N, d]`` themselves."""
        return self.apply(lambda t: t)

    def with_empty_nodes(self, n: int) -> BagInput:
        """Append ``n`` nodes whose features are zero (e.g. virtual nodes)."""
        pad_type = self.type_table.shape[0]
        return BagInput(self.table,
                        torch.cat([self.index, self.index.new_zeros((n, self.index.shape[1]))]),
                        torch.cat([self.type_table, self.type_table.new_zeros((1, self.type_table.shape[1]))]),
                        torch.cat([self.types, self.types.new_full((n,), pad_type)]))

    def apply(self, linear, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``linear(x_v)`` for every node (or for nodes ``rows``), computed on the tables."""
        index = self.index if rows is None else self.index.index_select(0, rows)
        types = self.types if rows is None else self.types.index_select(0, rows)
        bag = F.embedding_bag(index, linear(self.table), mode="mean", padding_idx=0)
        return bag + linear(self.type_table).index_select(0, types)


class UniqueRows(NamedTuple):
    """Node states stored once per distinct computation tree: node ``v`` is ``table[labels[v]]``."""

    table: torch.Tensor
    labels: torch.Tensor

    def full(self) -> torch.Tensor:
        """``[N, d]``, one row per node."""
        return self.table.index_select(0, self.labels)

    def apply(self, linear, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``linear(h_v)`` for every node (or nodes ``rows``), on the fewer of table rows and nodes."""
        lab = self.labels if rows is None else self.labels.index_select(0, rows)
        if self.table.shape[0] <= lab.shape[0]:
            return linear(self.table).index_select(0, lab)
        return linear(self.table.index_select(0, lab))


def _apply(feat: torch.Tensor | BagInput | UniqueRows, linear, rows: torch.Tensor | None = None) -> torch.Tensor:
    """``linear`` of the input rows of nodes ``rows`` (all nodes when ``None``)."""
    if isinstance(feat, (BagInput, UniqueRows)):
        return feat.apply(linear, rows)
    return linear(feat if rows is None else feat.index_select(0, rows))


def _dense(feat: torch.Tensor | BagInput | UniqueRows) -> torch.Tensor:
    if isinstance(feat, BagInput):
        return feat.features()
    return feat.full() if isinstance(feat, UniqueRows) else feat


class EdgePlan(NamedTuple):
    """Edges sorted by relation id, with their normalisers (computed once per batch).

    Attributes:
        src: source node of each edge, edges sorted by relation (stable).
        dst: destination node of each edge, same order.
        scale: ``[E, 1]`` factor :math:`c_{v,r}` of each edge, or ``None`` for sums.
        seglen: number of edges of each relation, as Python ints.
        num_nodes: nodes of the graph.
    """

    src: torch.Tensor
    dst: torch.Tensor
    scale: torch.Tensor | None
    seglen: list[int]
    num_nodes: int


def edge_norm(dst: torch.Tensor, rel: torch.Tensor, num_nodes: int, norm: str) -> torch.Tensor | None:
    """Per-edge :math:`c_{v,r}` as ``RelGraphConv`` takes it (``[E, 1]``), or ``None`` for sums.

    Examples:
        >>> edge_norm(torch.tensor([1, 1, 0]), torch.tensor([0, 0, 2]), 3, "mean").flatten().tolist()
        [0.5, 0.5, 1.0]
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm == "sum":
        return None
    key = rel.long() * num_nodes + dst.long()
    _, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    return (1.0 / counts.to(torch.float32))[inverse].unsqueeze(1)


def edge_plan(src: torch.Tensor, dst: torch.Tensor, rel: torch.Tensor, num_nodes: int,
              num_rels: int, norm: str = "mean", *, presorted: bool = False) -> EdgePlan:
    """Sort edges by relation and compute their normalisers, for :class:`FastRelGraphConv`.

    ``presorted=True``: the edges already come sorted by relation (as a
    :class:`~graphclr.graphs.ReportBatch` holds them), so they are kept in their order; the
    plan is the same as sorting them stably.

    Examples:
        >>> p = edge_plan(torch.tensor([0, 2, 1]), torch.tensor([1, 1, 0]),
        ...               torch.tensor([2, 0, 0]), num_nodes=3, num_rels=3)
        >>> p.src.tolist(), p.dst.tolist(), p.seglen, p.scale.flatten().tolist()
        ([2, 1, 0], [1, 0, 1], [2, 0, 1], [1.0, 1.0, 1.0])
    """
    src, dst, rel = src.long(), dst.long(), rel.long()
    if rel.numel() and (int(rel.min()) < 0 or int(rel.max()) >= num_rels):
        raise ValueError(f"relation ids must lie in [0, {num_rels}); got "
                         f"[{int(rel.min())}, {int(rel.max())}]")
    if not presorted:
        order = torch.argsort(rel, stable=True)
        src, dst, rel = src[order], dst[order], rel[order]
    elif rel.numel() > 1 and bool((rel[1:] < rel[:-1]).any()):
        raise ValueError("edge_plan(presorted=True): the edges are not sorted by relation")
    seglen = torch.bincount(rel, minlength=num_rels).tolist()
    return EdgePlan(src, dst, edge_norm(dst, rel, num_nodes, norm), seglen, num_nodes)


class FastRelGraphConv(RelGraphConv):
    """``dgl.nn.RelGraphConv`` with a leaner forward (see the module doc).

    Same constructor and parameters as ``RelGraphConv``. :meth:`forward` takes the usual
    ``(g, feat, etypes, norm)`` and, optionally, a precomputed :class:`EdgePlan`; without
    a plan it is DGL's forward unchanged.
    """

    def forward(self, g: dgl.DGLGraph | None, feat: torch.Tensor | BagInput | UniqueRows,  # type: ignore[override]
                etypes: torch.Tensor | None, norm: torch.Tensor | None = None, *,
                presorted: bool = False, plan: EdgePlan | None = None,
                out_rows: torch.Tensor | None = None) -> torch.Tensor:
        """DGL's forward without ``plan``; with one, the fast path.

        ``out_rows`` (fast path): compute the outputs of these nodes only, in this order
        (``plan.dst`` then indexes ``out_rows``); used to compute each distinct
        computation tree once (:mod:`graphclr.nn.dedup`).
        """
        if plan is None:
            return super().forward(g, _dense(feat), etypes, norm, presorted=presorted)
        h = self.messages(feat, plan)
        if self.layer_norm:
            h = self.layer_norm_weight(h)
        if self.bias:
            h = h + self.h_bias
        if self.self_loop:
            loop = self.loop_weight
            h = h + _apply(feat, lambda t: t @ loop, out_rows)
        if self.activation:
            h = self.activation(h)
        return self.dropout(h)

    def _relation_maps(self) -> list:
        """One callable per relation applying :math:`W_r` to rows ``[n, in]``."""
        lin = self.linear_r
        if lin.regularizer == "bdd":
            k, si, so = lin.num_bases, lin.submat_in, lin.submat_out
            blocks = lin.get_weight().view(lin.num_types, k, si, so).unbind(0)

            def bdd(w: torch.Tensor):
                # [k, n, si] @ [k, si, so] -> [k, n, so] -> [n, k * so]
                return lambda z: torch.bmm(z.view(z.shape[0], k, si).transpose(0, 1), w) \
                    .transpose(0, 1).reshape(z.shape[0], k * so)
            return [bdd(w) for w in blocks]
        return [(lambda w: (lambda z: z @ w))(w) for w in lin.get_weight().unbind(0)]

    def messages(self, feat: torch.Tensor | BagInput | UniqueRows, plan: EdgePlan) -> torch.Tensor:
        r"""Summed messages :math:`\sum_r \sum_{u \in N_r(v)} c_{v,r} W_r h_u`, ``[plan.num_nodes, out]``.

        ``feat`` may be a :class:`BagInput` or :class:`UniqueRows`; :math:`W_r` then
        multiplies whichever is smaller, their tables or the gathered rows.
        """
        out_size = self.linear_r.out_size
        ref = feat.table if isinstance(feat, (BagInput, UniqueRows)) else feat
        if plan.src.numel() == 0:
            return ref.new_zeros((plan.num_nodes, out_size))
        maps = self._relation_maps()
        pieces = []
        if isinstance(feat, torch.Tensor):
            for r, z in enumerate(feat.index_select(0, plan.src).split(plan.seglen, 0)):
                if z.shape[0]:
                    pieces.append(maps[r](z))
        else:
            for r, src in enumerate(plan.src.split(plan.seglen, 0)):
                if src.numel():
                    pieces.append(feat.apply(maps[r], rows=src))
        msgs = torch.cat(pieces, 0)
        if plan.scale is not None:
            msgs = msgs * plan.scale.to(msgs.dtype)
        return msgs.new_zeros((plan.num_nodes, out_size)).index_add_(0, plan.dst, msgs)


class RGCNStack(nn.Module):
    """``num_layers`` relational graph convolutions, ReLU after each (as the reference).

    Args:
        in_dim: node feature width.
        hidden: width of every layer.
        num_layers: layers (the reference: 2).
        num_rels: relation ids (6 on :func:`graphclr.graphs.to_homogeneous` graphs).
        regularizer: ``"basis"``, ``"bdd"`` or ``None`` (see the module doc).
        num_bases: bases (``"basis"``) or blocks (``"bdd"``); default ``num_rels`` for
            ``"basis"``.
        self_loop: add :math:`W_0 h_v`.
        dropout: dropout after each layer.
        norm: ``"mean"`` (per-relation mean of messages) or ``"sum"``.
        layer_norm: ``RelGraphConv``'s layer norm on the aggregated messages.
        fast: use :class:`FastRelGraphConv`'s forward (else DGL's ``RelGraphConv`` path).
    """

    def __init__(self, in_dim: int, hidden: int, num_layers: int = 2, num_rels: int = 6, *,
                 regularizer: str | None = "basis", num_bases: int | None = None,
                 self_loop: bool = True, dropout: float = 0.0, norm: str = "mean",
                 layer_norm: bool = False, fast: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be >= 1")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if regularizer not in ("basis", "bdd", None):
            raise ValueError(f"regularizer must be 'basis', 'bdd' or None, got {regularizer!r}")
        if regularizer == "bdd":
            if num_bases is None:
                raise ValueError("regularizer='bdd' needs num_bases (the number of blocks)")
            for d in (in_dim, hidden):
                if d % num_bases:
                    raise ValueError(f"bdd: width {d} is not divisible by num_bases={num_bases}")
        self.num_rels = num_rels
        self.norm = norm
        self.fast = fast
        self.out_dim = hidden
        self.layers = nn.ModuleList(
            FastRelGraphConv(in_dim if i == 0 else hidden, hidden, num_rels,
                             regularizer=regularizer, num_bases=num_bases, activation=F.relu,
                             self_loop=self_loop, dropout=dropout, layer_norm=layer_norm)
            for i in range(num_layers))

    def forward(self, g: dgl.DGLGraph | EdgeList, feat: torch.Tensor | BagInput,
                rel: torch.Tensor, *, unique: bool = False,
                presorted: bool = False) -> torch.Tensor | UniqueRows:
        """Node states after the last layer, ``[N, hidden]``.

        ``feat`` is ``[N, in_dim]`` or, from the token featurizers, a :class:`BagInput`
        (the fast path then runs the first layer on the embedding tables and computes
        each layer once per distinct computation tree, see :mod:`graphclr.nn.dedup`).
        With ``unique=True`` the result may come back as :class:`UniqueRows`.
        ``presorted=True``: the edges come sorted by relation (a ``ReportBatch``'s), so the
        fast path does not sort them again.

        ``g`` is a DGL graph or an :class:`EdgeList`; the fast path only needs the edge
        tensors (moved to ``feat``'s device), so the model may live on a GPU while DGL
        (a CPU build) keeps the graphs. ``fast=False`` needs a DGL graph on ``feat``'s device.
        """
        if isinstance(g, EdgeList):
            src, dst, n = g
        else:
            src, dst = g.edges()
            n = g.num_nodes()
        device = feat.table.device if isinstance(feat, BagInput) else feat.device
        rel = rel.to(device)
        src, dst = src.to(device), dst.to(device)
        if self.fast:
            if isinstance(feat, BagInput) and n and self.dedup_allowed():
                out = self._forward_dedup(src, dst, rel, n, feat, presorted)
                return out if unique else out.full()
            plan = edge_plan(src, dst, rel, n, self.num_rels, self.norm, presorted=presorted)
            for layer in self.layers:
                feat = layer(None, feat, None, plan=plan)
            return feat
        if isinstance(g, EdgeList):
            import dgl

            g = dgl.graph((src, dst), num_nodes=n, idtype=torch.int64, device=device)
        feat = _dense(feat)
        norm = edge_norm(dst, rel, n, self.norm)
        for layer in self.layers:
            feat = layer(g, feat, rel, norm)
        return feat

    def dedup_allowed(self) -> bool:
        """Equal computation trees give equal states unless dropout makes them differ."""
        return not (self.training and any(layer.dropout.p > 0 for layer in self.layers))

    def _forward_dedup(self, src: torch.Tensor, dst: torch.Tensor, rel: torch.Tensor, n: int,
                       feat: BagInput, presorted: bool = False) -> UniqueRows:
        from graphclr.nn.dedup import refine_labels, representatives, row_labels

        labels, count = row_labels(torch.cat([feat.index, feat.types.unsqueeze(1)], 1))
        x: BagInput | UniqueRows = feat
        for layer in self.layers:
            labels, count = refine_labels(labels, count, src, dst, rel, self.num_rels)
            reps = representatives(labels, count)
            is_rep = torch.zeros(n, dtype=torch.bool, device=src.device)
            is_rep[reps] = True
            keep = is_rep.index_select(0, dst)
            plan = edge_plan(src[keep], labels.index_select(0, dst[keep]), rel[keep], count,
                             self.num_rels, self.norm, presorted=presorted)
            x = UniqueRows(layer(None, x, None, plan=plan, out_rows=reps), labels)
        return x  # type: ignore[return-value]
