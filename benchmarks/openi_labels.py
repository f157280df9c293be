"""The built-in extractor + labeler on real Open-i reports: quality against NegBio's gold
labels, and throughput.

Quality. Every Open-i report (torchxrayvision's ``NLMCXR_reports.tgz``, read in place) is
extracted and labelled (ChestX-ray14 schema, uncertain -> negative) and compared with
``../shared/data/negbio-openi/openi_gold_dev.csv`` (the development part of NegBio's
Open-i gold standard; see its README). Scores: per-label precision/recall/F1, micro- and
macro-F1 over the labels that have positives. To show that the lexicon generalises, the
gold reports are split deterministically by ``sha256(id) % 2`` into a *tuning* half (the
only half whose errors were ever looked at while writing the lexicon and rules) and a
*held-out* half; both are reported. ``--errors LABEL fp|fn`` prints tuning-half errors
for one label (never held-out ones) and writes nothing.

Speed. Reports/s on one process, warm, graphs produced (text -> ``ReportGraph`` with
section selection, streamed as ``graphclr extract`` writes them, and also kept in a list),
best of ``--repeats``, wall and CPU time; then ``n_process=2``; and a projection for all of
MIMIC-CXR (227,835 reports) on 2 cores.

Run from the repository root::

    .venv/bin/python benchmarks/openi_labels.py            # writes benchmarks/results/openi_labels.{json,md}
    .venv/bin/python benchmarks/openi_labels.py --errors Nodule fn
    .venv/bin/python benchmarks/openi_labels.py --quality-only   # keeps the recorded throughput
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GOLD = ROOT.parent / "shared" / "data" / "negbio-openi" / "openi_gold_dev.csv"
MIMIC_REPORTS = 227_835
#: assumed mean FINDINGS+IMPRESSION length of a MIMIC-CXR report, in tokens, for the
#: projection (an assumption, about twice Open-i's measured mean; see the output)
MIMIC_TOKENS_PER_REPORT = 100
#: published reference points for the same development reports (quoted from the issue)
REFERENCES = {
    "spacy EntityRuler + negspacy NegEx over the CheXpert labeler's phrases": {"micro_f1": 0.85, "macro_f1": 0.82},
    "plain phrase matching": {"micro_f1": 0.2},
}


def half_of(report_id: str) -> str:
    """``"tuning"`` or ``"held_out"``: a fixed split by a hash of the id."""
    return "tuning" if int(hashlib.sha256(report_id.encode()).hexdigest(), 16) % 2 == 0 else "held_out"


def scores(gold: Any, pred: Any, labels: Iterable[str]) -> dict[str, Any]:
    """Per-label P/R/F1 and micro/macro F1 over the labels with gold positives."""
    per: dict[str, Any] = {}
    tp_all = fp_all = fn_all = 0
    f1s = []
    for lab in labels:
        g = gold[lab].to_numpy() == 1
        p = pred[lab].to_numpy() == 1
        tp, fp, fn = int((g & p).sum()), int((~g & p).sum()), int((g & ~p).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        per[lab] = {"support": int(g.sum()), "predicted": int(p.sum()), "tp": tp, "fp": fp,
                    "fn": fn, "precision": round(prec, 4), "recall": round(rec, 4),
                    "f1": round(f1, 4)}
        if g.sum():
            tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
            f1s.append(f1)
    return {"n_reports": int(len(gold)),
            "labels_scored": [lab for lab in per if per[lab]["support"]],
            "micro_f1": round(2 * tp_all / (2 * tp_all + fp_all + fn_all), 4) if tp_all else 0.0,
            "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
            "per_label": per}


def best_rate(fn: Callable[[], int], n_items: int, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` items/s by wall and by CPU time of this process."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"wall_per_s": round(n_items / min(wall), 1), "cpu_per_s": round(n_items / min(cpu), 1),
            "median_wall_per_s": round(n_items / sorted(wall)[len(wall) // 2], 1)}


def quality(reports: list[Any], graphs: list[Any], gold_path: Path) -> dict[str, Any] | None:
    import pandas as pd

    from graphclr.reports.labels import CXR14_LABELS, label_graphs

    if not gold_path.is_file():
        print(f"NOTE: gold labels not found at {gold_path} (../shared is absent on this "
              "machine): quality is not measured, only throughput.", file=sys.stderr)
        return None
    gold = pd.read_csv(gold_path).rename(columns={"filename": "id"})
    out: dict[str, Any] = {"gold": str(gold_path), "gold_reports": int(len(gold)),
                           "schema": "cxr14", "split": "sha256(id) % 2 == 0 -> tuning, else held_out"}
    for policy in ("negative", "positive"):
        pred = label_graphs(graphs, "cxr14", policy).set_index("id")
        missing = sorted(set(gold["id"]) - set(pred.index))
        g = gold.set_index("id").loc[[i for i in gold["id"] if i in pred.index]]
        p = pred.loc[g.index]
        halves = g.index.map(half_of)
        block: dict[str, Any] = {"gold_ids_without_report": missing}
        for name, mask in (("all", None), ("tuning", halves == "tuning"),
                           ("held_out", halves == "held_out")):
            gg = g if mask is None else g[mask]
            pp = p if mask is None else p[mask]
            block[name] = scores(gg, pp, CXR14_LABELS)
            findings_only = scores(gg, pp, [c for c in CXR14_LABELS if c != "normal"])
            block[name]["findings_only"] = {k: findings_only[k] for k in
                                            ("labels_scored", "micro_f1", "macro_f1")}
        out[f"uncertain_{policy}"] = block
    # the same with alternatives ("A or B") marked uncertain, RadGraph's habit
    from graphclr.reports.extract import Extractor

    alt = label_graphs(Extractor(alternatives_uncertain=True).pipe(reports), "cxr14", "negative")
    alt = alt.set_index("id")
    g = gold.set_index("id").loc[[i for i in gold["id"] if i in alt.index]]
    halves = g.index.map(half_of)
    out["alternatives_uncertain"] = {
        name: {k: scores(g[m], alt.loc[g.index][m], CXR14_LABELS)[k] for k in ("micro_f1", "macro_f1")}
        for name, m in (("tuning", halves == "tuning"), ("held_out", halves == "held_out"))}
    out["references_from_issue"] = REFERENCES
    return out


def throughput(reports: list[Any], repeats: int, mp_copies: int) -> dict[str, Any]:
    from graphclr.reports.extract import Extractor
    from graphclr.reports.labels import label_graph

    ex = Extractor()
    graphs = list(ex.pipe(reports))  # warm: vocab, caches, lexicon
    list(ex.pipe(reports))
    n = len(reports)
    tokens = sum(len(g.text.split()) for g in graphs)

    def stream() -> int:
        count = 0
        for g in ex.pipe(reports):
            count += len(g.entities)
        return count

    out: dict[str, Any] = {"reports": n, "mean_tokens_per_report": round(tokens / n, 1),
                           "mean_entities_per_report": round(sum(len(g.entities) for g in graphs) / n, 1),
                           "mean_relations_per_report": round(sum(len(g.relations) for g in graphs) / n, 1)}
    out["one_process_streamed"] = best_rate(stream, n, repeats)
    out["one_process_list"] = best_rate(lambda: len(list(ex.pipe(reports))), n, repeats)
    out["labels_only"] = best_rate(lambda: sum(label_graph(g)["normal"] for g in graphs), n, repeats)
    big = reports * mp_copies
    t0 = time.perf_counter()
    first = None
    done = 0
    for _ in ex.pipe(big, n_process=2, batch_size=256):
        done += 1
        if first is None:
            first = time.perf_counter()
    t_end = time.perf_counter()
    startup = (first or t_end) - t0
    steady = (done - 256) / (t_end - first) if first is not None and t_end > first and done > 256 else 0.0
    out["two_processes_streamed"] = {
        "reports": done, "startup_s": round(startup, 2),
        "wall_per_s_incl_startup": round(done / (t_end - t0), 1),
        "wall_per_s_after_first_batch": round(steady, 1)}
    rate2 = steady or done / (t_end - t0)
    out["mimic_cxr_projection_2_cores"] = {
        "reports": MIMIC_REPORTS,
        "assumed_tokens_per_report": MIMIC_TOKENS_PER_REPORT,
        "at_open_i_length_s": round(startup + MIMIC_REPORTS / rate2, 1),
        "at_assumed_length_s": round(startup + MIMIC_REPORTS / rate2 * MIMIC_TOKENS_PER_REPORT
                                     / (tokens / n), 1),
        "how": "worker start-up + reports / measured 2-process rate (Open-i report length); "
               "for the assumed length the time is scaled by tokens per report",
    }
    return out


def show_errors(reports: list[Any], graphs: list[Any], gold_path: Path, label: str, kind: str) -> None:
    import pandas as pd

    from graphclr.reports.labels import CXR14_LABELS, findings, label_graph

    if label not in CXR14_LABELS:
        raise SystemExit(f"--errors: unknown label {label!r}")
    gold = pd.read_csv(gold_path).rename(columns={"filename": "id"}).set_index("id")
    shown = 0
    for g in graphs:
        if g.id not in gold.index or half_of(g.id) != "tuning":
            continue  # held-out errors are never shown
        truth = int(gold.at[g.id, label]) == 1
        pred = label_graph(g)[label] == 1
        if (kind == "fn" and truth and not pred) or (kind == "fp" and pred and not truth):
            print(f"== {g.id}: {g.text}")
            print("   ", [(f.name, f.certainty, f.laterality) for f in findings(g)
                          if f.category not in ("normal", "neutral")])
            shown += 1
    print(f"{shown} tuning-half {kind.upper()}s for {label}")


def write_markdown(result: dict[str, Any], path: Path) -> None:
    lines = ["# Open-i labels: built-in extractor + labeler", "",
             f"Command: `{result['command']}`  ", f"Date: {result['date']}  ",
             f"Machine: {result['machine'].get('platform')}, {result['machine'].get('cpu_count')} CPUs; "
             f"load average {result['load_average_start']} (start) / {result['load_average_end']} (end)",
             ""]
    q = result.get("quality")
    if q is None:
        lines += ["Quality: not measured (gold labels absent).", ""]
    else:
        b = q["uncertain_negative"]
        alt = q["alternatives_uncertain"]
        lines += [f"Gold: NegBio Open-i development labels, {q['gold_reports']} reports; "
                  "ChestX-ray14 schema, uncertain -> negative; micro/macro over labels with "
                  "positives (\"findings only\": without `normal`).", "",
                  "| split | reports | micro-F1 | macro-F1 | micro-F1, findings only | macro-F1, findings only |",
                  "|---|---|---|---|---|---|"]
        for name in ("tuning", "held_out", "all"):
            s = b[name]
            lines.append(f"| {name} | {s['n_reports']} | {s['micro_f1']:.3f} | {s['macro_f1']:.3f} | "
                         f"{s['findings_only']['micro_f1']:.3f} | {s['findings_only']['macro_f1']:.3f} |")
        lines += ["", f"With alternatives (\"A or B\") marked uncertain instead: tuning micro/macro "
                  f"{alt['tuning']['micro_f1']:.3f}/{alt['tuning']['macro_f1']:.3f}, held-out "
                  f"{alt['held_out']['micro_f1']:.3f}/{alt['held_out']['macro_f1']:.3f}."]
        lines += ["", "Per label (all development reports):", "",
                  "| label | support | precision | recall | F1 | F1 tuning | F1 held-out |",
                  "|---|---|---|---|---|---|---|"]
        for lab, s in b["all"]["per_label"].items():
            lines.append(f"| {lab} | {s['support']} | {s['precision']:.3f} | {s['recall']:.3f} | "
                         f"{s['f1']:.3f} | {b['tuning']['per_label'][lab]['f1']:.3f} | "
                         f"{b['held_out']['per_label'][lab]['f1']:.3f} |")
        lines.append("")
    t = result["throughput"]
    p = t["mimic_cxr_projection_2_cores"]
    rec = result.get("throughput_recorded")
    when = (f" -- recorded {rec['date']} by `{rec['command']}`, load average "
            f"{rec['load_average_start']} / {rec['load_average_end']}; quality above re-measured "
            "with `--quality-only`") if rec else ""
    lines += [f"Throughput (graphs produced, one process, warm, best of repeats){when}:", "",
              f"* streamed: {t['one_process_streamed']['wall_per_s']:.0f} reports/s wall, "
              f"{t['one_process_streamed']['cpu_per_s']:.0f} reports/s CPU",
              f"* kept in a list: {t['one_process_list']['wall_per_s']:.0f} reports/s wall, "
              f"{t['one_process_list']['cpu_per_s']:.0f} reports/s CPU",
              f"* 2 processes: {t['two_processes_streamed']['wall_per_s_after_first_batch']:.0f} "
              f"reports/s wall after {t['two_processes_streamed']['startup_s']:.1f} s of worker start-up "
              f"({t['two_processes_streamed']['wall_per_s_incl_startup']:.0f}/s over "
              f"{t['two_processes_streamed']['reports']} reports, start-up included)",
              f"* MIMIC-CXR ({p['reports']:,} reports) on 2 cores: ~{p['at_open_i_length_s'] / 60:.1f} min "
              f"at Open-i report length, ~{p['at_assumed_length_s'] / 60:.1f} min at an assumed "
              f"{p['assumed_tokens_per_report']} tokens per report",
              f"* mean tokens per report {t['mean_tokens_per_report']}, entities "
              f"{t['mean_entities_per_report']}, relations {t['mean_relations_per_report']}", ""]
    from graphclr.utils import atomic_write

    with atomic_write(path) as fh:
        fh.write("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="NegBio Open-i gold CSV")
    ap.add_argument("--archive", type=Path, default=None,
                    help="NLMCXR_reports.tgz or ecgen-radiology folder (default: torchxrayvision's)")
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats (best is kept)")
    ap.add_argument("--mp-copies", type=int, default=8,
                    help="the 2-process run extracts the corpus this many times over")
    ap.add_argument("--errors", nargs=2, metavar=("LABEL", "fp|fn"),
                    help="print tuning-half errors for LABEL and exit (writes nothing)")
    ap.add_argument("--quality-only", action="store_true",
                    help="measure quality only and keep the throughput block of the existing "
                         "--out file (timings need an idle machine; quality does not)")
    ap.add_argument("--out", type=Path, default=RESULTS / "openi_labels.json")
    args = ap.parse_args(argv)

    from graphclr.reports.extract import Extractor
    from graphclr.reports.readers import read_openi

    reports = list(read_openi(args.archive))
    graphs = list(Extractor().pipe(reports))
    if args.errors:
        if not args.gold.is_file():
            raise SystemExit(f"gold labels not found at {args.gold} (../shared is absent)")
        show_errors(reports, graphs, args.gold, args.errors[0], args.errors[1])
        return 0
    load0 = [round(x, 2) for x in os.getloadavg()]
    result: dict[str, Any] = {"load_average_start": load0,
                              "quality": quality(reports, graphs, args.gold)}
    if args.quality_only:
        import json

        if not args.out.is_file():
            raise SystemExit(f"--quality-only keeps the throughput of {args.out}, which does not exist")
        old = json.loads(args.out.read_text(encoding="utf-8"))
        result["throughput"] = old["throughput"]
        result["throughput_recorded"] = old.get("throughput_recorded") or {
            k: old.get(k) for k in ("date", "command", "load_average_start", "load_average_end")}
    else:
        result["throughput"] = throughput(reports, args.repeats, args.mp_copies)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    path = record("openi_labels", result, args.out)
    import json

    payload = json.loads(path.read_text(encoding="utf-8"))
    write_markdown(payload, path.with_suffix(".md"))
    q = result["quality"]
    if q is not None:
        for name in ("tuning", "held_out", "all"):
            s = q["uncertain_negative"][name]
            print(f"{name:9s} n={s['n_reports']:5d}  micro-F1 {s['micro_f1']:.3f}  macro-F1 {s['macro_f1']:.3f}")
    t = result["throughput"]
    print(f"one process: {t['one_process_streamed']['wall_per_s']:.0f} reports/s (wall), "
          f"{t['one_process_streamed']['cpu_per_s']:.0f} (CPU); 2 processes: "
          f"{t['two_processes_streamed']['wall_per_s_after_first_batch']:.0f} reports/s after "
          f"{t['two_processes_streamed']['startup_s']:.1f} s start-up")
    print(f"-> {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
