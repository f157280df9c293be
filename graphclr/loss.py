r"""The symmetric contrastive (InfoNCE / CLIP) loss, distributed-aware.

For :math:`N` pairs with L2-normalised image features :math:`u_i`, report features
:math:`v_i` and temperature :math:`\tau`:

.. math::

    \ell = \frac{1}{2N} \sum_{i=1}^{N} \Big[
        -\log \frac{e^{\tau u_i^\top v_i}}{\sum_j e^{\tau u_i^\top v_j}}
        -\log \frac{e^{\tau u_i^\top v_i}}{\sum_j e^{\tau u_j^\top v_i}} \Big]

i.e. the mean of the image->report and report->image cross-entropies with the matching
pair as the target.

Under ``torch.distributed`` every rank all-gathers the features of every other rank, so
the negatives come from the *global* batch and every rank computes the same loss as one
process holding the whole batch would. The gathered copies carry no gradient; the rank's
own slice is the original tensor, so gradients flow into the local samples. DDP then
*averages* gradients over ranks, so the trainer multiplies this loss by the world size
before ``backward`` (:func:`graphclr.train`) to get exactly the single-process gradient.
Ranks may hold different batch sizes (the gather pads and trims).

Examples:
    >>> import torch
    >>> u = torch.eye(3)
    >>> loss = ClipLoss()(u, u, torch.tensor(1.0))
    >>> round(float(loss), 4)   # -log(e / (e + 2))
    0.5514
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ClipLoss", "gather_features"]


def _dist_ready() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_features(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank in rank order; the local slice keeps its gradient."""
    import torch.distributed as dist

    world, rank = dist.get_world_size(), dist.get_rank()
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    counts = [int(s.item()) for s in sizes]
    top = max(counts)
    padded = x.detach()
    if x.shape[0] < top:
        padded = torch.cat([padded, padded.new_zeros((top - x.shape[0], *x.shape[1:]))])
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    pieces = [p[:c] for p, c in zip(parts, counts)]
    pieces[rank] = x
    return torch.cat(pieces)


class ClipLoss(nn.Module):
    """Symmetric InfoNCE over the (global) batch (see module doc).

    Args:
        gather: all-gather features across ranks; ``None`` = whenever torch.distributed is
            initialised with more than one rank.
    """

    def __init__(self, gather: bool | None = None) -> None:
        super().__init__()
        self.gather = gather

    def logits(self, image_features: torch.Tensor, report_features: torch.Tensor,
               logit_scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits_per_image, logits_per_report)``, global when gathering."""
        gather = _dist_ready() if self.gather is None else self.gather
        if gather:
            image_features = gather_features(image_features)
            report_features = gather_features(report_features)
        logits_per_image = logit_scale * image_features @ report_features.t()
        return logits_per_image, logits_per_image.t()

    def forward(self, image_features: torch.Tensor, report_features: torch.Tensor,
                logit_scale: torch.Tensor | float) -> torch.Tensor:
        if image_features.shape != report_features.shape:
            raise ValueError(f"image and report features differ in shape: "
                             f"{tuple(image_features.shape)} vs {tuple(report_features.shape)}")
        per_image, per_report = self.logits(image_features, report_features, logit_scale)
        labels = torch.arange(per_image.shape[0], device=per_image.device)
        return (F.cross_entropy(per_image, labels) + F.cross_entropy(per_report, labels)) / 2
