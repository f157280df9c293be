"""Slow, obvious pure-PyTorch twins of the graph-encoder layers, for tests and teaching.

Each function loops over edges, components or graphs in Python and spells the maths out
with dense matrices, so it shares no code path with the batched modules it checks.

Examples:
    >>> import torch
    >>> from graphclr.nn.rgcn import FastRelGraphConv, edge_plan
    >>> _ = torch.manual_seed(0)
    >>> layer = FastRelGraphConv(4, 4, 6, regularizer="bdd", num_bases=2, activation=torch.relu)
    >>> x, src, dst, rel = torch.randn(3, 4), [0, 1], [1, 2], [0, 4]
    >>> fast = layer(None, x, None, plan=edge_plan(torch.tensor(src), torch.tensor(dst),
    ...                                            torch.tensor(rel), 3, 6))
    >>> torch.allclose(fast, reference_rgcn_layer(layer, x, src, dst, rel), atol=1e-6)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["dense_relation_weights", "reference_rgcn_layer", "reference_component_pooling"]


def dense_relation_weights(layer: torch.nn.Module) -> torch.Tensor:
    """``[R, in, out]`` full weight of every relation of a ``RelGraphConv`` layer.

    Basis weights are combined, block-diagonal weights expanded with ``torch.block_diag``.
    """
    lin = layer.linear_r
    if lin.regularizer == "bdd":
        k = lin.num_bases
        return torch.stack([torch.block_diag(*lin.W[r].view(k, lin.submat_in, lin.submat_out))
                            for r in range(lin.num_types)])
    if lin.regularizer == "basis":
        return torch.einsum("rb,bio->rio", lin.coeff, lin.W)
    return lin.W


def reference_rgcn_layer(layer: torch.nn.Module, feat: torch.Tensor, src: list[int], dst: list[int],
                         rel: list[int], norm: str = "mean") -> torch.Tensor:
    """One ``RelGraphConv`` layer (ReLU, no dropout, no layer norm), edge by edge."""
    weights = dense_relation_weights(layer)
    n = feat.shape[0]
    count: dict[tuple[int, int], int] = {}
    for d, r in zip(dst, rel):
        count[(d, r)] = count.get((d, r), 0) + 1
    rows = [torch.zeros(weights.shape[2]) for _ in range(n)]
    for s, d, r in zip(src, dst, rel):
        c = 1.0 / count[(d, r)] if norm == "mean" else 1.0
        rows[d] = rows[d] + c * (feat[s] @ weights[r])
    out = torch.stack(rows) if rows else feat.new_zeros((0, weights.shape[2]))
    if layer.bias:
        out = out + layer.h_bias
    if layer.self_loop:
        out = out + feat @ layer.loop_weight
    return F.relu(out)


def reference_component_pooling(pool: torch.nn.Module, h: torch.Tensor, graph_of_node: list[int],
                                component_of_node: list[int]) -> list[list[torch.Tensor]]:
    """Per graph, per component (local order of first appearance), the pooled vector,
    computed one graph and one component at a time with ``torch.softmax``."""
    out: list[list[torch.Tensor]] = []
    n_graphs = max(graph_of_node) + 1 if graph_of_node else 0
    for g in range(n_graphs):
        nodes = [i for i, gi in enumerate(graph_of_node) if gi == g]
        comps: list[int] = []
        for i in nodes:
            if component_of_node[i] not in comps:
                comps.append(component_of_node[i])
        pooled = []
        for c in sorted(comps):
            members = [i for i in nodes if component_of_node[i] == c]
            hc = h[members]
            alpha = torch.softmax(pool.scores(hc), dim=0)
            z = (alpha.unsqueeze(1) * hc).sum(0)
            if getattr(pool, "readout", "attention") == "attention+mean":
                z = z + hc.sum(0) / len(members)
            pooled.append(z)
        out.append(pooled)
    return out
