"""``graphclr benchmark``: pretrain every encoder of a spec under one budget, evaluate, report."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark", help="pretrain graph and text encoders under one budget and compare them",
        description="Run a benchmark spec: for each encoder, pretrain it (same loop, data, image backbone, "
                    "budget and seed), evaluate the frozen image tower (linear probes at label fractions, "
                    "few-shot, zero-shot from prompt graphs, laterality, retrieval, counterfactual pairs), once "
                    "per pretraining seed, and write results.json, report.md (mean ± sd over seeds) and plots. "
                    "Without SPEC it runs the built-in default: synthetic images rendered from the real Open-i "
                    "reports' graphs, 3 seeds (about 8 minutes on 2 idle CPU cores; --quick: "
                    "about a minute).")
    p.add_argument("spec", nargs="?", default=None,
                   help="a benchmark spec JSON file or a shipped spec name (default: the built-in default)")
    p.add_argument("--quick", action="store_true",
                   help="apply the spec's 'quick' section (a smaller, faster run; used by the tests)")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: ./graphclr-benchmark, or ./graphclr-benchmark-quick)")
    p.add_argument("--resume", action="store_true",
                   help="continue a stopped run in --out (finished steps are kept; pretraining "
                        "continues from its newest checkpoint)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec field, e.g. --set budget.max_steps=100 (repeatable)")
    p.add_argument("--pretrain-only", action="store_true",
                   help="pretrain every encoder and stop; the stage to launch with torchrun on several "
                        "GPUs (torchrun --nproc_per_node N -m graphclr benchmark SPEC --pretrain-only), "
                        "then evaluate in one process with --resume")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _command(args: argparse.Namespace, out: Path) -> str:
    """The command that reproduces this run (from the parsed arguments, not ``sys.argv``)."""
    parts = ["graphclr", "benchmark"]
    if args.spec:
        parts.append(str(args.spec))
    if args.quick:
        parts.append("--quick")
    parts += ["--out", str(out)]
    if args.resume:
        parts.append("--resume")
    if args.pretrain_only:
        parts.append("--pretrain-only")
    for item in args.overrides:
        parts += ["--set", item]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from graphclr.runner import load_spec, parse_set, run_benchmark

    spec = load_spec(args.spec, quick=args.quick, overrides=parse_set(args.overrides))
    out = args.out or Path("graphclr-benchmark-quick" if args.quick else "graphclr-benchmark")
    command = _command(args, out)
    results, report = run_benchmark(spec, out, resume=args.resume, command=command,
                                    progress=not args.no_progress, pretrain_only=args.pretrain_only)
    if report is None:
        return 0
    return print_outputs(results, out, report)


def print_outputs(results: dict, out: Path, report: Path) -> int:
    """Where a run's results and report are (``graphclr benchmark`` and ``graphclr eval``)."""
    print()
    if results.get("synthetic"):
        print("note: the images of this run are synthetic (rendered from report graphs), not radiographs")
    print(f"results: {out / 'results.json'}")
    print(f"report:  {report}")
    return 0
