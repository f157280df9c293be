"""End to end on real radiographs of different sizes (tests/fixtures/hannover): pretrain a
graph model from a CSV manifest holding report text only, stop it with SIGTERM, resume it
with the command it prints, compare with an uninterrupted run, and evaluate the checkpoint
with ``graphclr eval`` (issue 11). Both sides are checked on their input tensors: the first
training batch is the model's train transform of the images, the evaluation's features are
the image tower on the model's eval transform of them."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graphclr.data import load_image
from graphclr import get_report_processor
from graphclr.eval import FeatureSet
from graphclr.models import load_model
from graphclr.models.image import image_transform

REPO = Path(__file__).resolve().parent.parent
HANNOVER = REPO / "tests" / "fixtures" / "hannover" / "png"
TEXTS = ["Small left pleural effusion.", "Cardiomegaly. No pneumothorax.",
         "Right lower lobe opacity, likely pneumonia.", "Mild pulmonary edema.",
         "No acute cardiopulmonary findings.", "Left basilar atelectasis."]

# runs graphclr's CLI in a fresh process; SIGTERM is sent to that process while it fetches
# item number GRAPHCLR_TEST_SIGTERM_AT, and the first image batch is saved for inspection
DRIVER = """
import os, signal, sys, torch
from graphclr.cli import main
from graphclr.data.base import CXRDataset
from graphclr.train import data as train_data
at, seen, get = int(os.environ.get("GRAPHCLR_TEST_SIGTERM_AT", "0")), [0], CXRDataset.__getitem__
def getitem(self, idx):
    seen[0] += 1
    if seen[0] == at:
        os.kill(os.getpid(), signal.SIGTERM)
    return get(self, idx)
CXRDataset.__getitem__ = getitem
call = train_data.PairCollator.__call__
def collate(self, items):
    batch = call(self, items)
    if not os.path.exists(os.environ["GRAPHCLR_TEST_BATCH"]):
        torch.save({"image": batch["image"], "ids": [it["id"] for it in items]}, os.environ["GRAPHCLR_TEST_BATCH"])
    return batch
train_data.PairCollator.__call__ = collate
sys.exit(main(sys.argv[1:]))
"""


def _cli(args: list[str], tmp: Path, sigterm_at: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, GRAPHCLR_TEST_SIGTERM_AT=str(sigterm_at), OMP_NUM_THREADS="1",
               GRAPHCLR_TEST_BATCH=str(tmp / f"batch-{len(list(tmp.glob('batch-*')))}.pt"))
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_hannover_text_only_manifest_sigterm_resume_equals_uninterrupted(tmp_path: Path) -> None:
    pngs = sorted(HANNOVER.glob("*.png"))
    sizes = {load_image(p).size for p in pngs}
    assert len(pngs) == 3 and len(sizes) == 3          # real radiographs of different sizes
    rows = []
    for k, text in enumerate(TEXTS):
        shutil.copy(pngs[k % 3], tmp_path / f"cxr{k}.png")
        rows.append({"id": f"cxr{k}", "path": f"cxr{k}.png", "text": text})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    base = ["pretrain", "--model", "tiny", "--csv", "manifest.csv", "--max-steps", "6",
            "--batch-size", "3", "--log-every", "1", "--checkpoint-every", "100", "--threads", "1"]

    stopped = _cli([*base, "--out", "run"], tmp_path, sigterm_at=3 * 2 + 2)   # during step 3
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "has report text but no graphs: extracting 6 graphs with graphclr's built-in extractor" \
        in stopped.stderr
    command = "graphclr " + shlex.join([*base, "--out", "run", "--resume"])
    assert stopped.stderr.endswith(f"SIGTERM at step 3: checkpoint run/checkpoints/step-00000003.pt; "
                                   f"continue with:\n  {command}\n")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == \
        ["latest.json", "step-00000003.pt"]

    resumed = _cli(shlex.split(command)[1:], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from"] == 3
    reference = _cli([*base, "--out", "ref"], tmp_path)
    assert reference.returncode == 0, reference.stderr
    a, b = load_model(tmp_path / "run" / "model.pt"), load_model(tmp_path / "ref" / "model.pt")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]

    # the model's train transform was applied to what the image tower saw
    first = torch.load(tmp_path / "batch-0.pt", weights_only=True)
    tf = image_transform(a.preprocess_cfg, is_train=True)
    expected = torch.stack([tf(load_image(tmp_path / f"{i}.png")) for i in first["ids"]])
    assert first["image"].shape == (3, 1, 32, 32)
    assert torch.allclose(first["image"], expected, atol=1e-6)

    # graphclr eval on the resumed checkpoint: a labelled manifest (train/val/test) of the same
    # radiographs, report text only, evaluated in a fresh process like a user would
    eval_rows = []
    for k in range(12):
        split = "train" if k < 6 else ("val" if k < 9 else "test")
        eval_rows.append({"id": f"e{k}", "path": f"cxr{k % 6}.png", "text": TEXTS[k % 6], "split": split,
                          "patient_id": f"p{k}", "Pleural Effusion": k % 2, "Cardiomegaly": (k // 2) % 2})
    pd.DataFrame(eval_rows).to_csv(tmp_path / "eval.csv", index=False)
    evaluated = _cli(["eval", "run/model.pt", "--csv", "eval.csv", "--out", "eval", "--device", "cpu",
                      "--labels", "Cardiomegaly,Pleural Effusion", "--no-progress", "--threads", "1",
                      "--set", "n_bootstrap=10", "--set", "probe.epochs=3", "--set", "linear_probe.seeds=[0]",
                      "--set", "linear_probe.fractions=[1.0]", "--set", "few_shot.ks=[1]",
                      "--set", "retrieval.ks=[1]"], tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"report:  {Path('eval') / 'report.md'}" in evaluated.stdout
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    enc = results["encoders"]["model"]
    assert set(enc) >= {"linear_probe", "few_shot", "zero_shot", "retrieval"}
    assert (results["dataset"]["n_train"], results["dataset"]["n_val"], results["dataset"]["n_test"]) == (6, 3, 3)
    eval_tf = image_transform(a.preprocess_cfg, is_train=False)
    test = FeatureSet.load(tmp_path / "eval" / "encoders" / "model" / "features_test.npz")
    test_paths = [r["path"] for r in eval_rows if r["split"] == "test"]
    images = torch.stack([eval_tf(load_image(tmp_path / p)) for p in test_paths])
    assert images.shape == (3, 1, 32, 32)   # three real radiographs of different sizes, resized
    with torch.no_grad():
        expected_features = a.eval().encode_image(images, normalize=False).numpy()
    np.testing.assert_allclose(test.features, expected_features, rtol=1e-5, atol=1e-5)
    # retrieval embedded the test reports' text through graphs extracted on the fly
    texts = [r["text"] for r in eval_rows if r["split"] == "test"]
    with torch.no_grad():
        expected_reports = a.encode_report(get_report_processor(a)(texts), normalize=True).numpy()
    np.testing.assert_allclose(test.report_features, expected_reports, rtol=1e-5, atol=1e-5)
    assert enc["retrieval"]["n_candidates"] == 3
