"""Contrastive models: ``GraphCLIP``, image backbones and towers, the factory, checkpoints.

Public API (open_clip-shaped)::

    from graphclr.models import create_model_and_transforms, list_models
    model, train_tf, eval_tf = create_model_and_transforms("graphclr-resnet50", vocab=vocab)

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
from graphclr.models.config import ModelCfg, deep_merge
from graphclr.models.factory import (
    CHECKPOINT_FORMAT,
    add_model_config,
    create_model,
    create_model_and_transforms,
    get_model_config,
    list_models,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
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

__all__ = [
    "ContrastiveModel",
    "BackboneSpec", "build_backbone", "list_backbones", "load_backbone_weights",
    "register_backbone", "GraphCLIP", "ModelCfg", "deep_merge", "CHECKPOINT_FORMAT",
    "add_model_config", "create_model", "create_model_and_transforms", "get_model_config",
    "list_models", "load_checkpoint", "load_model", "save_checkpoint", "ImageEncoder",
    "ImageEncoderCfg", "ImageTransform", "create_image_encoder", "image_transform",
    "to_gray_tensor", "GraphReportProcessor", "GraphEncoderCfg",
]
