"""Counterfactual probe pairs built from Open-i: how many per family, and how they were made.

Reads the Open-i reports in place from torchxrayvision's ``NLMCXR_reports.tgz`` (CC BY-NC-ND:
only counts are recorded, never report text), keeps the synthetic benchmark's test split
(``--split test``, seed ``--seed``) and builds one pair per report and family
(:func:`graphclr.synth.counterfactual_set.build_counterfactuals`). Says so and exits 0 when the
archive is absent.

Usage::

    .venv/bin/python benchmarks/counterfactual_pairs.py [--seed 0] [--split test] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test", help="benchmark split to start from ('all': every report)")
    ap.add_argument("--limit", type=int, default=None, help="read only the first N reports")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from itertools import islice

    from graphclr.reports.readers import openi_archive_path, read_openi
    from graphclr.synth.counterfactual_set import build_counterfactuals, pair_counts

    if not openi_archive_path().exists():
        print(f"Open-i archive absent ({openi_archive_path()}): no counts measured")
        return 0
    t0 = time.perf_counter()
    reports = list(islice(read_openi(), args.limit))
    split = None if args.split == "all" else args.split
    sets = build_counterfactuals(reports, seed=args.seed, split=split)
    counts = pair_counts(sets)
    result = {"reports_read": len(reports), "seed": args.seed, "split": args.split, "counts": counts}
    print(result, f"({time.perf_counter() - t0:.0f} s, not recorded)")
    if args.limit is None:
        print("recorded:", record("counterfactual_pairs", result, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
