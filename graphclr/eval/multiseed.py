r"""Statistics over pretraining seeds: mean ± sd of every headline number, and paired
graph-vs-baseline differences.

A benchmark pretrains every encoder once per seed ``s`` and evaluates it with the same
protocol, giving a headline value :math:`v_{e,s}` per encoder ``e`` and metric (a mean AUROC,
a Recall@K, a counterfactual score; :func:`headline`). Over the ``n`` seeds,

* **mean ± sd**: :math:`\bar v_e = \frac1n\sum_s v_{e,s}` and the sample standard deviation
  :math:`\sqrt{\frac{1}{n-1}\sum_s (v_{e,s}-\bar v_e)^2}` (``nan`` for one seed): how much
  the number moves when only the pretraining seed changes;
* **paired difference** of the reference encoder ``r`` (the graph encoder) and a baseline
  ``b``: :math:`d_s = v_{r,s} - v_{b,s}` per seed (same data, same probe seeds, same test
  images), its mean ± sd, and whether it **holds in every seed**: ``"better"`` when every
  :math:`d_s > 0`, ``"worse"`` when every :math:`d_s < 0`, else ``"mixed"`` (``None`` with
  fewer than 2 seeds: one seed says nothing about seed noise).

The bootstrap CIs of the per-seed tables stay what they were: the within-seed interval over
test images. Seeds where an encoder lacks a metric count as missing (``nan``), and a pair of
encoders is compared only on seeds where both have it.

Examples:
    >>> per_seed = {0: {"graph": {"zero_shot": {"metrics": {"mean": {"auroc": {"value": 0.90}}}}},
    ...                 "bow": {"zero_shot": {"metrics": {"mean": {"auroc": {"value": 0.85}}}}}},
    ...             1: {"graph": {"zero_shot": {"metrics": {"mean": {"auroc": {"value": 0.80}}}}},
    ...                 "bow": {"zero_shot": {"metrics": {"mean": {"auroc": {"value": 0.82}}}}}}}
    >>> agg = aggregate(per_seed)
    >>> m = agg["metrics"]["zero_shot/mean AUROC"]["graph"]
    >>> round(m["mean"], 3), round(m["sd"], 4)
    (0.85, 0.0707)
    >>> d = agg["paired"]["zero_shot/mean AUROC"]["bow"]
    >>> [round(x, 3) for x in d["diffs"]], d["holds"]
    ([0.05, -0.02], 'mixed')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["headline", "aggregate", "mean_sd", "paired", "markdown_sections", "CHANCE_NOTE"]

#: what a model that cannot tell a pair apart scores (Winoground chance; ties are failures)
CHANCE_NOTE = ("chance: image 0.5, text 0.5, group 1/6 (exchangeable noise); ties count as failures, so a "
               "report encoder that cannot tell the two reports apart (a bag of words on binding and "
               "negation pairs) scores 0, not chance")


def _get(obj: Any, *path: Any) -> float | None:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return float(obj) if isinstance(obj, (int, float)) and not isinstance(obj, bool) else None


def _auroc(entry: Any) -> float | None:
    return _get(entry, "metrics", "mean", "auroc", "value")


def headline(entry: Mapping[str, Any]) -> dict[str, float]:
    """The headline numbers of one encoder's results entry, keyed ``"section/metric"``
    (in report order): mean AUROC of each linear-probe fraction, few-shot K, zero-shot and
    laterality task; retrieval Recall@K; counterfactual image/text/group scores and the
    fact probe's accuracy on image embeddings, per family."""
    out: dict[str, float | None] = {}
    for frac, e in (entry.get("linear_probe") or {}).items():
        out[f"linear_probe/{frac} labels"] = _auroc(e)
    for k, e in (entry.get("few_shot") or {}).items():
        out[f"few_shot/{k}"] = _auroc(e)
    if entry.get("zero_shot"):
        out["zero_shot/mean AUROC"] = _auroc(entry["zero_shot"])
    for task, e in (entry.get("laterality") or {}).items():
        for frac, p in (e.get("probe") or {}).items():
            out[f"laterality/{task} probe {frac}"] = _auroc(p)
        if e.get("zero_shot"):
            out[f"laterality/{task} zero-shot"] = _auroc(e["zero_shot"])
    for direction in ("image_to_report", "report_to_image"):
        for k, v in ((entry.get("retrieval") or {}).get(direction) or {}).items():
            out[f"retrieval/{direction.replace('_to_', '→')} R@{k}"] = _get({"v": v}, "v")
    for fam, e in (entry.get("counterfactual") or {}).items():
        for score in ("image", "text", "group"):
            out[f"counterfactual:{fam}/{score}"] = _get(e, score)
        out[f"counterfactual:{fam}/fact probe (image)"] = _get(e, "probe_image", "accuracy")
    return {k: v for k, v in out.items() if v is not None}


def mean_sd(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample sd (``ddof=1``) of the finite ``values``; ``nan`` where undefined."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    if not v:
        return {"mean": float("nan"), "sd": float("nan"), "n": 0}
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float("nan")
    return {"mean": mean, "sd": sd, "n": len(v)}


def paired(ref: Sequence[float], base: Sequence[float]) -> dict[str, Any]:
    """Per-seed differences ``ref - base`` (seeds where both are finite), their mean ± sd and
    whether the sign holds in every seed (see module doc)."""
    diffs = [float(a) - float(b) for a, b in zip(ref, base)
             if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)]
    holds = None
    if len(diffs) >= 2:
        holds = "better" if all(d > 0 for d in diffs) else "worse" if all(d < 0 for d in diffs) else "mixed"
    return {"diffs": diffs, **mean_sd(diffs), "holds": holds}


def aggregate(per_seed: Mapping[Any, Mapping[str, Mapping[str, Any]]], reference: str | None = None) -> dict[str, Any]:
    """Mean ± sd per metric and encoder, and paired differences of ``reference`` (default:
    the encoder named ``graph``, else the first) against every other encoder.

    Args:
        per_seed: ``{seed: {encoder: results entry}}`` in seed order.

    Returns:
        ``{"seeds", "encoders", "reference", "metrics": {metric: {encoder: {"values", "mean",
        "sd", "n"}}}, "paired": {metric: {baseline: {"diffs", "mean", "sd", "n", "holds"}}}}``.
    """
    seeds = list(per_seed)
    encoders: list[str] = []
    for entries in per_seed.values():
        encoders += [e for e in entries if e not in encoders]
    heads = {s: {e: headline(entry) for e, entry in per_seed[s].items()} for s in seeds}
    keys: list[str] = []
    for s in seeds:
        for h in heads[s].values():
            keys += [k for k in h if k not in keys]
    nan = float("nan")
    values = {k: {e: [heads[s].get(e, {}).get(k, nan) for s in seeds] for e in encoders} for k in keys}
    metrics = {k: {e: {"values": v, **mean_sd(v)} for e, v in per_enc.items()} for k, per_enc in values.items()}
    ref = reference if reference is not None else ("graph" if "graph" in encoders else (encoders or [None])[0])
    pairs = {k: {b: paired(values[k][ref], values[k][b]) for b in encoders if b != ref}
             for k in keys if ref in values[k]}
    return {"seeds": [int(s) if str(s).lstrip("-").isdigit() else s for s in seeds], "encoders": encoders,
            "reference": ref, "metrics": metrics, "paired": pairs}


def _cell(stats: Mapping[str, Any] | None, digits: int = 3) -> str:
    def num(x: Any) -> float:
        return float(x) if isinstance(x, (int, float)) else float("nan")

    if not stats or not math.isfinite(num(stats.get("mean"))):
        return "—"
    sd = num(stats.get("sd"))
    return f"{stats['mean']:.{digits}f}" + (f" ± {sd:.{digits}f}" if math.isfinite(sd) else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(r) + " |" for r in rows], ""]


def _sections(agg: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in agg["metrics"]:
        section, metric = key.split("/", 1)
        out.setdefault(section, []).append(metric)
    return out


def markdown_sections(results: Mapping[str, Any]) -> list[str]:
    """Report lines: the multi-seed summary (when there are >= 2 seeds) and one table per
    counterfactual family (from ``results["multi_seed"]``, else from the one run's
    ``results["encoders"]``)."""
    agg = results.get("multi_seed") or aggregate({0: results.get("encoders", {})})
    encs, seeds = agg["encoders"], agg["seeds"]
    n = len(seeds)
    lines: list[str] = []
    sections = _sections(agg)
    cf = [s for s in sections if s.startswith("counterfactual:")]
    if n >= 2:
        lines += [f"## Over {n} pretraining seeds ({', '.join(map(str, seeds))}): mean ± sd", "",
                  "Each encoder is pretrained once per seed (same data, budget and evaluation); a cell is the "
                  "mean ± sample sd over seeds of that seed's headline number. The bootstrap CIs of the "
                  f"tables further down are the within-seed interval over test images (seed {seeds[0]}).", ""]
        for section, metrics in sections.items():
            if section in cf:
                continue
            rows = [[e] + [_cell(agg["metrics"][f"{section}/{m}"].get(e)) for m in metrics] for e in encs]
            lines += [f"**{section.replace('_', ' ')}**", ""] + _table(["encoder", *metrics], rows)
        ref = agg["reference"]
        base = [e for e in encs if e != ref]
        if base:
            lines += [f"### `{ref}` minus each baseline, paired per seed", "",
                      "Mean ± sd of the per-seed difference; **better** / **worse**: the sign holds in every "
                      "seed, mixed: it does not.", ""]
            rows = []
            for key, per in agg["paired"].items():
                cells = [f"{_cell(per[b], 3)} ({'**' + per[b]['holds'] + '**' if per[b]['holds'] in ('better', 'worse') else per[b]['holds'] or '—'})"
                         for b in base]
                rows.append([key.replace("/", ": ", 1).replace("_", " ")] + cells)
            lines += _table(["metric", *[f"vs `{b}`" for b in base]], rows)
    if cf:
        splits = sorted({fam.get("split", "test") for e in results.get("encoders", {}).values()
                         for fam in (e.get("counterfactual") or {}).values()}) or ["test"]
        where = ("pairs start from every report of the corpus (it has no splits to keep them out of "
                 "pretraining)" if "all" in splits else
                 "pairs start only from reports of the " + " and ".join("validation" if x == "val" else x
                                                                       for x in splits)
                 + " split, so neither a source report nor its edited versions were in pretraining")
        lines += ["## Counterfactual probes", "",
                  "Pairs of reports that differ in one structural fact, with an image rendered for each "
                  f"(same synthetic patient); {where}. Image score: each image "
                  "is closer to its own report; text score: each report is closer to its own image; group: "
                  f"both. {CHANCE_NOTE}. Fact probe: a cross-validated linear probe on the image "
                  "embeddings predicting the fact (chance 0.5)."
                  + (f" Mean ± sd over {n} seeds." if n >= 2 else ""), ""]
        for section in cf:
            metrics = sections[section]
            rows = [[e] + [_cell(agg["metrics"][f"{section}/{m}"].get(e)) for m in metrics] for e in encs]
            chance = {"image": "0.5", "text": "0.5", "group": "0.167", "fact probe (image)": "0.5"}
            rows.append(["*chance*"] + [chance.get(m, "") for m in metrics])
            fam = section.split(":", 1)[1]
            counts = {(e.get("counterfactual") or {}).get(fam, {}).get("n_pairs") for e in results.get("encoders", {}).values()}
            count = f" ({counts.pop()} pairs)" if len(counts) == 1 and None not in counts else ""
            lines += [f"### {fam}{count}", ""] + _table(["encoder", *metrics], rows)
    return lines
