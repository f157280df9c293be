"""Contrastive models: ``GraphCLIP`` and ``TextCLIP``, image backbones and towers, the one
registry (:mod:`~graphclr.models.registry`) and factory (:mod:`~graphclr.models.factory`)
for graph and text models alike, checkpoints (:mod:`~graphclr.models.checkpoint`).

Public API (open_clip-shaped, also at the top level: ``graphclr.create_model``, ...)::

    from graphclr.models import create_model_and_transforms, create_model_for, list_models
    model, train_tf, eval_tf = create_model_and_transforms("graphclr-resnet50", vocab=vocab)
    model = create_model_for(dataset, "text-transformer", overrides={"image_cfg": ...})

This package imports :mod:`graphclr.text` (the text towers); ``graphclr.text`` never
imports it.

Importing this package imports torch and DGL.
"""

from graphclr.models.backbones import (
    BackboneSpec,
    build_backbone,
    list_backbones,
    load_backbone_weights,
    register_backbone,
)
from graphclr.models.graph_clip import GraphCLIP
from graphclr.models.contrastive import ContrastiveModel
from graphclr.models.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from graphclr.models.config import ModelCfg, deep_merge
from graphclr.models.factory import (
    build_text_model,
    create_model,
    create_model_and_transforms,
    create_model_for,
    load_model,
)
from graphclr.models.raw_reports import ReportProcessor, get_report_processor
from graphclr.models.registry import add_model_config, get_model_config, list_models, resolve_model_config
from graphclr.models.text_clip import TextCLIP
from graphclr.models.image import (
    ImageEncoder,
    ImageEncoderCfg,
    ImageTransform,
    create_image_encoder,
    image_transform,
    to_gray_tensor,
)
from graphclr.models.processor import GraphReportProcessor
from graphclr.nn.encoder import GraphEncoderCfg
from graphclr.text.tower import TextTowerCfg

__all__ = [
    "ContrastiveModel",
    "BackboneSpec", "build_backbone", "list_backbones", "load_backbone_weights",
    "register_backbone", "GraphCLIP", "ModelCfg", "deep_merge", "CHECKPOINT_FORMAT",
    "add_model_config", "build_text_model", "create_model", "create_model_and_transforms",
    "create_model_for", "get_model_config", "list_models", "load_checkpoint", "load_model",
    "resolve_model_config", "save_checkpoint", "ImageEncoder", "ImageEncoderCfg",
    "ImageTransform", "create_image_encoder", "image_transform", "to_gray_tensor",
    "GraphReportProcessor", "GraphEncoderCfg", "TextCLIP", "TextTowerCfg",
    "ReportProcessor", "get_report_processor",
]
