"""8-bit greyscale PNGs of rendered images, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["encode_png", "save_png"]


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """An 8-bit greyscale PNG of ``array`` (no row filters: the noisy images gain nothing
    from them, and skipping them makes encoding about as fast as zlib itself).

    Examples:
        >>> import io
        >>> from PIL import Image
        >>> a = np.arange(12, dtype=np.uint8).reshape(3, 4)
        >>> np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(a)))), a)
        True
    """
    import struct
    import zlib

    if array.dtype != np.uint8 or array.ndim != 2:
        raise ValueError(f"expected a uint8 [H, W] array, got {array.dtype} {array.shape}")
    h, w = array.shape
    raw = np.empty((h, w + 1), np.uint8)
    raw[:, 0] = 0  # filter type 0 (none) on every row
    raw[:, 1:] = array

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + chunk(b"IEND", b""))


def save_png(array: np.ndarray, path: str | os.PathLike[str], compress_level: int = 1) -> None:
    """Write a greyscale PNG atomically (temporary file + rename), so parallel or
    interrupted builds never leave a half-written image under the final name."""
    from graphclr.utils import atomic_path

    data = encode_png(array, compress_level)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
