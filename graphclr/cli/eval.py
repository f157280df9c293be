"""``graphclr eval CHECKPOINT``: the benchmark's evaluation protocol on a saved checkpoint.

::

    graphclr eval runs/r50/model.pt --csv data/manifest.csv --out runs/r50/eval
    graphclr eval model.pt --dataset chexpert.json --config evaluations.json --out eval
    graphclr eval model.pt --spec benchmarks/specs/graphclr_chexpert.json --out eval

The data is a CSV manifest with a ``split`` column (train/val/test: probes train on train,
select their epoch on val, are scored on test), a dataset section of a benchmark spec
(``--dataset FILE``), or a whole spec (``--spec``: its dataset, labels and evaluations).
It writes the same ``results.json``, ``report.md`` and ``plots/`` as ``graphclr benchmark``
(both call :func:`graphclr.eval.run_protocol`'s code).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a checkpoint: linear probes, few-shot, zero-shot, retrieval",
        description="Run the benchmark's evaluation protocol on a saved checkpoint: linear probes at label "
                    "fractions, few-shot, zero-shot from prompt graphs and retrieval on its frozen image "
                    "tower; writes results.json, report.md and plots/ to --out.")
    p.add_argument("checkpoint", type=Path, help="a graphclr checkpoint (model.pt)")
    data = p.add_argument_group("data (one of)")
    data.add_argument("--csv", type=Path, help="a CSV manifest (file or folder) with a 'split' column "
                                               "(train, val, test)")
    data.add_argument("--graphs", type=Path, help="RadGraph JSON for the manifest's graph_id column")
    data.add_argument("--image-root", type=Path, help="folder the manifest's image paths are relative to")
    data.add_argument("--dataset", type=Path, help="a JSON file holding a benchmark spec's 'dataset' section")
    data.add_argument("--spec", help="a benchmark spec (file or shipped name): its dataset, labels and evaluations")
    p.add_argument("--quick", action="store_true", help="with --spec: apply the spec's 'quick' section")
    p.add_argument("--config", type=Path, help="a JSON file holding the 'evaluations' object (default: linear "
                                               "probe, few-shot, zero-shot and retrieval, with their defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an evaluation setting, e.g. --set linear_probe.seeds=[0] (repeatable)")
    p.add_argument("--labels", help="comma-separated evaluation labels (default: the 5 CheXpert "
                                    "competition labels + No Finding)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--name", default=None, help="the model's name in the report (default: the checkpoint's "
                                                "file name without .pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an evaluation under --name in --out")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch for feature extraction")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's; with --spec, "
                                                              "the spec's 'threads')")
    p.add_argument("--in-memory-mb", type=int, default=2048,
                   help="memory that may hold pre-transformed images (larger sets are read as they go)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _inputs(args: argparse.Namespace) -> tuple[dict, dict, list[str] | None, int | None]:
    """(dataset section, evaluations object, labels, threads) from the arguments."""
    given = [flag for flag, v in (("--csv", args.csv), ("--dataset", args.dataset), ("--spec", args.spec)) if v]
    if len(given) != 1:
        raise ValueError("give exactly one of --csv MANIFEST, --dataset FILE or --spec SPEC"
                         + (f" (got {', '.join(given)})" if given else ""))
    if (args.graphs or args.image_root) and not args.csv:
        raise ValueError("--graphs and --image-root go with --csv")
    if args.quick and not args.spec:
        raise ValueError("--quick goes with --spec")
    from graphclr.eval.config import DEFAULT_EVALUATIONS
    from graphclr.runner.spec import read_json_object, resolve_dataset_paths

    labels, threads = None, args.threads
    evaluations = dict(DEFAULT_EVALUATIONS)
    if args.spec:
        from graphclr.runner import load_spec

        spec = load_spec(args.spec, quick=args.quick)
        dataset, evaluations, labels = spec["dataset"], spec.get("evaluations", {}), spec.get("labels")
        threads = threads or spec.get("threads")
    elif args.dataset:
        dataset = resolve_dataset_paths(read_json_object(args.dataset, "a dataset section"),
                                        args.dataset.resolve().parent)
    else:
        dataset = {"kind": "manifest", "manifest": str(args.csv)}
        if args.graphs:
            dataset["graphs"] = str(args.graphs)
        if args.image_root:
            dataset["image_root"] = str(args.image_root)
    if args.config:
        evaluations = read_json_object(args.config, "an 'evaluations' object")
    if args.labels:
        labels = [lab.strip() for lab in args.labels.split(",") if lab.strip()]
    return dataset, evaluations, labels, threads


def _command(args: argparse.Namespace) -> str:
    parts = ["graphclr", "eval", str(args.checkpoint)]
    for flag in ("csv", "graphs", "image_root", "dataset", "spec", "config", "labels", "out", "name"):
        value = getattr(args, flag)
        if value is not None:
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    parts += ["--quick"] if args.quick else []
    for item in args.overrides:
        parts += ["--set", item]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    dataset, evaluations, labels, threads = _inputs(args)
    name = args.name or args.checkpoint.stem
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise ValueError(f"--name {name!r}: use letters, digits, '-', '_', '.'")

    from graphclr.eval import EvalConfig
    from graphclr.models.config import deep_merge
    from graphclr.runner import parse_set
    from graphclr.runner.run import evaluate_checkpoint

    if args.overrides:
        evaluations = deep_merge(dict(evaluations), parse_set(args.overrides))
    cfg = EvalConfig.from_dict(evaluations, labels=labels, where=str(args.config or "evaluations"))
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads or before))
    try:
        results, report = evaluate_checkpoint(args.checkpoint, dataset, cfg, args.out, name=name,
                                              device=args.device, batch_size=args.batch_size,
                                              in_memory_mb=args.in_memory_mb, command=_command(args),
                                              progress=not args.no_progress, overwrite=args.overwrite)
    finally:
        torch.set_num_threads(before)
    from graphclr.cli.benchmark import print_outputs

    return print_outputs(results, args.out, report)
