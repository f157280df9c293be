r"""The reference IGCL graph encoder (rajpurkarlab/IGCL, commit d17a06f), reproduced exactly.

Unlike :mod:`graphclr.nn.igcl` (graphclr's corrected variant), this module keeps the
reference's behaviour, quirks included, so a reference checkpoint gives the reference's
embeddings.

**Reaction transform** (:func:`reaction_transform`, the reference's ``AddReactionNodes``)
on one raw graph with relation ids 0-2. It changes the graph only if the graph has an
isolated node (one with no edge other than a self-loop) *and* more than one weakly
connected component. It then appends, after the :math:`N` original nodes,

* one zero-feature dummy node per component (components ordered by their smallest node
  id, as the reference's depth-first search finds them), joined to every node of its
  component in both directions, then
* one zero-feature reaction node, joined to every dummy node in both directions,

all with the dummy relation id :data:`DUMMY_REL` ``= 3``. A graph whose components have no
isolated node, or a single-component graph, is returned unchanged. The reference's edge
order follows Python set iteration over tensors (not deterministic); here it is original
edges, then component edges, then reaction edges -- the same multiset of typed edges.

**Encoder** (:class:`IGCLReferenceEncoder`, the reference's ``DRACON``): for the batch's
node features :math:`X`,

.. math::

    H^{(l+1)} = \mathrm{ReLU}\Big(H^{(l)} W_{\text{root}} + b
        + \sum_{r} \operatorname{mean}_{u \in \mathcal{N}_r(v)} H^{(l)}_u W_r\Big)

(PyG ``RGCNConv``, computed by ``dgl.nn.RelGraphConv`` with a full weight per relation
and per-relation mean normalisation), then the node states are scattered into a dense
``[B, N_max, d]`` batch padded with zero rows, post-LN transformer layers (feed-forward
1024, dropout 0.1, ReLU) run over it **without a padding mask**, the real rows are
averaged per graph, and ``num_fcn_layers`` blocks of ``Linear(d, d)`` + ReLU follow.

Because padding rows take part in attention, **a graph's embedding depends on the largest
graph in its batch** (its ``N_max``), not only on the graph itself. That is the
reference's behaviour and is kept on purpose here; graphclr's own encoders mask padding.

:func:`load_dracon_state_dict` maps a reference state dict (PyG key layout) onto this
module.

Examples:
    >>> import torch
    >>> x = torch.ones(3, 2)
    >>> ei, et = torch.tensor([[0], [1]]), torch.tensor([2])   # 0 -> 1; node 2 isolated
    >>> x2, ei2, et2 = reaction_transform(x, ei, et)
    >>> x2.shape[0], x2[3:].abs().sum().item()                  # 2 dummies + 1 reaction node
    (6, 0.0)
    >>> sorted(zip(ei2[0].tolist(), ei2[1].tolist(), et2.tolist()))[:4]
    [(0, 1, 2), (0, 3, 3), (1, 3, 3), (2, 4, 3)]
    >>> _ = torch.manual_seed(0)
    >>> enc = IGCLReferenceEncoder(2, 8, 4, 2, 1, 1, 2).eval()
    >>> enc.forward_tensors(x2, ei2, et2, torch.zeros(6, dtype=torch.long), 1).shape
    torch.Size([1, 8])
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from graphclr.nn._segment import segment_mean
from graphclr.nn.rgcn import EdgeList, RGCNStack
from graphclr.nn.transformer import pad_by_segment

__all__ = ["DUMMY_REL", "reaction_transform", "IGCLReferenceEncoder", "dracon_key_map",
           "load_dracon_state_dict"]

#: Relation id of the edges the reaction transform adds (after RadGraph's 0-2).
DUMMY_REL = 3


def _component_roots(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Smallest node id of each node's weakly connected component (label propagation)."""
    label = torch.arange(num_nodes, device=edge_index.device)
    src, dst = edge_index[0], edge_index[1]
    while True:
        new = label.clone()
        new.scatter_reduce_(0, dst, label[src], reduce="amin")
        new.scatter_reduce_(0, src, label[dst], reduce="amin")
        new = new[new]                      # pointer jumping: halves the remaining depth
        if torch.equal(new, label):
            return label
        label = new


def reaction_transform(x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference's reaction-node transform on one graph (see the module doc).

    Args:
        x: ``[N, F]`` node features.
        edge_index: ``[2, E]`` head -> tail node ids.
        edge_type: ``[E]`` relation ids 0-2.

    Returns:
        ``(x, edge_index, edge_type)``: unchanged, or with ``C`` dummy nodes and one
        reaction node appended (``N + C + 1`` nodes, ``2 (N + C)`` extra edges).
    """
    n = x.shape[0]
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be [2, E], got shape {tuple(edge_index.shape)}")
    if edge_type.shape != edge_index.shape[1:]:
        raise ValueError(f"edge_type must be [E={edge_index.shape[1]}], got {tuple(edge_type.shape)}")
    if n == 0:
        return x, edge_index, edge_type
    not_loop = edge_index[0] != edge_index[1]
    touched = torch.zeros(n, dtype=torch.bool, device=x.device)
    touched[edge_index[:, not_loop].reshape(-1)] = True
    if bool(touched.all()):
        return x, edge_index, edge_type
    root = _component_roots(edge_index, n)
    roots = torch.unique(root)                       # sorted: components by smallest node
    num_comp = roots.numel()
    if num_comp == 1:
        return x, edge_index, edge_type
    comp = torch.searchsorted(roots, root)           # component index of every node
    nodes = torch.arange(n, device=x.device)
    dummy = n + comp
    dummies = n + torch.arange(num_comp, device=x.device)
    reaction = torch.full((num_comp,), n + num_comp, device=x.device)
    # node -> dummy, dummy -> node per node; then reaction -> dummy, dummy -> reaction
    pairs = torch.stack([torch.stack([nodes, dummy], 1), torch.stack([dummy, nodes], 1)], 1)
    rpairs = torch.stack([torch.stack([reaction, dummies], 1), torch.stack([dummies, reaction], 1)], 1)
    new_edges = torch.cat([pairs.reshape(-1, 2), rpairs.reshape(-1, 2)]).t().to(edge_index.dtype)
    x_out = torch.cat([x, x.new_zeros((num_comp + 1, x.shape[1]))])
    ei_out = torch.cat([edge_index, new_edges], 1)
    et_out = torch.cat([edge_type, edge_type.new_full((new_edges.shape[1],), DUMMY_REL)])
    return x_out, ei_out, et_out


class IGCLReferenceEncoder(nn.Module):
    """The reference DRACON graph encoder (arguments in the reference's order and meaning).

    Args:
        feat_size: node feature width (772 in the reference: BERT 768 + 4 entity types).
        h_dim: hidden width of every layer (512).
        num_rels: relation ids (4: three RadGraph relations + the dummy relation).
        num_conv_layers: RGCN layers (2).
        num_trans_layers: transformer layers (1).
        num_fcn_layers: ``Linear + ReLU`` blocks after pooling (1 in the evaluated model).
        num_attention_heads: attention heads (2).

    The transformer runs without a padding mask: see the module doc (a graph's embedding
    depends on the largest graph in its batch). ``mask_padding=True`` (not the reference)
    masks padding rows out of attention.
    """

    def __init__(self, feat_size: int, h_dim: int = 64, num_rels: int = 3,
                 num_conv_layers: int = 6, num_trans_layers: int = 1, num_fcn_layers: int = 1,
                 num_attention_heads: int = 1, *, mask_padding: bool = False) -> None:
        super().__init__()
        self.out_dim = h_dim
        self.mask_padding = mask_padding
        self.rgcn = RGCNStack(feat_size, h_dim, num_layers=num_conv_layers, num_rels=num_rels,
                              regularizer=None, norm="mean")
        self.trans = nn.ModuleList(
            nn.TransformerEncoderLayer(h_dim, num_attention_heads, dim_feedforward=1024,
                                       dropout=0.1, activation="relu", batch_first=True)
            for _ in range(num_trans_layers))
        fcn: list[nn.Module] = []
        for _ in range(num_fcn_layers):
            fcn += [nn.Linear(h_dim, h_dim), nn.ReLU()]
        self.fcn = nn.Sequential(*fcn)

    def forward_tensors(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor,
                        batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        """``[num_graphs, h_dim]`` for a batch of already transformed graphs.

        ``batch`` gives each node's graph; within a graph, nodes keep their order (the
        dense batch's row order, as PyG's ``to_dense_batch`` on a sorted ``batch``).
        """
        h = self.rgcn(EdgeList(edge_index[0], edge_index[1], x.shape[0]), x, edge_type)
        if len(self.trans):
            padded, mask, pos = pad_by_segment(h, batch, num_graphs)
            dense = padded[:, 1:]                    # no lead slot; zero padding
            mask = mask[:, 1:] if self.mask_padding else None   # the reference: no mask
            for layer in self.trans:
                dense = layer(dense, src_key_padding_mask=mask)
            h = dense[batch, pos - 1]
        return self.fcn(segment_mean(h, batch, num_graphs))


_RGCN_KEY = re.compile(r"rgcn\.layers\.(\d+)\.(weight|root|bias)$")
_TRANS_KEY = re.compile(r"trans\.layers\.(\d+)\.((?:self_attn\.(?:in_proj_weight|in_proj_bias|"
                        r"out_proj\.weight|out_proj\.bias))|(?:(?:linear1|linear2|norm1|norm2)"
                        r"\.(?:weight|bias)))$")
_FCN_KEY = re.compile(r"fcn\.layers\.(\d+)\.(weight|bias)$")
_RGCN_NAMES = {"weight": "linear_r.W", "root": "loop_weight", "bias": "h_bias"}
#: Prefix of the graph encoder's keys in a whole reference CLIP checkpoint.
CLIP_PREFIX = "gnn.encoder."


def dracon_key_map(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a reference DRACON state dict's keys to :class:`IGCLReferenceEncoder`'s.

    Accepts the encoder's own keys (``rgcn.layers.0.weight`` ...) or a whole reference
    CLIP checkpoint (keys under ``gnn.encoder.``; the image tower and projections are
    ignored). Raises ``KeyError`` naming any key it cannot map (e.g. the unused
    ``GlobalAttention`` pooling ``att.*`` or RGCN bases).
    """
    if any(k.startswith(CLIP_PREFIX) for k in state_dict):
        state_dict = {k[len(CLIP_PREFIX):]: v for k, v in state_dict.items()
                      if k.startswith(CLIP_PREFIX)}
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if m := _RGCN_KEY.match(key):
            out[f"rgcn.layers.{m[1]}.{_RGCN_NAMES[m[2]]}"] = value
        elif m := _TRANS_KEY.match(key):
            out[f"trans.{m[1]}.{m[2]}"] = value
        elif m := _FCN_KEY.match(key):
            out[f"fcn.{m[1]}.{m[2]}"] = value
        else:
            raise KeyError(f"reference state dict key {key!r} has no counterpart in "
                           "IGCLReferenceEncoder (expected rgcn.layers.N.{weight,root,bias}, "
                           "trans.layers.N.<TransformerEncoderLayer key>, fcn.layers.N.{weight,bias})")
    return out


def load_dracon_state_dict(encoder: IGCLReferenceEncoder,
                           state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a reference DRACON (PyG) state dict into ``encoder``, every key and shape checked.

    Raises ``KeyError`` for keys missing on either side and ``ValueError`` naming the key
    whose shape differs (e.g. a checkpoint with a different ``fc_layers`` or width).
    """
    mapped = dracon_key_map(state_dict)
    own = encoder.state_dict()
    missing = sorted(set(own) - set(mapped))
    if missing:
        raise KeyError(f"reference state dict lacks {len(missing)} keys, first: {missing[:3]}")
    extra = sorted(set(mapped) - set(own))
    if extra:
        raise KeyError(f"reference state dict has keys this encoder lacks: {extra[:3]} "
                       "(check num_conv_layers / num_trans_layers / num_fcn_layers)")
    for key, value in mapped.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(f"{key}: reference shape {tuple(value.shape)} != encoder shape "
                             f"{tuple(own[key].shape)}")
    encoder.load_state_dict(mapped, strict=True)
