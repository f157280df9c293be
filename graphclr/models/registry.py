"""The one model registry: every contrastive model config, graph and text towers alike.

Configs are small JSON files, built in under ``graphclr/model_configs/`` (``tiny``,
``graphclr-resnet50``, ..., ``text-transformer``, ``text-bow``, ``text-minilm``); add your
own files or folders with :func:`add_model_config`. :func:`resolve_model_config` is the one
resolver of "a name, a JSON path, a dict or a :class:`ModelCfg`": a ``str`` ending in
``.json`` or holding a path separator is a file, anything else a registered name.

Examples:
    >>> {"tiny", "text-bow"} <= set(list_models())
    True
    >>> resolve_model_config("text-bow")["text_cfg"]["encoder"]
    'bow'
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphclr.models.config import ModelCfg
from graphclr.shipped import looks_like_path, read_json, shipped_dir

__all__ = ["list_models", "get_model_config", "add_model_config", "resolve_model_config",
           "read_model_config", "model_name_of"]

_FOLDER = "model_configs"
#: configs added with add_model_config: name -> path (an explicit, user-driven registry)
_EXTRA_CONFIGS: dict[str, Path] = {}


def _all_configs() -> dict[str, Path]:
    builtin = {p.stem: p for p in sorted(shipped_dir(_FOLDER).glob("*.json"))}
    return {**builtin, **_EXTRA_CONFIGS}


def list_models() -> list[str]:
    """Names of the known model configs (built in and added), graph and text models."""
    return sorted(_all_configs())


def read_model_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A model config file's dict, validated (a text config may leave ``image_cfg`` out)."""
    data = read_json(path)
    ModelCfg.from_dict(data, where=str(path), partial=True)
    return data


def add_model_config(path: str | os.PathLike[str]) -> list[str]:
    """Register a JSON config file, or every ``*.json`` in a folder; returns the names.

    Each file is checked when added, so a broken config fails here, naming the file.
    """
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"no model config JSON at {path}")
    for f in files:
        read_model_config(f)
    for f in files:
        _EXTRA_CONFIGS[f.stem] = f
    return [f.stem for f in files]


def get_model_config(name: str) -> dict[str, Any]:
    """The config dict of a known model name (a copy).

    Text-model configs may leave ``image_cfg`` out; give one with ``overrides`` when
    building them (the benchmark runner copies the graph model's).
    """
    configs = _all_configs()
    if name not in configs:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(configs))} "
                         "(or pass a JSON path / dict, or add_model_config)")
    return read_model_config(configs[name])


def resolve_model_config(model: str | os.PathLike[str] | Mapping[str, Any] | ModelCfg) -> dict[str, Any]:
    """The config dict of a name, a JSON path, a dict or a :class:`ModelCfg` (a copy)."""
    if isinstance(model, ModelCfg):
        return model.to_dict()
    if isinstance(model, Mapping):
        return copy.deepcopy(dict(model))
    if looks_like_path(model):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model config not found: {path}")
        return read_model_config(path)
    return get_model_config(os.fspath(model))


def model_name_of(cfg: Mapping[str, Any]) -> str | None:
    """The registered name whose config equals ``cfg`` (ignoring weights paths), if any."""
    def strip(d: Mapping[str, Any]) -> dict[str, Any]:
        try:
            out = ModelCfg.from_dict(copy.deepcopy(dict(d)), partial=True).to_dict()
        except ValueError:
            return {}
        if "image_cfg" in out:
            out["image_cfg"]["pretrained"] = None
        out.get("text_cfg", {}).update(vocab=None, idf=None)
        return out

    want = strip(cfg)
    for name, path in _all_configs().items():
        if want and strip(read_json(path)) == want:
            return name
    return None


def list_text_configs() -> list[str]:
    """Deprecated (``graphclr.text.list_text_configs``): the text-model names of :func:`list_models`."""
    return [n for n in list_models() if get_model_config(n).get("model_type") == "text"]


def load_text_config(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Deprecated (``graphclr.text.load_text_config``): :func:`resolve_model_config` of a text model."""
    cfg = resolve_model_config(name_or_path)
    if cfg.get("model_type") != "text":
        raise ValueError(f"{name_or_path}: field 'model_type' must be 'text'; got {cfg.get('model_type')!r}")
    return cfg
