r"""The reference implementation's ("IGCL"/DRACON) way of handling disconnected graphs.

IGCL's ``reaction`` transform (inspired by DRACON) adds, to each graph,

* one *virtual node* per weakly connected component, joined in both directions to every
  node of its component, and
* one *global node* joined in both directions to every virtual node,

all with zero features and one extra "virtual" relation type. The RGCN then runs over
the augmented graph, a transformer attends over *all nodes* of each graph (real, virtual
and global), and the graph embedding is the mean of the transformer's outputs:

.. math::

    e_g = \frac{1}{|V'_g|} \sum_{v \in V'_g} \mathrm{Transformer}(H'_g)_v,
    \qquad V'_g = V_g \cup \{c_1, \dots, c_{C_g}\} \cup \{\gamma_g\}

Differences from the reference code, on purpose: the transform is applied to every graph
(the reference skipped graphs without an isolated node, apparently by accident), the
transformer gets a key-padding mask (the reference let padding rows into attention), and
reverse relations keep their own ids as everywhere in graphclr. An empty report is its
global node alone, so its embedding is finite.

Examples:
    >>> import torch
    >>> src, dst, rel, graph_of_node, n = add_virtual_nodes(
    ...     torch.tensor([0]), torch.tensor([1]), torch.tensor([0]),
    ...     component=torch.tensor([0, 0, 1]), graph=torch.tensor([0, 0, 0]),
    ...     num_components=2, batch_size=2, virtual_rel=6)
    >>> n, graph_of_node.tolist()
    (7, [0, 0, 0, 0, 0, 0, 1])
    >>> sorted(zip(src.tolist(), dst.tolist()))[:4]
    [(0, 1), (0, 3), (1, 3), (2, 4)]
"""

from __future__ import annotations

import torch
from torch import nn

from graphclr.nn._segment import segment_mean
from graphclr.nn.transformer import pad_by_segment

__all__ = ["add_virtual_nodes", "NodeTransformerMeanReadout"]


def add_virtual_nodes(src: torch.Tensor, dst: torch.Tensor, rel: torch.Tensor,
                      component: torch.Tensor, graph: torch.Tensor, num_components: int,
                      batch_size: int, virtual_rel: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Append virtual nodes (ids ``N..N+C-1``) and global nodes (``N+C..N+C+B-1``).

    Returns the new ``src``, ``dst``, ``rel``, the graph of every node and the node count.
    """
    n = component.shape[0]
    comp_graph = torch.zeros(num_components, dtype=torch.int64, device=graph.device)
    if n:
        comp_graph.scatter_(0, component, graph)
    real = torch.arange(n, device=graph.device)
    virtual = n + component
    comp_ids = n + torch.arange(num_components, device=graph.device)
    glob = n + num_components + comp_graph
    new_src = torch.cat([src, real, virtual, comp_ids, glob])
    new_dst = torch.cat([dst, virtual, real, glob, comp_ids])
    extra = 2 * (n + num_components)
    new_rel = torch.cat([rel, torch.full((extra,), virtual_rel, dtype=rel.dtype, device=rel.device)])
    node_graph = torch.cat([graph, comp_graph, torch.arange(batch_size, device=graph.device)])
    return new_src, new_dst, new_rel, node_graph, n + num_components + batch_size


class NodeTransformerMeanReadout(nn.Module):
    """Transformer over every node of each graph (masked), then the mean per graph.

    Args:
        dim: node width.
        num_heads, ff_dim, num_layers, dropout: as ``torch.nn.TransformerEncoderLayer``.
    """

    def __init__(self, dim: int, num_heads: int = 2, ff_dim: int = 1024, num_layers: int = 1,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.out_dim = dim
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, num_heads, ff_dim, dropout, activation="relu",
                                       batch_first=True)
            for _ in range(num_layers))

    def forward(self, h: torch.Tensor, node_graph: torch.Tensor, batch_size: int) -> torch.Tensor:
        """``[batch_size, dim]`` from node states ``h [N', dim]``; mean over real nodes."""
        if not len(self.layers):
            return segment_mean(h, node_graph, batch_size)
        padded, mask, pos = pad_by_segment(h, node_graph, batch_size)
        padded, mask = padded[:, 1:], mask[:, 1:]      # no lead token here
        for layer in self.layers:
            padded = layer(padded, src_key_padding_mask=mask)
        return segment_mean(padded[node_graph, pos - 1], node_graph, batch_size)


# The reference encoder itself, quirks kept (issue 14), lives in its own module.
from graphclr.nn.igcl_reference import (  # noqa: E402
    DUMMY_REL,
    IGCLReferenceEncoder,
    dracon_key_map,
    load_dracon_state_dict,
    reaction_transform,
)

__all__ += ["DUMMY_REL", "IGCLReferenceEncoder", "dracon_key_map", "load_dracon_state_dict",
            "reaction_transform"]
