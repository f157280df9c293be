"""Image backbones: a registry of torchvision models (and your own), weights from local files only.

Built in: ``resnet18``, ``resnet50``, ``densenet121``, ``vit_b_16`` (torchvision, random
init), ``tiny-cnn`` (a three-layer CNN for tests and smoke runs) and ``cpu-cnn`` (a small
position-keeping CNN for CPU benchmarks); ``clip-vit-b-32`` is OpenAI CLIP's ViT-B/32 image
tower from a local Hugging Face or open_clip file (:mod:`graphclr.models.hf_clip`). Each
other backbone is the
torchvision module with its classification head replaced by ``Identity``, so it returns
pooled features ``[B, num_features]`` and its ``state_dict`` keys are torchvision's.

Weights are read only from a path you give (:func:`load_backbone_weights`); nothing is
downloaded. Accepted files: a torchvision state dict (e.g. ``resnet50-0676ba61.pth``), a
torchxrayvision model's state dict (``DenseNet``, or ``ResNet`` whose keys start with
``model.``), or any of these wrapped as ``{"state_dict": ...}``/``{"model": ...}``
or prefixed by ``module.``/``backbone.``. Classification heads are dropped. Stem
convolutions are adapted to the channels the encoder uses: a 3-channel stem loaded into
a 1-channel one is summed over RGB (exactly equivalent to feeding the gray image three
times), and a 1-channel stem loaded into a 3-channel one is repeated and divided by 3.

Files are read with ``torch.load(weights_only=True)`` only: a pickled whole model (as
torchxrayvision saves its own) or any file carrying code is refused, and the message says
how to convert it to a state dict yourself.

Register your own with :func:`register_backbone`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["BackboneSpec", "register_backbone", "list_backbones", "get_backbone_spec",
           "build_backbone", "load_backbone_weights", "adapt_stem"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone.

    Attributes:
        builder: ``builder(image_size) -> nn.Module`` returning ``[B, num_features]``
            features for 3-channel (or ``in_channels``) input.
        num_features: feature width.
        stem: dotted path of the first convolution (adapted for grayscale), or ``None``.
        head_prefixes: state-dict key prefixes of classification heads, dropped on load.
        in_channels: channels the built stem takes (3 for torchvision models).
        from_weights: ``from_weights(image_size, path) -> nn.Module`` builds the backbone
            *from* a weights path (architectures read from the files, e.g. Hugging Face
            directories) instead of ``builder`` + :func:`load_backbone_weights`.
    """

    builder: Callable[[int], nn.Module]
    num_features: int
    stem: str | None = None
    head_prefixes: tuple[str, ...] = ()
    in_channels: int = 3
    from_weights: Callable[[int, str | os.PathLike[str]], nn.Module] | None = None


_BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(name: str, builder: Callable[[int], nn.Module], *, num_features: int,
                      stem: str | None = None, head_prefixes: tuple[str, ...] = (),
                      in_channels: int = 3, overwrite: bool = False,
                      from_weights: Callable[[int, str | os.PathLike[str]], nn.Module] | None = None
                      ) -> None:
    """Make ``name`` usable as ``image_cfg.backbone``.

    Args:
        name: the backbone's name in configs.
        builder: ``builder(image_size)`` -> a module mapping ``[B, in_channels, H, W]`` to
            ``[B, num_features]``.
        num_features: its output width.
        stem: dotted path of its first ``Conv2d`` (lets graphclr adapt it to grayscale).
        head_prefixes: state-dict prefixes to drop when loading classifier checkpoints.
        in_channels: input channels of the stem as built.
        overwrite: replace an existing registration.
        from_weights: optional ``from_weights(image_size, path)`` (see :class:`BackboneSpec`).

    Examples:
        >>> register_backbone("my-mlp", lambda size: nn.Sequential(
        ...     nn.Flatten(), nn.LazyLinear(16)), num_features=16, overwrite=True)
        >>> "my-mlp" in list_backbones()
        True
    """
    if name in _BACKBONES and not overwrite:
        raise ValueError(f"backbone {name!r} is already registered (pass overwrite=True)")
    _BACKBONES[name] = BackboneSpec(builder, num_features, stem, tuple(head_prefixes), in_channels,
                                    from_weights)


def list_backbones() -> list[str]:
    """Registered backbone names."""
    return sorted(_BACKBONES)


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return _BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown image backbone {name!r}; registered: {list_backbones()}") from None


def _torchvision(name: str, head: str) -> Callable[[int], nn.Module]:
    def build(image_size: int) -> nn.Module:
        import torchvision

        kwargs: dict[str, Any] = {"weights": None}
        if name.startswith("vit"):
            kwargs["image_size"] = image_size
        model = torchvision.models.get_model(name, **kwargs)
        setattr(model, head, nn.Identity())
        return model
    return build


class TinyCNN(nn.Module):
    """Three strided convolutions and global average pooling: a backbone for tests.

    GroupNorm instead of BatchNorm keeps every sample independent of its batch, so runs
    split over processes or micro-batches compute exactly what one big batch would.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1)
        self.body = nn.Sequential(
            nn.GroupNorm(4, width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, stride=2, padding=1), nn.GroupNorm(4, width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.conv1(x))


class CPUCNN(nn.Module):
    r"""A CPU-sized backbone that keeps *where* things are: four stride-2 conv blocks and a
    flattened 4x4 map.

    .. math::
        h_k = \mathrm{ReLU}(\mathrm{BN}(\mathrm{Conv}_{3\times3, s=2}(h_{k-1}))),\quad
        f = \mathrm{ReLU}(W\, \mathrm{vec}(\mathrm{AdaptiveAvgPool}_{4\times4}(h_4)))

    Built for the built-in synthetic benchmark, which pretrains three encoders in minutes
    on two CPU cores: ResNet-18 costs seconds per 64-image step there, and global average
    pooling (``tiny-cnn``, the ResNets) discards left versus right. About 3.5 M
    multiply-adds per 64-px image; 256-d output.

    Examples:
        >>> CPUCNN()(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 256])
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 32, 64, 64),
                 out_dim: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            conv = nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False)
            if i == 0:
                self.conv1 = conv  # the stem, adapted for grayscale like the others
            layers += [conv if i else nn.Identity(), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                                  nn.Linear(c * 16, out_dim), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.conv1(x))


register_backbone("resnet18", _torchvision("resnet18", "fc"), num_features=512, stem="conv1",
                  head_prefixes=("fc.",))
register_backbone("resnet50", _torchvision("resnet50", "fc"), num_features=2048, stem="conv1",
                  head_prefixes=("fc.",))
register_backbone("densenet121", _torchvision("densenet121", "classifier"), num_features=1024,
                  stem="features.conv0", head_prefixes=("classifier.",))
register_backbone("vit_b_16", _torchvision("vit_b_16", "heads"), num_features=768,
                  stem="conv_proj", head_prefixes=("heads.",))
register_backbone("tiny-cnn", lambda size: TinyCNN(32), num_features=32, stem="conv1")
register_backbone("cpu-cnn", lambda size: CPUCNN(in_channels=3), num_features=256, stem="conv1")


def _clip_vit_b_32(image_size: int) -> nn.Module:
    from graphclr.models.hf_clip import build_clip_vit_b_32

    return build_clip_vit_b_32(image_size)


def _clip_from_weights(image_size: int, path: str | os.PathLike[str]) -> nn.Module:
    from graphclr.models.hf_clip import clip_from_weights

    return clip_from_weights(image_size, path)


# OpenAI CLIP ViT-B/32 (Hugging Face CLIPVisionModel, pooler_output): graphclr.models.hf_clip
register_backbone("clip-vit-b-32", _clip_vit_b_32, num_features=768, from_weights=_clip_from_weights)


def _get_module(root: nn.Module, path: str) -> nn.Module:
    mod = root
    for part in path.split("."):
        mod = getattr(mod, part)
    return mod


def _set_module(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, last = path.rpartition(".")
    setattr(_get_module(root, parent) if parent else root, last, new)


def adapt_stem(model: nn.Module, stem: str, in_channels: int) -> None:
    """Replace the ``Conv2d`` at ``stem`` by one taking ``in_channels`` (1 or 3) inputs.

    Going 3 -> 1 sums the kernel over its input channels, so the new stem on a gray image
    equals the old one on that image repeated three times; 1 -> 3 repeats the kernel / 3.
    """
    conv = _get_module(model, stem)
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"stem {stem!r} is a {type(conv).__name__}, not a Conv2d")
    if conv.in_channels == in_channels:
        return
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(_adapt_kernel(conv.weight, in_channels))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    _set_module(model, stem, new)


def _adapt_kernel(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    have = weight.shape[1]
    if have == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(1, keepdim=True)
    if have == 1:
        return weight.repeat(1, in_channels, 1, 1) / in_channels
    raise ValueError(f"cannot adapt a {have}-channel stem to {in_channels} channels")


_OLD_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


#: how to turn a file that needs unpickling into plain weights, shown when one is refused
CONVERT_HINT = ("if you trust the file, convert it yourself once: python -c \"import torch; "
                "m = torch.load('{path}', weights_only=False); "
                "torch.save(m.state_dict() if hasattr(m, 'state_dict') else m, '{path}.state_dict.pt')\"")


def unpickle_reason(err: BaseException) -> str:
    """The useful part of a ``weights_only`` refusal (``Unsupported global: os.system``),
    without torch's advice to switch the safety off; one line."""
    text = " ".join(str(err).split()) or type(err).__name__
    m = re.search(r"WeightsUnpickler error: (.*)", text)
    return (m.group(1) if m else text)[:200]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read weights with ``torch.load(weights_only=True)``; never unpickle code.

    A file that needs more than tensors and plain containers (a pickled whole model, or
    anything carrying code) is refused with a ``ValueError`` that names the file and says
    how to convert it: running a file's code is only ever the user's own explicit act.
    """
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights not found: {path}")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - report which file and why
        raise ValueError(f"{path}: refused: not a weights-only file ({unpickle_reason(err)}); "
                         "graphclr never unpickles code; " + CONVERT_HINT.format(path=path)) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return dict(obj)


def load_backbone_weights(model: nn.Module, path: str | os.PathLike[str], spec: BackboneSpec) -> None:
    """Load a torchvision/torchxrayvision checkpoint into a built backbone (see module doc).

    Raises ``ValueError`` naming the file and the keys when they do not fit.
    """
    path = Path(path)
    raw = _read_state_dict(path)
    own = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        k = _OLD_DENSENET.sub(r"\1\2", key)
        for prefix in ("module.", "backbone.", "model."):
            rest = k[len(prefix):]
            if k.startswith(prefix) and (rest in own or rest.startswith(spec.head_prefixes)):
                k = rest
        if k.startswith(spec.head_prefixes) or k == "op_threshs":
            continue
        state[k] = value
    if spec.stem is not None:
        wkey = f"{spec.stem}.weight"
        if wkey in state and wkey in own and state[wkey].dim() == 4:
            state[wkey] = _adapt_kernel(state[wkey], own[wkey].shape[1])
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit this backbone; missing {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''} ({len(missing)}), unexpected "
                         f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''} ({len(unexpected)})")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        raise ValueError(f"{path}: shape mismatch for {bad[:5]} (e.g. {bad[0]}: file "
                         f"{tuple(state[bad[0]].shape)}, model {tuple(own[bad[0]].shape)})")
    model.load_state_dict(state)


def build_backbone(name: str, image_size: int, in_channels: int,
                   weights: str | os.PathLike[str] | None = None) -> nn.Module:
    """Build backbone ``name`` with an ``in_channels`` stem, optionally loading ``weights``."""
    spec = get_backbone_spec(name)
    if weights is not None and spec.from_weights is not None:
        return spec.from_weights(image_size, weights)
    model = spec.builder(image_size)
    if spec.stem is not None and in_channels != spec.in_channels:
        adapt_stem(model, spec.stem, in_channels)
    if weights is not None:
        load_backbone_weights(model, weights, spec)
    return model
