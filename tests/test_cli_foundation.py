"""The graphclr command: lazy imports, subcommand help, graphs build/show, demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphclr.cli import COMMAND_MODULES, main
from graphclr.graphs import load_graph_store
from graphclr.reports.schema import read_radgraph


def test_help_imports_neither_torch_nor_dgl() -> None:
    # what keeps `graphclr --help` instant: building the parser loads no heavy library
    code = ("import sys; from graphclr.cli import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('torch', 'dgl', 'spacy', 'sklearn', 'pandas', 'matplotlib') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_subcommand_has_help(capsys) -> None:
    from graphclr.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"demo", "graphs"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: graphclr " + name in capsys.readouterr().out
    assert len(sub.choices) <= len(COMMAND_MODULES)


def test_graphs_build_and_show(tmp_path: Path, radgraph_dir: Path, capsys) -> None:
    out = tmp_path / "store.bin"
    assert main(["graphs", "build", str(radgraph_dir / "train.json"),
                 str(radgraph_dir / "dev.json"), "--out", str(out)]) == 0
    store = load_graph_store(out)
    expected = [g.id for g in read_radgraph(radgraph_dir / "train.json")] + \
               [g.id for g in read_radgraph(radgraph_dir / "dev.json")]
    assert store.ids == expected
    assert [g.num_nodes() for g in store.graphs] == [14, 1, 0, 7]
    assert (tmp_path / "store.bin.vocab.json").is_file()
    assert "4 graphs, 22 nodes" in capsys.readouterr().out

    png = tmp_path / "g.png"
    assert main(["graphs", "show", str(radgraph_dir / "dev.json"), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_graphs_build_reports_bad_records(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"ok": {"text": "a", "entities": {}}, '
                   '"broken": {"text": "a", "entities": {"1": {"tokens": "a", "label": "OBS-XX", '
                   '"start_ix": 0, "end_ix": 0, "relations": []}}}}')
    assert main(["graphs", "build", str(bad), "--out", str(tmp_path / "s.bin")]) == 2   # a user error: one line, exit 2
    err = capsys.readouterr().err
    assert "report 'broken': entities['1'].label: unknown label 'OBS-XX'" in err
    assert not (tmp_path / "s.bin").exists()
    assert main(["graphs", "build", str(bad), "--out", str(tmp_path / "s.bin"), "--skip-invalid"]) == 0
    captured = capsys.readouterr()
    assert "skipped: " in captured.err and "skipped 1 malformed records" in captured.out
    assert load_graph_store(tmp_path / "s.bin").ids == ["ok"]


def test_demo_writes_summary_and_png(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 example reports" in out
    assert "p10/p10000032/s50414267.txt" in out
    assert (tmp_path / "example_graph.png").read_bytes()[:4] == b"\x89PNG"


class _BadItems:
    """A dataset whose item 1 is unreadable, as a bad image in a loader worker."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        if i == 1:
            raise ValueError("scans/b.png: image file is truncated (line 3 of manifest.csv)")
        return i


@pytest.mark.parametrize("workers", [0, 1])
def test_an_error_in_a_loader_worker_is_one_line_naming_the_file(workers) -> None:
    import torch

    from graphclr.cli import error_line

    loader = torch.utils.data.DataLoader(_BadItems(), batch_size=1, num_workers=workers)
    with pytest.raises(ValueError) as info:
        list(loader)
    if workers:
        assert "Original Traceback" in str(info.value)       # what PyTorch hands over
    assert error_line(info.value) == "scans/b.png: image file is truncated (line 3 of manifest.csv)"
