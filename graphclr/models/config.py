"""Model configurations: small JSON files loaded into dataclasses.

A model config (``graphclr/model_configs/<name>.json``) looks like::

    {"embed_dim": 768,
     "image_cfg": {"backbone": "resnet50", "image_size": 224},
     "graph_cfg": {"width": 512, "layers": 2, "heads": 2}}

Missing fields take the dataclass defaults; unknown or mistyped fields are errors that name
the file and the field (:func:`graphclr.nn._config.dataclass_from_dict`, the one strict
reader), so a typo never silently falls back to a default. Text baselines use
``"model_type": "text"`` with a ``"text_cfg"`` section (a
:class:`graphclr.text.TextTowerCfg`) instead of ``"graph_cfg"``.
``"model_type": "igcl-reference"`` is the reference IGCL model; its ``graph_cfg`` is a
:class:`graphclr.models.igcl_reference.IGCLReferenceCfg`.

Examples:
    >>> cfg = ModelCfg.from_dict({"model_type": "text", "text_cfg": {"encoder": "bow", "widht": 4}},
    ...                          where="mine.json", partial=True)
    Traceback (most recent call last):
    ValueError: mine.json: text_cfg: unknown field(s) ['widht']; known: [...]
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from graphclr.models.image import ImageEncoderCfg
from graphclr.nn._config import dataclass_from_dict
from graphclr.text.tower import TEXT_ENCODERS, TextTowerCfg

__all__ = ["MODEL_TYPES", "ModelCfg", "deep_merge"]


def _graph_cfg_cls(model_type: str) -> type:
    if model_type == "igcl-reference":
        from graphclr.models.igcl_reference import IGCLReferenceCfg

        return IGCLReferenceCfg
    from graphclr.nn.encoder import GraphEncoderCfg

    return GraphEncoderCfg


#: the kinds of report tower: model_type -> its config section
MODEL_TYPES: dict[str, str] = {"graph": "graph_cfg", "text": "text_cfg", "igcl-reference": "graph_cfg"}


@dataclass
class ModelCfg:
    """A whole contrastive model: image tower, report tower, shared space.

    ``image_cfg`` is ``None`` only in a *partial* text config (``from_dict(...,
    partial=True)``), whose image tower the benchmark runner or ``visual=`` supplies.
    """

    embed_dim: int = 768
    image_cfg: ImageEncoderCfg | None = field(default_factory=ImageEncoderCfg)
    graph_cfg: Any = None                    #: GraphEncoderCfg (graph models)
    text_cfg: TextTowerCfg | None = None     #: the text tower (text models)
    model_type: str = "graph"                #: "graph" | "text" | "igcl-reference"
    init_logit_scale: float = math.log(1 / 0.07)
    max_logit_scale: float = 100.0
    proj_bias: bool = False                  #: the reference's projections have no bias

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {', '.join(MODEL_TYPES)}; got {self.model_type!r}")
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be positive; got {self.embed_dim}")
        for section in set(MODEL_TYPES.values()) - {MODEL_TYPES[self.model_type]}:
            if getattr(self, section) is not None:
                raise ValueError(f"a {self.model_type} model has no {section}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "model config", partial: bool = False) -> ModelCfg:
        """Build from a JSON-like dict; ``where`` (a file name) prefixes error messages.

        Args:
            partial: a text config may leave ``image_cfg`` out (the shipped text configs
                do: the benchmark runner copies the graph model's).
        """
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a model config must be a JSON object")
        kwargs = dict(data)
        model_type = kwargs.get("model_type", "graph")
        image = kwargs.get("image_cfg")
        if model_type == "text" and image is None:
            if not partial:
                raise ValueError(f"{where}: a text model config needs an image_cfg (the benchmark "
                                 "runner copies the graph model's; give one explicitly otherwise)")
        elif model_type in MODEL_TYPES:
            kwargs["image_cfg"] = ImageEncoderCfg.from_dict(image or {}, where=f"{where}: image_cfg")
        if MODEL_TYPES.get(model_type) == "graph_cfg":
            kwargs["graph_cfg"] = _graph_cfg_cls(model_type).from_dict(kwargs.get("graph_cfg") or {},
                                                                       where=f"{where}: graph_cfg")
        elif model_type == "text":
            if not isinstance(kwargs.get("text_cfg"), dict):
                raise ValueError(f"{where}: a text model config needs a text_cfg object "
                                 f"(with 'encoder': one of {', '.join(TEXT_ENCODERS)})")
            kwargs["text_cfg"] = TextTowerCfg.from_dict(kwargs["text_cfg"], where=f"{where}: text_cfg")
        return dataclass_from_dict(cls, kwargs, where)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {"embed_dim": self.embed_dim, "model_type": self.model_type,
                               "init_logit_scale": self.init_logit_scale,
                               "max_logit_scale": self.max_logit_scale,
                               "proj_bias": self.proj_bias}
        if self.image_cfg is not None:
            out["image_cfg"] = dataclasses.asdict(self.image_cfg)
        if self.graph_cfg is not None:
            out["graph_cfg"] = dataclasses.asdict(self.graph_cfg)
        if self.text_cfg is not None:
            out["text_cfg"] = self.text_cfg.to_dict()
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
