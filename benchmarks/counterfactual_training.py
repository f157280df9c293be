"""What moves the counterfactual group scores: pretraining steps, or counterfactual pairs in
pretraining? A grid on the default benchmark's synthetic data, one pretraining seed per cell
(``--seeds``, default 0; with several, the markdown adds mean ± sd over them).

Cells: steps (``--steps``, default 300 600 1200) x {natural pairs only, plus one
counterfactual pair per training report as hard negatives (``dataset.train_counterfactuals``
+ ``budget.batch_groups``)}; ``--pairs-only`` drops the natural column. Encoders (``--encoders``):
by default the graph encoder and the bag of words (the text transformer is most of a run's
time; the 3-seed runs of ``graphclr benchmark`` and ``benchmarks/specs/counterfactual_training.json``
have it), taken by name from the default spec, or from ``--encoder-spec`` (for example the
readout ablation's encoders). Evaluations: zero-shot, the effusion-side probe and prompts, and
the counterfactual probes, exactly as in the default spec. Everything else is the default
spec. The images are synthetic (see ``docs/synthetic.md``).

Run from the repository root (resumable: finished cells are read back)::

    .venv/bin/python benchmarks/counterfactual_training.py --work /tmp/cf-grid
    # -> benchmarks/results/counterfactual_training_grid.{json,md}
    .venv/bin/python benchmarks/counterfactual_training.py --work /tmp/cf-readout --pairs-only \
        --steps 600 --encoder-spec benchmarks/specs/readout_ablation.json \
        --encoders graph graph-attention igcl rgcn-mean --out benchmarks/results/readout_ablation_pairs.json
    # the budget of benchmarks/specs/counterfactual_training.json, chosen on validation pairs:
    .venv/bin/python benchmarks/counterfactual_training.py --work /tmp/cf-val --pairs-only \
        --probe-split val --encoders graph --steps 600 1200 1800 2400 3600
    # -> benchmarks/results/counterfactual_budget_val.{json,md}, with the choose_budget pick
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, record  # noqa: E402

from graphclr.runner import default_spec_path  # noqa: E402

FAMILIES = ["binding", "laterality", "negation", "zone", "size"]


def grid_spec(pairs: bool, encoders: list[str], encoder_spec: Path | None = None,
              train_families: list[str] | None = None, probe_split: str = "test") -> dict[str, Any]:
    """The default spec, the named encoders, the evaluations the grid reads."""
    spec = json.loads(default_spec_path().read_text(encoding="utf-8"))
    spec["name"] = "counterfactual-grid" + ("-pairs" if pairs else "")
    spec.pop("seeds")
    spec.pop("quick")
    spec["seed"] = 0
    source = json.loads(encoder_spec.read_text(encoding="utf-8")) if encoder_spec else spec
    by_name = {e["name"]: e for e in source["encoders"]}
    unknown = [n for n in encoders if n not in by_name]
    if unknown:
        raise SystemExit(f"{encoder_spec or default_spec_path()}: no encoder named {unknown}; "
                         f"allowed: {sorted(by_name)}")
    spec["encoders"] = [by_name[n] for n in encoders]
    ev = spec["evaluations"]
    spec["evaluations"] = {k: ev[k] for k in ("n_bootstrap", "probe", "zero_shot", "laterality", "counterfactual")}
    spec["evaluations"]["counterfactual"] = {**ev["counterfactual"], "split": probe_split}
    if pairs:
        spec["dataset"]["train_counterfactuals"] = list(train_families or FAMILIES)
        spec["budget"]["batch_groups"] = "patient_id"
    return spec


def run_cell(work: Path, steps: int, pairs: bool, encoders: list[str],
             encoder_spec: Path | None = None, train_families: list[str] | None = None,
             probe_split: str = "test", seed: int = 0) -> dict[str, Any]:
    fams = "" if not pairs or train_families in (None, FAMILIES) else "-" + "+".join(train_families)
    probes = "" if probe_split == "test" else f"-{probe_split}probes"
    seeded = "" if seed == 0 else f"-seed{seed}"
    name = f"steps{steps}-{'pairs' if pairs else 'natural'}{fams}-{'+'.join(encoders)}{probes}{seeded}"
    spec_path = work / f"{name}.json"
    spec = grid_spec(pairs, encoders, encoder_spec, train_families, probe_split)
    spec["seed"] = seed
    spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
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
            "counterfactual": {f: {k: r["counterfactual"][f][k] for k in ("image", "text", "group", "n_pairs")}
                               for f in FAMILIES},
        }
    return out


CHOICE_FAMILIES = ("binding", "negation")


def choose_budget(rows: list[dict[str, Any]], encoder: str = "graph") -> tuple[int, float]:
    """The rule that picks the pretraining budget of ``counterfactual_training.json`` from
    validation-pair cells, fixed before they ran: among the cells with counterfactual pairs
    of all five families, the step count whose ``encoder`` has the highest mean group score
    on binding and negation (the issue's two goals); a tie goes to fewer steps.

    >>> cell = lambda steps, b, n: {"steps": steps, "pairs": True, "encoders": {"graph": {
    ...     "counterfactual": {"binding": {"group": b}, "negation": {"group": n}}}}}
    >>> choose_budget([cell(600, 0.8, 0.8), cell(1200, 0.9, 0.86), cell(2400, 0.86, 0.9)])
    (1200, 0.88)
    """
    by_steps: dict[int, list[float]] = {}
    for r in rows:
        if r["pairs"] and len(r.get("train_families", FAMILIES)) == len(FAMILIES) and encoder in r["encoders"]:
            cf = r["encoders"][encoder]["counterfactual"]
            by_steps.setdefault(r["steps"], []).append(sum(cf[f]["group"] for f in CHOICE_FAMILIES)
                                                       / len(CHOICE_FAMILIES))
    if not by_steps:
        raise ValueError(f"no cell with counterfactual pairs of all five families scores {encoder!r}")
    scored = [(steps, sum(v) / len(v)) for steps, v in by_steps.items()]   # several seeds: their mean
    steps, score = max(scored, key=lambda t: (round(t[1], 9), -t[0]))
    return steps, round(score, 6)


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any], encoders: list[str]) -> str:
    splits = sorted({r.get("probe_split", "test") for r in rows})
    seeds = sorted({r.get("seed", 0) for r in rows})
    multi = len(seeds) > 1
    val = splits == ["val"]
    title = ("Choosing the pretraining budget on validation counterfactual pairs" if val
             else "Counterfactual group scores: steps vs counterfactual pairs in pretraining")
    counts = next((r["encoders"][e]["counterfactual"] for r in rows for e in r["encoders"]), {})
    lines = [f"# {title}", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
             f"Machine: {meta['machine']['platform']}, {meta['machine']['cpu_count']} CPUs  ",
             f"Pretraining seed{'s' if multi else ''} {', '.join(map(str, seeds))} (one per cell); the default benchmark's synthetic data (64 px, 3,955 Open-i "
             f"reports), image tower and evaluations; encoders: {', '.join(encoders)}. "
             "**The images are synthetic.**", "",
             "Counterfactual pairs start from the reports of the benchmark's "
             + " and ".join("**validation**" if x == "val" else x for x in splits) + " split"
             + (" (" + ", ".join(f"{f} {c['n_pairs']}" for f, c in counts.items() if "n_pairs" in c) + " pairs)"
                if all("n_pairs" in c for c in counts.values()) and counts else "")
             + "; pretraining never sees them or their source reports.", "",
             "Group score (chance 1/6; ties count as failures) per family, mean zero-shot AUROC "
             "(chexpert5 prompts) and effusion-side zero-shot AUROC:", "",
             "| steps | pretraining pairs | " + ("seed | " if multi else "") + "encoder | "
             + " | ".join(FAMILIES) + " | zero-shot | effusion side ZS |",
             "|---|---|" + ("---|" if multi else "") + "---|" + "---|" * len(FAMILIES) + "---|---|"]
    for row in rows:
        for enc, s in row["encoders"].items():
            cf = " | ".join(f"{s['counterfactual'][f]['group']:.3f}" for f in FAMILIES)
            lines.append(f"| {row['steps']} | {_pairs_label(row)} | "
                         + (f"{row.get('seed', 0)} | " if multi else "")
                         + f"{enc} | {cf} | {s['zero_shot_mean_auroc']:.3f} | "
                         f"{s['effusion_side_zero_shot_auroc']:.3f} |")
    if multi:
        lines += ["", "Mean ± sd over the seeds of each cell:", "",
                  "| steps | pretraining pairs | encoder | seeds | " + " | ".join(FAMILIES) + " | zero-shot |",
                  "|---|---|---|---|" + "---|" * len(FAMILIES) + "---|"]
        for (steps, label, enc), stats in seed_summary(rows).items():
            cells = " | ".join(_mean_sd(stats[f]) for f in [*FAMILIES, "zero_shot"])
            lines.append(f"| {steps} | {label} | {enc} | {len(stats['zero_shot'])} | {cells} |")
    lines += ["", "Wall time per cell (the runner's wall_seconds: data build, pretraining of every encoder, "
              "evaluations; the date the cell ran): " +
              ", ".join(f"{r['steps']} steps, {_pairs_label(r)}"
                        + (f", seed {r.get('seed', 0)}" if multi else "") + f", {r['seconds']:.0f} s"
                        f" ({r['date']})" for r in rows) + "."]
    if val and any(r["pairs"] for r in rows):
        steps, score = choose_budget(rows)
        lines += ["", f"**Chosen budget: {steps} steps** (mean binding and negation group score "
                  f"{score:.3f} on validation pairs). The rule, fixed before these cells ran "
                  "(`choose_budget`): among the cells with counterfactual pairs of all five families, "
                  "the step count with the graph encoder's highest mean group score on binding and "
                  "negation; a tie goes to fewer steps. The test pairs were not used."]
    return "\n".join(lines) + "\n"


def seed_summary(rows: list[dict[str, Any]]) -> dict[tuple[int, str, str], dict[str, list[float]]]:
    """Per (steps, pretraining pairs, encoder), in row order: each family's group scores and
    the zero-shot AUROCs over the cell's seeds.

    >>> row = lambda seed, g: {"steps": 600, "pairs": False, "seed": seed, "encoders": {"graph": {
    ...     "zero_shot_mean_auroc": 0.9, "counterfactual": {f: {"group": g} for f in FAMILIES}}}}
    >>> seed_summary([row(0, 0.5), row(1, 0.7)])[(600, "natural", "graph")]["binding"]
    [0.5, 0.7]
    """
    out: dict[tuple[int, str, str], dict[str, list[float]]] = {}
    for r in rows:
        for enc, s in r["encoders"].items():
            cell = out.setdefault((r["steps"], _pairs_label(r), enc), {f: [] for f in [*FAMILIES, "zero_shot"]})
            for f in FAMILIES:
                cell[f].append(s["counterfactual"][f]["group"])
            cell["zero_shot"].append(s["zero_shot_mean_auroc"])
    return out


def _mean_sd(values: list[float]) -> str:
    import statistics

    return f"{statistics.mean(values):.3f}" + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


def _cell_key(row: dict[str, Any]) -> tuple:
    fams = tuple(row.get("train_families", FAMILIES)) if row["pairs"] else ()
    return (row.get("probe_split", "test"), row["pairs"], len(fams) != len(FAMILIES), fams, row["steps"],
            row.get("seed", 0))


def _pairs_label(row: dict[str, Any]) -> str:
    if not row["pairs"]:
        return "natural"
    fams = row.get("train_families", FAMILIES)
    return "natural + counterfactual" + ("" if len(fams) == len(FAMILIES) else f" ({', '.join(fams)} only)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the cells' runs (resumable)")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: benchmarks/results/counterfactual_training_grid.json "
                         "(counterfactual_budget_val.json with --probe-split val)")
    ap.add_argument("--steps", type=int, nargs="+", default=[300, 600, 1200], help="pretraining steps per cell")
    ap.add_argument("--pairs-only", action="store_true", help="only the cells with counterfactual pairs")
    ap.add_argument("--encoders", nargs="+", default=["graph", "bag-of-words"], help="encoder names")
    ap.add_argument("--encoder-spec", type=Path, default=None,
                    help="spec to take the encoders from (default: the default benchmark spec)")
    ap.add_argument("--train-families", nargs="+", default=FAMILIES, choices=FAMILIES,
                    help="families of the pretraining pairs (the probes always score all five); "
                         "fewer families ask whether structural contrast transfers to the others")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="pretraining seeds, one cell each")
    ap.add_argument("--probe-split", choices=["test", "val"], default="test",
                    help="split the counterfactual pairs start from; 'val' chooses the budget "
                         "(choose_budget) without the test pairs (default --out: counterfactual_budget_val.json)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the cells of --out that this run does not redo (each row keeps its date)")
    args = ap.parse_args()
    if args.out is None:
        args.out = RESULTS / ("counterfactual_budget_val.json" if args.probe_split == "val"
                              else "counterfactual_training_grid.json")
    args.work.mkdir(parents=True, exist_ok=True)
    kept = []
    if args.merge and args.out.is_file():
        old = json.loads(args.out.read_text(encoding="utf-8"))
        kept = [{**r, "date": r.get("date", old["date"][:10])} for r in old["cells"]]
    rows = []
    cells = [(s, True) for s in args.steps] if args.pairs_only else \
        [(s, p) for p, s in itertools.product((False, True), args.steps)]
    for (steps, pairs), seed in itertools.product(cells, args.seeds):
        results = run_cell(args.work, steps, pairs, args.encoders, args.encoder_spec, args.train_families,
                           args.probe_split, seed)
        rows.append({"steps": steps, "pairs": pairs, "seconds": round(float(results["wall_seconds"]), 1),
                     "pretrain_items": results["dataset"]["n_pretrain"], "encoders": summarise(results),
                     "date": datetime.date.today().isoformat(), "train_families": args.train_families if pairs else [],
                     "probe_split": args.probe_split, "seed": seed})
    done = {_cell_key(r) for r in rows}
    rows = sorted([r for r in kept if _cell_key(r) not in done] + rows, key=_cell_key)
    path = record("counterfactual_training_grid", {"cells": rows}, args.out)
    meta = json.loads(path.read_text(encoding="utf-8"))
    args.out.with_suffix(".md").write_text(markdown(rows, meta, args.encoders), encoding="utf-8")
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
