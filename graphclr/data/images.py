"""Image decoding shared by every dataset: one place that knows file formats.

Radiographs arrive as 8-bit JPEG (MIMIC-CXR-JPG, CheXpert), 8-bit PNG (Open-i, Hannover) or
16-bit PNG (some exports). Every loader here returns a PIL image in mode ``"L"`` so that a
model's transform (which accepts PIL images of any mode) sees the same thing whatever the
source, and a corrupt file raises :class:`ImageLoadError` naming the file instead of a bare
``OSError`` from deep inside PIL.

JPEG decoding is the slow part of a CXR loader (a 2,500 x 3,000 MIMIC image takes tens of
milliseconds). ``load_image(path, decode_size=S)`` uses libjpeg's DCT scaling
(:meth:`PIL.Image.Image.draft`) to decode at 1/2, 1/4 or 1/8 scale while keeping both sides
>= ``S``, which is exact enough for a model that resizes to ``S`` anyway and several times
faster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageLoadError",
    "load_image",
    "probe_image",
    "resize_square",
    "default_transform",
    "GrayscaleToTensor",
]

#: file name endings treated as images by folder scans
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class ImageLoadError(OSError):
    """An image that is missing or cannot be decoded.

    Attributes:
        path: the file.
        reason: ``"missing"`` or ``"unreadable"``.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        msg = f"{self.path}: {reason} image"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


def _to_mode_l(img: Image.Image) -> Image.Image:
    """8-bit greyscale; 16-bit images are scaled by their own maximum, not clipped."""
    if img.mode == "L":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 0.0
        if top > 0:
            arr = arr * (255.0 / top)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA" if img.mode != "LA" else "LA")
    return img.convert("L")


def load_image(path: str | os.PathLike[str], decode_size: int | None = None) -> Image.Image:
    """Decode one radiograph to an 8-bit greyscale PIL image.

    Args:
        path: the image file.
        decode_size: if given, JPEGs are decoded at the smallest DCT scale whose both sides
            are still >= this many pixels (other formats are unaffected). ``None`` decodes
            at full size.

    Raises:
        ImageLoadError: the file is missing or cannot be decoded (truncated, not an image).
    """
    path = Path(path)
    try:
        img = Image.open(path)
    except FileNotFoundError:
        raise ImageLoadError(path, "missing") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageLoadError(path, "unreadable", str(err)) from None
    try:
        if decode_size and img.format == "JPEG":
            img.draft("L", (int(decode_size), int(decode_size)))
        img.load()  # reads the pixels and releases the file (single-frame formats)
        return _to_mode_l(img)
    except (OSError, ValueError, SyntaxError) as err:
        img.close()
        raise ImageLoadError(path, "unreadable", str(err)) from None


def _tail_ok(path: Path, fmt: str | None) -> str | None:
    """Cheap completeness check: a JPEG must end with EOI, a PNG must contain IEND."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 64))
        tail = fh.read()
    if fmt == "JPEG" and b"\xff\xd9" not in tail[-16:]:
        return "truncated JPEG (no end-of-image marker)"
    if fmt == "PNG" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    return None


def probe_image(path: str | os.PathLike[str], level: str = "header") -> tuple[int, int]:
    """Check that an image is present and readable without necessarily decoding it.

    Args:
        path: the image file.
        level: ``"exists"`` (the file is there), ``"header"`` (PIL identifies it and, for
            JPEG/PNG, the file is complete: about 0.1 ms per image), or ``"decode"`` (full
            decode).

    Returns:
        ``(width, height)`` (``(0, 0)`` for ``"exists"``).

    Raises:
        ImageLoadError: missing or unreadable.
    """
    path = Path(path)
    if level not in ("exists", "header", "decode"):
        raise ValueError(f"level must be 'exists', 'header' or 'decode', got {level!r}")
    if not path.is_file():
        raise ImageLoadError(path, "missing")
    if level == "exists":
        return (0, 0)
    if level == "decode":
        img = load_image(path)
        return img.size
    try:
        with Image.open(path) as img:
            fmt, size = img.format, img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageLoadError(path, "unreadable", str(err)) from None
    problem = _tail_ok(path, fmt)
    if problem:
        raise ImageLoadError(path, "unreadable", problem)
    return size


def resize_square(img: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size``, then centre-crop to ``size`` x ``size``.

    The crop keeps the aspect ratio (no squashing); radiographs are close to square, so it
    removes at most a sliver at the borders.
    """
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=2.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    if (nw, nh) != (size, size):
        img = img.crop((left, top, left + size, top + size))
    return img


class GrayscaleToTensor:
    """The default transform: PIL image (any mode) -> float tensor ``[1, H, W]`` in [0, 1].

    A class rather than a lambda so that datasets stay picklable for DataLoader workers.
    """

    def __call__(self, img: Any) -> Any:
        import torch

        if isinstance(img, Image.Image):
            img = _to_mode_l(img)
            arr = np.asarray(img, dtype=np.uint8)
        else:
            arr = np.asarray(img)
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32) / 255.0)[None]

    def __repr__(self) -> str:
        return "GrayscaleToTensor()"


def default_transform() -> GrayscaleToTensor:
    """The transform used when a dataset is given none."""
    return GrayscaleToTensor()
