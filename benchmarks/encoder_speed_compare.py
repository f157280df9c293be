"""Before/after timings of ``encoder_speed.py`` in one run: an older commit against the tree.

Extracts commit ``--rev`` (``git archive``, into a temporary folder that is removed
afterwards) and runs its ``benchmarks/encoder_speed.py`` and the working tree's one after
the other, ``--repeats`` times alternately, with the same arguments, each in a fresh
process that imports its own ``graphclr``. Both sides see the same machine state, so the
ratio is meaningful even where absolute numbers are not. Recorded per side: the median over
repeats of the graph step (graphs/s), the collate (ms, from ``ReportGraph`` and from cached
``GraphArrays``) and the step plus collate (graphs/s).

    python benchmarks/encoder_speed_compare.py --rev <commit> [--repeats 2] -- --no-text --rounds 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
KEYS = ("graph_step_graphs_per_s", "collate_from_reports_ms", "collate_from_arrays_ms",
        "end_to_end_graphs_per_s_one_process")


def extract(rev: str, dest: Path) -> None:
    """The tree of commit ``rev`` under ``dest``."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def run_side(root: Path, args: list[str], out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, str(root / "benchmarks" / "encoder_speed.py"), *args, "--out", str(out)],
                   check=True, cwd=str(root), env=env)
    return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", required=True, help="the 'before' commit")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("speed_args", nargs="*", help="arguments for encoder_speed.py (after --)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="graphclr-before-"))
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    try:
        extract(args.rev, tmp / "tree")
        for i in range(args.repeats):
            for side, root in (("before", tmp / "tree"), ("after", REPO)):
                res = run_side(root, args.speed_args, tmp / f"{side}{i}.json")
                runs[side].append({k: res.get(k) for k in (*KEYS, "graph_step_with_collate_graphs_per_s")})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {side: {k: statistics.median(r[k] for r in rs) for k in KEYS}
               for side, rs in runs.items()}
    result = {"before_rev": args.rev, "speed_args": args.speed_args, "repeats": args.repeats,
              "runs": runs, "median": summary,
              "after_over_before": {k: summary["after"][k] / summary["before"][k] for k in KEYS}}
    path = record("encoder_speed_compare", result, args.out)
    for k in KEYS:
        print(f"{k:40s} before {summary['before'][k]:10.1f}  after {summary['after'][k]:10.1f}")
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    main()
