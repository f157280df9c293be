"""The models of a benchmark: each encoder's config, and the one function that builds it.

An encoder's config is its ``model`` (a shipped graph or text config name, a JSON path or
an object) with the spec's shared ``model`` section (image tower, shared-space size)
deep-merged in, then its ``overrides``: every encoder gets the same image backbone.
:func:`build_model` is the only place the runner constructs a model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphclr.runner.spec import deep_merge

__all__ = ["resolve_model_config", "encoder_config", "build_model", "count_params", "report_params"]


def resolve_model_config(model: Any) -> dict[str, Any]:
    """A config dict from a shipped name (graph or text config), a JSON path, or a dict."""
    if isinstance(model, Mapping):
        return json.loads(json.dumps(model))
    name = str(model)
    from graphclr.text import list_text_configs, load_text_config

    if name in list_text_configs():
        return load_text_config(name)
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from graphclr.models import get_model_config

    return get_model_config(name)


def encoder_config(spec: Mapping[str, Any], enc: Mapping[str, Any]) -> dict[str, Any]:
    """Encoder ``enc``'s model config: its model, the spec's ``model``, its ``overrides``."""
    cfg = resolve_model_config(enc["model"])
    cfg = deep_merge(cfg, spec.get("model", {}))
    return deep_merge(cfg, enc.get("overrides", {}))


def build_model(cfg: dict[str, Any], pretrain: Any, seed: int) -> Any:
    """The model of ``cfg``, with what it needs from the pretraining data (vocabulary,
    tokenizer), initialised under ``seed``."""
    from graphclr.data import dataset_reports
    from graphclr.models import create_model
    from graphclr.utils import seed_everything

    seed_everything(seed)
    if cfg.get("model_type", "graph") == "text":
        return create_model(cfg, reports=dataset_reports(pretrain, "text"))
    from graphclr.graphs import Vocabulary
    from graphclr.nn.featurizers import REGISTRY

    vocab = None
    featurizer = cfg.get("graph_cfg", {}).get("featurizer", "tokens")
    if featurizer not in REGISTRY or REGISTRY[featurizer].data.needs_vocab:
        vocab = Vocabulary.from_graphs(dataset_reports(pretrain, "graph"))
    return create_model(cfg, vocab=vocab)


def count_params(params: Any) -> int:
    return int(sum(p.numel() for p in params))


def report_params(model: Any) -> int:
    """Parameters of the report side (tower and projection)."""
    tower = getattr(model, "graph", None) or getattr(model, "text", None)
    proj = getattr(model, "graph_proj", None) or getattr(model, "text_proj", None)
    return count_params(list(tower.parameters()) + list(proj.parameters())) if tower is not None else 0
