"""Model registry and factory (open_clip-style), and self-describing checkpoints.

* :func:`list_models` / :func:`get_model_config` / :func:`add_model_config`: architecture
  configs are small JSON files, built in under ``graphclr/model_configs/``; add your own
  files or folders with :func:`add_model_config`.
* :func:`create_model` builds a model from a name, a JSON path, a dict or a
  :class:`~graphclr.models.config.ModelCfg`; ``pretrained=`` loads a graphclr checkpoint
  (its config and vocabulary are used when you give none). Text baselines
  (``"model_type": "text"``) are built by :func:`graphclr.text.build_text_model`.
* :func:`create_model_and_transforms` also returns the train and eval image transforms
  that match the model's ``preprocess_cfg``.
* :func:`save_checkpoint` / :func:`load_checkpoint`: one ``.pt`` file carrying the model
  config, vocabulary, preprocessing and weights (and, from training, the optimiser state).
  Loading uses ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphclr.graphs import Vocabulary
from graphclr.models.config import ModelCfg, deep_merge
from graphclr.models.image import ImageTransform, image_transform
from graphclr.utils import atomic_path

__all__ = ["list_models", "get_model_config", "add_model_config", "resolve_model_config", "create_model",
           "create_model_and_transforms", "save_checkpoint", "load_checkpoint", "load_model",
           "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "graphclr-checkpoint/1"
_BUILTIN_DIR = Path(__file__).resolve().parent.parent / "model_configs"
#: configs added with add_model_config: name -> path (an explicit, user-driven registry)
_EXTRA_CONFIGS: dict[str, Path] = {}


def _builtin_configs() -> dict[str, Path]:
    return {p.stem: p for p in sorted(_BUILTIN_DIR.glob("*.json"))}


def _all_configs() -> dict[str, Path]:
    return {**_builtin_configs(), **_EXTRA_CONFIGS}


def _text_configs() -> list[str]:
    try:
        from graphclr.text import list_text_configs
    except ImportError:   # the text baselines are optional
        return []
    return list_text_configs()


def list_models() -> list[str]:
    """Names of the known model configs: built in, added, and the text baselines'."""
    return sorted(set(_all_configs()) | set(_text_configs()))


def add_model_config(path: str | os.PathLike[str]) -> list[str]:
    """Register a JSON config file, or every ``*.json`` in a folder; returns the names.

    Each file is checked when added, so a broken config fails here, naming the file.
    """
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no model config JSON at {path}")
    for f in files:
        _read_config_file(f)
    for f in files:
        _EXTRA_CONFIGS[f.stem] = f
    return [f.stem for f in files]


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not (isinstance(data, dict) and data.get("model_type") == "text" and "image_cfg" not in data):
        ModelCfg.from_dict(data, where=str(path))   # validate (text configs may lack image_cfg)
    return data


def get_model_config(name: str) -> dict[str, Any]:
    """The config dict of a known model name (a copy).

    Text-baseline configs (``graphclr.text``) may leave ``image_cfg`` out; give one with
    ``overrides`` when building them.
    """
    configs = _all_configs()
    if name not in configs and name in _text_configs():
        from graphclr.text import load_text_config

        return load_text_config(name)
    if name not in configs:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(configs))} "
                         "(or pass a JSON path / dict, or add_model_config)")
    return _read_config_file(configs[name])


def resolve_model_config(model: str | os.PathLike[str] | Mapping[str, Any] | ModelCfg) -> dict[str, Any]:
    """The config dict of a name, a JSON path, a dict or a :class:`ModelCfg` (a copy)."""
    if isinstance(model, ModelCfg):
        return model.to_dict()
    if isinstance(model, Mapping):
        return copy.deepcopy(dict(model))
    text = os.fspath(model)
    if text.endswith(".json") or os.path.sep in text:
        return _read_config_file(Path(text))
    return get_model_config(text)


# --- checkpoints -------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, **extra: Any) -> Path:
    """Write ``model`` (config, vocabulary, preprocessing, weights) + ``extra`` atomically.

    ``extra`` values must be plain data (tensors, numbers, strings, lists, dicts) so the
    file loads with ``weights_only=True``.
    """
    from graphclr import __version__

    model = getattr(model, "module", model)   # DDP
    cfg = getattr(model, "cfg", None)
    if isinstance(cfg, ModelCfg):
        cfg = cfg.to_dict()
    vocab = getattr(model, "vocab", None)
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "graphclr_version": __version__,
        "model_config": copy.deepcopy(cfg) if isinstance(cfg, dict) else None,
        "vocab": vocab.to_dict() if isinstance(vocab, Vocabulary) else None,
        "preprocess_cfg": dict(getattr(model, "preprocess_cfg", {}) or {}),
        "state_dict": model.state_dict(),
        **extra,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check its format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - report which file
        raise ValueError(f"{path}: cannot be read as a weights-only checkpoint ({err})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not a graphclr checkpoint (no dict at top level)")
    if "format" not in ckpt:   # a bare state dict
        return {"format": None, "state_dict": ckpt, "model_config": None, "vocab": None}
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {ckpt['format']!r} "
                         f"(expected {CHECKPOINT_FORMAT!r})")
    return ckpt


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


# --- factory -----------------------------------------------------------------------------
def create_model(model: str | os.PathLike[str] | Mapping[str, Any] | ModelCfg | None = None, *,
                 vocab: Vocabulary | None = None,
                 pretrained: str | os.PathLike[str] | None = None,
                 pretrained_image: str | os.PathLike[str] | None = None,
                 overrides: Mapping[str, Any] | None = None,
                 device: str | torch.device | None = None,
                 **model_kwargs: Any) -> nn.Module:
    """Build a contrastive model.

    Args:
        model: a config name (:func:`list_models`), a JSON path, a dict or a
            :class:`ModelCfg`; ``None`` takes the config stored in ``pretrained``.
        vocab: the token vocabulary; ``None`` takes the one stored in ``pretrained``.
        pretrained: a graphclr checkpoint (or bare state dict) whose weights are loaded.
        pretrained_image: a local torchvision/torchxrayvision weights file for the image
            backbone (sets ``image_cfg.pretrained``); ignored when ``pretrained`` is given.
        overrides: nested config changes, e.g. ``{"graph_cfg": {"variant": "igcl"}}``.
        device: move the model there (default: leave it on the CPU).
        **model_kwargs: passed to the model class (``fast=`` for graph models) or to
            :func:`graphclr.text.build_text_model`.

    Examples:
        >>> from graphclr.graphs import Vocabulary
        >>> m = create_model("tiny", vocab=Vocabulary.build([["effusion"]]))
        >>> m.embed_dim, m.preprocess_cfg["image_size"]
        (32, 32)
    """
    ckpt = load_checkpoint(pretrained) if pretrained is not None else None
    if model is None:
        if ckpt is None or ckpt.get("model_config") is None:
            raise ValueError("create_model needs a model name/config, or a graphclr checkpoint "
                             "that carries one")
        cfg_dict = copy.deepcopy(ckpt["model_config"])
    else:
        cfg_dict = resolve_model_config(model)
    if ckpt is not None:
        cfg_dict = _readout_of_checkpoint(ckpt, cfg_dict)
    if overrides:
        cfg_dict = deep_merge(cfg_dict, dict(overrides))
    if ckpt is not None:
        cfg_dict.setdefault("image_cfg", {})["pretrained"] = None   # weights come from ckpt
        stored = ckpt.get("vocab")
        if stored is not None:
            stored_vocab = Vocabulary.from_dict(stored)
            if vocab is None:
                vocab = stored_vocab
            elif vocab != stored_vocab:
                raise ValueError(f"{pretrained}: the checkpoint was trained with a different "
                                 f"vocabulary ({stored_vocab!r}) than the one given ({vocab!r})")
    elif pretrained_image is not None:
        cfg_dict.setdefault("image_cfg", {})["pretrained"] = os.fspath(pretrained_image)

    cfg = ModelCfg.from_dict(cfg_dict, where=str(model) if isinstance(model, (str, os.PathLike)) else "model config")
    if cfg.model_type == "text":
        from graphclr.text import build_text_model   # the text-baseline helper's module

        if vocab is not None:
            model_kwargs.setdefault("vocab", vocab)
        built = build_text_model(cfg.to_dict(), **model_kwargs)
    else:
        from graphclr.models.graph_clip import GraphCLIP

        built = GraphCLIP(cfg, vocab, **model_kwargs)
    if ckpt is not None:
        state = _strip_prefixes(ckpt["state_dict"])
        try:
            missing, unexpected = built.load_state_dict(state, strict=False)
        except RuntimeError as err:   # shape mismatches
            raise ValueError(f"{pretrained}: weights do not fit the model: {err}") from None
        if missing or unexpected:
            raise ValueError(f"{pretrained}: weights do not fit the model; missing "
                             f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
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


def load_model(path: str | os.PathLike[str], **kwargs: Any) -> nn.Module:
    """A model rebuilt from a graphclr checkpoint alone (config, vocabulary, weights)."""
    return create_model(None, pretrained=path, **kwargs)


def create_model_and_transforms(model: str | os.PathLike[str] | Mapping[str, Any] | ModelCfg | None = None,
                                **kwargs: Any) -> tuple[nn.Module, ImageTransform, ImageTransform]:
    """``(model, train_transform, eval_transform)``; see :func:`create_model` for arguments."""
    built = create_model(model, **kwargs)
    pre = built.preprocess_cfg
    return built, image_transform(pre, is_train=True), image_transform(pre, is_train=False)
