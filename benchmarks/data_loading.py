"""Does image loading keep up with training? Loader items/s vs ResNet-18 train-step items/s.

Writes N radiograph-sized JPEGs (MIMIC-CXR-JPG full resolution by default, 2544 x 3056; or
CheXpert-small, 390 x 320) into a temporary CheXpert-layout tree, then measures, each alone:

* the loader (``CheXpertDataset`` + DataLoader, batch 32, the ResNet-18 model's training
  transform from :mod:`graphclr.models`, 224 px)
  decoding full-size JPEGs, decoding with JPEG DCT scaling (``decode_size=224``), and
  reading the pre-resized memory-mapped cache (``build_image_cache``, 256 px);
* a ResNet-18 training step (torchvision, random init, 224 px, batch 32, SGD, BCE over 14
  labels) on this machine's CPU.

The ratio loader/model must be >= 2 for the loader not to slow training; on a GPU the model
side is 50-100x faster than on CPU, so the cache row is the one that matters there.

Usage::

    .venv/bin/python benchmarks/data_loading.py                     # full-size JPEGs
    .venv/bin/python benchmarks/data_loading.py --profile chexpert-small --n 256
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record  # noqa: E402

PROFILES = {"mimic-full": (2544, 3056), "chexpert-small": (390, 320)}
LABELS = ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
          "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
          "Pleural Other", "Fracture", "Support Devices")


def write_tree(root: Path, n: int, size: tuple[int, int]) -> None:
    """A CheXpert-layout tree of ``n`` JPEGs that look like radiographs (synthetic renderer)."""
    from PIL import Image

    from graphclr.synth import Renderer, plan_case

    renderer = Renderer(256)
    d = root / "CheXpert-v1.0-small"
    lines = ["Path,Sex,Age,Frontal/Lateral,AP/PA," + ",".join(LABELS)]
    rng = np.random.default_rng(0)
    for i in range(n):
        rel = f"train/patient{i:05d}/study1/view1_frontal.jpg"
        base = renderer.render(plan_case(None, f"bench-{i % 16}", 0))
        img = Image.fromarray(base).resize(size, Image.BILINEAR)
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, (size[1], size[0]), dtype=np.int16)
        path = root / "CheXpert-v1.0-small" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=95)
        lines.append(f"CheXpert-v1.0-small/{rel},Female,60,Frontal,PA," + ",".join(["1.0"] + [""] * 13))
    d.mkdir(parents=True, exist_ok=True)
    (d / "train.csv").write_text("\n".join(lines) + "\n")


def model_transform():  # noqa: ANN201
    """The ResNet-18 model's training transform (graphclr.models), as training would use it."""
    from graphclr.models import ImageEncoderCfg, get_model_config, image_transform

    cfg = get_model_config("graphclr-resnet18")
    return image_transform(ImageEncoderCfg(**cfg["image_cfg"]), is_train=True)


def loader_rate(ds, workers: int, batch: int, epochs: int = 1) -> float:  # noqa: ANN001
    import torch

    from graphclr.data import collate_items

    loader = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False,
                                         collate_fn=collate_items, persistent_workers=workers > 0)
    next(iter(loader))  # start-up (worker spawn) is not throughput; workers then persist
    t0 = time.perf_counter()
    count = 0
    for _ in range(epochs):
        for b in loader:
            count += len(b["id"])
    return count / (time.perf_counter() - t0)


def model_rate(batch: int, steps: int) -> float:
    import torch
    import torchvision

    model = torchvision.models.resnet18(num_classes=len(LABELS))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 224, 224)
    y = (torch.rand(batch, len(LABELS)) < 0.2).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="mimic-full")
    ap.add_argument("--n", type=int, default=96, help="images in the temporary tree (default 96)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4, help="timed ResNet-18 steps (default 4)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from graphclr.data import CheXpertDataset, build_image_cache

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_tree(root, args.n, PROFILES[args.profile])
        print(f"wrote {args.n} {args.profile} JPEGs in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        ds = CheXpertDataset(root, "train")
        build_image_cache(ds, root / "cache", size=256, num_workers=max(args.workers), progress=False)
        cache_build = time.perf_counter() - t0
        tf = model_transform()
        configs = {
            "decode full-size JPEG": dict(),
            "decode with DCT scaling (decode_size=224)": dict(decode_size=224),
            "memory-mapped cache (256 px)": dict(cache=root / "cache"),
        }
        model = model_rate(args.batch, args.steps)
        print(f"ResNet-18 train step (CPU, batch {args.batch}, 224 px): {model:.1f} items/s", flush=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in DataLoader workers: per-item tensors gain nothing from threads
        for name, kw in configs.items():
            ds = CheXpertDataset(root, "train", transform=tf, **kw)
            for w in args.workers:
                rate = loader_rate(ds, w, args.batch, epochs=1 if "cache" not in name else 3)
                rows.append({"loader": name, "workers": w, "items_per_s": round(rate, 1),
                             "loader_over_model": round(rate / model, 2)})
                print(f"{name:45s} workers={w}: {rate:8.1f} items/s  ({rate / model:.2f}x the model)",
                      flush=True)
        torch.set_num_threads(threads)
    result = {"profile": args.profile, "image_size": PROFILES[args.profile], "n_images": args.n,
              "batch": args.batch, "model": "torchvision resnet18, random init, 224 px, SGD, CPU",
              "model_items_per_s": round(model, 1), "torch_threads_model": threads,
              "torch_threads_loader_main_process": 1,
              "cache_build_seconds": round(cache_build, 2),
              "cache_build_items_per_s": round(args.n / cache_build, 1), "loaders": rows}
    by = {(r["loader"], r["workers"]): r["items_per_s"] for r in rows}
    best = {name: max(v for (n, _), v in by.items() if n == name) for name in configs}
    result["best_items_per_s"] = best
    result["cache_speedup_vs_full_decode"] = round(best["memory-mapped cache (256 px)"]
                                                   / best["decode full-size JPEG"], 1)
    result["cache_over_model"] = round(best["memory-mapped cache (256 px)"] / model, 1)
    path = record(f"data_loading_{args.profile}", result, args.out)
    print(f"cache speed-up vs full decode (best of each): {result['cache_speedup_vs_full_decode']}x; "
          f"cache loader / model: {result['cache_over_model']}x -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
