"""``graphclr pretrain``: contrastive pretraining of an image tower against report graphs.

Single process::

    graphclr pretrain --model graphclr-resnet50 --csv data/manifest.csv --out runs/r50

Several processes (one per GPU, or CPU processes with gloo) through ``torchrun``::

    torchrun --nproc_per_node 4 -m graphclr pretrain --model graphclr-resnet50 \\
        --csv data/manifest.csv --out runs/r50

Without data at hand, ``--generated N`` trains on N generated (synthetic) pairs.

A manifest with report text but no graphs trains a graph model on graphs extracted on
the fly by the built-in extractor (the log says so). ``--out`` must be empty unless
``--resume`` (continue) or ``--overwrite`` (replace the old run's files) is given. On
SIGINT / SIGTERM the step in progress finishes, a checkpoint is written and the exact
``--resume`` command is printed; the exit status is then 128 + the signal number.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("graphclr.cli.pretrain")

#: what a run writes into --out (``--overwrite`` removes exactly these)
RUN_FILES = ("metrics.jsonl", "checkpoints", "model.pt", "summary.json", "vocab.json",
             "train_config.json", "tensorboard")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain", help="contrastive pretraining (image tower vs report graphs or text)",
        description="Pretrain a graphclr model (GraphCLIP or a text baseline) on image-report "
                    "pairs. Works under torchrun (DDP). Writes metrics.jsonl, checkpoints/, "
                    "model.pt and summary.json to --out.")
    p.add_argument("--model", default=None,
                   help="model config name (see --list-models) or JSON file (default "
                        "graphclr-resnet50, or the config stored in --pretrained)")
    p.add_argument("--list-models", action="store_true", help="print the known model configs and exit")
    p.add_argument("--override", default=None,
                   help='JSON merged into the model config, e.g. \'{"graph_cfg": {"variant": "igcl"}}\'')
    p.add_argument("--pretrained", type=Path, help="start from this graphclr checkpoint")
    p.add_argument("--image-backbone", default=None,
                   help="image backbone to use (resnet18, resnet50, densenet121, vit_b_16, ...)")
    p.add_argument("--image-size", type=int, default=None, help="image side in pixels")
    p.add_argument("--pretrained-image", type=Path,
                   help="local torchvision/torchxrayvision weights for the image backbone")
    data = p.add_argument_group("data (one of)")
    data.add_argument("--csv", type=Path, help="a CSV manifest (file or folder) read by graphclr.data")
    data.add_argument("--graphs", type=Path, help="RadGraph JSON for the manifest's graph_id column")
    data.add_argument("--split", default=None, help="use only manifest rows of this split (e.g. train)")
    data.add_argument("--generated", type=int, metavar="N",
                      help="train on N generated synthetic pairs (no data needed)")
    data.add_argument("--generated-image-size", type=int, default=64)
    p.add_argument("--vocab", type=Path, help="vocabulary JSON (default: built from the training graphs)")
    p.add_argument("--out", type=Path, required=False, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (default: refuse a non-empty --out)")
    data.add_argument("--skip-bad-images", type=int, default=0, metavar="N",
                      help="replace up to N missing/unreadable images by the next readable item, "
                           "logging and counting each; fail past N (default 0: fail on the first)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (overrides --epochs)")
    t.add_argument("--batch-size", type=int, default=250, help="pairs per micro-batch per process")
    t.add_argument("--accum-steps", type=int, default=1, help="micro-batches per optimiser step")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--warmup-steps", type=int, default=0)
    t.add_argument("--freeze-image-steps", type=int, default=0,
                   help="LiT-style: keep the image backbone frozen for the first N steps")
    t.add_argument("--lock-image", action="store_true", help="keep the image backbone frozen throughout")
    t.add_argument("--grad-clip", type=float, default=None)
    t.add_argument("--amp", choices=["auto", "bf16", "fp16", "none"], default="auto",
                   help="mixed precision on GPUs (auto: bf16 where supported); CPUs train in fp32")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--keep-checkpoints", type=int, default=2)
    t.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    t.add_argument("--progress-every", type=int, default=0, metavar="N",
                   help="off a terminal: a plain progress line on stderr every N steps "
                        "(default: --log-every)")
    t.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard scalars to OUT/tensorboard (pip install "
                        "'graphclr[tensorboard]')")
    p.set_defaults(func=run)


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one folder (see the module docstring)."""
    if resume and overwrite:
        raise ValueError("give --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (resume or overwrite):
        raise ValueError(f"--out {out} is not empty (an earlier run?): pass --resume to continue "
                         "it or --overwrite to replace it")


def _attach_extracted_graphs(dataset: Any) -> None:
    """Graphs for a text-only manifest, from the built-in extractor (said in the log)."""
    from graphclr.data.manifest import GRAPHS_NAME
    from graphclr.reports.extract import Extractor

    rows = [(str(i), str(t)) for i, t in zip(dataset.csv["id"], dataset.csv["text"]) if isinstance(t, str)]
    log.info("%s has report text but no graphs: extracting %d graphs with graphclr's built-in "
             "extractor (to do it once: graphclr extract %s --out %s, then add a graph_id column)",
             dataset.manifest, len(rows), dataset.manifest, dataset.manifest.parent / GRAPHS_NAME)
    failed: list[str] = []
    graphs = {g.id: g for g in Extractor().pipe(
        rows, on_error=lambda rid, err: failed.append(f"{rid} ({type(err).__name__}: {err})"))}
    if failed:
        log.warning("extraction failed for %d report(s), first: %s", len(failed), failed[0])
    dataset.attach_graphs(graphs, source=f"graphs extracted from {dataset.manifest}")


def _build_dataset(args: argparse.Namespace, model_type: str) -> Any:
    if args.generated is not None:
        from graphclr.synth import SyntheticPairDataset

        return SyntheticPairDataset(args.generated, image_size=args.generated_image_size, seed=args.seed)
    from graphclr.data import CSVDataset

    dataset = CSVDataset(args.csv, graphs=args.graphs, split=args.split)
    if model_type == "graph" and not dataset.paired:
        if not dataset.text_only:
            raise ValueError(f"{dataset.manifest}: rows have no report (no text, graph_id or "
                             "graph_json column); add a text column, or run graphclr extract on "
                             "your reports and add a graph_id column")
        _attach_extracted_graphs(dataset)
    if args.skip_bad_images:
        dataset.strict = False          # built strictly; only unreadable images are skipped
        dataset.bad_item_limit = args.skip_bad_images
    return dataset


def resume_command(argv: list[str]) -> str:
    """The command line that continues this run."""
    rest = [a for a in argv if a not in ("--overwrite", "--resume")]
    return "graphclr " + shlex.join(rest + ["--resume"])


def run(args: argparse.Namespace) -> int:
    if args.list_models:
        from graphclr.models import list_models

        print("\n".join(list_models()))
        return 0
    if args.out is None:
        raise ValueError("--out is required")
    if args.model is None and args.pretrained is None:
        args.model = "graphclr-resnet50"
    if (args.csv is None) == (args.generated is None):
        raise ValueError("give exactly one of --csv MANIFEST or --generated N")
    if args.skip_bad_images < 0:
        raise ValueError(f"--skip-bad-images must be >= 0, got {args.skip_bad_images}")
    check_out(args.out, args.resume, args.overwrite)
    if args.tensorboard:
        from graphclr.train.monitor import TensorBoardScalars

        TensorBoardScalars.check_installed()

    import torch

    from graphclr.graphs import Vocabulary
    from graphclr.models import create_model_for, deep_merge, load_checkpoint, resolve_model_config
    from graphclr.train import TrainConfig, train
    from graphclr.train.distributed import cleanup_distributed, init_distributed
    from graphclr.utils import seed_everything

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        overrides = json.loads(args.override) if args.override else None
    except json.JSONDecodeError as err:
        raise ValueError(f"--override is not valid JSON: {err}") from None

    cfg_dict = None if args.model is None else resolve_model_config(args.model)
    if cfg_dict is not None:
        if overrides:
            cfg_dict = deep_merge(cfg_dict, overrides)
        if args.image_backbone or args.image_size:
            image = dict(cfg_dict.get("image_cfg") or {})
            if args.image_backbone:
                image["backbone"] = args.image_backbone
            if args.image_size:
                image["image_size"] = args.image_size
            cfg_dict["image_cfg"] = image
    stored = load_checkpoint(args.pretrained).get("model_config") if args.pretrained else None
    model_type = (cfg_dict or stored or {}).get("model_type", "graph")
    info = init_distributed(args.device)   # joins torchrun's group (no-op in one process)
    try:
        dataset = _build_dataset(args, model_type)
        vocab = Vocabulary.load(args.vocab) if args.vocab is not None else None
        seed_everything(args.seed)
        model = create_model_for(dataset, cfg_dict, vocab=vocab, pretrained=args.pretrained,
                                 pretrained_image=args.pretrained_image,
                                 overrides=overrides if cfg_dict is None else None)
        vocab = model.vocab if model.model_type == "graph" else None   # built by create_model_for
        cfg = TrainConfig(epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
                          accum_steps=args.accum_steps, lr=args.lr, weight_decay=args.weight_decay,
                          warmup_steps=args.warmup_steps, freeze_image_steps=args.freeze_image_steps,
                          lock_image=args.lock_image, grad_clip=args.grad_clip, amp=args.amp,
                          device=args.device, seed=args.seed, num_workers=args.workers,
                          log_every=args.log_every, checkpoint_every=args.checkpoint_every,
                          keep_checkpoints=args.keep_checkpoints, progress=not args.no_progress,
                          progress_every=args.progress_every, tensorboard=args.tensorboard)
        if info.is_main:   # everything is known to work: only now touch --out
            if args.overwrite:
                for name in RUN_FILES:
                    target = args.out / name
                    if target.is_dir():
                        shutil.rmtree(target)
                    else:
                        target.unlink(missing_ok=True)
            if vocab is not None and args.pretrained is None and args.vocab is None:
                args.out.mkdir(parents=True, exist_ok=True)
                vocab.save(args.out / "vocab.json")
        summary = train(model, dataset, cfg, args.out, resume=args.resume)
    finally:
        cleanup_distributed(info)
    bad = getattr(dataset, "bad_items", {})
    if bad:
        summary["bad_images"] = len(bad)
        print(f"replaced {len(bad)} unreadable image(s) (--skip-bad-images {args.skip_bad_images}); "
              f"first: {next(iter(bad.values()))}", file=sys.stderr)
    if summary.get("interrupted"):
        if info.is_main:
            print(f"{summary['interrupted']} at step {summary['steps']}: checkpoint "
                  f"{summary['checkpoint']}; continue with:\n  "
                  f"{resume_command(getattr(args, 'argv', None) or sys.argv[1:])}", file=sys.stderr)
        return 128 + int(getattr(signal, summary["interrupted"]))
    if info.is_main:
        print(json.dumps(summary, indent=2))
    return 0
