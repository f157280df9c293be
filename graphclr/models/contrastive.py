r"""What every graphclr contrastive model shares: an image tower and a report tower,
each with a linear projection into one space, and a learned temperature.

.. math::

    u_i = \frac{P_I\, f_I(x_i)}{\lVert P_I\, f_I(x_i) \rVert}, \qquad
    v_i = \frac{P_R\, f_R(r_i)}{\lVert P_R\, f_R(r_i) \rVert}, \qquad
    \text{logits}_{ij} = \tau\, u_i^\top v_j

with :math:`f_I` the image backbone, :math:`f_R` the report tower (a graph encoder in
:class:`graphclr.models.GraphCLIP`, a text encoder in :class:`graphclr.models.TextCLIP`),
projections :math:`P_I, P_R` (bias-free by default, as in the reference implementation) and
:math:`\tau = \exp(s)`, :math:`s` initialised to :math:`\log(1/0.07)`, :math:`\tau`
clamped at 100 (CLIP). The loss lives outside the model (:class:`graphclr.loss.ClipLoss`).

Subclasses register the report tower under the attribute named by ``report_key`` and its
projection under ``<report_key>_proj``, so the state-dict keys say which tower is which.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ContrastiveModel"]


class ContrastiveModel(nn.Module):
    """Base of the image-report models: the contract of ``docs/architecture.md``.

    Subclasses set ``model_type``, ``report_key`` (the dataset item field their
    ``report_processor`` reads: ``"graph"`` or ``"text"``), build ``self.visual`` and the
    report tower, then call :meth:`_init_heads`.
    """

    model_type: str = ""
    report_key: str = ""

    def _init_heads(self, visual_dim: int, report_dim: int, embed_dim: int, *, proj_bias: bool,
                    init_logit_scale: float, max_logit_scale: float) -> None:
        self.image_proj = nn.Linear(visual_dim, embed_dim, bias=proj_bias)
        setattr(self, f"{self.report_key}_proj", nn.Linear(report_dim, embed_dim, bias=proj_bias))
        for proj in (self.image_proj, self.report_proj):
            nn.init.normal_(proj.weight, std=proj.in_features ** -0.5)
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)
        self.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
        self.max_log_scale = math.log(max_logit_scale)

    @property
    def report_tower(self) -> nn.Module:
        return getattr(self, self.report_key)

    @property
    def report_proj(self) -> nn.Linear:
        return getattr(self, f"{self.report_key}_proj")

    @property
    def embed_dim(self) -> int:
        return self.image_proj.out_features

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` image embeddings."""
        feats = self.image_proj(self.visual(images))
        return F.normalize(feats, dim=-1) if normalize else feats

    def encode_report(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` report embeddings of a batch from ``report_processor``."""
        feats = self.report_proj(self.report_tower(batch))
        return F.normalize(feats, dim=-1) if normalize else feats

    def scale(self) -> torch.Tensor:
        """The temperature :math:`\\tau = \\exp(s)`, clamped at the configured maximum."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, image: torch.Tensor | None = None, report: Any = None) -> dict[str, torch.Tensor]:
        """Normalised features of both towers and the temperature.

        Either input may be ``None`` (its features are then absent from the result). The
        report features appear as ``report_features`` and under the tower's own name
        (``graph_features`` / ``text_features``).
        """
        out: dict[str, torch.Tensor] = {"logit_scale": self.scale()}
        if image is not None:
            out["image_features"] = self.encode_image(image, normalize=True)
        if report is not None:
            feats = self.encode_report(report, normalize=True)
            out["report_features"] = feats
            out[f"{self.report_key}_features"] = feats
        return out

    def image_parameters(self) -> list[nn.Parameter]:
        """The image tower's parameters (backbone and projection)."""
        return list(self.visual.parameters()) + list(self.image_proj.parameters())

    def lock_image_tower(self, unlocked_groups: int = 0, freeze_bn_stats: bool = True) -> None:
        """Freeze the image backbone (LiT); its projection stays trainable.

        Args:
            unlocked_groups: leave the last N top-level children of the backbone trainable.
            freeze_bn_stats: also keep BatchNorm statistics fixed (eval mode, kept by
                :meth:`train`).
        """
        backbone = getattr(self.visual, "backbone", self.visual)
        children = list(backbone.children()) or [backbone]
        locked = children[: len(children) - unlocked_groups] if unlocked_groups else children
        for child in locked:
            for p in child.parameters():
                p.requires_grad_(False)
        self._frozen_bn = [m for c in locked for m in c.modules()
                           if isinstance(m, nn.modules.batchnorm._BatchNorm)] if freeze_bn_stats else []
        self.train(self.training)

    def train(self, mode: bool = True) -> ContrastiveModel:
        super().train(mode)
        for m in getattr(self, "_frozen_bn", []):
            m.eval()
        return self
