"""No file runs code: every weights/checkpoint loading path refuses a pickle that carries a
payload (issue 12, failure 1). The payload only creates a marker file; the tests assert the
marker never appears and that the refusal is one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graphclr.cli import main
from graphclr.graphs import Vocabulary
from graphclr.models import create_model, get_model_config, load_model

pytestmark = pytest.mark.usefixtures("one_thread")


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"conv1.weight": _Payload(marker)}}, path)
    assert not marker.exists()
    return path, marker


def _cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


GEN = ["--model", "tiny", "--generated", "16", "--generated-image-size", "32", "--max-steps", "1",
       "--batch-size", "8", "--no-progress"]


def test_api_paths_refuse_a_pickle_with_code(tmp_path: Path, evil) -> None:
    path, marker = evil
    vocab = Vocabulary.build([["effusion"]])
    with pytest.raises(ValueError, match=r"evil\.pt: refused: not a weights-only file.*never unpickles code"):
        create_model("tiny", vocab=vocab, pretrained_image=path)
    cfg = get_model_config("tiny")
    cfg["image_cfg"]["pretrained"] = str(path)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="refused"):
        create_model(cfg_file, vocab=vocab)
    with pytest.raises(ValueError, match="evil.pt"):
        create_model("tiny", vocab=vocab, pretrained=path)
    with pytest.raises(ValueError, match="evil.pt"):
        load_model(path)
    assert not marker.exists()


def test_cli_paths_refuse_a_pickle_with_code(tmp_path: Path, evil, capsys) -> None:
    path, marker = evil
    cfg = get_model_config("tiny")
    cfg["image_cfg"]["pretrained"] = str(path)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(cfg))
    for i, extra in enumerate((["--pretrained-image", str(path)], ["--model", str(cfg_file)],
                               ["--pretrained", str(path)])):
        code, err = _cli(["pretrain", *GEN, *extra, "--out", str(tmp_path / f"run{i}")], capsys)
        assert code == 2, err
        assert err.startswith("graphclr pretrain: error: ") and "evil.pt" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    # --resume with a hostile newest (and only) checkpoint: refused, nothing unpickled
    run = tmp_path / "resume"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step-00000001.pt").write_bytes(path.read_bytes())
    (run / "checkpoints" / "latest.json").write_text('{"file": "step-00000001.pt", "step": 1}')
    code, err = _cli(["pretrain", *GEN, "--out", str(run), "--resume"], capsys)
    assert code == 2 and "step-00000001.pt" in err and err.count("\n") == 1, err
    assert not marker.exists()


def test_no_unsafe_torch_load_in_the_package() -> None:
    """Every ``torch.load`` call in graphclr passes ``weights_only=True`` (found by parsing)."""
    import ast

    root = Path(__file__).resolve().parent.parent / "graphclr"
    calls, unsafe = 0, []
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "load" and getattr(node.func.value, "id", "") == "torch":
                calls += 1
                kw = {k.arg: k.value for k in node.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    unsafe.append(f"{p}:{node.lineno}")
    assert calls >= 2 and unsafe == []
