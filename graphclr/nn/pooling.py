r"""Gated attention pooling of each weakly connected component into one vector.

A report graph is usually several disconnected pieces ("small left effusion",
"no pneumothorax", "heart size normal", ...). Each component :math:`C` of each graph is
pooled separately by gated attention (Ilse et al., 2018, attention-based MIL):

.. math::

    a_v = w^\top \big(\tanh(V h_v) \odot \sigma(U h_v)\big), \qquad
    \alpha_v = \frac{\exp a_v}{\sum_{u \in C} \exp a_u}, \qquad
    z_C = \sum_{v \in C} \alpha_v h_v

(``gate="gated"``), or with the plain gate :math:`a_v = w^\top h_v`
(``gate="linear"``, DGL's ``GlobalAttentionPooling``).

``readout="attention+mean"`` (graphclr's default since issue 10) adds the component's
mean, so that every node keeps a share of at least :math:`1/|C|`:

.. math::

    z_C = \sum_{v \in C} \alpha_v h_v + \frac{1}{|C|} \sum_{v \in C} h_v

Why: the side of a finding ("left" in "left pleural effusion") is a small part of what
a component's nodes share, and a readout that lets the gate weigh it down keeps less of it;
with the mean term the effusion-side zero-shot AUROC of the default benchmark rose from
0.77 to 0.86 (3 seeds; ``benchmarks/results/readout_ablation.md``). The mean term has no
parameters, so checkpoints of the attention-only readout (``readout="attention"``) load
unchanged.

The softmax runs within each component; the whole batch is pooled at once with scatter operations over
``ndata["component_id"]`` (batch-unique ids from :func:`graphclr.graphs.to_homogeneous`),
with no loop over graphs. Pooling is invariant to the order of nodes.

Examples:
    >>> import torch
    >>> pool = ComponentAttentionPooling(4, hidden=8)
    >>> h = torch.randn(5, 4)
    >>> comp = torch.tensor([0, 1, 0, 2, 1])
    >>> pool(h, comp, num_components=3).shape
    torch.Size([3, 4])
    >>> torch.allclose(pool(h[[2, 0]], torch.tensor([0, 0]), 1), pool(h, comp, 3)[:1])
    True
    >>> both = ComponentAttentionPooling(4, hidden=8, readout="attention+mean")
    >>> both.load_state_dict(pool.state_dict())   # the same parameters
    <All keys matched successfully>
    >>> mean = (h[0] + h[2]) / 2
    >>> torch.allclose(both(h, comp, 3)[0], pool(h, comp, 3)[0] + mean, atol=1e-6)
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graphclr.nn._segment import segment_mean, segment_softmax, segment_sum

__all__ = ["ComponentAttentionPooling", "READOUTS"]

READOUTS = ("attention", "attention+mean")


class ComponentAttentionPooling(nn.Module):
    """Gated attention pooling per component (see module doc).

    Args:
        dim: node feature width (the output has the same width).
        hidden: width of the gate's hidden layer (``gate="gated"``).
        gate: ``"gated"`` (tanh x sigmoid, Ilse et al.) or ``"linear"``.
        readout: ``"attention"`` (the attention sum only) or ``"attention+mean"`` (plus the
            component mean; no extra parameters).
    """

    def __init__(self, dim: int, hidden: int = 128, gate: str = "gated",
                 readout: str = "attention") -> None:
        super().__init__()
        if gate not in ("gated", "linear"):
            raise ValueError(f"gate must be 'gated' or 'linear', got {gate!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        self.gate_kind = gate
        self.readout = readout
        self.out_dim = dim
        if gate == "gated":
            # V and U in one product: [tanh | sigmoid] halves
            self.vu = nn.Linear(dim, 2 * hidden)
            self.w = nn.Linear(hidden, 1, bias=False)
        else:
            self.w = nn.Linear(dim, 1, bias=False)   # a bias would cancel in the softmax

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Unnormalised attention scores :math:`a_v`, ``[N]``."""
        if self.gate_kind == "gated":
            v, u = self.vu(h).chunk(2, dim=-1)
            return self.w(torch.tanh(v) * torch.sigmoid(u)).squeeze(-1)
        return self.w(h).squeeze(-1)

    def forward(self, h: torch.Tensor | Any, component: torch.Tensor, num_components: int,
                *, return_attention: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Pool ``h [N, D]`` into ``[num_components, D]``; components without nodes give 0.

        ``h`` may also be a :class:`~graphclr.nn.rgcn.UniqueRows` (states stored once per
        distinct computation tree): the gate then scores the distinct rows only.
        With ``return_attention=True`` also return each node's weight :math:`\\alpha_v`.
        """
        if hasattr(h, "labels"):
            scores = self.scores(h.table).index_select(0, h.labels)
            h = h.full()
        else:
            scores = self.scores(h)
        # the softmax runs in float32 even under autocast (bf16 exponentials are coarse)
        alpha = segment_softmax(scores.float(), component, num_components)
        pooled = segment_sum(h * alpha.unsqueeze(-1).to(h.dtype), component, num_components)
        if self.readout == "attention+mean":
            pooled = pooled + segment_mean(h, component, num_components)
        return (pooled, alpha) if return_attention else pooled
