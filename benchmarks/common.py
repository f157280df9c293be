"""Shared helpers for benchmark scripts: timing, result records."""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def time_call(fn: Callable[[], Any], *, repeats: int = 20, warmup: int = 3,
              clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median and spread of ``fn``'s time in seconds over ``repeats`` calls (wall time;
    ``clock=time.process_time`` for this process's CPU time, steadier on a shared machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats": repeats}


def record(name: str, result: dict[str, Any], out: Path | None = None) -> Path:
    """Write a result JSON with the machine, versions, date and exact command."""
    from graphclr.utils import atomic_write, env_report

    payload = {
        "benchmark": name,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "machine": env_report(),
        **result,
    }
    path = out or RESULTS / f"{name}.json"
    with atomic_write(path) as fh:
        json.dump(payload, fh, indent=2)
        fh.write("\n")
    return path
