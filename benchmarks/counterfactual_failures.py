"""Where the counterfactual group score fails: per pair of changed findings, and on which side.

For a finished benchmark run (``graphclr benchmark ... --out RUN``) this re-embeds the run's
cached counterfactual pairs (``RUN/counterfactuals``) with one encoder's checkpoint in every
seed (``BenchmarkSpec.seed_dir``: ``RUN``, then ``RUN/seeds/seed-S``) and counts, per family and per set of changed
findings (binding: the two findings whose sides swap; negation: the two whose negation
swaps), how many pairs fail the group score, and whether they fail on the *image* side
(an image prefers the other report) or on the *text* side (a report prefers the other
image). With the mean distance between the two versions' unit embeddings, image and report,
of the failing and the passing pairs: a small image distance says the image tower barely
tells the two pictures apart, a small report distance says the same of the report side.

Only pairs whose source report is an Open-i **development** id are counted
(``../shared/data/negbio-openi/openi_gold_dev.csv``; the others are held out and not
inspected); without that file every pair is counted and the output says so. No report text is
printed or stored: only the names of the changed findings. The images are synthetic.

Run from the repository root::

    .venv/bin/python benchmarks/counterfactual_failures.py --run /tmp/runs/cf1200 \\
        --out benchmarks/results/counterfactual_failures.json
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, record  # noqa: E402

DEV_IDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "negbio-openi" / "openi_gold_dev.csv"


def failure_table(sim: np.ndarray, img: np.ndarray, rep: np.ndarray, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Per key: pairs, group failures, failures on the image side only / text side only /
    both, and the mean image and report distance between a pair's two versions, failing
    and passing (``None`` where there are none).

    >>> sim = np.array([[[0.9, 0.1], [0.2, 0.8]],    # passes
    ...                 [[0.9, 0.8], [0.95, 0.97]]])  # report 0 prefers image 1: text side
    >>> emb = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.6, 0.8]]])
    >>> t = failure_table(sim, emb, emb, ["a", "a"])["a"]
    >>> t["pairs"], t["fail"], t["image_only"], t["text_only"], t["both"]
    (2, 1, 0, 1, 0)
    >>> t["image_distance_fail"], round(t["image_distance_pass"], 4)
    (0.8944, 1.4142)
    """
    from graphclr.eval.winoground import comparisons

    image_ok, text_ok = (c.all(axis=1) for c in comparisons(sim))
    img_d = np.linalg.norm(img[:, 0] - img[:, 1], axis=1)
    rep_d = np.linalg.norm(rep[:, 0] - rep[:, 1], axis=1)
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(keys)):
        m = np.array([k == key for k in keys])
        fail = m & ~(image_ok & text_ok)
        ok = m & image_ok & text_ok

        def mean(d: np.ndarray, sel: np.ndarray) -> float | None:
            return round(float(d[sel].mean()), 4) if sel.any() else None

        out[key] = {"pairs": int(m.sum()), "fail": int(fail.sum()),
                    "image_only": int((m & ~image_ok & text_ok).sum()),
                    "text_only": int((m & image_ok & ~text_ok).sum()),
                    "both": int((m & ~image_ok & ~text_ok).sum()),
                    "image_distance_fail": mean(img_d, fail), "image_distance_pass": mean(img_d, ok),
                    "report_distance_fail": mean(rep_d, fail), "report_distance_pass": mean(rep_d, ok)}
    return out


def changed_key(pair: Any) -> str:
    """The names of the findings a pair changes, e.g. ``"nodule + pneumothorax"``."""
    return " + ".join(sorted({f.name for side in pair.changed for f in side}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished benchmark output folder")
    ap.add_argument("--encoder", default="graph")
    ap.add_argument("--families", nargs="+", default=["binding", "negation"])
    ap.add_argument("--dev-ids", type=Path, default=DEV_IDS, help="CSV whose 'filename' column lists the ids counted")
    ap.add_argument("--out", type=Path, default=RESULTS / "counterfactual_failures.json")
    args = ap.parse_args()

    from graphclr.eval.winoground import embed_pairs, pair_similarities
    from graphclr.models.factory import load_model
    from graphclr.runner import BenchmarkSpec

    caches = sorted((args.run / "counterfactuals").glob("pairs-*.pkl"))
    if len(caches) != 1:
        raise SystemExit(f"{args.run / 'counterfactuals'}: expected one cached pair set, found {len(caches)}")
    with caches[0].open("rb") as fh:
        sets = pickle.load(fh)
    spec = BenchmarkSpec(json.loads((args.run / "spec.json").read_text(encoding="utf-8")))
    split = spec.get("evaluations", {}).get("counterfactual", {}).get("split", "test")
    if args.dev_ids.is_file():
        with args.dev_ids.open(newline="", encoding="utf-8") as fh:
            dev = {row["filename"] for row in csv.DictReader(fh)}
        scope = f"pairs from Open-i development ids only ({args.dev_ids.name})"
    else:
        dev = None
        scope = f"every pair ({args.dev_ids} is absent, so held-out ids could not be left out)"
    print(f"{args.run}: {split} pairs, {scope}")
    size = int(spec["dataset"].get("size", 64))
    per_seed: dict[str, dict[str, Any]] = {}
    for s in spec.seeds():
        model = load_model(spec.seed_dir(args.run, s) / "encoders" / args.encoder / "pretrain" / "model.pt")
        seed = f"seed-{s}"
        per_seed[seed] = {}
        for family in args.families:
            ps = [p for p in sets[family] if dev is None or p.source_id in dev]
            img, rep = embed_pairs(model, ps, image_size=size)
            per_seed[seed][family] = failure_table(pair_similarities(img, rep), img, rep, [changed_key(p) for p in ps])
            fails = sum(v["fail"] for v in per_seed[seed][family].values())
            print(f"{seed} {family}: {fails} of {len(ps)} pairs fail the group score")
    path = record("counterfactual_failures", {"run": str(args.run), "encoder": args.encoder, "split": split,
                                              "scope": scope, "seeds": per_seed}, args.out)
    meta = json.loads(path.read_text(encoding="utf-8"))
    md = markdown(per_seed, meta)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def markdown(per_seed: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# Where the {meta['encoder']} encoder's counterfactual group score fails", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
             f"Machine: {meta['machine']['platform']}, {meta['machine']['cpu_count']} CPUs  ",
             f"Run: `{meta['run']}`; {meta['split']} pairs; {meta['scope']}. **The images are synthetic.**", "",
             "Failures summed over seeds (image / text / both: which comparisons fail); distances are between "
             "the unit embeddings of a pair's two versions, failing vs passing (each seed's mean, then their mean "
             "over seeds):", "",
             "| family | changed findings | pairs x seeds | fail | image side | text side | both "
             "| image distance fail / pass | report distance fail / pass |",
             "|---|---|---|---|---|---|---|---|---|"]
    total: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for fams in per_seed.values():
        for family, table in fams.items():
            for key, row in table.items():
                for k, v in row.items():
                    total[(family, key)][k].append(v)

    def avg(values: list) -> str:
        vals = [v for v in values if v is not None]
        return f"{np.mean(vals):.2f}" if vals else "-"

    for (family, key), row in sorted(total.items()):
        lines.append(f"| {family} | {key} | {sum(row['pairs'])} | {sum(row['fail'])} | {sum(row['image_only'])} "
                     f"| {sum(row['text_only'])} | {sum(row['both'])} "
                     f"| {avg(row['image_distance_fail'])} / {avg(row['image_distance_pass'])} "
                     f"| {avg(row['report_distance_fail'])} / {avg(row['report_distance_pass'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
