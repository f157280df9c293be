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

Pixel limit: a small file can describe a huge image (a 350 KB 16-bit PNG of 13000 x 13000
pixels decodes to 2 GB of float32). Every loader reads the size from the header first and
refuses an image of more than :data:`MAX_PIXELS` pixels (default 50 million, about
7000 x 7000; set ``GRAPHCLR_MAX_IMAGE_PIXELS`` or pass ``max_pixels=``) with an
:class:`ImageLoadError` of reason ``"oversized"``, before anything is decoded.

A JPEG cut short and given a new end-of-image marker passes the header check; libjpeg then
fills the missing rows with flat grey (128). ``probe_image(level="decode")`` flags an image
whose bottom rows are that fill (:func:`jpeg_fill_rows`).
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
    "MAX_PIXELS",
    "max_pixels",
    "jpeg_fill_rows",
]

#: default pixel limit (width x height) for any decoded image; see the module docstring
MAX_PIXELS: int = 50_000_000


def max_pixels() -> int:
    """The pixel limit in force: ``GRAPHCLR_MAX_IMAGE_PIXELS`` if set, else :data:`MAX_PIXELS`."""
    env = os.environ.get("GRAPHCLR_MAX_IMAGE_PIXELS")
    if env is None:
        return MAX_PIXELS
    try:
        value = int(env)
    except ValueError:
        raise ValueError(f"GRAPHCLR_MAX_IMAGE_PIXELS must be an integer, got {env!r}") from None
    if value < 1:
        raise ValueError(f"GRAPHCLR_MAX_IMAGE_PIXELS must be >= 1, got {value}")
    return value

#: file name endings treated as images by folder scans
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class ImageLoadError(OSError):
    """An image that is missing or cannot be decoded.

    Attributes:
        path: the file.
        reason: ``"missing"``, ``"unreadable"`` or ``"oversized"`` (over the pixel limit).
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


def _check_size(path: Path, size: tuple[int, int], limit: int | None) -> None:
    limit = max_pixels() if limit is None else int(limit)
    w, h = size
    if w * h > limit:
        raise ImageLoadError(path, "oversized", f"{w}x{h} = {w * h} pixels, over the limit of "
                             f"{limit}; raise it with GRAPHCLR_MAX_IMAGE_PIXELS or max_pixels=")


def _open(path: Path) -> Image.Image:
    import warnings

    try:
        with warnings.catch_warnings():   # PIL's bomb warning: our own limit decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except FileNotFoundError:
        raise ImageLoadError(path, "missing") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageLoadError(path, "unreadable", str(err)) from None


def load_image(path: str | os.PathLike[str], decode_size: int | None = None,
               max_pixels: int | None = None) -> Image.Image:
    """Decode one radiograph to an 8-bit greyscale PIL image.

    Args:
        path: the image file.
        decode_size: if given, JPEGs are decoded at the smallest DCT scale whose both sides
            are still >= this many pixels (other formats are unaffected). ``None`` decodes
            at full size.
        max_pixels: refuse images with more pixels than this, judged from the header
            before decoding (default :func:`max_pixels`).

    Raises:
        ImageLoadError: the file is missing, cannot be decoded (truncated, not an image) or
            is over the pixel limit.
    """
    path = Path(path)
    img = _open(path)
    try:
        _check_size(path, img.size, max_pixels)
        if decode_size and img.format == "JPEG":
            img.draft("L", (int(decode_size), int(decode_size)))
        img.load()  # reads the pixels and releases the file (single-frame formats)
        return _to_mode_l(img)
    except ImageLoadError:
        img.close()
        raise
    except (OSError, ValueError, SyntaxError) as err:
        img.close()
        raise ImageLoadError(path, "unreadable", str(err)) from None


def jpeg_fill_rows(img: Image.Image) -> int:
    """How many bottom rows of a decoded 8-bit image are libjpeg's flat grey fill (128).

    A JPEG whose data stops early decodes without an error: the rows it lacks come out as
    a uniform 128. Real radiographs do not end in exact mid-grey rows.

    Examples:
        >>> a = np.full((10, 4), 7, np.uint8); a[6:] = 128
        >>> jpeg_fill_rows(Image.fromarray(a))
        4
    """
    arr = np.asarray(img.convert("L") if img.mode != "L" else img)
    flat = (arr == 128).all(axis=1)
    if not flat.size or not flat[-1]:
        return 0
    return int(flat.size - np.flatnonzero(~flat)[-1] - 1) if (~flat).any() else int(flat.size)


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


def probe_image(path: str | os.PathLike[str], level: str = "header",
                max_pixels: int | None = None) -> tuple[int, int]:
    """Check that an image is present and readable without necessarily decoding it.

    Args:
        path: the image file.
        level: ``"exists"`` (the file is there), ``"header"`` (PIL identifies it and, for
            JPEG/PNG, the file is complete: about 0.1 ms per image), or ``"decode"`` (full
            decode; also catches a JPEG cut short whose end marker was put back).
        max_pixels: the pixel limit (default :func:`max_pixels`); checked at ``"header"``
            and ``"decode"``.

    Returns:
        ``(width, height)`` (``(0, 0)`` for ``"exists"``).

    Raises:
        ImageLoadError: missing, unreadable or oversized.
    """
    path = Path(path)
    if level not in ("exists", "header", "decode"):
        raise ValueError(f"level must be 'exists', 'header' or 'decode', got {level!r}")
    if not path.is_file():
        raise ImageLoadError(path, "missing")
    if level == "exists":
        return (0, 0)
    if level == "decode":
        img = load_image(path, max_pixels=max_pixels)
        if fmt_of(path) == "JPEG":
            fill = jpeg_fill_rows(img)
            if fill >= max(16, img.size[1] // 20):
                raise ImageLoadError(path, "unreadable", f"truncated JPEG: its bottom {fill} of "
                                     f"{img.size[1]} rows are decoder fill (flat grey)")
        return img.size
    with _open(path) as img:
        fmt, size = img.format, img.size
    _check_size(path, size, max_pixels)
    problem = _tail_ok(path, fmt)
    if problem:
        raise ImageLoadError(path, "unreadable", problem)
    return size


def fmt_of(path: Path) -> str | None:
    """The format PIL reads from ``path``'s header (``"JPEG"``, ``"PNG"``, ...)."""
    with _open(path) as img:
        return img.format


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
