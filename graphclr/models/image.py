"""The image tower and its preprocessing, which always travel together.

Chest X-rays are grayscale. graphclr keeps them that way up to the model:

* the transforms (:func:`image_transform`) turn a PIL image of *any* mode -- 8-bit ``L``,
  16-bit ``I;16``/``I`` (read as 16-bit data), ``RGB``, palette, with alpha, ... -- or a
  2-D NumPy array into a float gray image in ``[0, 1]``, resize the shorter side to
  ``image_size``, centre-crop (or random-resized-crop when training with ``augment``),
  normalise with one ``mean``/``std`` and return ``[channels, H, W]`` (``channels`` is 1
  unless a backbone insists on 3);
* the encoder (:class:`ImageEncoder`) feeds a one-channel image to a backbone whose stem
  was built for RGB in one of two documented ways: ``grayscale="adapt_stem"`` (default)
  sums the stem's kernel over RGB, so the image passes once through a 1-channel stem;
  ``grayscale="repeat"`` keeps the 3-channel stem and repeats the image three times.
  Both compute the same function (the tests check it); the first saves memory and time.

Normalisation: the default ``mean=0.449, std=0.226`` is ImageNet's, averaged over RGB.
For torchxrayvision weights use ``mean=0.5, std=1/2048`` (its ``[-1024, 1024]`` range).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from graphclr.models.backbones import build_backbone, get_backbone_spec
from graphclr.nn._config import dataclass_from_dict

__all__ = ["ImageEncoderCfg", "ImageEncoder", "create_image_encoder", "image_transform",
           "ImageTransform", "to_gray_tensor", "letterbox", "XRV_MEAN", "XRV_STD"]

log = logging.getLogger(__name__)

XRV_MEAN = 0.5
XRV_STD = 1 / 2048


@dataclass
class ImageEncoderCfg:
    """The image tower (``image_cfg`` of a model config)."""

    backbone: str = "resnet50"
    image_size: int = 224
    channels: int = 1                 #: channels the transform outputs (1, or 3)
    grayscale: str = "adapt_stem"     #: "adapt_stem" | "repeat"
    mean: list[float] = field(default_factory=lambda: [0.449])
    std: list[float] = field(default_factory=lambda: [0.226])
    pretrained: str | None = None     #: local torchvision / torchxrayvision weights file
    augment: bool = False             #: random resized crop when training
    crop_scale: list[float] = field(default_factory=lambda: [0.8, 1.0])
    interpolation: str = "bilinear"   #: "bilinear" | "bicubic"
    antialias: bool = True            #: antialias when downsizing (the IGCL reference: off)
    clamp: bool = True                #: clip resized pixels to [0, 1] (bicubic overshoots)
    letterbox: int | None = None      #: first fit the longer side into a black square this big

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError("image_cfg.channels must be 1 or 3")
        if self.grayscale not in ("adapt_stem", "repeat"):
            raise ValueError("image_cfg.grayscale must be 'adapt_stem' or 'repeat', got "
                             f"{self.grayscale!r}")
        if len(self.mean) not in (1, self.channels) or len(self.std) != len(self.mean):
            raise ValueError("image_cfg.mean/std need 1 or `channels` values each")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ValueError("image_cfg.interpolation must be 'bilinear' or 'bicubic'")
        if self.letterbox is not None and self.letterbox < 1:
            raise ValueError(f"image_cfg.letterbox must be a positive size or null, got {self.letterbox}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "image_cfg") -> ImageEncoderCfg:
        return dataclass_from_dict(cls, data, where)

    def preprocess_cfg(self) -> dict[str, Any]:
        """What the transforms need; stored in checkpoints."""
        return {"image_size": self.image_size, "channels": self.channels, "mean": list(self.mean),
                "std": list(self.std), "augment": self.augment,
                "crop_scale": list(self.crop_scale), "interpolation": self.interpolation,
                "antialias": self.antialias, "clamp": self.clamp, "letterbox": self.letterbox}


class ImageEncoder(nn.Module):
    """Backbone features ``[B, output_dim]`` from gray (or RGB) images (see module doc).

    Args:
        cfg: the tower's configuration; ``cfg.pretrained`` is loaded if set.
    """

    def __init__(self, cfg: ImageEncoderCfg) -> None:
        super().__init__()
        self.cfg = cfg
        spec = get_backbone_spec(cfg.backbone)
        stem_channels = 1 if (cfg.grayscale == "adapt_stem" and spec.stem is not None) else spec.in_channels
        self.backbone = build_backbone(cfg.backbone, cfg.image_size, stem_channels, cfg.pretrained)
        self.stem_channels = stem_channels
        self.output_dim = int(getattr(self.backbone, "feature_dim", spec.num_features))
        if cfg.pretrained and cfg.mean == [XRV_MEAN] and cfg.std == [XRV_STD]:
            log.info("image tower uses torchxrayvision normalisation")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4:
            raise ValueError(f"images must be [B, C, H, W], got {tuple(images.shape)}")
        c = images.shape[1]
        if c != self.stem_channels:
            if c == 1:
                images = images.expand(-1, self.stem_channels, -1, -1)
            elif self.stem_channels == 1 and c == 3:
                images = images.mean(1, keepdim=True)   # exact for gray images stored as RGB
            else:
                raise ValueError(f"images have {c} channels; this tower takes {self.stem_channels}")
        return self.backbone(images)


def create_image_encoder(cfg: ImageEncoderCfg | dict[str, Any]) -> ImageEncoder:
    """An :class:`ImageEncoder` from a config (dataclass or dict): the reusable image tower."""
    if isinstance(cfg, dict):
        cfg = ImageEncoderCfg.from_dict(cfg)
    return ImageEncoder(cfg)


# --- preprocessing ----------------------------------------------------------------------
def to_gray_tensor(image: Any) -> torch.Tensor:
    """A PIL image (any mode) or 2-D array as a float gray tensor ``[1, H, W]`` in ``[0, 1]``.

    16-bit data (PIL modes ``I;16*`` and ``I``, ``uint16`` arrays) is divided by 65535,
    8-bit by 255; float images (mode ``F``, float arrays) are taken as already in
    ``[0, 1]`` and clipped. Colour and palette images are converted to luminance and
    alpha is dropped.

    Examples:
        >>> from PIL import Image
        >>> to_gray_tensor(Image.new("RGB", (4, 2), (255, 255, 255))).shape
        torch.Size([1, 2, 4])
        >>> float(to_gray_tensor(Image.new("I;16", (2, 2), 65535)).max())
        1.0
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        mode = image.mode
        if mode.startswith("I;16") or mode == "I":
            arr = np.asarray(image, dtype=np.float32) / 65535.0
        elif mode == "F":
            arr = np.asarray(image, dtype=np.float32)
        else:
            if mode != "L":
                image = image.convert("L")
            arr = np.asarray(image, dtype=np.float32) / 255.0
    elif isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[-1] in (1, 3, 4):
            image = image[..., :3].mean(-1) if image.shape[-1] > 1 else image[..., 0]
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D image array, got shape {image.shape}")
        if image.dtype == np.uint8:
            arr = image.astype(np.float32) / 255.0
        elif image.dtype == np.uint16:
            arr = image.astype(np.float32) / 65535.0
        else:
            arr = image.astype(np.float32)
    else:
        raise TypeError(f"expected a PIL image or a NumPy array, got {type(image).__name__}")
    return torch.from_numpy(np.clip(arr, 0.0, 1.0).copy()).unsqueeze(0)


class ImageTransform:
    """Picklable preprocessing callable built from a ``preprocess_cfg`` dict (see module doc)."""

    def __init__(self, preprocess_cfg: dict[str, Any], is_train: bool) -> None:
        self.cfg = dict(preprocess_cfg)
        self.is_train = is_train
        self.size = int(self.cfg["image_size"])
        self.channels = int(self.cfg.get("channels", 1))
        mean = torch.tensor(self.cfg.get("mean", [0.449]), dtype=torch.float32)
        std = torch.tensor(self.cfg.get("std", [0.226]), dtype=torch.float32)
        self.mean = mean.view(-1, 1, 1)
        self.std = std.view(-1, 1, 1)
        self.augment = bool(self.cfg.get("augment", False)) and is_train
        self.crop_scale = tuple(self.cfg.get("crop_scale", [0.8, 1.0]))
        self.interpolation = self.cfg.get("interpolation", "bilinear")
        self.antialias = bool(self.cfg.get("antialias", True))
        self.clamp = bool(self.cfg.get("clamp", True))
        self.letterbox = self.cfg.get("letterbox")

    def __repr__(self) -> str:
        return (f"ImageTransform(size={self.size}, channels={self.channels}, "
                f"train={self.is_train}, augment={self.augment})")

    def __call__(self, image: Any) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode, RandomResizedCrop
        from torchvision.transforms import functional as TF

        x = to_gray_tensor(image)
        if self.letterbox:
            x = letterbox(x, int(self.letterbox))
        interp = InterpolationMode.BICUBIC if self.interpolation == "bicubic" else InterpolationMode.BILINEAR
        if self.augment:
            i, j, h, w = RandomResizedCrop.get_params(x, list(self.crop_scale), [3 / 4, 4 / 3])
            x = TF.resized_crop(x, i, j, h, w, [self.size, self.size], interp, antialias=self.antialias)
        else:
            x = TF.resize(x, self.size, interp, antialias=self.antialias)
            x = TF.center_crop(x, [self.size, self.size])
        if self.clamp:
            x = x.clamp_(0.0, 1.0)
        if self.channels == 3:
            x = x.expand(3, -1, -1)
        return ((x - self.mean) / self.std).contiguous()


def letterbox(x: torch.Tensor, size: int) -> torch.Tensor:
    """CheXzero's square: scale ``[1, H, W]`` so its longer side is ``size`` (Lanczos, sizes
    truncated to integers), paste it centred on a black ``size x size`` square.

    (CheXzero did this on 8-bit images; here it runs in float, so results differ from it
    by less than one grey level.)

    Examples:
        >>> letterbox(torch.ones(1, 4, 8), 4)[0].tolist()
        [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    """
    from PIL import Image

    h, w = x.shape[-2:]
    ratio = size / max(h, w)
    nw, nh = int(w * ratio), int(h * ratio)
    img = Image.fromarray(x[0].numpy().astype(np.float32), mode="F").resize((nw, nh), Image.LANCZOS)
    out = torch.zeros(1, size, size)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[0, top:top + nh, left:left + nw] = torch.from_numpy(np.asarray(img, dtype=np.float32).copy())
    return out.clamp_(0.0, 1.0)


def image_transform(preprocess: ImageEncoderCfg | dict[str, Any], is_train: bool) -> ImageTransform:
    """The train or eval transform for a tower's ``preprocess_cfg`` (or its config)."""
    cfg = preprocess.preprocess_cfg() if isinstance(preprocess, ImageEncoderCfg) else preprocess
    if not math.isfinite(float(cfg["image_size"])) or int(cfg["image_size"]) < 1:
        raise ValueError("preprocess image_size must be a positive integer")
    return ImageTransform(cfg, is_train)
