"""GPU check: pretraining throughput (pairs/s) and the graph side's share of the step.

The prepared check for a GPU machine (issue 4): ``GraphCLIP`` with a ResNet-50 image tower
at 224 px and the reference-size graph tower (``graphclr-resnet50``), batch 256, bf16
autocast, AdamW. Measured with CUDA events after warm-up:

* **full step**: both towers forward, CLIP loss, backward, optimiser step -> pairs/s;
* **graph side**: the same step with the image features held fixed (graph tower only);
* **image side**: the same with the graph features held fixed (image tower only);
* the graph side's share = graph / (graph + image), and graph / full (goal: < 10%);
* the collate (``report_processor``: a ``ReportBatch`` made on the CPU), which data-loader
  workers overlap with the GPU in real training, reported beside it;
* **evaluation on the device**: zero-shot classification (the shipped ``chexpert5``
  prompts embedded through the report processor and the model, scored against image
  features) and image-report retrieval (Recall@K of the batch's reports against their
  images), each timed once and checked for finite scores.

Images are random tensors already on the GPU (decoding is measured by
``benchmarks/data_loading.py``); report graphs come from the seeded synthetic generator
(about 20 entities per report). The report batches are ``ReportBatch`` objects: the step
moves each to the device as one object (``graphclr.device.move_batch``), either in the
step or ahead of it (as a pinned-memory data loader would); both are reported. DGL's PyPI
builds are CPU-only, and the model path never needs a DGL graph. Without a GPU the script
runs on the CPU (``--device cpu`` or ``--smoke``).

    python benchmarks/gpu_check.py                 # on a GPU machine
    python benchmarks/gpu_check.py --smoke         # tiny model on the CPU (used by the tests)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402


def _timer(device):
    import torch

    if device.type == "cuda":
        def run(fn) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
    else:
        def run(fn) -> float:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
    return run


def _evaluations(model, reports: list, images, device, run) -> dict[str, Any]:
    """Zero-shot and retrieval with the model on ``device`` (eval mode, no gradients)."""
    import numpy as np
    import torch

    from graphclr.eval.features import encode_reports
    from graphclr.eval.retrieval import retrieval_recall
    from graphclr.eval.zeroshot import build_zero_shot_classifier, zero_shot_scores

    model.eval()
    out: dict[str, Any] = {}
    with torch.no_grad():
        img = model.encode_image(images, normalize=True).float().cpu().numpy()
        holder: dict[str, Any] = {}
        seconds = run(lambda: holder.update(clf=build_zero_shot_classifier(model, "chexpert5",
                                                                           device=str(device))))
        scores = zero_shot_scores(img, holder["clf"])
        out["zero_shot"] = {"labels": len(holder["clf"].labels), "s": seconds,
                            "finite": bool(np.isfinite(scores).all()), "shape": list(scores.shape)}
        seconds = run(lambda: holder.update(rep=encode_reports(model, reports, device=str(device))))
        rec = retrieval_recall(img, holder["rep"], ks=(1, 5))
        out["retrieval"] = {"n": len(reports), "s": seconds,
                            "image_to_report_r1": float(rec["image_to_report"][1]),
                            "report_to_image_r1": float(rec["report_to_image"][1]),
                            "finite": bool(np.isfinite(holder["rep"]).all())}
    model.train()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="graphclr-resnet50")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--amp", choices=["bf16", "fp16", "none"], default="bf16")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model, batch 8, 2 steps, on the CPU: checks the script runs")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.batch, args.steps, args.warmup, args.amp = "tiny", 8, 2, 1, "none"
        args.device = args.device or "cpu"

    import torch
    import torch.nn.functional as F

    from graphclr.device import move_batch, resolve_device
    from graphclr.graphs import Vocabulary
    from graphclr.loss import ClipLoss
    from graphclr.models import create_model
    from graphclr.synth.pairs import synthetic_reports

    try:
        device = resolve_device(args.device or "cuda")
    except ValueError as err:
        raise SystemExit(f"{err}: run this on a GPU machine, or use --smoke or --device cpu") from None
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[args.amp]
    if device.type != "cuda":
        amp_dtype = None

    n_batches = 4
    reports = synthetic_reports(n_batches * args.batch, seed=1, sentences=(7, 11))
    vocab = Vocabulary.from_graphs(reports)
    torch.manual_seed(0)
    model = create_model(args.model, vocab=vocab).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model.train()
    size = model.preprocess_cfg["image_size"]
    channels = model.preprocess_cfg["channels"]
    images = torch.randn(args.batch, channels, size, size, device=device)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    chunks = [reports[i * args.batch:(i + 1) * args.batch] for i in range(n_batches)]
    cpu_batches = [model.report_processor(c) for c in chunks]
    device_batches = [move_batch(b, device) for b in cpu_batches]
    collate_s = []
    for c in chunks * 2:
        t0 = time.perf_counter()
        model.report_processor(c)
        collate_s.append(time.perf_counter() - t0)

    loss_fn = ClipLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.cuda.amp.GradScaler(enabled=amp_dtype == torch.float16)
    fixed_img = F.normalize(torch.randn(args.batch, model.embed_dim, device=device), dim=-1)
    fixed_rep = F.normalize(torch.randn(args.batch, model.embed_dim, device=device), dim=-1)
    state = {"i": 0}

    def autocast():
        import contextlib

        return torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()

    def step(kind: str, batches: list) -> None:
        batch = move_batch(batches[state["i"] % len(batches)], device)
        state["i"] += 1
        with autocast():
            if kind == "full":
                out = model(images, batch)
                img, rep, scale = out["image_features"], out["report_features"], out["logit_scale"]
            elif kind == "graph":
                img, rep, scale = fixed_img, model.encode_graph(batch, normalize=True), model.scale()
            else:
                img, rep, scale = model.encode_image(images, normalize=True), fixed_rep, model.scale()
            loss = loss_fn(img.float(), rep.float(), scale.float())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    run = _timer(device)
    timings: dict[str, dict[str, float]] = {}
    for name, kind, batches in [("full", "full", cpu_batches), ("graph", "graph", cpu_batches),
                                ("image", "image", cpu_batches),
                                ("graph_device_batches", "graph", device_batches),
                                ("full_device_batches", "full", device_batches)]:
        for _ in range(args.warmup):
            step(kind, batches)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = [run(lambda: step(kind, batches)) for _ in range(args.steps)]
        timings[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}
    full, graph, image = (timings[k]["median_s"] for k in ("full", "graph", "image"))
    graph_d = timings["graph_device_batches"]["median_s"]
    evaluation = _evaluations(model, reports[: args.batch], images, device, run)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "smoke": args.smoke,
        "model": args.model,
        "image_backbone": model.cfg.image_cfg.backbone,
        "image_size": size,
        "batch": args.batch,
        "amp": args.amp if amp_dtype else "none",
        "steps": args.steps,
        "pairs_per_s": args.batch / full,
        "pairs_per_s_device_batches": args.batch / timings["full_device_batches"]["median_s"],
        "graph_share_of_towers": graph / (graph + image),
        "graph_share_of_full_step": graph / full,
        "graph_share_of_towers_device_batches": graph_d / (graph_d + image),
        "collate_ms_cpu": statistics.median(collate_s) * 1e3,
        "timings": timings,
        "evaluation": evaluation,
        "mean_entities": sum(len(r.entities) for r in reports) / len(reports),
        "goal": {"graph_share_below": 0.10},
    }
    if device.type == "cuda":
        result["max_memory_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    name = "gpu_check_smoke" if args.smoke else "gpu_check"
    path = record(name, result, args.out)
    print(f"{result['device']}: {result['pairs_per_s']:.0f} pairs/s ({args.model}, batch {args.batch}, "
          f"{result['amp']}); graph side {100 * result['graph_share_of_towers']:.1f}% of the towers' "
          f"time ({100 * result['graph_share_of_towers_device_batches']:.1f}% with batches moved "
          f"ahead of the step); collate {result['collate_ms_cpu']:.0f} ms on the CPU")
    print(f"zero-shot: {evaluation['zero_shot']['labels']} labels in {evaluation['zero_shot']['s']:.2f} s; "
          f"retrieval of {evaluation['retrieval']['n']} pairs in {evaluation['retrieval']['s']:.2f} s "
          f"(R@1 image->report {evaluation['retrieval']['image_to_report_r1']:.3f})")
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    main()
