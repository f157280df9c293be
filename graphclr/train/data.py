"""Batches for the training loop: one collate function for every model, resumable order.

Dataset items follow the :mod:`graphclr.data` contract: dicts with ``"image"`` (a tensor
``[C, H, W]`` already transformed, or a PIL image / array, transformed here with the
model's train transform) and the report under ``"graph"`` (a ``ReportGraph`` or
``GraphArrays``) or ``"text"``. The model says which field it reads (``report_key``) and
how to batch it (``report_processor``), so the same loop trains graph and text models.

The order of items is ``DistributedSampler``'s (seeded, reshuffled per epoch; one process
is a world of size 1). A resumed run skips the micro-batches already consumed in the
current epoch, so it sees exactly the items an uninterrupted run would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from graphclr.data.base import report_key_of

__all__ = ["PairCollator", "SkipSampler", "make_loader", "report_key_of", "with_model_transform"]


def with_model_transform(dataset: Any, transform: Callable[[Any], torch.Tensor] | None) -> Any:
    """``dataset`` with its images transformed by ``transform`` (a copy; see the module doc)."""
    if transform is None:
        return dataset
    if hasattr(dataset, "with_transform"):
        return dataset.with_transform(transform)
    if hasattr(dataset, "transform"):
        import copy

        dataset = copy.copy(dataset)
        dataset.transform = transform
    return dataset


class PairCollator:
    """``collate(items) -> {"image": [B, C, H, W], "report": processor(reports), "idx": [B]}``.

    Picklable (data-loader workers receive it).

    Args:
        report_processor: the model's ``report_processor``.
        report_key: the item field holding the report (``"graph"`` or ``"text"``).
        image_transform: applied to images that are not tensors yet.
    """

    def __init__(self, report_processor: Callable[[list[Any]], Any], report_key: str,
                 image_transform: Callable[[Any], torch.Tensor] | None = None) -> None:
        self.report_processor = report_processor
        self.report_key = report_key
        self.image_transform = image_transform

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        images = []
        reports = []
        for item in items:
            for key in ("image", self.report_key):
                if key not in item:
                    raise KeyError(f"dataset item {item.get('idx', '?')} (id {item.get('id', '?')!r}) "
                                   f"has no {key!r} field (fields: {sorted(item)})")
            img = item["image"]
            if not isinstance(img, torch.Tensor):
                if self.image_transform is None:
                    raise TypeError(f"item {item.get('idx', '?')}: image is a {type(img).__name__}; "
                                    "give the dataset a transform or the trainer an image_transform")
                img = self.image_transform(img)
            images.append(img)
            reports.append(item[self.report_key])
        idx = torch.tensor([int(item.get("idx", i)) for i, item in enumerate(items)], dtype=torch.int64)
        shapes = {tuple(x.shape) for x in images}
        if len(shapes) > 1:
            j = next(j for j, x in enumerate(images) if x.shape != images[0].shape)
            raise ValueError(f"images of one batch differ in size ({tuple(images[0].shape)} for item "
                             f"{items[0].get('id', '?')!r}, {tuple(images[j].shape)} for item "
                             f"{items[j].get('id', '?')!r}): the dataset's transform does not resize; "
                             "give the trainer the model's image_transform")
        return {"image": torch.stack(images), "report": self.report_processor(reports), "idx": idx}


class SkipSampler(Sampler[int]):
    """A sampler's order for one epoch, without its first ``skip`` indices."""

    def __init__(self, base: Sampler[int], skip: int = 0) -> None:
        self.base = base
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.base), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)  # type: ignore[arg-type]


def _seed_worker(worker_id: int) -> None:
    """Seed Python and NumPy in a worker from the seed torch gave it."""
    import random

    import numpy as np

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(dataset: Any, collate: PairCollator, *, batch_size: int, seed: int, epoch: int,
                skip_batches: int, rank: int, world_size: int, num_workers: int,
                drop_last: bool) -> DataLoader:
    """The data loader of one epoch, starting after ``skip_batches`` micro-batches."""
    from torch.utils.data import DistributedSampler

    base = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                              seed=seed, drop_last=drop_last)
    base.set_epoch(epoch)
    gen = torch.Generator()
    gen.manual_seed(hash((seed, epoch, rank, skip_batches)) % 2**63)
    return DataLoader(dataset, batch_size=batch_size, sampler=SkipSampler(base, skip_batches * batch_size),
                      collate_fn=collate, num_workers=num_workers, drop_last=drop_last,
                      worker_init_fn=_seed_worker if num_workers else None, generator=gen,
                      persistent_workers=False)
