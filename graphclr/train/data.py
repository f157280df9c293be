"""Batches for the training loop: one collate function for every model, resumable order.

Dataset items follow the :mod:`graphclr.data` contract: dicts with ``"image"`` (a tensor
``[C, H, W]`` already transformed, or a PIL image / array, transformed here with the
model's train transform) and the report under ``"graph"`` (a ``ReportGraph`` or
``GraphArrays``) or ``"text"``. The model says which field it reads (``report_key``) and
how to batch it (``report_processor``), so the same loop trains graph and text models.

The order of items is ``DistributedSampler``'s (seeded, reshuffled per epoch; one process
is a world of size 1). A resumed run skips the micro-batches already consumed in the
current epoch, so it sees exactly the items an uninterrupted run would.

**Batch groups** (``TrainConfig.batch_groups``): items sharing a value of a dataset column
(say the two versions of a counterfactual pair) are put in the same micro-batch, so each
is the other's hard negative in the contrastive loss. :class:`GroupedBatchSampler`
shuffles the groups (seeded per epoch), packs them into micro-batches of exactly
``batch_size`` items (a group that does not fit waits for a later batch while smaller
groups fill the gap; a group is split only when nothing else fits) and deals the
micro-batches to the ranks in turn. Every item still appears once per epoch and an epoch
has as many full micro-batches as without groups.

Examples:
    >>> groups = [[0, 1], [2], [3, 4], [5], [6, 7], [8]]
    >>> order = list(GroupedBatchSampler(groups, batch_size=3, seed=0, epoch=0))
    >>> sorted(order)
    [0, 1, 2, 3, 4, 5, 6, 7, 8]
    >>> batches = [set(order[i:i + 3]) for i in range(0, 9, 3)]
    >>> all(any(set(g) <= b for b in batches) for g in groups)
    True
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from graphclr.data.base import report_key_of

__all__ = ["GroupedBatchSampler", "PairCollator", "SkipSampler", "batch_groups_of", "make_loader",
           "report_key_of", "with_model_transform"]


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


def batch_groups_of(dataset: Any, column: str) -> list[list[int]]:
    """Item indices grouped by ``dataset.csv[column]`` (first-appearance order)."""
    table = getattr(dataset, "csv", None)
    if table is None:
        raise ValueError(f"batch_groups={column!r} needs a dataset with a .csv table "
                         f"(a {type(dataset).__name__} has none)")
    if column not in table.columns:
        raise ValueError(f"batch_groups={column!r}: the dataset has no such column "
                         f"(columns: {', '.join(map(str, table.columns))})")
    if len(table) != len(dataset):
        raise ValueError(f"batch_groups={column!r}: the dataset's .csv has {len(table)} rows "
                         f"for {len(dataset)} items")
    groups: dict[Any, list[int]] = {}
    for i, value in enumerate(table[column].tolist()):
        groups.setdefault(value, []).append(i)
    return list(groups.values())


class GroupedBatchSampler(Sampler[int]):
    """One epoch's item order with each group inside one micro-batch (see the module doc).

    Args:
        groups: item indices per group (every item in exactly one group).
        batch_size: items per micro-batch.
        seed, epoch: the shuffle (the same pair gives the same order on every rank).
        rank, world_size: which micro-batches this rank takes (``rank``, ``rank + world``, ...).
    """

    def __init__(self, groups: Sequence[Sequence[int]], *, batch_size: int, seed: int, epoch: int,
                 rank: int = 0, world_size: int = 1) -> None:
        self.groups = [list(g) for g in groups if len(g)]
        self.batch_size, self.seed, self.epoch = int(batch_size), int(seed), int(epoch)
        self.rank, self.world_size = int(rank), int(world_size)
        n = sum(len(g) for g in self.groups)
        self.per_rank = n // (self.batch_size * self.world_size)

    def _batches(self) -> list[list[int]]:
        gen = torch.Generator()
        gen.manual_seed(self.seed + self.epoch)
        perm = torch.randperm(len(self.groups), generator=gen).tolist()
        queue = deque(list(self.groups[i]) for i in perm)
        batches: list[list[int]] = []
        cur: list[int] = []
        while queue:
            room = self.batch_size - len(cur)
            fit = next((j for j, g in enumerate(queue) if len(g) <= room), None)
            if fit is None:              # nothing fits whole: split the next group
                g = queue.popleft()
                cur += g[:room]
                queue.appendleft(g[room:])
            else:
                queue.rotate(-fit)
                cur += queue.popleft()
                queue.rotate(fit)
            if len(cur) == self.batch_size:
                batches.append(cur)
                cur = []
        return batches

    def __iter__(self) -> Iterator[int]:
        mine = self._batches()[self.rank::self.world_size][:self.per_rank]
        return itertools.chain.from_iterable(mine)

    def __len__(self) -> int:
        return self.per_rank * self.batch_size


def _seed_worker(worker_id: int) -> None:
    """Seed Python and NumPy in a worker from the seed torch gave it."""
    import random

    import numpy as np

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(dataset: Any, collate: PairCollator, *, batch_size: int, seed: int, epoch: int,
                skip_batches: int, rank: int, world_size: int, num_workers: int,
                drop_last: bool, groups: Sequence[Sequence[int]] | None = None) -> DataLoader:
    """The data loader of one epoch, starting after ``skip_batches`` micro-batches.

    ``groups``: item indices that must share a micro-batch (:class:`GroupedBatchSampler`).
    """
    from torch.utils.data import DistributedSampler

    base: Sampler[int]
    if groups is not None:
        if not drop_last:
            raise ValueError("batch groups need drop_last=True (every micro-batch full)")
        base = GroupedBatchSampler(groups, batch_size=batch_size, seed=seed, epoch=epoch, rank=rank,
                                   world_size=world_size)
    else:
        base = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                  seed=seed, drop_last=drop_last)
        base.set_epoch(epoch)
    gen = torch.Generator()
    gen.manual_seed(hash((seed, epoch, rank, skip_batches)) % 2**63)
    return DataLoader(dataset, batch_size=batch_size, sampler=SkipSampler(base, skip_batches * batch_size),
                      collate_fn=collate, num_workers=num_workers, drop_last=drop_last,
                      worker_init_fn=_seed_worker if num_workers else None, generator=gen,
                      persistent_workers=False)
