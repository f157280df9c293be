"""Batch groups: items sharing a column value (a counterfactual pair) share a micro-batch.

Invariants of :class:`GroupedBatchSampler` (every item once per epoch, groups whole,
seeded, ranks disjoint, as many full batches as without groups), the loader and the loop
wiring (exact resume, errors that name the column).
"""

from __future__ import annotations

import copy
import random
import shutil

import pytest
import torch

from graphclr.graphs import Vocabulary
from graphclr.models import create_model
from graphclr.synth import SyntheticPairDataset
from graphclr.train import TrainConfig, train
from graphclr.train.data import GroupedBatchSampler, PairCollator, batch_groups_of, make_loader
from graphclr.utils import seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


def random_groups(n_pairs: int, n_single: int, seed: int = 0) -> list[list[int]]:
    ids = list(range(2 * n_pairs + n_single))
    random.Random(seed).shuffle(ids)
    pairs = [ids[2 * i:2 * i + 2] for i in range(n_pairs)]
    return pairs + [[i] for i in ids[2 * n_pairs:]]


def batches_of(sampler: GroupedBatchSampler, b: int) -> list[list[int]]:
    order = list(sampler)
    assert len(order) == len(sampler) and len(order) % b == 0
    return [order[i:i + b] for i in range(0, len(order), b)]


@pytest.mark.parametrize("n_pairs,n_single,b", [(10, 7, 4), (30, 0, 8), (5, 40, 6), (13, 1, 5)])
def test_every_item_once_and_every_group_whole(n_pairs, n_single, b) -> None:
    groups = random_groups(n_pairs, n_single)
    n = 2 * n_pairs + n_single
    s = GroupedBatchSampler(groups, batch_size=b, seed=3, epoch=1)
    batches = batches_of(s, b)
    flat = [i for bt in batches for i in bt]
    assert len(flat) == len(set(flat)) and len(batches) == n // b    # as many full batches as plain
    where = {i: k for k, bt in enumerate(batches) for i in bt}
    # a pair can only be split where nothing else fits (odd b, pairs only); count those
    split = [g for g in groups if len(g) == 2 and all(i in where for i in g) and where[g[0]] != where[g[1]]]
    if b % 2 == 0:
        assert split == []                 # pairs always fit an even room
    assert len(split) <= len(batches)


def test_seeded_per_epoch() -> None:
    groups = random_groups(20, 10)
    a = list(GroupedBatchSampler(groups, batch_size=5, seed=0, epoch=0))
    assert a == list(GroupedBatchSampler(groups, batch_size=5, seed=0, epoch=0))
    assert a != list(GroupedBatchSampler(groups, batch_size=5, seed=0, epoch=1))
    assert a != list(GroupedBatchSampler(groups, batch_size=5, seed=1, epoch=0))


def test_ranks_take_disjoint_whole_batches() -> None:
    groups = random_groups(25, 11)                      # 61 items
    b, world = 4, 3
    one = batches_of(GroupedBatchSampler(groups, batch_size=b, seed=2, epoch=0), b)
    ranks = [batches_of(GroupedBatchSampler(groups, batch_size=b, seed=2, epoch=0, rank=r, world_size=world), b)
             for r in range(world)]
    assert [len(x) for x in ranks] == [61 // (b * world)] * world   # the loop's micro-batches per epoch
    for r, mine in enumerate(ranks):
        assert mine == one[r::world][:len(mine)]
    seen = [i for mine in ranks for bt in mine for i in bt]
    assert len(seen) == len(set(seen))


def test_a_group_larger_than_a_batch_is_split_not_lost() -> None:
    groups = [[0, 1, 2, 3, 4, 5, 6], [7], [8], [9]]
    flat = list(GroupedBatchSampler(groups, batch_size=3, seed=0, epoch=0))
    # 10 items, batches of 3: three full batches (the tenth item waits, as drop_last does)
    assert len(flat) == 9 and len(set(flat)) == 9 and set(flat) <= set(range(10))


def test_loader_keeps_pairs_together_and_resumes_mid_epoch() -> None:
    data = SyntheticPairDataset(20, image_size=32, seed=0)
    groups = [[2 * i, 2 * i + 1] for i in range(10)]
    collate = PairCollator(lambda reps: len(reps), "graph", image_transform=lambda im: torch.zeros(1))
    kw = dict(batch_size=4, seed=0, epoch=0, rank=0, world_size=1, num_workers=0, drop_last=True,
              groups=groups)
    full = [b["idx"].tolist() for b in make_loader(data, collate, skip_batches=0, **kw)]
    assert len(full) == 5 and all(x // 2 == y // 2 for bt in full for x, y in zip(bt[::2], bt[1::2]))
    assert sorted(i for bt in full for i in bt) == list(range(20))
    later = [b["idx"].tolist() for b in make_loader(data, collate, skip_batches=2, **kw)]
    assert later == full[2:]
    with pytest.raises(ValueError, match="drop_last"):
        make_loader(data, collate, skip_batches=0, **{**kw, "drop_last": False})


def test_batch_groups_of_names_the_missing_column() -> None:
    data = SyntheticPairDataset(6, image_size=32, seed=0)
    with pytest.raises(ValueError, match=r"'pair'.*columns: id"):
        batch_groups_of(data, "pair")
    with pytest.raises(ValueError, match="has none"):
        batch_groups_of(list(range(3)), "pair")
    paired = copy.copy(data)
    paired.csv = data.csv.assign(pair=[0, 0, 1, 2, 2, 3])
    assert batch_groups_of(paired, "pair") == [[0, 1], [2], [3, 4], [5]]


def test_train_config_refuses_groups_without_drop_last() -> None:
    with pytest.raises(ValueError, match="batch_groups needs drop_last"):
        TrainConfig(batch_groups="pair", drop_last=False)


def test_grouped_training_resumes_bit_for_bit(tmp_path) -> None:
    data = SyntheticPairDataset(32, image_size=32, seed=0)
    paired = copy.copy(data)
    paired.csv = data.csv.assign(pair=[i // 2 for i in range(len(data))])
    vocab = Vocabulary.from_graphs(data.graphs)

    def model() -> torch.nn.Module:
        seed_everything(0)
        return create_model("tiny", vocab=vocab)

    cfg = TrainConfig(max_steps=6, batch_size=8, lr=3e-3, warmup_steps=1, checkpoint_every=3,
                      keep_checkpoints=5, batch_groups="pair", progress=False)
    full = model()
    train(full, paired, cfg, tmp_path / "full")
    crashed = tmp_path / "crashed" / "checkpoints"
    crashed.mkdir(parents=True)
    shutil.copy(tmp_path / "full" / "checkpoints" / "step-00000003.pt", crashed)
    resumed = model()
    summary = train(resumed, paired, cfg, tmp_path / "crashed", resume=True)
    assert summary["resumed_from"] == 3 and summary["steps"] == 6
    sa, sb = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ungrouped = model()
    train(ungrouped, paired, TrainConfig(**{**cfg.to_dict(), "batch_groups": None}), tmp_path / "plain")
    assert not all(torch.equal(sa[k], ungrouped.state_dict()[k]) for k in sa)   # the order did change
    with pytest.raises(ValueError, match="batch_groups"):
        train(model(), paired, TrainConfig(**{**cfg.to_dict(), "batch_groups": None, "max_steps": 7}),
              tmp_path / "full", resume=True)
    with pytest.raises(ValueError, match="'nope'"):
        train(model(), paired, TrainConfig(**{**cfg.to_dict(), "batch_groups": "nope"}), tmp_path / "x")
