"""The training loop: it learns, resumes bit for bit (also after a SIGKILL), accumulates
exactly, freezes the image tower when asked, logs and checkpoints; the CLI drives it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from graphclr.graphs import Vocabulary
from graphclr.models import create_model, load_model
from graphclr.models.image import image_transform
from graphclr.synth import SyntheticPairDataset
from graphclr.train import TrainConfig, train
from graphclr.utils import seed_everything

REPO = Path(__file__).resolve().parent.parent


# tiny ops on 2 cores: one thread avoids OpenMP spin contention (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> SyntheticPairDataset:
    return SyntheticPairDataset(48, image_size=32, seed=0)


@pytest.fixture(scope="module")
def vocab(data) -> Vocabulary:
    return Vocabulary.from_graphs(data.graphs)


def tiny(vocab: Vocabulary, **graph_cfg) -> torch.nn.Module:
    seed_everything(0)
    return create_model("tiny", vocab=vocab, overrides={"graph_cfg": graph_cfg} if graph_cfg else None)


def quiet(**kw) -> TrainConfig:
    kw.setdefault("progress", False)
    return TrainConfig(**kw)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def retrieval_top1(model, data) -> float:
    tf = image_transform(model.preprocess_cfg, is_train=False)
    model.eval()
    with torch.no_grad():
        img = model.encode_image(torch.stack([tf(data.image(i)) for i in range(len(data))]), normalize=True)
        rep = model.encode_graph(model.report_processor(data.graphs), normalize=True)
    return float(((img @ rep.T).argmax(1) == torch.arange(len(data))).float().mean())


@pytest.mark.slow
def test_a_tiny_run_learns(tmp_path, data, vocab) -> None:
    model = tiny(vocab)
    before = retrieval_top1(model, data)
    summary = train(model, data, quiet(max_steps=120, batch_size=16, lr=3e-3, warmup_steps=5,
                                       log_every=20, checkpoint_every=0), tmp_path)
    after = retrieval_top1(model, data)
    chance = 1 / len(data)
    assert before < 4 * chance
    assert after > 8 * chance, (before, after)
    losses = [json.loads(line)["loss_avg"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] and summary["steps"] == 120


def test_resume_from_a_checkpoint_is_bitwise_identical(tmp_path, data, vocab) -> None:
    cfg = quiet(max_steps=7, batch_size=8, accum_steps=2, lr=3e-3, warmup_steps=2,
                freeze_image_steps=2, checkpoint_every=3, keep_checkpoints=5)
    graph_dropout = {"dropout": 0.2, "transformer_dropout": 0.2}   # the RNG matters too
    full = tiny(vocab, **graph_dropout)
    train(full, data, cfg, tmp_path / "full")
    crashed = tmp_path / "crashed" / "checkpoints"
    crashed.mkdir(parents=True)
    shutil.copy(tmp_path / "full" / "checkpoints" / "step-00000003.pt", crashed)
    resumed = create_model("tiny", vocab=vocab, overrides={"graph_cfg": graph_dropout})
    summary = train(resumed, data, cfg, tmp_path / "crashed", resume=True)
    assert summary["resumed_from"] == 3 and summary["steps"] == 7
    assert same_weights(full, resumed)


def test_resume_refuses_a_different_data_order(tmp_path, data, vocab) -> None:
    train(tiny(vocab), data, quiet(max_steps=2, batch_size=8, checkpoint_every=1), tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        train(tiny(vocab), data, quiet(max_steps=4, batch_size=4), tmp_path, resume=True)


_KILL_SCRIPT = r"""
import sys, torch
torch.set_num_threads(1)
from graphclr.graphs import Vocabulary
from graphclr.models import create_model
from graphclr.synth import SyntheticPairDataset
from graphclr.train import TrainConfig, train
from graphclr.utils import seed_everything
data = SyntheticPairDataset(48, image_size=32, seed=0)
vocab = Vocabulary.from_graphs(data.graphs)
seed_everything(0)
model = create_model("tiny", vocab=vocab, overrides={"graph_cfg": {"dropout": 0.2}})
cfg = TrainConfig(max_steps=int(sys.argv[2]), batch_size=8, lr=3e-3, warmup_steps=2,
                  checkpoint_every=1, keep_checkpoints=2, progress=False)
train(model, data, cfg, sys.argv[1], resume=len(sys.argv) > 3)
"""


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path, data, vocab) -> None:
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    total = 30
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(total)], env=env, cwd=REPO)
    latest = out / "checkpoints" / "latest.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if latest.is_file() and json.loads(latest.read_text())["step"] >= 3:
            break
        if proc.poll() is not None:
            pytest.fail(f"the training subprocess ended early ({proc.returncode})")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(latest.read_text())["step"]
    assert 3 <= killed_at < total, "the run finished before it could be killed"
    subprocess.run([sys.executable, str(script), str(out), str(total), "resume"], env=env, cwd=REPO,
                   check=True)
    # an uninterrupted run of the same length, in this process
    seed_everything(0)
    ref = create_model("tiny", vocab=vocab, overrides={"graph_cfg": {"dropout": 0.2}})
    train(ref, data, quiet(max_steps=total, batch_size=8, lr=3e-3, warmup_steps=2, checkpoint_every=0),
          tmp_path / "ref")
    resumed = load_model(out / "model.pt")
    assert same_weights(ref, resumed)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))   # records past the checkpoint were dropped on resume


def test_accumulation_equals_one_big_batch(tmp_path, data, vocab) -> None:
    # Attention's key bias gets an exactly-zero gradient (it shifts every score of a softmax
    # alike), so float noise is all Adam would see there and eps=1e-8 would blow it up to a
    # full-size step; a larger eps keeps such noise small without hiding real differences.
    big, accum = tiny(vocab), tiny(vocab)
    train(big, data, quiet(max_steps=2, batch_size=8, lr=1e-2, eps=1e-3), tmp_path / "big")
    train(accum, data, quiet(max_steps=2, batch_size=4, accum_steps=2, lr=1e-2, eps=1e-3),
          tmp_path / "accum")
    sa, sb = big.state_dict(), accum.state_dict()
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=2e-5), k
    untrained = tiny(vocab)
    assert not same_weights(untrained, big)


def test_image_tower_is_frozen_for_the_first_steps(tmp_path, data, vocab) -> None:
    start = tiny(vocab)
    frozen = tiny(vocab)
    train(frozen, data, quiet(max_steps=2, batch_size=8, freeze_image_steps=2), tmp_path / "a")
    for (name, p0), p1 in zip(start.visual.named_parameters(), frozen.visual.parameters()):
        assert torch.equal(p0, p1), name
    assert not torch.equal(start.image_proj.weight, frozen.image_proj.weight)
    assert not torch.equal(start.graph_proj.weight, frozen.graph_proj.weight)
    later = tiny(vocab)
    train(later, data, quiet(max_steps=3, batch_size=8, freeze_image_steps=2), tmp_path / "b")
    assert not torch.equal(start.visual.backbone.conv1.weight, later.visual.backbone.conv1.weight)
    locked = tiny(vocab)
    train(locked, data, quiet(max_steps=3, batch_size=8, lock_image=True), tmp_path / "c")
    assert torch.equal(start.visual.backbone.conv1.weight, locked.visual.backbone.conv1.weight)


def test_outputs_logs_and_checkpoints(tmp_path, data, vocab) -> None:
    model = tiny(vocab)
    summary = train(model, data, quiet(max_steps=5, batch_size=8, log_every=2, checkpoint_every=2,
                                       keep_checkpoints=1, amp="bf16"), tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 5]
    assert {"loss", "lr", "logit_scale", "pairs_per_s", "epoch"} <= set(records[0])
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*.pt"))
    assert ckpts == ["step-00000005.pt"]
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["step"] == 5
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 5 == summary["steps"]
    assert same_weights(load_model(tmp_path / "model.pt"), model)
    assert summary["device"] == "cpu"   # bf16 was asked for, but AMP is GPU-only


def test_loop_trains_text_models_too(tmp_path, data) -> None:
    from graphclr.models import get_model_config

    seed_everything(0)
    model = create_model("text-bow", overrides={"image_cfg": get_model_config("tiny")["image_cfg"],
                                                "embed_dim": 16}, reports=[g.text for g in data.graphs])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary = train(model, data, quiet(max_steps=2, batch_size=8), tmp_path)
    assert summary["steps"] == 2
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_cli_pretrain_on_generated_pairs(tmp_path) -> None:
    from graphclr.cli import main

    out = tmp_path / "run"
    args = ["pretrain", "--model", "tiny", "--generated", "24", "--generated-image-size", "32",
            "--max-steps", "3", "--batch-size", "8", "--out", str(out), "--no-progress",
            "--checkpoint-every", "2", "--override", '{"graph_cfg": {"variant": "igcl", "regularizer": null}}']
    assert main(args) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 3
    assert load_model(out / "model.pt").cfg.graph_cfg.variant == "igcl"
    assert Vocabulary.load(out / "vocab.json") == load_model(out / "model.pt").vocab
    assert main(args[:8] + ["6"] + args[9:] + ["--resume"]) == 0
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == 3
    assert main(["pretrain", "--out", str(out)]) == 2    # no data given: a clear error
