"""Model configurations: small JSON files loaded into dataclasses.

A model config (``graphclr/model_configs/<name>.json``) looks like::

    {"embed_dim": 768,
     "image_cfg": {"backbone": "resnet50", "image_size": 224},
     "graph_cfg": {"width": 512, "layers": 2, "heads": 2}}

Missing fields take the dataclass defaults; unknown fields are errors that name the file
and the field, so a typo never silently falls back to a default. Text baselines use
``"model_type": "text"`` with a ``"text_cfg"`` section instead of ``"graph_cfg"``; their
section is passed through to :func:`graphclr.text.build_text_model` unchanged.
``"model_type": "igcl-reference"`` is the reference IGCL model; its ``graph_cfg`` is a
:class:`graphclr.models.igcl_reference.IGCLReferenceCfg`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from graphclr.models.image import ImageEncoderCfg

__all__ = ["ModelCfg", "deep_merge"]


def _graph_cfg_cls() -> type:
    from graphclr.nn.encoder import GraphEncoderCfg

    return GraphEncoderCfg


def _igcl_cfg_cls() -> type:
    from graphclr.models.igcl_reference import IGCLReferenceCfg

    return IGCLReferenceCfg


@dataclass
class ModelCfg:
    """A whole contrastive model: image tower, report tower, shared space."""

    embed_dim: int = 768
    image_cfg: ImageEncoderCfg = field(default_factory=ImageEncoderCfg)
    graph_cfg: Any = None            #: GraphEncoderCfg (graph models)
    text_cfg: dict[str, Any] | None = None   #: passed to graphclr.text (text models)
    model_type: str = "graph"        #: "graph" | "text" | "igcl-reference"
    init_logit_scale: float = math.log(1 / 0.07)
    max_logit_scale: float = 100.0
    proj_bias: bool = False          #: the reference's projections have no bias

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "model config") -> ModelCfg:
        """Build from a JSON-like dict; ``where`` (a file name) prefixes error messages."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a model config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
        kwargs = dict(data)
        model_type = kwargs.get("model_type", "graph")
        if model_type not in ("graph", "text", "igcl-reference"):
            raise ValueError(f"{where}: model_type must be 'graph', 'text' or 'igcl-reference', "
                             f"got {model_type!r}")
        if model_type == "text" and kwargs.get("image_cfg") is None:
            raise ValueError(f"{where}: a text model config needs an image_cfg (the benchmark "
                             "runner copies the graph model's; give one explicitly otherwise)")
        try:
            kwargs["image_cfg"] = ImageEncoderCfg.from_dict(kwargs.get("image_cfg") or {},
                                                            where=f"{where}: image_cfg")
            if model_type == "graph":
                kwargs["graph_cfg"] = _graph_cfg_cls().from_dict(kwargs.get("graph_cfg") or {},
                                                                 where=f"{where}: graph_cfg")
            elif model_type == "igcl-reference":
                kwargs["graph_cfg"] = _igcl_cfg_cls().from_dict(kwargs.get("graph_cfg") or {},
                                                                where=f"{where}: graph_cfg")
            elif kwargs.get("graph_cfg") is not None:
                raise ValueError(f"{where}: a text model has no graph_cfg")
            cfg = cls(**kwargs)
        except TypeError as err:   # a field of the wrong type, e.g. a list for an int
            raise ValueError(f"{where}: {err}") from None
        if cfg.embed_dim < 1:
            raise ValueError(f"{where}: embed_dim must be positive")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"embed_dim": self.embed_dim, "model_type": self.model_type,
                               "image_cfg": dataclasses.asdict(self.image_cfg),
                               "init_logit_scale": self.init_logit_scale,
                               "max_logit_scale": self.max_logit_scale,
                               "proj_bias": self.proj_bias}
        if self.graph_cfg is not None:
            out["graph_cfg"] = dataclasses.asdict(self.graph_cfg)
        if self.text_cfg is not None:
            out["text_cfg"] = copy.deepcopy(self.text_cfg)
        return out


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides``, merging nested dicts (returns a new dict).

    Examples:
        >>> deep_merge({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"d": 4}})
        {'a': 1, 'b': {'c': 2, 'd': 4}}
    """
    out = copy.deepcopy(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out
