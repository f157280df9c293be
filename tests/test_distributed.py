"""torch.distributed: a 2-process gloo run under ``torchrun`` (CPU) trains exactly like one
process holding the whole batch -- same loss at every step, same weights at the end --
and the feature all-gather keeps the local gradient and copes with unequal batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

_SCRIPT = r"""
import json, sys
import torch
import torch.distributed as dist
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()

# 1. all-gather with unequal batch sizes: rank r holds r + 2 rows
from graphclr.loss import ClipLoss, gather_features
x = torch.full((rank + 2, 3), float(rank), requires_grad=True)
g = gather_features(x)
assert g.shape == (sum(r + 2 for r in range(world)), 3), g.shape
assert torch.equal(g[:2], torch.zeros(2, 3)) and torch.equal(g[2:], torch.ones(3, 3))
g.sum().backward()
assert torch.equal(x.grad, torch.ones_like(x))          # the local slice carries the gradient

# 2. the whole pretraining CLI, as torchrun runs it
from graphclr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_args(out: Path, batch: int) -> list[str]:
    return ["pretrain", "--model", "tiny", "--generated", "32", "--generated-image-size", "32",
            "--max-steps", "3", "--batch-size", str(batch), "--lr", "3e-3", "--log-every", "1",
            "--checkpoint-every", "2", "--out", str(out), "--no-progress", "--threads", "1"]


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_the_full_batch(tmp_path: Path) -> None:
    from graphclr.cli import main
    from graphclr.models import load_model

    script = tmp_path / "ddp.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp_out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), *cli_args(ddp_out, batch=8)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single_out = tmp_path / "single"
        assert main(cli_args(single_out, batch=16)) == 0
    finally:
        torch.set_num_threads(before)

    def losses(out: Path) -> list[float]:
        return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]

    ddp_losses, single_losses = losses(ddp_out), losses(single_out)
    assert len(ddp_losses) == len(single_losses) == 3
    for a, b in zip(ddp_losses, single_losses):
        assert abs(a - b) < 1e-5, (ddp_losses, single_losses)
    summary = json.loads((ddp_out / "summary.json").read_text())
    assert summary["world_size"] == 2
    a, b = load_model(ddp_out / "model.pt").state_dict(), load_model(single_out / "model.pt").state_dict()
    for k in a:
        if k.endswith("in_proj_bias"):
            # the key bias cancels in the softmax: its exact gradient is 0, so Adam only ever
            # sees (and normalises) float noise there; compare it loosely, the rest tightly
            d = a[k].numel() // 3
            assert torch.allclose(a[k][d:2 * d], b[k][d:2 * d], atol=1e-4), k
            a[k], b[k] = torch.cat([a[k][:d], a[k][2 * d:]]), torch.cat([b[k][:d], b[k][2 * d:]])
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    # the rank-0 checkpoint holds both ranks' RNG states, for an exact resume
    ckpt = torch.load(ddp_out / "checkpoints" / "step-00000002.pt", weights_only=True)
    assert len(ckpt["rng"]) == 2 and ckpt["world_size"] == 2
