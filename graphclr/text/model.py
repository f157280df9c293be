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

    Mirrors :class:`graphclr.models.GraphCLIP` attribute for attribute (``visual``,
    ``image_proj``, ``logit_scale``, ``scale()``, ``lock_image_tower``, ``cfg``, ``vocab``),
    so the training loop, checkpoints (:func:`graphclr.models.save_checkpoint`) and the
    evaluation treat both alike.

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
        cfg: the model config (a ``graphclr.models.config.ModelCfg`` or a dict) saved with
            checkpoints; with the word vocabulary in ``text_cfg`` it rebuilds the model.
        vocab: the word vocabulary (from-scratch encoders), also saved with checkpoints.
        init_logit_scale: initial :math:`\\tau`.
        max_logit_scale: clamp of :math:`e^{\\tau}`.
        proj_bias: give the projections a bias (the reference's have none).

    Examples:
        >>> from graphclr.text.encoders import BagOfWordsEncoder
        >>> visual = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))
        >>> m = TextCLIP(visual, BagOfWordsEncoder(10, 8, 8), processor=lambda r: torch.rand(len(r), 10),
        ...              embed_dim=4, visual_dim=16)
        >>> out = m(torch.rand(2, 3, 8, 8), m.report_processor(["a", "b"]))
        >>> sorted(out), out["image_features"].shape
        (['image_features', 'logit_scale', 'report_features', 'text_features'], torch.Size([2, 4]))
    """

    model_type = "text"
    #: the dataset item field this model's ``report_processor`` takes (graph models: "graph")
    report_key = "text"

    def __init__(self, visual: nn.Module, text: nn.Module, *, processor: Callable[[list[Any]], Any],
                 embed_dim: int, visual_dim: int | None = None,
                 preprocess_cfg: Mapping[str, Any] | None = None, cfg: Any = None, vocab: Any = None,
                 init_logit_scale: float = math.log(1 / 0.07), max_logit_scale: float = 100.0,
                 proj_bias: bool = False) -> None:
        super().__init__()
        self.visual = visual
        self.text = text
        self.report_processor = processor
        self.cfg = cfg
        self.vocab = vocab
        vdim = int(visual_dim if visual_dim is not None else getattr(visual, "output_dim"))
        tdim = int(getattr(text, "output_dim"))
        self._embed_dim = int(embed_dim)
        self.image_proj = nn.Linear(vdim, embed_dim, bias=proj_bias)
        self.text_proj = nn.Linear(tdim, embed_dim, bias=proj_bias)
        for proj in (self.image_proj, self.text_proj):
            nn.init.normal_(proj.weight, std=proj.in_features ** -0.5)
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self.max_log_scale = math.log(max_logit_scale)
        self._preprocess_cfg = dict(preprocess_cfg or {})

    # --- the contract -------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        return self._embed_dim

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        return dict(self._preprocess_cfg)

    @property
    def config(self) -> dict[str, Any]:
        """The model config as a dict (what checkpoints store)."""
        return self.cfg.to_dict() if hasattr(self.cfg, "to_dict") else dict(self.cfg or {})

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        x = self.image_proj(self.visual(images))
        return nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_text(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        x = self.text_proj(self.text(batch))
        return nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_report(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        """Same as :meth:`encode_text` (the contract's name for the report tower)."""
        return self.encode_text(batch, normalize=normalize)

    def scale(self) -> torch.Tensor:
        """The temperature :math:`e^{\\tau}`, clamped at ``max_logit_scale``."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, image: torch.Tensor | None = None, report: Any = None) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {"logit_scale": self.scale()}
        if image is not None:
            out["image_features"] = self.encode_image(image, normalize=True)
        if report is not None:
            feats = self.encode_text(report, normalize=True)
            out["report_features"] = feats
            out["text_features"] = feats
        return out

    def image_parameters(self) -> list[nn.Parameter]:
        """The image tower's parameters (backbone and projection)."""
        return list(self.visual.parameters()) + list(self.image_proj.parameters())

    def lock_image_tower(self, unlocked_groups: int = 0, freeze_bn_stats: bool = True) -> None:
        """Freeze the image backbone (LiT), as ``GraphCLIP.lock_image_tower`` does."""
        backbone = getattr(self.visual, "backbone", self.visual)
        children = list(backbone.children()) or [backbone]
        locked = children[: len(children) - unlocked_groups] if unlocked_groups else children
        for child in locked:
            for p in child.parameters():
                p.requires_grad_(False)
        self._frozen_bn = [m for c in locked for m in c.modules()
                           if isinstance(m, nn.modules.batchnorm._BatchNorm)] if freeze_bn_stats else []
        self.train(self.training)

    def train(self, mode: bool = True) -> TextCLIP:
        super().train(mode)
        for m in getattr(self, "_frozen_bn", []):
            m.eval()
        return self
