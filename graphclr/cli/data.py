"""``graphclr data``: check dataset trees against their released layouts; build image caches."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_FORMATS = ("mimic", "chexpert", "openi", "csv", "folder")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="check datasets on disk; build pre-resized image caches",
                       description="Check MIMIC-CXR-JPG, CheXpert, Open-i, CSV-manifest or image-folder "
                                   "trees, and build memory-mapped image caches.")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    c = dsub.add_parser("check", help="report missing/unreadable images, label and graph problems, counts",
                        description="Check a dataset tree. Exit status 0: no problems; 1: problems "
                                    "found (listed); 2: the tree could not be read.")
    c.add_argument("root", type=Path, help="dataset directory (or manifest CSV for --format csv)")
    c.add_argument("--format", required=True, choices=_FORMATS, help="the layout to check against")
    c.add_argument("--graphs", type=Path, default=None,
                   help="report graphs (RadGraph JSON) to check against the images "
                        "(csv: default graphs.json beside the manifest)")
    c.add_argument("--reports", type=Path, default=None,
                   help="openi: the report archive (default: torchxrayvision's NLMCXR_reports.tgz)")
    c.add_argument("--level", choices=("exists", "header", "decode"), default="header",
                   help="how hard to probe images (default header: catches truncated files)")
    c.add_argument("--views", nargs="+", default=None, help="mimic: only these ViewPosition values")
    c.add_argument("--workers", type=int, default=8, help="threads probing images (default 8)")
    c.add_argument("--max-pixels", type=int, default=None,
                   help="flag images with more pixels than this as oversized_image (default: "
                        "the loaders' limit, 50 million or GRAPHCLR_MAX_IMAGE_PIXELS)")
    c.add_argument("--max-problems", type=int, default=10, help="examples listed per problem kind")
    c.add_argument("--json", type=Path, default=None, help="also write the full report as JSON")
    c.set_defaults(func=run_check)

    k = dsub.add_parser("cache", help="write a pre-resized, memory-mapped image cache (resumable)",
                        description="Decode and resize every image of a dataset once into a uint8 "
                                    "memory map that datasets read with cache=DIR.")
    k.add_argument("root", type=Path, help="dataset directory (or manifest CSV for --format csv)")
    k.add_argument("--format", required=True, choices=_FORMATS)
    k.add_argument("--out", type=Path, required=True, help="cache directory")
    k.add_argument("--size", type=int, default=256, help="stored side in pixels (default 256)")
    k.add_argument("--split", default=None, help="mimic/chexpert split (default: all / train)")
    k.add_argument("--all-views", action="store_true", help="cache lateral views too")
    k.add_argument("--workers", type=int, default=0, help="decoding processes (default 0)")
    k.set_defaults(func=run_cache)


def run_check(args: argparse.Namespace) -> int:
    from graphclr.data import check_dataset

    try:
        report = check_dataset(args.root, args.format, graphs=args.graphs, reports=args.reports,
                               level=args.level, views=args.views, workers=args.workers,
                               progress=sys.stderr.isatty(), max_pixels=args.max_pixels)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"graphclr data check: error: {err}", file=sys.stderr)
        return 2
    print(report.summary(max_per_kind=args.max_problems))
    if args.json:
        from graphclr.utils import atomic_write

        with atomic_write(args.json) as fh:
            json.dump(report.to_dict(), fh, indent=1)
    return 0 if report.ok else 1


def open_dataset(root: Path, fmt: str, split: str | None = None, all_views: bool = False):  # noqa: ANN201
    """The dataset behind ``root`` in layout ``fmt`` (unpaired, lenient: for caching)."""
    from graphclr import data

    if fmt == "mimic":
        return data.MIMICCXRDataset(root, split=split, views=None if all_views else data.mimic.FRONTAL_VIEWS,
                                    labels=None, strict=False)
    if fmt == "chexpert":
        return data.CheXpertDataset(root, split or "train", views=None if all_views else ("Frontal",),
                                    strict=False)
    if fmt == "openi":
        return data.OpenIDataset(root, graphs=None, strict=False)
    if fmt == "csv":
        return data.ManifestDataset(root, split=split, strict=False, pathologies=[])
    return data.ImageFolderDataset(root, strict=False)


def run_cache(args: argparse.Namespace) -> int:
    from graphclr.data import build_image_cache

    ds = open_dataset(args.root, args.format, args.split, args.all_views)
    cache = build_image_cache(ds, args.out, size=args.size, num_workers=args.workers)
    state = "complete" if cache.complete else "partial (unreadable images listed in meta.json)"
    print(f"image cache: {len(cache)} of {len(ds)} images at {args.size}x{args.size} -> {args.out} ({state})")
    return 0
