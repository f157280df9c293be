"""The dataset contract every graphclr dataset follows, and the machinery they share.

The contract is torchxrayvision's, extended for image-graph pairs:

* ``.csv``: a :class:`pandas.DataFrame`, one row per item, aligned with ``.labels``; it has
  at least ``id`` and ``path`` columns, and ``patient_id`` whenever the source knows it;
* ``.pathologies``: the label names (columns of ``.labels``);
* ``.labels``: ``float32`` array ``[N, L]``; ``1`` positive, ``0`` negative, ``NaN`` not
  given (how uncertain ``-1`` labels map is each dataset's ``uncertain`` argument);
* ``dataset[i]``: a dict with ``idx``, ``image`` (after ``transform``), ``labels`` (a float
  tensor ``[L]``), ``id``, ``path``, ``patient_id`` when known, and for paired datasets
  ``graph`` (a :class:`graphclr.reports.schema.ReportGraph`) and ``text`` (``str``).

Bad data and ``strict``
-----------------------
Problems found while *building* a dataset (a bad label value, a malformed manifest row, an
image listed twice) raise an error naming the file, line and field when ``strict=True``;
with ``strict=False`` the offending item is dropped, logged and recorded in
:attr:`CXRDataset.skipped`.

Problems found while *iterating* (a missing or corrupt image file, a malformed graph
record, which are only discovered when the item is read) raise
:class:`~graphclr.data.images.ImageLoadError` / ``ValueError`` when ``strict=True``. With
``strict=False`` the item is logged, remembered as bad, and ``dataset[i]`` returns the *next*
readable item instead (wrapping around), so one corrupt JPEG never kills an epoch. The
returned dict's ``idx`` is the index of the item actually returned. The bad items are
listed in :attr:`CXRDataset.bad_items` (per process: each DataLoader worker keeps its own),
and :func:`graphclr.data.check_dataset` finds them all ahead of time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from graphclr.data.images import ImageLoadError, default_transform, load_image

__all__ = ["CXRDataset", "REPORT_FIELDS", "dataset_reports", "report_key_of", "Skipped", "SubsetDataset",
           "collate_items", "LABEL_UNCERTAIN_POLICIES",
           "map_uncertain"]

log = logging.getLogger(__name__)

#: how CheXpert-style ``-1`` (uncertain) labels become training targets (Irvin et al. 2019):
#: ``"nan"`` U-Ignore, ``"ones"`` U-Ones, ``"zeros"`` U-Zeros, ``"keep"`` leaves -1.
LABEL_UNCERTAIN_POLICIES: tuple[str, ...] = ("nan", "ones", "zeros", "keep")


@dataclass(frozen=True)
class Skipped:
    """One item dropped or found bad: what kind of problem, where, and the detail."""

    kind: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}" + (f" ({self.detail})" if self.detail else "")


def map_uncertain(labels: np.ndarray, policy: str) -> np.ndarray:
    """Apply an uncertain-label policy (see :data:`LABEL_UNCERTAIN_POLICIES`) to a copy.

    Examples:
        >>> map_uncertain(np.array([[1.0, -1.0, np.nan]]), "ones").tolist()
        [[1.0, 1.0, nan]]
    """
    if policy not in LABEL_UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain must be one of {LABEL_UNCERTAIN_POLICIES}, got {policy!r}")
    out = np.array(labels, dtype=np.float32, copy=True)
    if policy == "nan":
        out[out == -1] = np.nan
    elif policy == "ones":
        out[out == -1] = 1.0
    elif policy == "zeros":
        out[out == -1] = 0.0
    return out


class CXRDataset(Dataset):
    """Base class: the contract above plus image loading, caching and bad-item handling.

    Subclasses fill ``self.csv`` (with ``id``, ``path``), ``self.pathologies``,
    ``self.labels``, ``self.root`` and, for paired data, override :meth:`_report`.

    Args:
        transform: callable taking a PIL image (mode ``"L"``); default
            :func:`~graphclr.data.images.default_transform` (float tensor ``[1, H, W]``).
        strict: raise on bad data (default) or skip it (see the module docstring).
        decode_size: decode JPEGs at reduced DCT scale, both sides >= this (see
            :func:`~graphclr.data.images.load_image`); ``None`` decodes at full size.
        cache: an image cache directory written by :func:`graphclr.data.build_image_cache`;
            items found there are read from it instead of being decoded.
    """

    #: ``True`` for datasets whose items carry ``graph`` and ``text``
    paired: bool = False
    #: with ``strict=False``: how many unreadable items to replace before giving up
    #: (``None``: no limit; ``graphclr pretrain --skip-bad-images N`` sets it)
    bad_item_limit: int | None = None

    def __init__(self, *, transform: Callable[[Any], Any] | None = None, strict: bool = True,
                 decode_size: int | None = None,
                 cache: str | os.PathLike[str] | None = None) -> None:
        self.transform = transform if transform is not None else default_transform()
        self.strict = strict
        self.decode_size = decode_size
        self.root: Path = Path(".")
        self.csv: pd.DataFrame = pd.DataFrame({"id": [], "path": []})
        self.pathologies: list[str] = []
        self.labels: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        #: items dropped while building the dataset (strict=False), with the reason
        self.skipped: list[Skipped] = []
        #: item index -> problem, for items found unreadable while iterating (this process)
        self.bad_items: dict[int, Skipped] = {}
        self._cache_dir = Path(cache) if cache is not None else None
        self._cache: Any = None

    # --- bookkeeping used by subclasses while building -------------------------------
    def _problem(self, kind: str, where: str, detail: str = "",
                 error: type[Exception] = ValueError) -> None:
        """Raise (strict) or record and log a construction-time problem."""
        item = Skipped(kind, where, detail)
        if self.strict:
            raise error(str(item))
        self.skipped.append(item)
        log.warning("skipped %s", item)

    def _finish(self) -> None:
        """Check the contract after a subclass has filled csv/labels; attach the cache."""
        self.csv = self.csv.reset_index(drop=True)
        self.labels = np.asarray(self.labels, dtype=np.float32).reshape(len(self.csv), len(self.pathologies))
        for col in ("id", "path"):
            if col not in self.csv.columns:
                raise AssertionError(f"{type(self).__name__}.csv lacks the {col!r} column")
        if self.skipped:
            log.info("%s: %d item(s) skipped while building (see .skipped)", type(self).__name__,
                     len(self.skipped))
        if self._cache_dir is not None:
            self.attach_cache(self._cache_dir)

    # --- the contract ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.csv)

    def image_path(self, idx: int) -> Path:
        """Absolute path of item ``idx``'s image (``csv["path"]`` is relative to ``root``)."""
        return self.root / str(self.csv["path"].iat[idx])

    def load_pil(self, idx: int) -> Any:
        """Item ``idx``'s image as a PIL image (from the cache when attached), no transform."""
        if self._cache is not None:
            img = self._cache.get(str(self.csv["path"].iat[idx]))
            if img is not None:
                return img
        return load_image(self.image_path(idx), decode_size=self.decode_size)

    def report(self, idx: int) -> tuple[Any, str | None]:
        """``(ReportGraph or None, text or None)`` of item ``idx``; overridden by datasets with reports."""
        return None, None

    def get_item(self, idx: int) -> dict[str, Any]:
        """Item ``idx`` exactly, raising on a bad image or graph whatever ``strict`` says."""
        import torch

        row = self.csv.iloc[idx]
        item: dict[str, Any] = {"idx": int(idx), "id": str(row["id"]), "path": str(self.image_path(idx))}
        if "patient_id" in self.csv.columns and pd.notna(row["patient_id"]):
            item["patient_id"] = str(row["patient_id"])
        graph, text = self.report(idx)
        if graph is not None:
            item["graph"] = graph
        if text is not None:
            item["text"] = text
        item["image"] = self.transform(self.load_pil(idx))
        item["labels"] = torch.from_numpy(self.labels[idx].copy())
        return item

    def __getitem__(self, idx: int) -> dict[str, Any]:
        n = len(self)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"index {idx} out of range for {n} items")
        if self.strict:
            return self.get_item(idx)
        for step in range(n):
            j = (idx + step) % n
            if j in self.bad_items:
                continue
            try:
                return self.get_item(j)
            except (ImageLoadError, ValueError, KeyError) as err:
                kind = f"{err.reason}_image" if isinstance(err, ImageLoadError) else "bad_item"
                self.bad_items[j] = Skipped(kind, str(self.csv["id"].iat[j]), str(err))
                log.warning("bad item %d of at most %s (%s), returning the next one instead: %s",
                            len(self.bad_items), self.bad_item_limit, self.csv["id"].iat[j], err)
                if self.bad_item_limit is not None and len(self.bad_items) > self.bad_item_limit:
                    raise ValueError(f"{len(self.bad_items)} unreadable items, more than the "
                                     f"{self.bad_item_limit} allowed; the last: {err}") from None
        raise RuntimeError(f"{type(self).__name__}: none of the {n} items is readable "
                           f"({len(self.bad_items)} bad; first: {next(iter(self.bad_items.values()), None)})")

    # --- conveniences ------------------------------------------------------------------
    def with_transform(self, transform: Callable[[Any], Any]) -> CXRDataset:
        """A shallow copy whose items are transformed by ``transform`` (the trainer gives
        every dataset the model's own transform this way)."""
        import copy

        out = copy.copy(self)
        out.transform = transform
        return out

    def attach_cache(self, cache_dir: str | os.PathLike[str] | None) -> None:
        """Read images from a pre-resized cache (``None`` detaches it)."""
        if cache_dir is None:
            self._cache = None
            self._cache_dir = None
            return
        from graphclr.data.cache import ImageCache

        self._cache_dir = Path(cache_dir)
        self._cache = ImageCache(cache_dir)
        missing = int((~self.csv["path"].astype(str).map(self._cache.has)).sum())
        if missing:
            log.warning("%s: %d of %d items are not in the cache %s and will be decoded",
                        type(self).__name__, missing, len(self), cache_dir)

    def totals(self) -> dict[str, dict[str, int]]:
        """Per label: counts of positives (1), negatives (0), uncertain (-1) and not given."""
        out = {}
        for j, name in enumerate(self.pathologies):
            col = self.labels[:, j]
            out[name] = {"positive": int((col == 1).sum()), "negative": int((col == 0).sum()),
                         "uncertain": int((col == -1).sum()), "missing": int(np.isnan(col).sum())}
        return out

    @property
    def patient_ids(self) -> np.ndarray | None:
        """``csv["patient_id"]`` as strings, or ``None`` when the source has no patients."""
        if "patient_id" not in self.csv.columns:
            return None
        return self.csv["patient_id"].astype(str).to_numpy()

    def __repr__(self) -> str:
        extra = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (f"{type(self).__name__}(num_items={len(self)}, pathologies={len(self.pathologies)}, "
                f"paired={self.paired}, root={str(self.root)!r}{extra})")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None  # memmaps are reopened in each worker
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._cache_dir is not None:
            from graphclr.data.cache import ImageCache

            self._cache = ImageCache(self._cache_dir)


class SubsetDataset(CXRDataset):
    """Some items of a dataset, keeping the contract (``csv``/``labels`` are subset too).

    Used for label-fraction and K-shot subsets (:mod:`graphclr.data.subsets`).
    """

    def __init__(self, dataset: CXRDataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(dataset)):
            raise IndexError(f"subset indices out of range for {len(dataset)} items")
        self.paired = dataset.paired
        self.transform = dataset.transform
        self.strict = dataset.strict
        self.decode_size = dataset.decode_size
        self.root = dataset.root
        self.csv = dataset.csv.iloc[self.indices].reset_index(drop=True)
        self.pathologies = list(dataset.pathologies)
        self.labels = dataset.labels[self.indices]
        self.skipped = []
        self.bad_items = {}
        self._cache_dir = None
        self._cache = None

    def with_transform(self, transform: Callable[[Any], Any]) -> SubsetDataset:
        out = super().with_transform(transform)
        out.dataset = self.dataset.with_transform(transform)   # the items come from there
        return out

    def get_item(self, idx: int) -> dict[str, Any]:
        item = self.dataset.get_item(int(self.indices[idx]))
        item["idx"] = int(idx)
        item["source_idx"] = int(self.indices[idx])
        return item


def collate_items(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch dataset items: tensors are stacked, everything else (graphs, text, ids) is listed.

    ``torch.utils.data.default_collate`` cannot batch :class:`~graphclr.reports.schema.ReportGraph`;
    the training loop turns the ``graph`` list into a DGL batch with the model's
    ``report_processor``.
    """
    import torch

    if not items:
        return {}
    out: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], (int, np.integer)) and key in ("idx", "source_idx"):
            out[key] = torch.tensor(values, dtype=torch.long)
        else:
            out[key] = values
    return out


#: the item fields a report can be given in: a graph (``ReportGraph``/``GraphArrays``) or text
REPORT_FIELDS: tuple[str, ...] = ("graph", "text")


def report_key_of(model: Any) -> str:
    """The item field a model's ``report_processor`` reads (graphclr's one such lookup).

    A model names it in ``report_key`` (``GraphCLIP``: ``"graph"``, ``TextCLIP``: ``"text"``);
    a DDP wrapper is looked through; a model without one takes graphs.

    Examples:
        >>> class Text:
        ...     report_key = "text"
        >>> report_key_of(Text()), report_key_of(object())
        ('text', 'graph')
    """
    model = getattr(model, "module", model)
    key = getattr(model, "report_key", None) or "graph"
    if key not in REPORT_FIELDS:
        raise ValueError(f"{type(model).__name__}.report_key must be one of {REPORT_FIELDS}; got {key!r}")
    return str(key)


def dataset_reports(dataset: Any, key: str = "graph", *, skip_missing: bool = False) -> list[Any]:
    """Every item's report (``key`` = ``"graph"`` or ``"text"``) without decoding images.

    Uses the dataset's ``report(idx)`` lookup (every graphclr dataset has one); any other
    dataset is read item by item. Used to build vocabularies and text baselines' tokenisers
    from the pretraining data.

    Args:
        skip_missing: leave out items without that report instead of raising.
    """
    if key not in REPORT_FIELDS:
        raise ValueError(f"key must be one of {REPORT_FIELDS}, got {key!r}")
    lookup = getattr(dataset, "report", None)
    out = []
    for i in range(len(dataset)):
        if lookup is not None:
            graph, text = lookup(i)
            value = graph if key == "graph" else text
        else:
            value = dataset[i].get(key)
        if value is None:
            if skip_missing:
                continue
            raise ValueError(f"item {i} of the dataset has no {key!r}")
        out.append(value)
    return out
