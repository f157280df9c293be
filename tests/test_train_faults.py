"""Training from the command line under faults (issues 11 and 12): each test reproduces
one reported defect and asserts the fixed behaviour, including the exact one-line errors."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_data_fixtures import radgraph_record, write_image

from graphclr.cli import main
from graphclr.data import CSVDataset, load_image
from graphclr.graphs import Vocabulary
from graphclr.models import create_model, load_model
from graphclr.models.image import image_transform
from graphclr.synth import SyntheticPairDataset
from graphclr.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["Small left pleural effusion.", "Cardiomegaly. No pneumothorax.",
         "Right lower lobe opacity, likely pneumonia.", "Mild pulmonary edema.",
         "No acute findings.", "Left basilar atelectasis."]
SIZES = [(96, 80), (120, 100), (64, 90), (80, 80), (100, 70), (90, 110)]


def text_manifest(root: Path, n: int = 6, **columns) -> Path:
    """Images of different sizes and report text only (no graphs)."""
    for k in range(n):
        write_image(root / f"i{k}.png", size=SIZES[k], seed=k)
    pd.DataFrame({"path": [f"i{k}.png" for k in range(n)], "text": TEXTS[:n], **columns}).to_csv(
        root / "manifest.csv", index=False)
    return root / "manifest.csv"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_line_error(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("graphclr pretrain: error: "), err
    return err.strip().removeprefix("graphclr pretrain: error: ")


TINY = ["--model", "tiny", "--max-steps", "2", "--batch-size", "6", "--no-progress"]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- issue 11.1: the model's transform, whoever built the dataset -----------------------------
def test_training_applies_the_model_transform_to_a_csv_dataset(tmp_path: Path) -> None:
    manifest = text_manifest(tmp_path)
    graphs = {f"i{k}": radgraph_record(f"report {k} left effusion", [("effusion", "OBS-DP", 3, [])])
              for k in range(6)}
    (tmp_path / "graphs.json").write_text(json.dumps(graphs))
    frame = pd.read_csv(manifest).assign(graph_id=[f"i{k}" for k in range(6)])
    frame.to_csv(manifest, index=False)
    dataset = CSVDataset(manifest)            # built by the user: default transform, any size
    assert dataset[0]["image"].shape == (1, 80, 96) and dataset[1]["image"].shape == (1, 100, 120)
    model = create_model("tiny", vocab=Vocabulary.from_graphs([dataset.report(i)[0] for i in range(6)]))
    tf = image_transform(model.preprocess_cfg, is_train=True)
    expected = torch.stack([tf(load_image(tmp_path / f"i{k}.png")) for k in range(6)])
    seen: list[torch.Tensor] = []
    model.visual.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].detach().clone()))
    train(model, dataset, TrainConfig(max_steps=1, batch_size=6, progress=False), tmp_path / "run")
    (batch,) = seen
    assert batch.shape == (6, 1, 32, 32)
    order = [int(torch.argmin(((expected - x) ** 2).flatten(1).sum(1))) for x in batch]
    assert sorted(order) == list(range(6))
    assert torch.allclose(batch, expected[order], atol=1e-6)
    assert float(batch.min()) < -0.5          # normalised, not raw [0, 1] pixels


def test_cli_pretrains_a_text_only_manifest_of_different_sizes(tmp_path: Path, capsys, caplog) -> None:
    manifest = text_manifest(tmp_path)
    caplog.set_level("INFO")
    code, out, err = run_cli(["pretrain", *TINY, "--csv", str(manifest), "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert json.loads(out)["steps"] == 2
    assert f"{manifest} has report text but no graphs: extracting 6 graphs with graphclr's built-in " \
           "extractor" in caplog.text
    assert len(Vocabulary.load(tmp_path / "run" / "vocab.json")) > 2


# --- issue 11.2: no report at all fails before anything is created ----------------------------
def test_manifest_without_reports_fails_before_creating_the_run(tmp_path: Path, capsys) -> None:
    for k in range(3):
        write_image(tmp_path / f"i{k}.png")
    pd.DataFrame({"path": [f"i{k}.png" for k in range(3)]}).to_csv(tmp_path / "m.csv", index=False)
    code, _, err = run_cli(["pretrain", *TINY, "--csv", str(tmp_path / "m.csv"), "--out", str(tmp_path / "run")],
                           capsys)
    assert code == 2
    assert one_line_error(err) == (f"{tmp_path / 'm.csv'}: rows have no report (no text, graph_id or "
                                   "graph_json column); add a text column, or run graphclr extract on "
                                   "your reports and add a graph_id column")
    assert not (tmp_path / "run").exists()


# --- issue 11.3: bad images and the one error path --------------------------------------------
def test_skip_bad_images_counts_and_limits(tmp_path: Path, capsys) -> None:
    manifest = text_manifest(tmp_path)
    (tmp_path / "i2.png").unlink()
    base = ["pretrain", *TINY, "--csv", str(manifest)]
    code, _, err = run_cli([*base, "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and one_line_error(err) == f"{tmp_path / 'i2.png'}: missing image"
    code, out, err = run_cli([*base, "--out", str(tmp_path / "b"), "--skip-bad-images", "1"], capsys)
    assert code == 0, err
    assert "replaced 1 unreadable image(s) (--skip-bad-images 1); first: missing_image: i2" in err
    assert json.loads(out)["steps"] == 2
    (tmp_path / "i4.png").write_bytes(b"not a png")
    code, _, err = run_cli([*base, "--out", str(tmp_path / "c"), "--skip-bad-images", "1"], capsys)
    assert code == 2
    assert one_line_error(err).startswith("2 unreadable items, more than the 1 allowed; the last: ")


def test_graph_and_store_errors_are_one_line(tmp_path: Path, capsys) -> None:
    manifest = text_manifest(tmp_path, n=3, graph_id=["g0", "g1", "missing"])
    (tmp_path / "graphs.json").write_text(json.dumps(
        {f"g{k}": radgraph_record(f"report {k} left effusion", [("effusion", "OBS-DP", 3, [])]) for k in range(2)}))
    code, _, err = run_cli(["pretrain", *TINY, "--csv", str(manifest), "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert one_line_error(err) == (f"report_without_graph: {manifest}: line 4 (graph_id 'missing' is "
                                   f"not in {tmp_path / 'graphs.json'})")
    (tmp_path / "store.bin").write_bytes(bytes([0xA1, 0x00, 0xFF]) * 50)
    code, _, err = run_cli(["pretrain", *TINY, "--csv", str(manifest), "--graphs", str(tmp_path / "store.bin"),
                            "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and str(tmp_path / "store.bin") in one_line_error(err)
    assert "not a RadGraph JSON text file" in err
    assert not (tmp_path / "r").exists()


# --- issue 11.4: one run per folder ------------------------------------------------------------
GEN = ["pretrain", "--model", "tiny", "--generated", "16", "--generated-image-size", "32",
       "--batch-size", "8", "--no-progress", "--checkpoint-every", "1", "--keep-checkpoints", "2"]


def test_non_empty_out_needs_resume_or_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert run_cli([*GEN, "--max-steps", "3", "--out", str(out)], capsys)[0] == 0
    code, _, err = run_cli([*GEN, "--max-steps", "1", "--out", str(out)], capsys)
    assert code == 2
    assert one_line_error(err) == (f"--out {out} is not empty (an earlier run?): pass --resume to "
                                   "continue it or --overwrite to replace it")
    assert run_cli([*GEN, "--max-steps", "1", "--out", str(out), "--overwrite"], capsys)[0] == 0
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*.pt")) == ["step-00000001.pt"]
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 1


# --- issue 11.5 / 12.6: signals -----------------------------------------------------------------
class _SignalAt(SyntheticPairDataset):
    """Sends ``signum`` to this process when item number ``at`` is fetched."""

    def __init__(self, *args, at: int, signum: int, **kw) -> None:
        super().__init__(*args, **kw)
        self.at, self.signum, self.calls = at, signum, [0]

    def __getitem__(self, idx: int):
        self.calls[0] += 1
        if self.calls[0] == self.at:
            os.kill(os.getpid(), self.signum)
        return super().__getitem__(idx)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_the_step_checkpoints_and_resumes_exactly(tmp_path: Path, signum) -> None:
    before = signal.getsignal(signum)   # SIG_IGN for SIGINT when the suite runs in the background
    data = SyntheticPairDataset(16, image_size=32, seed=0)
    vocab = Vocabulary.from_graphs(data.graphs)
    cfg = TrainConfig(max_steps=6, batch_size=8, checkpoint_every=100, keep_checkpoints=1, progress=False)
    torch.manual_seed(0)
    ref = create_model("tiny", vocab=vocab)
    train(ref, data, cfg, tmp_path / "ref")
    torch.manual_seed(0)
    model = create_model("tiny", vocab=vocab)
    hit = _SignalAt(16, image_size=32, seed=0, at=8 * 2 + 3, signum=signum)   # during step 3
    summary = train(model, hit, cfg, tmp_path / "run")
    assert summary["interrupted"] == signal.Signals(signum).name and summary["steps"] == 3
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest.json", "step-00000003.pt"]
    assert not (tmp_path / "run" / "model.pt").exists()
    assert signal.getsignal(signum) == before   # the handler the run found is put back
    torch.manual_seed(1)   # the resumed run must not depend on the state it starts in
    resumed = create_model("tiny", vocab=vocab)
    assert train(resumed, data, cfg, tmp_path / "run", resume=True)["resumed_from"] == 3
    assert same_weights(resumed, ref)


def test_cli_prints_the_exact_resume_command(tmp_path: Path, capsys, monkeypatch) -> None:
    calls = [0]
    original = SyntheticPairDataset.__getitem__

    def getitem(self, idx):
        calls[0] += 1
        if calls[0] == 8 * 1 + 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, idx)

    monkeypatch.setattr(SyntheticPairDataset, "__getitem__", getitem)
    out = tmp_path / "run"
    args = [*GEN, "--max-steps", "4", "--out", str(out)]
    code, _, err = run_cli(args, capsys)
    assert code == 128 + signal.SIGTERM
    command = "graphclr " + shlex.join(args + ["--resume"])
    assert err.endswith(f"SIGTERM at step 2: checkpoint {out / 'checkpoints' / 'step-00000002.pt'}; "
                        f"continue with:\n  {command}\n")
    assert not list((out / "checkpoints").glob(".*.tmp"))
    monkeypatch.setattr(SyntheticPairDataset, "__getitem__", original)
    assert main(shlex.split(command)[1:]) == 0
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == 2
    assert len(list((out / "checkpoints").glob("step-*.pt"))) == 2      # --keep-checkpoints 2
    assert main([*GEN, "--max-steps", "4", "--out", str(tmp_path / "ref")]) == 0
    assert same_weights(load_model(out / "model.pt"), load_model(tmp_path / "ref" / "model.pt"))


# --- issue 12.6: files left by crashes -----------------------------------------------------------
def test_resume_trims_a_partial_metrics_line_and_stale_temp_files(tmp_path: Path, capsys, caplog) -> None:
    out = tmp_path / "run"
    assert run_cli([*GEN, "--max-steps", "2", "--log-every", "1", "--out", str(out)], capsys)[0] == 0
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 3, "loss": 0.12')             # a crash in the middle of an append
    stale = out / "checkpoints" / ".latest.json.abc123.tmp"
    stale.write_text("{")
    caplog.set_level("WARNING")
    assert run_cli([*GEN, "--max-steps", "3", "--log-every", "1", "--out", str(out), "--resume"], capsys)[0] == 0
    assert f"{out / 'metrics.jsonl'}: dropped a partial last line" in caplog.text
    assert f"removed {stale}, left by a write that never finished" in caplog.text
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3] and not stale.exists()


def test_truncated_newest_checkpoint_falls_back_loudly(tmp_path: Path, capsys, caplog) -> None:
    out = tmp_path / "run"
    assert run_cli([*GEN, "--max-steps", "3", "--out", str(out)], capsys)[0] == 0
    newest = out / "checkpoints" / "step-00000003.pt"
    newest.write_bytes(newest.read_bytes()[:1000])
    caplog.set_level("WARNING")
    assert run_cli([*GEN, "--max-steps", "3", "--out", str(out), "--resume"], capsys)[0] == 0
    assert f"cannot resume from {newest}; trying the previous checkpoint" in caplog.text
    assert json.loads((out / "summary.json").read_text())["resumed_from"] == 2
    assert main([*GEN, "--max-steps", "3", "--out", str(tmp_path / "ref")]) == 0
    assert same_weights(load_model(out / "model.pt"), load_model(tmp_path / "ref" / "model.pt"))


def test_full_disk_while_checkpointing_names_the_file(tmp_path: Path, capsys, monkeypatch) -> None:
    import graphclr.models.factory as factory

    def full_disk(obj, f, *a, **k):
        Path(f).write_bytes(b"PK\x03\x04partial")
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 64 vs 41")

    monkeypatch.setattr(factory.torch, "save", full_disk)
    out = tmp_path / "run"
    code, _, err = run_cli([*GEN, "--max-steps", "2", "--out", str(out)], capsys)
    assert code == 2
    msg = one_line_error(err)
    assert msg.startswith(f"cannot write {out / 'checkpoints' / 'step-00000001.pt'} ([enforce fail at "
                          "inline_container.cc:595] . unexpected pos 64 vs 41; ")
    assert msg.endswith(f" MiB free on the disk holding {out / 'checkpoints'})")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == []   # no temp file left


# --- issue 11.7: progress off a terminal, TensorBoard ---------------------------------------------
def test_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path, capsys) -> None:
    args = [a for a in GEN if a != "--no-progress"]
    code, _, err = run_cli([*args, "--max-steps", "4", "--progress-every", "2", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("pretrain: step")]
    assert [line.split()[2] for line in lines] == ["2/4", "4/4"]
    assert " (50%) epoch 0 loss " in lines[0] and " pairs/s elapsed 0:00:" in lines[0]


def test_tensorboard_is_optional_and_lazy(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # not installed
    code, _, err = run_cli([*GEN, "--max-steps", "1", "--tensorboard", "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and one_line_error(err) == ("--tensorboard needs the tensorboard package: pip install "
                                                 "'graphclr[tensorboard]' (or pip install tensorboard)")
    assert not (tmp_path / "a").exists()
    written: list[tuple[str, float, int]] = []

    class Writer:
        def __init__(self, log_dir, purge_step=None):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, step):
            written.append((tag, value, step))

        def close(self):
            written.append(("closed", 0.0, 0))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    code, _, err = run_cli([*GEN, "--max-steps", "2", "--log-every", "1", "--tensorboard",
                            "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    records = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [(t, s) for t, _, s in written if t == "train/loss"] == [("train/loss", 1), ("train/loss", 2)]
    assert [v for t, v, _ in written if t == "train/loss"] == [r["loss"] for r in records]
    assert written[-1][0] == "closed"
    assert np.isfinite([v for _, v, _ in written]).all()
