"""``TextCLIP``: the image-text contrastive baseline, with the same contract as ``GraphCLIP``.

Both models pair one image tower with one report tower and train under the same loop
(:mod:`graphclr.train`), loss (:class:`graphclr.loss.ClipLoss`), data and budget, so that a
benchmark compares only what the report side sees: a graph or text.

.. math::
    u = \\frac{W_I f(x)}{\\lVert W_I f(x) \\rVert},\\quad
    v = \\frac{W_T g(t)}{\\lVert W_T g(t) \\rVert},\\quad
    \\text{logits} = e^{\\tau}\\, u v^\\top,\\ e^{\\tau} \\le 100

with bias-free projections :math:`W_I, W_T` into the shared ``embed_dim`` space and a
learnable temperature initialised at :math:`\\tau = \\log(1/0.07)` (CLIP, and the reference
implementation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["TextCLIP"]


class TextCLIP(nn.Module):
    """An image tower and a text tower projected into one space.

    Args:
        visual: the image tower (maps ``[B, C, H, W]`` to ``[B, visual_dim]``); the same
            one ``GraphCLIP`` uses, built from the same config.
        text: a text encoder from :mod:`graphclr.text.encoders` (has ``output_dim``).
        processor: the picklable ``report_processor`` turning a list of reports (text or
            ``ReportGraph``) into ``text``'s input batch.
        embed_dim: the shared embedding size.
        visual_dim: ``visual``'s output size (default ``visual.output_dim``).
        preprocess_cfg: the image preprocessing (size, mean/std, channels) saved with
            checkpoints; the transforms come from it.
        config: the model config this was built from (saved in checkpoints).
        init_logit_scale: initial :math:`\\tau`.
        image_projection: ``False`` when ``visual`` already ends in the shared space.

    Examples:
        >>> from graphclr.text.encoders import BagOfWordsEncoder
        >>> visual = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))
        >>> m = TextCLIP(visual, BagOfWordsEncoder(10, 8, 8), processor=lambda r: torch.rand(len(r), 10),
        ...              embed_dim=4, visual_dim=16)
        >>> out = m(torch.rand(2, 3, 8, 8), m.report_processor(["a", "b"]))
        >>> sorted(out), out["image_features"].shape
        (['image_features', 'logit_scale', 'report_features'], torch.Size([2, 4]))
    """

    #: the report form this model's ``report_processor`` takes (graph models take graphs)
    report_input = "text"

    def __init__(self, visual: nn.Module, text: nn.Module, *, processor: Callable[[list[Any]], Any],
                 embed_dim: int, visual_dim: int | None = None,
                 preprocess_cfg: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
                 init_logit_scale: float = math.log(1 / 0.07), image_projection: bool = True) -> None:
        super().__init__()
        self.visual = visual
        self.text = text
        self._processor = processor
        vdim = int(visual_dim if visual_dim is not None else getattr(visual, "output_dim"))
        tdim = int(getattr(text, "output_dim"))
        self.embed_dim = int(embed_dim)
        self.image_projection = nn.Linear(vdim, embed_dim, bias=False) if image_projection else nn.Identity()
        self.text_projection = nn.Linear(tdim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self._preprocess_cfg = dict(preprocess_cfg or {})
        self.config = dict(config or {})
        for proj, dim in ((self.image_projection, vdim), (self.text_projection, tdim)):
            if isinstance(proj, nn.Linear):
                nn.init.normal_(proj.weight, std=dim ** -0.5)

    # --- the contract -------------------------------------------------------------------
    @property
    def report_processor(self) -> Callable[[list[Any]], Any]:
        return self._processor

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        return dict(self._preprocess_cfg)

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        x = self.image_projection(self.visual(images))
        return nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_text(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        x = self.text_projection(self.text(batch))
        return nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_report(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        """Same as :meth:`encode_text` (the contract's name for the report tower)."""
        return self.encode_text(batch, normalize=normalize)

    def forward(self, image: torch.Tensor | None = None, report: Any = None) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {"logit_scale": self.logit_scale.exp().clamp(max=100.0)}
        if image is not None:
            out["image_features"] = self.encode_image(image, normalize=True)
        if report is not None:
            out["report_features"] = self.encode_text(report, normalize=True)
        return out

    def lock_image_tower(self, locked: bool = True) -> None:
        """Freeze (or unfreeze) the image tower, for LiT-style warm-up."""
        for p in self.visual.parameters():
            p.requires_grad_(not locked)
