"""The models of a benchmark: each encoder's config, and the one function that builds it.

An encoder's config is its ``model`` (a shipped graph or text config name, a JSON path or
an object) with the spec's shared ``model`` section (image tower, shared-space size)
deep-merged in, then its ``overrides``: every encoder gets the same image backbone.
:func:`build_model` is the only place the runner constructs a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphclr._compat import moved_names_getattr
from graphclr.runner.spec import deep_merge

__getattr__ = moved_names_getattr(__name__)   # resolve_model_config: graphclr.models has the one

__all__ = ["encoder_config", "build_model", "count_params", "report_params"]


def encoder_config(spec: Mapping[str, Any], enc: Mapping[str, Any]) -> dict[str, Any]:
    """Encoder ``enc``'s model config: its model, the spec's ``model``, its ``overrides``."""
    from graphclr.models import resolve_model_config   # the one resolver

    cfg = deep_merge(resolve_model_config(enc["model"]), spec.get("model", {}))
    return deep_merge(cfg, enc.get("overrides", {}))


def build_model(cfg: dict[str, Any], pretrain: Any, seed: int) -> Any:
    """The model of ``cfg``, with what it needs from the pretraining data (vocabulary,
    tokenizer), initialised under ``seed``."""
    from graphclr.models import create_model_for
    from graphclr.utils import seed_everything

    seed_everything(seed)
    return create_model_for(pretrain, cfg)


def count_params(params: Any) -> int:
    return int(sum(p.numel() for p in params))


def report_params(model: Any) -> int:
    """Parameters of the report side (tower and projection)."""
    return count_params(list(model.report_tower.parameters()) + list(model.report_proj.parameters()))
