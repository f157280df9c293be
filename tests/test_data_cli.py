"""``graphclr data check`` and ``graphclr data cache`` on fixture trees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from test_data_fixtures import truncate_file, write_chexpert_tree, write_mimic_tree

from graphclr.cli import main


def test_check_exit_status_and_report(tmp_path: Path, capsys) -> None:
    tree = write_mimic_tree(tmp_path / "mimic")
    assert main(["data", "check", str(tree.root), "--format", "mimic"]) == 0
    out = capsys.readouterr().out
    assert "images: 8" in out and "no problems found" in out
    assert main(["data", "check", str(tree.root), "--format", "mimic", "--graphs", str(tree.graphs),
                 "--json", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr().out
    assert "graph_without_image: 1" in out and "report_without_graph: 1" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["ok"] is False and saved["counts"]["graphs"] == 4


def test_check_lists_broken_chexpert_files(tmp_path: Path, capsys) -> None:
    tree = write_chexpert_tree(tmp_path)
    truncate_file(tmp_path / "CheXpert-v1.0-small/train/patient00003/study1/view1_frontal.jpg")
    (tmp_path / "CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg").unlink()
    assert main(["data", "check", str(tree.parent), "--format", "chexpert"]) == 1
    out = capsys.readouterr().out
    assert "missing_image: 1" in out and "unreadable_image: 1" in out
    assert "patient00003/study1/view1_frontal.jpg" in out


def test_check_unreadable_tree_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["data", "check", str(tmp_path / "nope"), "--format", "folder"]) == 2
    assert "not found" in capsys.readouterr().err


def test_cache_command_then_dataset_reads_it(tmp_path: Path) -> None:
    tree = write_chexpert_tree(tmp_path)
    assert main(["data", "cache", str(tree.parent), "--format", "chexpert", "--out",
                 str(tmp_path / "cache"), "--size", "40"]) == 0
    from graphclr.data import CheXpertDataset

    ds = CheXpertDataset(tree.parent, "train", cache=tmp_path / "cache")
    assert ds[0]["image"].shape == (1, 40, 40)
    index = pd.read_csv(tmp_path / "cache" / "index.csv")
    assert index["path"].tolist() == ds.csv["path"].tolist()


def test_help_is_fast_and_lists_the_commands() -> None:
    proc = subprocess.run([sys.executable, "-m", "graphclr", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "data" in proc.stdout and "synth" in proc.stdout
    proc = subprocess.run([sys.executable, "-c", "import sys, graphclr.cli.data, graphclr.cli.synth; "
                           "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False"  # heavy imports stay inside the command bodies
