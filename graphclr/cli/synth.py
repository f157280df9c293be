"""``graphclr synth``: build the synthetic paired benchmark (images rendered from report graphs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="build the synthetic paired benchmark from Open-i report graphs",
                       description="Render synthetic chest-radiograph-like images whose findings follow "
                                   "real Open-i reports' graphs, with exact ground truth.")
    ssub = p.add_subparsers(dest="synth_command", metavar="SUBCOMMAND", required=True)
    b = ssub.add_parser("build", help="render the benchmark into a directory (resumable)",
                        description="Write DIR/manifest.csv, DIR/graphs.json, DIR/metadata.json and "
                                    "DIR/images/synthetic-*.png. Existing images are kept (resume).")
    b.add_argument("--out", type=Path, required=True, help="output directory")
    b.add_argument("--n", type=int, default=None, help="number of images (default: one per report)")
    b.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    b.add_argument("--seed", type=int, default=0, help="benchmark seed (default 0)")
    b.add_argument("--backgrounds", type=Path, default=None,
                   help="folder of real radiographs to draw the findings onto")
    b.add_argument("--reports", type=Path, default=None,
                   help="Open-i report archive or folder (default: torchxrayvision's NLMCXR_reports.tgz)")
    b.add_argument("--graphs", type=Path, default=None,
                   help="use these RadGraph-JSON report graphs instead of running the extractor")
    b.add_argument("--uncertain-prob", type=float, default=0.5,
                   help="probability of drawing a finding the graph marks uncertain (default 0.5)")
    b.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    b.add_argument("--overwrite", action="store_true", help="re-render existing images")
    b.add_argument("--train-counterfactuals", default="", metavar="FAMILIES",
                   help="comma-separated counterfactual families (binding,laterality,negation,zone,size): "
                        "add one such pair per training report as pretraining-only images (split 'pretrain'; "
                        "pretrain with batch_groups=patient_id to make them hard negatives)")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from graphclr.synth import build_synthetic_benchmark

    meta = build_synthetic_benchmark(args.out, n=args.n, size=args.size, seed=args.seed,
                                     backgrounds=args.backgrounds, reports=args.reports,
                                     graphs=args.graphs, uncertain_prob=args.uncertain_prob,
                                     workers=args.workers, overwrite=args.overwrite,
                                     train_counterfactuals=[f for f in args.train_counterfactuals.split(",") if f])
    t = meta["timing"]
    print(f"synthetic benchmark: {meta['num_items']} images from {meta['num_reports']} reports "
          f"-> {args.out} ({t['rendered']} rendered, {t['skipped_existing']} kept)")
    print(f"splits: {json.dumps(meta['split_counts'])}")
    if t["ms_per_rendered_image"] is not None:
        print(f"rendering: {t['ms_per_rendered_image']:.2f} ms/image (incl. PNG write, "
              f"{t['workers']} worker(s))")
    print("images are synthetic; graphs.json holds Open-i report text (CC BY-NC-ND): do not redistribute")
    return 0
