"""Self-describing checkpoints: one ``.pt`` file with the model's name and config, the
vocabulary, the preprocessing and the weights (and, from training, the optimiser state).

Loading uses ``torch.load(weights_only=True)``: a checkpoint cannot run code. Every error
names the file and the model the checkpoint was made for, e.g. a ``graphclr-resnet18``
checkpoint given to ``create_model("tiny", pretrained=...)`` is one line saying so, not a
list of thirty size mismatches.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphclr.graphs import Vocabulary
from graphclr.models.config import ModelCfg
from graphclr.utils import atomic_path

__all__ = ["CHECKPOINT_FORMAT", "save_checkpoint", "load_checkpoint", "checkpoint_model",
           "load_weights"]

CHECKPOINT_FORMAT = "graphclr-checkpoint/1"


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, **extra: Any) -> Path:
    """Write ``model`` (name, config, vocabulary, preprocessing, weights) + ``extra`` atomically.

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
        "model_name": getattr(model, "model_name", None),
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
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check its format.

    A bare state dict (no ``format``) comes back as ``{"format": None, "state_dict": ...}``.
    """
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


def _describe(cfg: Mapping[str, Any] | None) -> str:
    """``"resnet18 image tower, graph tower, embed_dim 768"`` from a config dict."""
    if not cfg:
        return "an unknown model"
    image = (cfg.get("image_cfg") or {}).get("backbone", "?")
    kind = cfg.get("model_type", "graph")
    if kind == "text":
        kind = f"{(cfg.get('text_cfg') or {}).get('encoder', '?')} text"
    return f"{image} image tower, {kind} tower, embed_dim {cfg.get('embed_dim', '?')}"


def checkpoint_model(ckpt: Mapping[str, Any]) -> str:
    """What a checkpoint was made for: ``"'graphclr-resnet18' (resnet18 image tower, ...)"``."""
    from graphclr.models.registry import model_name_of

    cfg = ckpt.get("model_config")
    name = ckpt.get("model_name") or (model_name_of(cfg) if cfg else None)
    described = _describe(cfg)
    return f"{name!r} ({described})" if name else described


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def load_weights(model: nn.Module, ckpt: Mapping[str, Any], path: str | os.PathLike[str], wanted: str) -> None:
    """Load ``ckpt``'s weights into ``model``; a mismatch is one error naming the file, the
    model the checkpoint was made for and the model asked for (``wanted``)."""
    state = _strip_prefixes(ckpt["state_dict"])
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        made_for = checkpoint_model(ckpt) if ckpt.get("format") else "a bare state dict"
        parts = []
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} tensor(s) differ in shape (first: {k} "
                         f"{list(state[k].shape)} vs {list(own[k].shape)})")
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
        hint = "; rebuild it with load_model(path)" if ckpt.get("model_config") else ""
        raise ValueError(f"{path}: weights do not fit: the checkpoint was made for {made_for}, not "
                         f"{wanted}: {', '.join(parts)}{hint}")
    model.load_state_dict(state)
