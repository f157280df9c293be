"""What moves the counterfactual group scores: pretraining steps, or counterfactual pairs in
pretraining? A 2 x 2 grid on the default benchmark's synthetic data, one seed.

Cells: {300, 600} steps x {natural pairs only, plus one counterfactual pair per training
report as hard negatives (``dataset.train_counterfactuals`` + ``budget.batch_groups``)}.
Encoders: the graph encoder and the bag of words (the text transformer is most of a run's
time; the 3-seed runs of ``graphclr benchmark`` and ``benchmarks/specs/counterfactual_training.json``
have it). Evaluations: zero-shot, the effusion-side probe and prompts, and the
counterfactual probes, exactly as in the default spec. Everything else is the default spec.
The images are synthetic (see ``docs/synthetic.md``).

Run from the repository root (resumable: finished cells are read back)::

    .venv/bin/python benchmarks/counterfactual_training.py --work /tmp/cf-grid
    # -> benchmarks/results/counterfactual_training_grid.{json,md}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, record  # noqa: E402

from graphclr.runner import default_spec_path  # noqa: E402

FAMILIES = ["binding", "laterality", "negation", "zone", "size"]
CELLS = [(300, False), (600, False), (300, True), (600, True)]


def grid_spec(pairs: bool) -> dict[str, Any]:
    """The default spec, graph + bag of words, the evaluations the grid reads."""
    spec = json.loads(default_spec_path().read_text(encoding="utf-8"))
    spec["name"] = "counterfactual-grid" + ("-pairs" if pairs else "")
    spec.pop("seeds")
    spec.pop("quick")
    spec["seed"] = 0
    spec["encoders"] = [e for e in spec["encoders"] if e["name"] in ("graph", "bag-of-words")]
    ev = spec["evaluations"]
    spec["evaluations"] = {k: ev[k] for k in ("n_bootstrap", "probe", "zero_shot", "laterality", "counterfactual")}
    if pairs:
        spec["dataset"]["train_counterfactuals"] = list(FAMILIES)
        spec["budget"]["batch_groups"] = "patient_id"
    return spec


def run_cell(work: Path, steps: int, pairs: bool) -> dict[str, Any]:
    name = f"steps{steps}-{'pairs' if pairs else 'natural'}"
    spec_path = work / f"{name}.json"
    spec_path.write_text(json.dumps(grid_spec(pairs), indent=1), encoding="utf-8")
    out = work / name
    cmd = [sys.executable, "-m", "graphclr", "benchmark", str(spec_path), "--out", str(out), "--no-progress",
           "--set", f"budget.max_steps={steps}", "--set", f"budget.warmup_steps={steps // 10}"]
    if (out / "results.json").is_file():
        cmd.append("--resume")
    subprocess.run(cmd, check=True)
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for enc, r in results["encoders"].items():
        side = r["laterality"]["pleural-effusion-side"]
        out[enc] = {
            "zero_shot_mean_auroc": r["zero_shot"]["metrics"]["mean"]["auroc"]["value"],
            "effusion_side_zero_shot_auroc": side["zero_shot"]["metrics"]["mean"]["auroc"]["value"],
            "counterfactual": {f: {k: r["counterfactual"][f][k] for k in ("image", "text", "group")}
                               for f in FAMILIES},
        }
    return out


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# Counterfactual group scores: steps vs counterfactual pairs in pretraining", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
             f"Machine: {meta['machine']['platform']}, {meta['machine']['cpu_count']} CPUs  ",
             "One pretraining seed (0); the default benchmark's synthetic data (64 px, 3,955 Open-i "
             "reports), image tower and evaluations; graph encoder and bag of words only. "
             "**The images are synthetic.**", "",
             "Group score (chance 1/6; ties count as failures) per family, mean zero-shot AUROC "
             "(chexpert5 prompts) and effusion-side zero-shot AUROC:", "",
             "| steps | pretraining pairs | encoder | " + " | ".join(FAMILIES) + " | zero-shot | effusion side ZS |",
             "|---|---|---|" + "---|" * len(FAMILIES) + "---|---|"]
    for row in rows:
        for enc, s in row["encoders"].items():
            cf = " | ".join(f"{s['counterfactual'][f]['group']:.3f}" for f in FAMILIES)
            lines.append(f"| {row['steps']} | {'natural + counterfactual' if row['pairs'] else 'natural'} | "
                         f"{enc} | {cf} | {s['zero_shot_mean_auroc']:.3f} | "
                         f"{s['effusion_side_zero_shot_auroc']:.3f} |")
    lines += ["", "Wall time per cell (the runner's wall_seconds: data build, pretraining of both encoders, evaluations): " +
              ", ".join(f"{r['steps']} steps {'with' if r['pairs'] else 'without'} pairs {r['seconds']:.0f} s"
                        for r in rows) + "."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the four runs (resumable)")
    ap.add_argument("--out", type=Path, default=RESULTS / "counterfactual_training_grid.json")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for steps, pairs in CELLS:
        results = run_cell(args.work, steps, pairs)
        rows.append({"steps": steps, "pairs": pairs, "seconds": round(float(results["wall_seconds"]), 1),
                     "pretrain_items": results["dataset"]["n_pretrain"], "encoders": summarise(results)})
    path = record("counterfactual_training_grid", {"cells": rows}, args.out)
    meta = json.loads(path.read_text(encoding="utf-8"))
    args.out.with_suffix(".md").write_text(markdown(rows, meta), encoding="utf-8")
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
