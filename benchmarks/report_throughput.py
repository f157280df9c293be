"""End-to-end reports/s of ``graphclr extract`` and ``graphclr label`` on the Open-i archive.

Each command runs in this process through ``graphclr.cli.main`` (reading the archive,
extracting, labelling, writing the JSON/CSV); wall time and the process's CPU time are
both recorded (on a busy machine only the second means much), after spaCy and graphclr are imported:
interpreter start and imports are excluded, everything a run does is included (building
the extractor too). For reference the same reports are also timed in parts: reading
alone, ``Extractor.pipe`` alone on reports already read, and writing alone.

Issue 9 goal: >= 3,000 reports/s end to end on one process; all of MIMIC-CXR (227,835
reports) under 2 minutes on 2 cores, projected here as the fixed cost of a command
(measured on a run of 8 reports: building the extractor, starting workers) plus
227,835 reports at the rate of the rest (MIMIC reports are about as long as Open-i's). ``--n-process 2`` runs both commands with two
extraction workers (spawned, so each imports spaCy and builds its extractor inside the
timed run); the CPU time then adds the workers' (``resource.RUSAGE_CHILDREN``), and the
projection uses the measured wall time, so it means something only on an idle machine
with at least 2 cores. The graphs written are checked to be the same as one process's.

Open-i reports are CC BY-NC-ND: they are read in place from torchxrayvision's wheel and
nothing of them is written outside a temporary folder.

    python benchmarks/report_throughput.py [--repeats 3]
    python benchmarks/report_throughput.py --repeats 1 --limit 500 --no-record   # quick run
    python benchmarks/report_throughput.py --n-process 2 --out benchmarks/results/report_throughput_2proc.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402

MIMIC_REPORTS = 227_835
#: reports in the run that measures a command's fixed cost
_FEW = 8


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its workers) of one command."""
    from graphclr.cli import main

    sink = io.StringIO()
    t0, c0 = time.perf_counter(), _cpu()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        rc = main(argv)
    dt, dc = time.perf_counter() - t0, _cpu() - c0
    if rc != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({rc}): {sink.getvalue()[-500:]}")
    return dt, dc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="only the first N reports")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--n-process", type=int, default=1, help="extraction worker processes")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()

    from graphclr.reports.extract.pipeline import spacy_without_torch

    with spacy_without_torch():
        import spacy  # noqa: F401
    from graphclr.reports.extract import Extractor
    from graphclr.reports.readers import read_openi
    from graphclr.reports.schema import write_radgraph

    reports = list(read_openi())[: args.limit]
    n = len(reports)
    procs = ["--n-process", str(args.n_process)]
    limit = ["--limit", str(args.limit)] if args.limit else []
    result: dict = {"reports": n, "input": "Open-i NLMCXR_reports.tgz (torchxrayvision 1.5.7)",
                    "repeats": args.repeats, "n_process": args.n_process,
                    "end_to_end": {}, "parts": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, out in (("extract", "g.json"), ("label", "l.csv")):
            argv = [name, "openi", "--out", f"{tmp}/{out}", *limit, *procs]
            runs = [_run(argv) for _ in range(args.repeats)]
            med = statistics.median(t for t, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            # the fixed cost (building extractors, starting workers) from a run of a few
            # reports; MIMIC-CXR = that + its reports at the rate of the rest
            small = [name, "openi", "--out", f"{tmp}/few_{out}", "--limit", str(_FEW), *procs]
            fixed = min(t for t, _ in (_run(small) for _ in range(args.repeats)))
            per_report = max(med - fixed, 1e-9) / max(n - _FEW, 1)
            projection = fixed + per_report * MIMIC_REPORTS
            result["end_to_end"][name] = {
                "median_s": round(med, 3), "best_s": round(min(t for t, _ in runs), 3),
                "reports_per_s": round(n / med), "cpu_s": round(cpu, 3),
                "reports_per_cpu_s": round(n / cpu), "fixed_s": round(fixed, 3),
                "mimic_projection_s": round(projection, 1)}
            print(f"graphclr {name}: {n / med:,.0f} reports/s wall, {n / cpu:,.0f} per CPU "
                  f"second (median of {args.repeats}; fixed cost {fixed:.2f} s; MIMIC-CXR "
                  f"projected {projection:.0f} s with --n-process {args.n_process})")
        if args.n_process > 1:  # the workers' graphs are the ones one process writes
            _run(["extract", "openi", "--out", f"{tmp}/one.json", *limit])
            same = Path(f"{tmp}/one.json").read_bytes() == Path(f"{tmp}/g.json").read_bytes()
            result["same_output_as_one_process"] = same
            if not same:
                raise SystemExit("--n-process output differs from one process's")
        ex = Extractor()
        t0 = time.perf_counter()
        everything = list(read_openi())  # the archive is read whole even with --limit
        t_read = (time.perf_counter() - t0) * n / len(everything)
        again = everything[:n]
        t0 = time.perf_counter()
        graphs = list(ex.pipe(again))
        t_pipe = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_radgraph(f"{tmp}/w.json", graphs)
        t_write = time.perf_counter() - t0
    for part, t in (("read", t_read), ("extractor_pipe", t_pipe), ("write", t_write)):
        result["parts"][part] = {"s": round(t, 3), "reports_per_s": round(n / t)}
        print(f"  {part:15s} {n / t:10,.0f} reports/s")
    if not args.no_record:
        print("->", record("report_throughput", result, args.out))


if __name__ == "__main__":
    main()
