r"""A transformer over each graph's component vectors, read out at a learned [GRAPH] token.

Graph :math:`g` with pooled components :math:`z_1..z_{C_g}` (from
:class:`~graphclr.nn.pooling.ComponentAttentionPooling`) becomes the sequence
:math:`(t, z_1, \dots, z_{C_g})`, where :math:`t` is a learned [GRAPH] token. Standard
transformer encoder layers (``torch.nn.TransformerEncoderLayer``: multi-head
self-attention and a ReLU feed-forward block, post-LayerNorm as in the reference code)
run over it with a key-padding mask, without positional encodings, so the result does
not depend on the order of components. The graph embedding is the [GRAPH] token's output.
A graph with no entities is the sequence :math:`(t)` alone and still gets a finite
embedding.

Only the [GRAPH] position of the last layer is read, so that layer is computed for that
query alone, exactly. For one head :math:`h` with query :math:`q_h = W^Q_h t / \sqrt{d_h}`:

.. math::

    s_{hj} = q_h^\top (W^K_h x_j + b^K_h) = (W^{K\top}_h q_h)^\top x_j + q_h^\top b^K_h,
    \qquad
    \sum_j \alpha_{hj} (W^V_h x_j + b^V_h) = W^V_h \Big(\sum_j \alpha_{hj} x_j\Big) + b^V_h

so keys and values are never projected per component: the last layer costs
:math:`O(C\,H\,d)` for the components (two batched products over the padded
sequences) plus :math:`O(d^2)` per graph, instead of :math:`O(C\,d^2)` for every position. Earlier layers (if ``num_layers > 1``) run in full
on padded sequences. ``cls_only=False`` runs the last layer in full too; the tests check
that both give ``torch.nn.TransformerEncoder``'s output.

Examples:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> enc = ComponentTransformer(dim=16, num_heads=2, ff_dim=32).eval()
    >>> comps = torch.randn(3, 16)
    >>> graph_of_comp = torch.tensor([0, 0, 2])   # graph 1 has no components
    >>> out = enc(comps, graph_of_comp, batch_size=3)
    >>> out.shape, bool(torch.isfinite(out).all())
    (torch.Size([3, 16]), True)
    >>> torch.allclose(out, enc(comps, graph_of_comp, 3, cls_only=False), atol=1e-5)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphclr.nn._segment import rank_in_segment

__all__ = ["ComponentTransformer", "pad_by_segment"]


def pad_by_segment(x: torch.Tensor, segment: torch.Tensor, num_segments: int, *,
                   lead: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scatter rows into ``[num_segments, 1 + max_len, D]`` (position 0 = ``lead`` rows).

    Returns the padded tensor, the key-padding mask (``True`` = padding) and each row's
    position, so :func:`unpad` can take the rows back.
    """
    counts = torch.bincount(segment, minlength=num_segments)
    width = 1 + (int(counts.max()) if segment.numel() else 0)
    pos = 1 + rank_in_segment(segment, num_segments)
    out = x.new_zeros((num_segments, width, x.shape[-1]))
    if lead is not None:
        out[:, 0] = lead
    out[segment, pos] = x
    mask = torch.arange(width, device=x.device).unsqueeze(0) > counts.unsqueeze(1)
    return out, mask, pos


class ComponentTransformer(nn.Module):
    """Transformer over component vectors with a learned [GRAPH] token (see module doc).

    Args:
        dim: model width (the component vectors' width).
        num_heads: attention heads (the reference: 2).
        ff_dim: feed-forward width (the reference: 1024).
        num_layers: encoder layers (the reference: 1).
        dropout: dropout of attention weights and residual branches (the reference: 0.1).
        norm_first: pre-LayerNorm instead of post-LayerNorm.
    """

    def __init__(self, dim: int, num_heads: int = 2, ff_dim: int = 1024, num_layers: int = 1,
                 dropout: float = 0.1, norm_first: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} is not divisible by num_heads={num_heads}")
        if num_layers < 1:
            raise ValueError("num_layers must be >= 1")
        self.out_dim = dim
        self.num_heads = num_heads
        self.graph_token = nn.Parameter(torch.randn(dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, num_heads, ff_dim, dropout, activation="relu",
                                       batch_first=True, norm_first=norm_first)
            for _ in range(num_layers))

    def forward(self, components: torch.Tensor, graph_of_component: torch.Tensor,
                batch_size: int, *, cls_only: bool = True, read: str = "token") -> torch.Tensor:
        """``[batch_size, dim]`` graph embeddings from ``[C, dim]`` component vectors.

        ``graph_of_component`` gives each component's graph (``0..batch_size-1``);
        graphs with no component still get an embedding. ``read="token"`` reads the
        [GRAPH] position; ``read="mean"`` the mean of every position's output ([GRAPH]
        and components; the last layer then runs in full).
        """
        if read not in ("token", "mean"):
            raise ValueError(f"read must be 'token' or 'mean', got {read!r}")
        cls = self.graph_token.unsqueeze(0).expand(batch_size, -1)
        comps = components
        cls_only = cls_only and read == "token"
        n_full = len(self.layers) - 1 if cls_only else len(self.layers)
        for layer in list(self.layers)[:n_full]:
            padded, mask, pos = pad_by_segment(comps, graph_of_component, batch_size, lead=cls)
            padded = layer(padded, src_key_padding_mask=mask)
            cls = padded[:, 0]
            comps = padded[graph_of_component, pos]
        if read == "mean":
            count = torch.bincount(graph_of_component, minlength=batch_size).to(cls.dtype)
            total = cls + cls.new_zeros(cls.shape).index_add_(0, graph_of_component, comps)
            return total / (1 + count).unsqueeze(1)
        if not cls_only:
            return cls
        return self._cls_layer(self.layers[-1], cls, comps, graph_of_component, batch_size)

    def _cls_layer(self, layer: nn.TransformerEncoderLayer, cls: torch.Tensor, comps: torch.Tensor,
                   graph_of_component: torch.Tensor, batch_size: int) -> torch.Tensor:
        """``layer``'s output at the [GRAPH] position only (exact; see module doc)."""
        attn = layer.self_attn
        dim, heads = self.out_dim, self.num_heads
        dh = dim // heads
        w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
        b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
        if layer.norm_first:
            cls_in, comps_in = layer.norm1(cls), layer.norm1(comps)
        else:
            cls_in, comps_in = cls, comps
        keys, mask, _ = pad_by_segment(comps_in, graph_of_component, batch_size, lead=cls_in)
        q = F.linear(cls_in, w_q, b_q).view(batch_size, heads, dh) * dh ** -0.5
        qk = torch.einsum("bhd,hdD->bhD", q, w_k.view(heads, dh, dim))    # W_K^T q
        qb = (q * b_k.view(heads, dh)).sum(-1)                               # q . b_K
        scores = torch.bmm(keys, qk.transpose(1, 2)) + qb.unsqueeze(1)       # [B, T, H]
        scores = scores.masked_fill(mask.unsqueeze(-1), float("-inf"))
        alpha = F.dropout(torch.softmax(scores, dim=1), attn.dropout, self.training)
        mixed = torch.bmm(alpha.transpose(1, 2), keys)                        # [B, H, D]
        heads_out = (torch.einsum("bhD,hdD->bhd", mixed, w_v.view(heads, dh, dim))
                     + alpha.sum(1).unsqueeze(-1) * b_v.view(heads, dh))
        sa = attn.out_proj(heads_out.reshape(batch_size, dim))
        ff = lambda x: layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))  # noqa: E731
        if layer.norm_first:
            x = cls + layer.dropout1(sa)
            return x + layer.dropout2(ff(layer.norm2(x)))
        x = layer.norm1(cls + layer.dropout1(sa))
        return layer.norm2(x + layer.dropout2(ff(x)))
