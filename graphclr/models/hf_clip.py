r"""CLIP ViT image towers (``clip-vit-b-32``) from local Hugging Face or open_clip files.

The reference IGCL image tower is Hugging Face's ``CLIPVisionModel`` initialised from
OpenAI's ViT-B/32 CLIP, read out at ``pooler_output`` -- the post-LayerNorm ``[CLS]``
state, *before* CLIP's own visual projection -- followed by a fresh bias-free
``768 x 768`` projection (graphclr's :class:`~graphclr.models.contrastive.ContrastiveModel`
``image_proj``, initialised :math:`\mathcal{N}(0, 1/768)` like the reference's
``scale * randn``).

Weights come only from a local path (:func:`load_clip_vision`):

* a directory written by ``CLIPVisionModel.save_pretrained`` (or a whole ``CLIPModel``
  directory: its vision tower is taken), read with ``local_files_only=True``;
* an open_clip / OpenAI-CLIP state-dict file (``visual.conv1.weight``,
  ``visual.transformer.resblocks.N...``, possibly under ``state_dict``/``module.``), read
  with ``torch.load(weights_only=True)`` and renamed to Hugging Face's layout: each fused
  ``attn.in_proj_weight`` is split into ``q_proj``/``k_proj``/``v_proj``; ``visual.proj``
  and the text tower are dropped. The architecture is read off the tensors (width, patch,
  grid, layers, MLP width); heads default to ``width // 64`` (OpenAI's rule) and the
  activation to OpenAI's ``quick_gelu``. TorchScript archives are refused (they need
  unpickling code); export their ``state_dict()`` first.

Reference preprocessing (:data:`CHEXZERO_MEAN`, :data:`CHEXZERO_STD`): CheXzero's
``Normalize(101.48761, 83.43944)`` on 0-255 pixels equals ``(x - 101.48761/255) /
(83.43944/255)`` on graphclr's ``[0, 1]`` pixels, then a 224 px bicubic resize of the
320 px square (the reference's tensors were resized without antialiasing), three channels.
``benchmarks/specs/igcl_reference_chexpert.json``'s model config spells this out.

Examples:
    >>> from transformers import CLIPVisionConfig
    >>> tiny = CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
    ...                         num_attention_heads=2, image_size=64, patch_size=32)
    >>> tower = CLIPVisionBackbone.from_config(tiny)
    >>> tower(torch.zeros(2, 3, 64, 64)).shape, tower.feature_dim
    (torch.Size([2, 32]), 32)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["CHEXZERO_MEAN", "CHEXZERO_STD", "CLIPVisionBackbone", "build_clip_vit_b_32",
           "load_clip_vision", "open_clip_to_hf"]

#: CheXzero's pixel normalisation (101.48761, 83.43944 on 0-255) on graphclr's [0, 1] scale.
CHEXZERO_MEAN = 101.48761 / 255.0
CHEXZERO_STD = 83.43944 / 255.0


class CLIPVisionBackbone(nn.Module):
    """A ``transformers.CLIPVisionModel`` returning ``pooler_output`` ``[B, hidden_size]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.feature_dim = int(model.config.hidden_size)
        self.image_size = int(model.config.image_size)

    @classmethod
    def from_config(cls, config: Any) -> CLIPVisionBackbone:
        from transformers import CLIPVisionModel

        return cls(CLIPVisionModel(config))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).pooler_output


def build_clip_vit_b_32(image_size: int = 224) -> CLIPVisionBackbone:
    """A randomly initialised ViT-B/32 (``CLIPVisionConfig``'s defaults are ViT-B/32's)."""
    from transformers import CLIPVisionConfig

    return CLIPVisionBackbone.from_config(CLIPVisionConfig(image_size=image_size))


_BLOCK = re.compile(r"transformer\.resblocks\.(\d+)\.(.+)$")
_BLOCK_NAMES = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
                "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
_TOP_NAMES = {"conv1.weight": "embeddings.patch_embedding.weight",
              "class_embedding": "embeddings.class_embedding",
              "positional_embedding": "embeddings.position_embedding.weight",
              "ln_pre.weight": "pre_layrnorm.weight", "ln_pre.bias": "pre_layrnorm.bias",
              "ln_post.weight": "post_layernorm.weight", "ln_post.bias": "post_layernorm.bias"}


def _visual_part(state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model"):
        if key in state and isinstance(state[key], Mapping):
            state = state[key]
    out = {}
    for key, value in state.items():
        k = key[len("module."):] if key.startswith("module.") else key
        if k.startswith("visual."):
            out[k[len("visual."):]] = value
    if "conv1.weight" not in out:
        raise ValueError(f"{where}: not an open_clip/OpenAI CLIP state dict (no visual.conv1.weight)")
    return out


def open_clip_to_hf(state: Mapping[str, torch.Tensor], *, num_heads: int | None = None,
                    hidden_act: str = "quick_gelu", where: str = "state dict"
                    ) -> tuple[Any, dict[str, torch.Tensor]]:
    """``(CLIPVisionConfig, CLIPVisionModel state dict)`` from an open_clip state dict."""
    from transformers import CLIPVisionConfig

    vis = _visual_part(state, where)
    width, _, patch, _ = vis["conv1.weight"].shape
    grid = round((vis["positional_embedding"].shape[0] - 1) ** 0.5)
    hf: dict[str, torch.Tensor] = {}
    layers = set()
    for key, value in vis.items():
        if key in _TOP_NAMES:
            hf[_TOP_NAMES[key]] = value
        elif m := _BLOCK.match(key):
            i, rest = int(m[1]), m[2]
            layers.add(i)
            p = f"encoder.layers.{i}."
            if rest.startswith("attn.in_proj_"):
                kind = rest.rsplit("_", 1)[1]           # weight | bias
                for name, part in zip("qkv", value.chunk(3, dim=0)):
                    hf[f"{p}self_attn.{name}_proj.{kind}"] = part
                continue
            stem, _, kind = rest.rpartition(".")
            if stem not in _BLOCK_NAMES:
                raise ValueError(f"{where}: unexpected key visual.{key}")
            hf[f"{p}{_BLOCK_NAMES[stem]}.{kind}"] = value
        elif key != "proj":
            raise ValueError(f"{where}: unexpected key visual.{key} (not a ViT CLIP tower?)")
    config = CLIPVisionConfig(
        hidden_size=width, image_size=grid * patch, patch_size=patch,
        num_hidden_layers=len(layers), num_attention_heads=num_heads or max(1, width // 64),
        intermediate_size=vis["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        hidden_act=hidden_act)
    return config, {f"vision_model.{k}": v for k, v in hf.items()}


def load_clip_vision(path: str | os.PathLike[str], *, num_heads: int | None = None,
                     hidden_act: str = "quick_gelu") -> CLIPVisionBackbone:
    """A :class:`CLIPVisionBackbone` from a local HF directory or open_clip file (module doc)."""
    from transformers import CLIPVisionModel

    path = Path(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: no config.json (not a Hugging Face model directory)")
        return CLIPVisionBackbone(CLIPVisionModel.from_pretrained(path, local_files_only=True))
    if not path.is_file():
        raise FileNotFoundError(f"CLIP weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - TorchScript archives, pickled modules
        raise ValueError(f"{path}: not a plain state dict ({type(err).__name__}); for a "
                         "TorchScript CLIP archive save its state_dict() first") from None
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: not a state dict")
    config, hf = open_clip_to_hf(state, num_heads=num_heads, hidden_act=hidden_act, where=str(path))
    tower = CLIPVisionBackbone.from_config(config)
    result = tower.model.load_state_dict(hf, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path}: weights do not fit CLIPVisionModel; missing {missing[:3]}, "
                         f"unexpected {result.unexpected_keys[:3]}")
    return tower


def clip_from_weights(image_size: int, path: str | os.PathLike[str]) -> CLIPVisionBackbone:
    """The backbone registry's hook: the tower in ``path``, checked against ``image_size``."""
    tower = load_clip_vision(path)
    if tower.image_size != image_size:
        raise ValueError(f"{path}: this CLIP tower takes {tower.image_size} px images, but "
                         f"image_cfg.image_size is {image_size}")
    return tower
