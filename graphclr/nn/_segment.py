"""Scatter helpers over unsorted segment ids (components, graphs), batched in torch.

Component ids from :func:`graphclr.graphs.to_homogeneous` are unique over the batch but
not contiguous in node order (each report lists its anatomy nodes before its observation
nodes), so these helpers take an index per row rather than segment lengths. All work on
the whole batch at once; none loops over graphs in Python.
"""

from __future__ import annotations

import torch

__all__ = ["segment_sum", "segment_mean", "segment_max", "segment_softmax", "rank_in_segment"]


def segment_sum(x: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """``out[s] = sum(x[i] for i with index[i] == s)``; empty segments give 0."""
    out = x.new_zeros((num_segments, *x.shape[1:]))
    return out.index_add_(0, index, x)


def segment_mean(x: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean per segment; empty segments give 0 (never NaN)."""
    total = segment_sum(x, index, num_segments)
    count = torch.bincount(index, minlength=num_segments).clamp_(min=1).to(x.dtype)
    return total / count.view(-1, *([1] * (x.dim() - 1)))


def segment_max(x: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Max per segment (no gradient needed: used to stabilise softmax); empty gives -inf."""
    out = x.new_full((num_segments, *x.shape[1:]), float("-inf"))
    idx = index.view(-1, *([1] * (x.dim() - 1))).expand_as(x)
    return out.scatter_reduce(0, idx, x, reduce="amax", include_self=True)


def segment_softmax(scores: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    r"""Softmax of ``scores`` within each segment.

    .. math:: \alpha_i = \frac{\exp(s_i - m_{g(i)})}{\sum_{j: g(j) = g(i)} \exp(s_j - m_{g(i)})}

    with :math:`m_g` the segment maximum (detached; it cancels out mathematically).
    ``scores`` is ``[N]`` or ``[N, H]`` (one softmax per column).
    """
    m = segment_max(scores.detach(), index, num_segments)
    e = torch.exp(scores - m.index_select(0, index))
    denom = segment_sum(e, index, num_segments)
    return e / denom.index_select(0, index)


def rank_in_segment(index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Position of each row within its segment, in row order (``index`` need not be sorted).

    Examples:
        >>> rank_in_segment(torch.tensor([1, 0, 1, 1, 0]), 2).tolist()
        [0, 0, 1, 2, 1]
    """
    order = torch.argsort(index, stable=True)
    counts = torch.bincount(index, minlength=num_segments)
    start = torch.cumsum(counts, 0) - counts
    ranks = torch.empty_like(index)
    ranks[order] = torch.arange(index.numel(), device=index.device) - start[index[order]]
    return ranks
