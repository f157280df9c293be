"""Image caches, so decoding never limits training: on disk (memory-mapped) and in memory.

Two tiers of one cache, used together:

* :func:`build_image_cache` / :class:`ImageCache` (``graphclr data cache``): every image
  decoded and resized once into a memory-mapped file; a dataset given ``cache=DIR`` reads
  its images from there (below).
* :func:`materialize` / :class:`MaterializedDataset`: a dataset held in memory with its
  images already *transformed* (the model's deterministic eval transform), for the many
  passes of a benchmark over a few thousand small images. Its images are read through the
  dataset, so from the on-disk cache when one is attached.

Decoding a full-size MIMIC-CXR JPEG and resizing it costs tens of milliseconds of CPU per
image; a GPU consumes a ResNet batch faster than that. The cache stores every image once,
resized (shorter side to ``size``, centre crop) to ``uint8 [size, size]``, in one flat file
that readers memory-map: reading an item is a 50 kB copy.

Layout of a cache directory::

    images.u8     raw uint8, shape [N, size, size] (C order), row i = index.csv row i
    index.csv     row, path   (the dataset's csv["path"], the key items are looked up by)
    done.npy      bool [N]: rows already written (resume point)
    meta.json     {"format": "graphclr-image-cache/1", "size", "count", "complete", ...}

Writing is resumable and safe to interrupt: rows are written into the memory map, flushed,
and only then marked in ``done.npy`` (replaced atomically); ``meta.json`` says
``"complete": true`` only after the last row. A reader uses the rows marked done, so a
partial cache already helps, and items not in it are decoded as usual.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphclr.data.images import ImageLoadError, load_image, resize_square
from graphclr.utils import atomic_path, atomic_write

__all__ = ["ImageCache", "build_image_cache", "CACHE_FORMAT", "MaterializedDataset", "materialize"]

log = logging.getLogger(__name__)

CACHE_FORMAT = "graphclr-image-cache/1"


class ImageCache:
    """Read side of a cache directory (opened lazily, so it pickles into DataLoader workers)."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(cache_dir)
        meta_path = self.dir / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.dir}: not an image cache (no meta.json)")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("format") != CACHE_FORMAT:
            raise ValueError(f"{self.dir}: unsupported cache format {self.meta.get('format')!r}")
        self.size = int(self.meta["size"])
        self.count = int(self.meta["count"])
        index = pd.read_csv(self.dir / "index.csv", dtype={"path": str})
        done = np.load(self.dir / "done.npy") if (self.dir / "done.npy").is_file() else np.zeros(self.count, bool)
        self._row = {p: int(r) for r, p, d in zip(index["row"], index["path"], done[index["row"]]) if d}
        self._images: np.ndarray | None = None

    @property
    def complete(self) -> bool:
        return bool(self.meta.get("complete"))

    def __len__(self) -> int:
        return len(self._row)

    def has(self, key: str) -> bool:
        return key in self._row

    def array(self, key: str) -> np.ndarray | None:
        """The cached ``uint8 [size, size]`` image for a dataset path key, or ``None``."""
        row = self._row.get(key)
        if row is None:
            return None
        if self._images is None:
            self._images = np.memmap(self.dir / "images.u8", dtype=np.uint8, mode="r",
                                     shape=(self.count, self.size, self.size))
        return np.array(self._images[row])

    def get(self, key: str) -> Any:
        """The cached image as a PIL image (mode ``"L"``), or ``None``."""
        from PIL import Image

        arr = self.array(key)
        return None if arr is None else Image.fromarray(arr, mode="L")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_images"] = None
        return state


class _Decode:
    """Picklable worker: dataset path -> resized uint8 array (or the error text)."""

    def __init__(self, dataset: Any, size: int, rows: Sequence[int]) -> None:
        self.dataset = dataset
        self.size = size
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> tuple[int, np.ndarray | None, str]:
        i = self.rows[k]
        try:
            img = load_image(self.dataset.image_path(i), decode_size=self.size)
        except ImageLoadError as err:
            return i, None, str(err)
        return i, np.asarray(resize_square(img, self.size), dtype=np.uint8), ""


def _identity(item: Any) -> Any:
    """Keep worker results as NumPy arrays (no tensor conversion)."""
    return item


def build_image_cache(dataset: Any, cache_dir: str | os.PathLike[str], size: int = 256, *,
                      num_workers: int = 0, flush_every: int = 512, progress: bool = True) -> ImageCache:
    """Write (or finish writing) an image cache for every item of ``dataset``.

    Args:
        dataset: any graphclr dataset (its ``csv["path"]`` are the keys).
        cache_dir: the cache directory; an existing cache for the same items and size is
            resumed, a different one is refused.
        size: side of the stored square images (use the model's input size or a bit more).
        num_workers: decoding processes (0 = in this process).
        flush_every: rows between flushes of the done-mask (the resume granularity).
        progress: show a tqdm bar.

    Returns:
        the cache, ready to read. Unreadable images are logged, left unmarked and listed in
        ``meta.json`` (``"failed"``); the dataset decodes (and skips) them as usual.
    """
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = dataset.csv["path"].astype(str).tolist()
    n = len(keys)
    meta_path = cache_dir / "meta.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        old_index = pd.read_csv(cache_dir / "index.csv", dtype={"path": str})["path"].tolist()
        if old.get("size") != size or old_index != keys:
            raise ValueError(f"{cache_dir}: holds a cache of other items or size "
                             f"({old.get('count')} items, size {old.get('size')}); use a new folder")
    else:
        with atomic_write(cache_dir / "index.csv") as fh:
            pd.DataFrame({"row": np.arange(n), "path": keys}).to_csv(fh, index=False)
        _write_meta(cache_dir, size, n, complete=False, failed=[])
    images_path = cache_dir / "images.u8"
    nbytes = n * size * size
    if not images_path.is_file() or images_path.stat().st_size != nbytes:
        with images_path.open("ab") as fh:
            fh.truncate(nbytes)
    done_path = cache_dir / "done.npy"
    done = np.load(done_path) if done_path.is_file() else np.zeros(n, dtype=bool)
    todo = np.flatnonzero(~done).tolist()
    failed: list[str] = []
    if todo:
        mm = np.memmap(images_path, dtype=np.uint8, mode="r+", shape=(n, size, size))
        loader = DataLoader(_Decode(dataset, size, todo), batch_size=None, shuffle=False,
                            num_workers=num_workers, collate_fn=_identity)
        since = 0
        t0 = time.perf_counter()
        for i, arr, err in tqdm(loader, total=len(todo), desc="image cache", unit="img",
                                disable=not progress or None):
            if arr is None:
                failed.append(err)
                log.warning("cache: %s", err)
                continue
            mm[i] = arr
            done[i] = True
            since += 1
            if since >= flush_every:
                _save_done(mm, done, done_path)
                since = 0
        _save_done(mm, done, done_path)
        del mm
        log.info("cache: wrote %d image(s) in %.1f s", len(todo) - len(failed), time.perf_counter() - t0)
    elif not done_path.is_file():
        np.save(done_path, done)
    _write_meta(cache_dir, size, n, complete=bool(done.all()), failed=failed)
    return ImageCache(cache_dir)


def _save_done(mm: np.memmap, done: np.ndarray, done_path: Path) -> None:
    mm.flush()
    with atomic_path(done_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, done)


def _write_meta(cache_dir: Path, size: int, count: int, *, complete: bool, failed: list[str]) -> None:
    meta = {"format": CACHE_FORMAT, "size": size, "count": count, "dtype": "uint8",
            "layout": "[count, size, size] C order; row i = index.csv row i",
            "resize": "shorter side to size (bilinear), centre crop", "complete": complete,
            "failed": failed}
    with atomic_write(cache_dir / "meta.json") as fh:
        json.dump(meta, fh, indent=1)


class MaterializedDataset:
    """A dataset held in memory with its images already transformed.

    The built-in benchmark trains three encoders on the same few thousand small images;
    decoding each PNG and re-reading its graph for every step of every encoder cost more
    than the training step itself on two CPU cores. With a deterministic transform (no
    augmentation) the transformed images are the same every epoch, so they are computed
    once and shared by every encoder and by feature extraction. Items, ``.csv``,
    ``.labels`` and ``.pathologies`` follow the dataset contract.
    """

    def __init__(self, dataset: Any, transform: Any, *, progress: bool = True, desc: str = "loading") -> None:
        import torch
        from tqdm.auto import tqdm

        self.csv = dataset.csv.reset_index(drop=True)
        self.labels = dataset.labels
        self.pathologies = list(dataset.pathologies)
        self.paired = bool(getattr(dataset, "paired", False))
        self.transform = transform
        old = dataset.transform
        dataset.transform = transform
        images, meta = [], []
        try:
            for i in tqdm(range(len(dataset)), desc=desc, disable=not progress, leave=False):
                item = dataset[i]
                images.append(item.pop("image"))
                meta.append(item)
        finally:
            dataset.transform = old
        self.images = torch.stack(images) if images else torch.zeros(0)
        self.items = meta

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        item = dict(self.items[idx])
        item["image"] = self.images[idx]
        return item


def materialize(dataset: Any, transform: Any, *, item_bytes: int, max_bytes: int, augmented: bool = False,
                progress: bool = True, desc: str = "loading") -> Any:
    """``dataset`` as a :class:`MaterializedDataset` under ``transform`` when the transform
    is deterministic (not ``augmented``) and ``len(dataset) * item_bytes`` fits in
    ``max_bytes``; otherwise ``dataset`` itself with ``transform`` set.

    Examples:
        >>> import torch
        >>> class Tiny:   # the dataset contract, two items
        ...     csv, labels, pathologies = pd.DataFrame({"path": ["a", "b"]}), np.zeros((2, 1)), ["x"]
        ...     transform = None
        ...     def __len__(self): return 2
        ...     def __getitem__(self, i): return {"image": self.transform(float(i)), "id": str(i)}
        >>> mem = materialize(Tiny(), lambda v: torch.full((1, 2, 2), v), item_bytes=16, max_bytes=64,
        ...                   progress=False)
        >>> type(mem).__name__, mem[1]["image"].sum().item(), mem[1]["id"]
        ('MaterializedDataset', 4.0, '1')
        >>> type(materialize(Tiny(), lambda v: v, item_bytes=16, max_bytes=16, progress=False)).__name__
        'Tiny'
    """
    if augmented or len(dataset) * int(item_bytes) > max_bytes:
        dataset.transform = transform
        return dataset
    return MaterializedDataset(dataset, transform, progress=progress, desc=desc)
