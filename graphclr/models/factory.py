"""The one model factory (open_clip-style), for graph and text towers alike.

* :func:`create_model` builds a model from a registered name (:mod:`graphclr.models.registry`),
  a JSON path, a dict or a :class:`~graphclr.models.config.ModelCfg`: the image tower, the
  report tower (a graph encoder in :class:`~graphclr.models.GraphCLIP`, a text tower from
  :func:`graphclr.text.build_text_tower` in :class:`~graphclr.models.text_clip.TextCLIP`,
  the analogue of open_clip's ``_build_text_tower``), projections and temperature.
  ``pretrained=`` loads a graphclr checkpoint (its config and vocabulary are used when you
  give none).
* :func:`create_model_for` first builds what the model needs from a dataset: the token
  vocabulary of a graph model with the ``tokens`` featurizer (the ``hashed`` and ``text``
  featurizers need none), the word vocabulary / TF-IDF weights of a from-scratch text
  model. The CLI, the benchmark runner and the tutorials build models through it.
* :func:`create_model_and_transforms` also returns the train and eval image transforms
  that match the model's ``preprocess_cfg``; :func:`load_model` rebuilds a checkpoint.

Examples:
    >>> from graphclr.graphs import Vocabulary
    >>> m = create_model("tiny", vocab=Vocabulary.build([["effusion"]]))
    >>> m.embed_dim, m.preprocess_cfg["image_size"], m.model_name
    (32, 32, 'tiny')
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphclr.graphs import Vocabulary
from graphclr.models.checkpoint import (  # noqa: F401 - re-exported (graphclr.models.factory.*)
    CHECKPOINT_FORMAT,
    checkpoint_model,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from graphclr.models.config import ModelCfg, deep_merge
from graphclr.models.image import ImageTransform, image_transform
from graphclr.nn.featurizers import REGISTRY
from graphclr.models.registry import (  # noqa: F401 - re-exported (graphclr.models.factory.*)
    add_model_config,
    get_model_config,
    list_models,
    resolve_model_config,
)
from graphclr.shipped import looks_like_path

__all__ = ["list_models", "get_model_config", "add_model_config", "resolve_model_config", "create_model",
           "create_model_for", "create_model_and_transforms", "save_checkpoint", "load_checkpoint",
           "load_model", "build_text_model", "CHECKPOINT_FORMAT"]

ModelSpec = str | os.PathLike[str] | Mapping[str, Any] | ModelCfg


def _name_of(model: ModelSpec) -> str | None:
    if isinstance(model, (str, os.PathLike)):
        return Path(model).stem if looks_like_path(model) else os.fspath(model)
    return None


def _preprocess_of(tower: Any) -> dict[str, Any]:
    """The image tower's preprocessing: ``ImageEncoder.cfg.preprocess_cfg()`` or ``.preprocess_cfg``."""
    cfg = getattr(tower, "cfg", None)
    if cfg is not None and hasattr(cfg, "preprocess_cfg"):
        return dict(cfg.preprocess_cfg())
    pre = getattr(tower, "preprocess_cfg", None)
    return dict(pre() if callable(pre) else (pre or {}))


def _build_text_model(cfg: ModelCfg, *, reports: Sequence[Any] | None, vocab: Vocabulary | None,
                      visual: nn.Module | None) -> nn.Module:
    """``TextCLIP``: the image tower, :func:`graphclr.text.build_text_tower`, the heads."""
    from graphclr.models.image import ImageEncoder
    from graphclr.models.text_clip import TextCLIP
    from graphclr.text.tower import build_text_tower

    if visual is None:
        if cfg.image_cfg is None:
            raise ValueError("text model config has no 'image_cfg': give one (or let the benchmark "
                             "runner copy the graph model's) so both kinds of model get the same "
                             "image tower")
        visual = ImageEncoder(cfg.image_cfg)
    tower = build_text_tower(cfg.text_cfg, reports=reports, vocab=vocab)
    cfg = dataclasses.replace(cfg, text_cfg=tower.cfg)
    return TextCLIP(visual, tower.encoder, processor=tower.processor, embed_dim=cfg.embed_dim,
                    visual_dim=int(visual.output_dim), preprocess_cfg=_preprocess_of(visual), cfg=cfg,
                    vocab=tower.vocab, init_logit_scale=cfg.init_logit_scale,
                    max_logit_scale=cfg.max_logit_scale, proj_bias=cfg.proj_bias)


def _checkpoint_config(ckpt: Mapping[str, Any], pretrained: str | os.PathLike[str]) -> dict[str, Any]:
    if ckpt.get("model_config") is None:
        raise ValueError(f"{pretrained}: a bare state dict without a model config; name the model it "
                         f"was trained as: create_model(NAME, pretrained={os.fspath(pretrained)!r}) "
                         f"(known: {', '.join(list_models())})")
    return copy.deepcopy(ckpt["model_config"])


def _architecture_in_weights(image_cfg: Mapping[str, Any]) -> bool:
    """Whether the backbone's architecture is read from its weights path (Hugging Face CLIP
    towers): then a checkpoint's model is rebuilt from that path, if it still exists,
    before the checkpoint's weights replace the path's."""
    from graphclr.models.backbones import get_backbone_spec

    path = image_cfg.get("pretrained")
    backbone = image_cfg.get("backbone", "resnet50")
    return bool(path) and get_backbone_spec(backbone).from_weights is not None and os.path.exists(path)


def create_model(model: ModelSpec | None = None, *,
                 vocab: Vocabulary | None = None,
                 reports: Sequence[Any] | None = None,
                 pretrained: str | os.PathLike[str] | None = None,
                 pretrained_image: str | os.PathLike[str] | None = None,
                 overrides: Mapping[str, Any] | None = None,
                 device: str | torch.device | None = None,
                 visual: nn.Module | None = None,
                 **model_kwargs: Any) -> nn.Module:
    """Build a contrastive model.

    Args:
        model: a config name (:func:`list_models`), a JSON path, a dict or a
            :class:`ModelCfg`; ``None`` takes the config stored in ``pretrained``.
        vocab: the token vocabulary; ``None`` takes the one stored in ``pretrained``.
        reports: text models: the training reports the word vocabulary (and TF-IDF
            weights) are built from (:func:`create_model_for` passes them).
        pretrained: a graphclr checkpoint (or bare state dict) whose weights are loaded.
        pretrained_image: a local torchvision/torchxrayvision weights file for the image
            backbone (sets ``image_cfg.pretrained``); ignored when ``pretrained`` is given.
        overrides: nested config changes, e.g. ``{"graph_cfg": {"variant": "igcl"}}``.
        device: move the model there (default: leave it on the CPU).
        visual: text models: an image tower to use instead of building one from ``image_cfg``.
        **model_kwargs: passed to the graph model class (``fast=``).
    """
    ckpt = load_checkpoint(pretrained) if pretrained is not None else None
    if model is None:
        if ckpt is None:
            raise ValueError("create_model needs a model name/config, or a graphclr checkpoint "
                             "that carries one")
        cfg_dict, name = _checkpoint_config(ckpt, pretrained), ckpt.get("model_name")
    else:
        cfg_dict, name = resolve_model_config(model), _name_of(model)
    if ckpt is not None:
        cfg_dict = _readout_of_checkpoint(ckpt, cfg_dict)
    if overrides:
        cfg_dict = deep_merge(cfg_dict, dict(overrides))
    if ckpt is not None:
        if isinstance(cfg_dict.get("image_cfg"), dict) and not _architecture_in_weights(cfg_dict["image_cfg"]):
            cfg_dict["image_cfg"]["pretrained"] = None   # the weights come from the checkpoint
        stored = ckpt.get("vocab")
        if stored is not None:
            stored_vocab = Vocabulary.from_dict(stored)
            if vocab is None:
                vocab = stored_vocab
            elif vocab != stored_vocab:
                raise ValueError(f"{pretrained}: the checkpoint (made for {checkpoint_model(ckpt)}) was "
                                 f"trained with a different vocabulary ({stored_vocab!r}) than the one "
                                 f"given ({vocab!r})")
    elif pretrained_image is not None:
        cfg_dict.setdefault("image_cfg", {})["pretrained"] = os.fspath(pretrained_image)

    where = os.fspath(model) if isinstance(model, (str, os.PathLike)) else "model config"
    cfg = ModelCfg.from_dict(cfg_dict, where=where, partial=visual is not None)
    if cfg.model_type == "text":
        built = _build_text_model(cfg, reports=reports, vocab=vocab, visual=visual)
    elif cfg.model_type == "igcl-reference":
        from graphclr.models.igcl_reference import IGCLReferenceCLIP

        built = IGCLReferenceCLIP(cfg, vocab)
    else:
        from graphclr.models.graph_clip import GraphCLIP

        built = GraphCLIP(cfg, vocab, **model_kwargs)
    built.model_name = name
    if ckpt is not None:
        load_weights(built, ckpt, pretrained, f"{name!r}" if name else "the model asked for")
    if device is not None:
        built = built.to(device)
    return built


def _readout_of_checkpoint(ckpt: Mapping[str, Any], cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints written before ``graph_cfg.pool_readout``/``graph_readout`` existed were
    trained with the attention-only, [GRAPH]-token-only readout: rebuild them with it (the
    parameters are the same)."""
    stored = (ckpt.get("model_config") or {}).get("graph_cfg")
    if not isinstance(stored, Mapping) or cfg_dict.get("model_type", "graph") != "graph":
        return cfg_dict
    old = {k: v for k, v in (("pool_readout", "attention"), ("graph_readout", "token"))
           if k not in stored}
    return deep_merge(cfg_dict, {"graph_cfg": old}) if old else cfg_dict


def _dataset_texts(dataset: Any) -> list[str]:
    """Report texts of every item; datasets of graphs only give their graphs' text."""
    from graphclr.data.base import dataset_reports

    texts = dataset_reports(dataset, "text", skip_missing=True)
    if len(texts) == len(dataset):
        return texts
    return [g.text for g in dataset_reports(dataset, "graph")]


def create_model_for(dataset: Any, model: ModelSpec | None = None, *, vocab: Vocabulary | None = None,
                     pretrained: str | os.PathLike[str] | None = None,
                     overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> nn.Module:
    """:func:`create_model`, with what the model needs built from ``dataset``'s reports.

    * graph models with the ``tokens`` featurizer: the token vocabulary of the dataset's
      report graphs (``hashed`` and ``text`` featurizers need none, so none is built);
    * from-scratch text models (``transformer``, ``bow``): the word vocabulary and TF-IDF
      weights of the report texts (a dataset without texts gives its graphs' text);
    * ``igcl-reference`` models need nothing (BERT or type features);
    * with ``pretrained`` (or a given ``vocab``) nothing is built: the checkpoint carries it.

    Args:
        dataset: a :mod:`graphclr.data` dataset (items with ``"graph"`` / ``"text"``).
        model, vocab, pretrained, overrides, **kwargs: as for :func:`create_model`.

    Examples:
        >>> from graphclr.synth import SyntheticPairDataset
        >>> data = SyntheticPairDataset(4, image_size=32, seed=0)
        >>> len(create_model_for(data, "tiny").vocab) > 2
        True
        >>> create_model_for(data, "tiny", overrides={"graph_cfg": {"featurizer": "hashed"}}).vocab is None
        True
    """
    if pretrained is not None:
        return create_model(model, vocab=vocab, pretrained=pretrained, overrides=overrides, **kwargs)
    if model is None:
        raise ValueError("create_model_for needs a model name/config (or pretrained=)")
    cfg_dict = resolve_model_config(model)
    if overrides:
        cfg_dict = deep_merge(cfg_dict, dict(overrides))
    where = os.fspath(model) if isinstance(model, (str, os.PathLike)) else "model config"
    cfg = ModelCfg.from_dict(cfg_dict, where=where, partial=True)
    if cfg.model_type == "text":
        tcfg = cfg.text_cfg
        if tcfg.encoder != "minilm" and (tcfg.vocab is None or (tcfg.encoder == "bow" and tcfg.idf is None)):
            kwargs.setdefault("reports", _dataset_texts(dataset))
    elif cfg.model_type == "graph" and vocab is None and REGISTRY[cfg.graph_cfg.featurizer].data.needs_vocab:
        from graphclr.data.base import dataset_reports

        vocab = Vocabulary.from_graphs(dataset_reports(dataset, "graph", skip_missing=True))
        if len(vocab) <= len(Vocabulary.build([]).itos):
            raise ValueError(f"{where}: the {cfg.graph_cfg.featurizer!r} featurizer needs a vocabulary from the dataset's "
                             "report graphs, but the dataset has none (a text-only manifest?): extract "
                             "graphs first (graphclr extract), or use graph_cfg.featurizer 'hashed'")
    built = create_model(cfg_dict, vocab=vocab, **kwargs)
    built.model_name = _name_of(model)
    return built


def load_model(path: str | os.PathLike[str], **kwargs: Any) -> nn.Module:
    """A model rebuilt from a graphclr checkpoint alone (name, config, vocabulary, weights)."""
    return create_model(None, pretrained=path, **kwargs)


def create_model_and_transforms(model: ModelSpec | None = None,
                                **kwargs: Any) -> tuple[nn.Module, ImageTransform, ImageTransform]:
    """``(model, train_transform, eval_transform)``; see :func:`create_model` for arguments."""
    built = create_model(model, **kwargs)
    pre = built.preprocess_cfg
    return built, image_transform(pre, is_train=True), image_transform(pre, is_train=False)


def build_text_model(cfg: Mapping[str, Any], *, reports: Sequence[Any] | None = None,
                     vocab: Any = None, visual: nn.Module | None = None, **overrides: Any) -> nn.Module:
    """A text model from a config dict: :func:`create_model` with top-level ``overrides``
    (``embed_dim=``, ``image_cfg=``; ``None`` values are ignored). Kept for graphclr 0.1 code."""
    cfg = copy.deepcopy(dict(cfg))
    if cfg.get("model_type", "text") != "text":
        raise ValueError(f"build_text_model needs model_type 'text'; got {cfg.get('model_type')!r}")
    cfg["model_type"] = "text"
    top = {k: v for k, v in overrides.items() if v is not None}
    return create_model(cfg, reports=reports, vocab=vocab, visual=visual, overrides=top)
