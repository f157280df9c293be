"""``TextCLIP``: the image-text contrastive baseline, with the same contract as ``GraphCLIP``.

Built by :func:`graphclr.models.create_model` for ``"model_type": "text"`` configs; its text
tower (encoder and processor) comes from :func:`graphclr.text.build_text_tower`.

Both models derive from :class:`graphclr.models.contrastive.ContrastiveModel` (the maths,
the temperature, ``encode_image``/``encode_report``/``forward``, LiT locking) and train under
the same loop (:mod:`graphclr.train`), loss (:class:`graphclr.loss.ClipLoss`), data and
budget, so that a benchmark compares only what the report side sees: a graph or text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from graphclr.models.contrastive import ContrastiveModel

__all__ = ["TextCLIP"]


class TextCLIP(ContrastiveModel):
    """An image tower and a text tower projected into one space.

    Shares :class:`graphclr.models.GraphCLIP`'s base (``visual``, ``image_proj``,
    ``logit_scale``, ``scale()``, ``lock_image_tower``) and its ``cfg``/``vocab`` attributes,
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
        >>> from graphclr.text import BagOfWordsEncoder
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
        self._init_heads(vdim, int(getattr(text, "output_dim")), int(embed_dim),
                         proj_bias=proj_bias, init_logit_scale=init_logit_scale,
                         max_logit_scale=max_logit_scale)
        self._preprocess_cfg = dict(preprocess_cfg or {})

    @property
    def preprocess_cfg(self) -> dict[str, Any]:
        return dict(self._preprocess_cfg)

    @property
    def config(self) -> dict[str, Any]:
        """The model config as a dict (what checkpoints store)."""
        return self.cfg.to_dict() if hasattr(self.cfg, "to_dict") else dict(self.cfg or {})

    def encode_text(self, batch: Any, normalize: bool = False) -> torch.Tensor:
        """``[B, embed_dim]`` text embeddings (the contract's :meth:`encode_report` under the
        text tower's name)."""
        return self.encode_report(batch, normalize=normalize)
