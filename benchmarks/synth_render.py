"""Synthetic benchmark rendering speed: ms per image at several sizes, and end to end.

Measures (single process) :meth:`graphclr.synth.Renderer.render` on cases planned from a
fixed mix of findings (normal, effusion, consolidation + devices, cardiomegaly + edema,
pneumothorax + nodules), with and without writing the PNG; then a whole
``build_synthetic_benchmark`` run over those graphs (planning, rendering, PNG, manifest).
The issue's budget: <= 5 ms per 224-px image so that ~4k images render in well under a
minute of the 15-minute benchmark.

Usage::

    .venv/bin/python benchmarks/synth_render.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record, time_call  # noqa: E402


def mixes():  # noqa: ANN201
    from graphclr.synth import finding

    return [
        [],
        [finding("effusion", "present", "left", size="moderate")],
        [finding("consolidation", "present", "right", "lower"), finding("device", "present", kind="ett"),
         finding("device", "present", "right", kind="central_line")],
        [finding("cardiomegaly", "present"), finding("edema", "present")],
        [finding("pneumothorax", "present", "right"), finding("nodule", "present", "left", plural=True)],
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 224, 320])
    ap.add_argument("--build-n", type=int, default=500, help="images in the end-to-end build (default 500)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from graphclr.reports.schema import ReportGraph
    from graphclr.synth import Renderer, build_synthetic_benchmark, plan_case
    from graphclr.synth.render import save_png

    cases = [plan_case(None, f"bench-{i}", 0, findings=f) for i, f in enumerate(mixes())]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            r = Renderer(size)
            k = iter(range(10**9))

            def render() -> None:
                for c in cases:
                    r.render(c)

            def render_png() -> None:
                for c in cases:
                    save_png(r.render(c), Path(tmp) / f"{next(k) % 50}.png")

            t = time_call(render, repeats=20, warmup=2)
            tp = time_call(render_png, repeats=10, warmup=1)
            rows.append({"size": size, "render_ms": round(1000 * t["median_s"] / len(cases), 3),
                         "render_png_ms": round(1000 * tp["median_s"] / len(cases), 3)})
            print(f"{size:4d} px: render {rows[-1]['render_ms']:.2f} ms/image, "
                  f"+PNG {rows[-1]['render_png_ms']:.2f} ms/image", flush=True)
        # end to end, with graphs built by hand (no extractor in the timing)
        from graphclr.reports.schema import Entity, Relation

        graphs = [
            ReportGraph("CXR1", "small left pleural effusion", [Entity("small", "OBS-DP", 0, 0),
                        Entity("left", "ANAT-DP", 1, 1), Entity("pleural", "ANAT-DP", 2, 2),
                        Entity("effusion", "OBS-DP", 3, 3)],
                        [Relation("modify", 0, 3), Relation("located_at", 3, 2), Relation("modify", 1, 2)]),
            ReportGraph("CXR2", "cardiomegaly", [Entity("cardiomegaly", "OBS-DP", 0, 0)]),
            ReportGraph("CXR3", "clear", [Entity("clear", "OBS-DP", 0, 0)]),
        ]
        t0 = time.perf_counter()
        meta = build_synthetic_benchmark(Path(tmp) / "bench", n=args.build_n, size=224, graphs=graphs,
                                         progress=False)
        total = time.perf_counter() - t0
    build = {"n": args.build_n, "size": 224, "total_seconds": round(total, 2),
             "ms_per_image_total": round(1000 * total / args.build_n, 3),
             "ms_per_image_render_and_png": meta["timing"]["ms_per_rendered_image"]}
    print(f"build of {args.build_n} images at 224 px: {build['ms_per_image_total']:.2f} ms/image end to end")
    path = record("synth_render", {"per_size": rows, "build": build, "cases": len(cases)}, args.out)
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
