"""The benchmark scripts of issue 4 run end to end at toy sizes (the GPU check on the CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


# tiny ops on 2 cores: one thread avoids OpenMP spin contention (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_gpu_check_smoke_runs_on_the_cpu(tmp_path: Path, load_benchmark) -> None:
    out = tmp_path / "gpu.json"
    result = load_benchmark("gpu_check").main(["--smoke", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["device"] == "cpu" and saved["smoke"] is True
    assert saved["pairs_per_s"] > 0 and 0 < saved["graph_share_of_towers"] < 1
    assert "machine" in saved and saved["batch"] == 8 == result["batch"]
    ev = saved["evaluation"]
    assert ev["zero_shot"]["finite"] and ev["zero_shot"]["shape"] == [8, ev["zero_shot"]["labels"]]
    assert ev["retrieval"]["finite"] and ev["retrieval"]["n"] == 8
    assert 0 <= ev["retrieval"]["image_to_report_r1"] <= 1


@pytest.mark.slow
def test_encoder_speed_quick_runs(tmp_path: Path, load_benchmark) -> None:
    out = tmp_path / "speed.json"
    load_benchmark("encoder_speed").main(["--quick", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["quick"] is True and saved["graph_step_graphs_per_s"] > 0
    assert saved["text_over_graph_per_report"] > 1          # BERT-base costs more per report
    assert saved["graph_cfg"]["width"] == 512 and saved["graph_cfg"]["layers"] == 2
    assert 15 <= saved["mean_entities"] <= 25
