r"""``GraphCLIP``: an image tower and a report-graph tower projected into one space.

.. math::

    u_i = \frac{P_I\, f_I(x_i)}{\lVert P_I\, f_I(x_i) \rVert}, \qquad
    v_i = \frac{P_G\, f_G(g_i)}{\lVert P_G\, f_G(g_i) \rVert}, \qquad
    \text{logits}_{ij} = \tau\, u_i^\top v_j

with :math:`f_I` the image backbone, :math:`f_G` the graph encoder
(:class:`graphclr.nn.GraphEncoder`), bias-free linear projections :math:`P_I, P_G` into the
shared space (768-d at the reference sizes) and a learned temperature
:math:`\tau = \exp(s)`, :math:`s` initialised to :math:`\log(1/0.07)` and :math:`\tau`
clamped at 100 (CLIP). The loss lives outside the model (:class:`graphclr.loss.ClipLoss`).

The model follows graphclr's model contract (``docs/architecture.md``): ``encode_image``,
``encode_report`` (= ``encode_graph``), ``forward(image, report)``, a picklable
``report_processor`` for data loaders, and ``preprocess_cfg``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from graphclr.graphs import Vocabulary
from graphclr.models.config import ModelCfg
from graphclr.models.image import ImageEncoder
from graphclr.models.processor import GraphReportProcessor
from graphclr.nn.encoder import GraphEncoder

if TYPE_CHECKING:  # pragma: no cover
    import dgl

__all__ = ["GraphCLIP"]


class GraphCLIP(nn.Module):
    """Image-graph contrastive model (see module doc).

    Args:
        cfg: the model config (``model_type="graph"``).
        vocab: the token vocabulary (needed by the ``"tokens"`` featurizer; kept for the
            report processor and checkpoints).
        fast: the graph encoder's exact fast paths (``False``: stock DGL/PyTorch modules).
    """

    model_type = "graph"
    report_key = "graph"

    def __init__(self, cfg: ModelCfg, vocab: Vocabulary | None = None, *, fast: bool = True) -> None:
        super().__init__()
        if cfg.model_type != "graph" or cfg.graph_cfg is None:
            raise ValueError("GraphCLIP needs a graph model config (model_type='graph')")
        gcfg = cfg.graph_cfg
        if gcfg.featurizer == "tokens" and vocab is None:
            raise ValueError("this config uses the 'tokens' featurizer: pass vocab= (a "
                             "graphclr.graphs.Vocabulary built on the training graphs), or use "
                             "graph_cfg.featurizer='hashed' which needs none")
        self.cfg = cfg
        self.vocab = vocab
        self.report_processor = GraphReportProcessor(vocab, gcfg)
        text_dim = self.report_processor.span_embedder.dim if gcfg.featurizer == "text" else None
        self.visual = ImageEncoder(cfg.image_cfg)
        self.graph = GraphEncoder(gcfg, vocab_size=len(vocab) if vocab is not None else None,
                                  text_dim=text_dim, fast=fast)
        self.image_proj = nn.Linear(self.visual.output_dim, cfg.embed_dim, bias=cfg.proj_bias)
        self.graph_proj = nn.Linear(self.graph.out_dim, cfg.embed_dim, bias=cfg.proj_bias)
        for proj in (self.image_proj, self.graph_proj):
            nn.init.normal_(proj.weight, std=proj.in_features ** -0.5)
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)
        self.logit_scale = nn.Parameter(torch.tensor(float(cfg.init_logit_scale)))
        self.max_log_scale = math.log(cfg.max_logit_scale)

    # --- contract -----------------------------------------------------------------------
    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        """Image preprocessing (size, channels, mean/std, ...), saved with checkpoints."""
        return self.cfg.image_cfg.preprocess_cfg()

    def encode_image(self, images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` image embeddings."""
        feats = self.image_proj(self.visual(images))
        return F.normalize(feats, dim=-1) if normalize else feats

    def encode_graph(self, graphs: dgl.DGLGraph, normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` graph embeddings of a batch from :attr:`report_processor`."""
        feats = self.graph_proj(self.graph(graphs))
        return F.normalize(feats, dim=-1) if normalize else feats

    def encode_report(self, batch: dgl.DGLGraph, normalize: bool = False) -> torch.Tensor:
        """Same as :meth:`encode_graph` (the contract shared with text models)."""
        return self.encode_graph(batch, normalize=normalize)

    def scale(self) -> torch.Tensor:
        """The temperature :math:`\\tau = \\exp(s)`, clamped at ``max_logit_scale``."""
        return self.logit_scale.clamp(max=self.max_log_scale).exp()

    def forward(self, image: torch.Tensor | None, report: dgl.DGLGraph | None) -> dict[str, torch.Tensor]:
        """Normalised features of both towers and the temperature.

        Either input may be ``None`` (its features are then absent from the result).
        """
        out: dict[str, torch.Tensor] = {"logit_scale": self.scale()}
        if image is not None:
            out["image_features"] = self.encode_image(image, normalize=True)
        if report is not None:
            feats = self.encode_graph(report, normalize=True)
            out["report_features"] = feats
            out["graph_features"] = feats
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
        children = list(self.visual.backbone.children())
        locked = children[: len(children) - unlocked_groups] if unlocked_groups else children
        for child in locked:
            for p in child.parameters():
                p.requires_grad_(False)
        self._frozen_bn = [m for c in locked for m in c.modules()
                           if isinstance(m, nn.modules.batchnorm._BatchNorm)] if freeze_bn_stats else []
        self.train(self.training)

    def train(self, mode: bool = True) -> GraphCLIP:
        super().train(mode)
        for m in getattr(self, "_frozen_bn", []):
            m.eval()
        return self
