"""The benchmark's report: a Markdown table (mean and 95% CI per encoder, label fraction and
label) and PNG plots (AUROC vs label fraction, ROC curves, training loss).

Everything here reads the aggregated ``results.json`` structure written by
:func:`graphclr.eval.run_protocol` and the benchmark runner (plus the per-encoder score
arrays, ``encoders/NAME/scores.npz``, for ROC curves), so a report can be regenerated from a
finished run without recomputing anything (:func:`write_plots`, :func:`write_report`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_ci", "markdown_report", "plot_auroc_vs_fraction", "plot_training_loss",
           "plot_rocs", "write_plots", "write_report"]

SYNTHETIC_BANNER = ("> **The images in this benchmark are synthetic.** They are rendered by "
                    "`graphclr.synth` from the knowledge graphs of real Open-i reports; they are "
                    "not radiographs. The numbers say how well each encoder learns what the "
                    "report says from such pictures, not how it would do on real chest X-rays.")


def _finite(x: Any) -> bool:
    return x is not None and bool(np.isfinite(x))


def format_ci(stats: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``0.812 (0.790-0.833)``; ``n/a`` when missing or undefined.

    Examples:
        >>> format_ci({"value": 0.8123, "ci_low": 0.79, "ci_high": 0.833})
        '0.812 (0.790-0.833)'
    """
    if not stats or not _finite(stats.get("value")):
        return "n/a"
    v, lo, hi = stats["value"], stats.get("ci_low"), stats.get("ci_high")
    if not (_finite(lo) and _finite(hi)):
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def _metric(entry: Mapping[str, Any] | None, metric: str = "auroc", label: str | None = None) -> Any:
    if not entry:
        return None
    m = entry.get("metrics", {})
    if label is None:
        return m.get("mean", {}).get(metric)
    return m.get("per_label", {}).get(label, {}).get(metric)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _best(values: Sequence[Any]) -> int | None:
    vals = [v["value"] if v and _finite(v.get("value")) else -np.inf for v in values]
    return int(np.argmax(vals)) if vals and np.isfinite(max(vals)) else None


def _bold_best(cells: list[str], stats: Sequence[Any]) -> list[str]:
    b = _best(stats)
    if b is not None and len(stats) > 1:
        cells[b] = f"**{cells[b]}**"
    return cells


def markdown_report(results: Mapping[str, Any]) -> str:
    """The report as Markdown (see module doc)."""
    enc = results.get("encoders", {})
    names = list(enc)
    labels = list(results.get("labels", []))
    lines: list[str] = [f"# graphclr {results.get('kind', 'benchmark')}: {results.get('name', '')}", ""]
    if results.get("synthetic"):
        lines += [SYNTHETIC_BANNER, ""]
    if results.get("description"):
        lines += [results["description"], ""]
    from graphclr.eval.multiseed import markdown_sections

    lines += markdown_sections(results)
    if results.get("multi_seed"):
        lines += [f"## Pretraining seed {results['multi_seed']['seeds'][0]} in detail", ""]
    lines += ["Each cell: mean over probe seeds, with the 95% bootstrap CI over test images "
              f"({results.get('n_bootstrap', 1000)} resamples) in brackets. Best per column in bold.", ""]

    # --- linear probe ---------------------------------------------------------------------
    fracs: list[str] = []
    for e in enc.values():
        for k in e.get("linear_probe", {}):
            if k not in fracs:
                fracs.append(k)
    if fracs:
        lines += ["## Linear probe: mean AUROC over labels", ""]
        rows = []
        cols = {f: [_metric(enc[n].get("linear_probe", {}).get(f)) for n in names] for f in fracs}
        cells = {f: _bold_best([format_ci(s) for s in cols[f]], cols[f]) for f in fracs}
        for i, n in enumerate(names):
            rows.append([n] + [cells[f][i] for f in fracs])
        lines += _table(["encoder"] + [f"{f} labels" for f in fracs], rows) + [""]
        lines += ["### Linear probe: mean MCC (top-p binarisation; No Finding excluded)", ""]
        rows = []
        mcols = {f: [_metric(enc[n].get("linear_probe", {}).get(f), "mcc") for n in names] for f in fracs}
        mcells = {f: _bold_best([format_ci(s) for s in mcols[f]], mcols[f]) for f in fracs}
        for i, n in enumerate(names):
            rows.append([n] + [mcells[f][i] for f in fracs])
        lines += _table(["encoder"] + [f"{f} labels" for f in fracs], rows) + [""]
        lines += ["### Linear probe: AUROC per label", ""]
        for f in fracs:
            rows = []
            per = {lab: [_metric(enc[n].get("linear_probe", {}).get(f), "auroc", lab) for n in names]
                   for lab in labels}
            pcells = {lab: _bold_best([format_ci(s) for s in per[lab]], per[lab]) for lab in labels}
            for i, n in enumerate(names):
                rows.append([n] + [pcells[lab][i] for lab in labels])
            lines += [f"**{f} of the training labels**", ""]
            lines += _table(["encoder"] + labels, rows) + [""]
        sizes = []
        for n in names:
            lp = enc[n].get("linear_probe", {})
            sizes.append([n] + [f"{int(np.mean(lp[f]['n_train']))}" if f in lp else "n/a" for f in fracs])
        lines += ["Training images per probe (mean over seeds):", ""]
        lines += _table(["encoder"] + fracs, sizes) + [""]
        first_lp = next(e["linear_probe"] for e in enc.values() if e.get("linear_probe"))
        pos_rows = []
        for f in fracs:
            npos = first_lp.get(f, {}).get("n_pos_train")
            if npos:
                mean = np.mean(np.asarray(npos, dtype=float), axis=0)
                pos_rows.append([f] + [f"{v:.1f}" for v in mean])
        if pos_rows:
            lines += ["Positive training images per label (mean over seeds; the subsets are the same for "
                      "every encoder):", ""]
            lines += _table(["fraction"] + labels, pos_rows) + [""]

    # --- few-shot -------------------------------------------------------------------------
    shots = [k for k in next((e.get("few_shot", {}) for e in enc.values() if e.get("few_shot")), {})]
    if shots:
        lines += ["## Few-shot: mean AUROC (K positives per label, fixed seed)", ""]
        cols = {k: [_metric(enc[n].get("few_shot", {}).get(k)) for n in names] for k in shots}
        cells = {k: _bold_best([format_ci(s) for s in cols[k]], cols[k]) for k in shots}
        lines += _table(["encoder"] + shots, [[n] + [cells[k][i] for k in shots]
                                              for i, n in enumerate(names)]) + [""]

    # --- zero-shot ------------------------------------------------------------------------
    if any(e.get("zero_shot") for e in enc.values()):
        zs_labels = next(e["zero_shot"]["labels"] for e in enc.values() if e.get("zero_shot"))
        lines += ["## Zero-shot from prompt graphs (cosine gap): AUROC", ""]
        stats = {lab: [_metric(enc[n].get("zero_shot"), "auroc", lab) for n in names] for lab in zs_labels}
        means = [_metric(enc[n].get("zero_shot")) for n in names]
        cells = {lab: _bold_best([format_ci(s) for s in stats[lab]], stats[lab]) for lab in zs_labels}
        mcells = _bold_best([format_ci(s) for s in means], means)
        lines += _table(["encoder", "mean"] + zs_labels,
                        [[n, mcells[i]] + [cells[lab][i] for lab in zs_labels] for i, n in enumerate(names)])
        lines += [""]

    # --- laterality -----------------------------------------------------------------------
    tasks: list[str] = []
    for e in enc.values():
        for t in e.get("laterality", {}):
            if t not in tasks:
                tasks.append(t)
    for t in tasks:
        first = next(e["laterality"][t] for e in enc.values() if t in e.get("laterality", {}))
        lines += [f"## Laterality: {t} (left vs right, images with exactly one side positive)", ""]
        header = ["encoder"]
        kinds = [k for k in ("probe", "zero_shot") if k in first]
        sub_keys: list[tuple[str, str]] = []
        for k in kinds:
            if k == "probe":
                for f in first["probe"]:
                    sub_keys.append(("probe", f))
                    header.append(f"linear probe {f}")
            else:
                sub_keys.append(("zero_shot", ""))
                header.append("zero-shot")
        cols = []
        for kind, f in sub_keys:
            col = []
            for n in names:
                lt = enc[n].get("laterality", {}).get(t, {})
                entry = lt.get(kind, {}).get(f) if kind == "probe" else lt.get(kind)
                col.append(_metric(entry))
            cols.append(col)
        cells = [_bold_best([format_ci(s) for s in col], col) for col in cols]
        lines += _table(header, [[n] + [c[i] for c in cells] for i, n in enumerate(names)])
        n_items = first.get("n_test")
        if n_items:
            lines += ["", f"Test images with exactly one side positive: {n_items} "
                          f"(left: {first.get('n_test_left', '?')})."]
        lines += [""]

    # --- retrieval ------------------------------------------------------------------------
    if any(e.get("retrieval") for e in enc.values()):
        r0 = next(e["retrieval"] for e in enc.values() if e.get("retrieval"))
        ks = list(r0["image_to_report"])
        lines += ["## Retrieval on the test set: Recall@K", ""]
        rows = []
        for n in names:
            r = enc[n].get("retrieval")
            if not r:
                rows.append([n] + ["n/a"] * (2 * len(ks)))
                continue
            rows.append([n] + [f"{r['image_to_report'][k]:.3f}" for k in ks]
                        + [f"{r['report_to_image'][k]:.3f}" for k in ks])
        lines += _table(["encoder"] + [f"image→report R@{k}" for k in ks] + [f"report→image R@{k}" for k in ks], rows)
        lines += ["", f"Chance: R@{ks[0]} = {r0['chance'][ks[0]]:.4f} over {r0['n_candidates']} candidates.", ""]

    # --- setup ----------------------------------------------------------------------------
    lines += ["## Setup", ""]
    ds = results.get("dataset", {})
    if ds:
        lines += [f"- data: {ds.get('description', '')}".rstrip(),
                  f"- splits (images): train {ds.get('n_train')}, validation {ds.get('n_val')}, test {ds.get('n_test')}"]
        if ds.get("test_positives"):
            pos = ", ".join(f"{k} {v}" for k, v in ds["test_positives"].items())
            lines += [f"- test positives: {pos}"]
    b = results.get("budget", {})
    if b:
        lines += ["- pretraining budget (identical for every encoder): " + ", ".join(f"{k}={v}" for k, v in b.items())]
    for n in names:
        pt = enc[n].get("pretrain", {})
        desc = enc[n].get("description", "")
        if not pt:     # an evaluated checkpoint (graphclr eval)
            lines.append(f"- `{n}`: {desc + ' — ' if desc else ''}checkpoint `{enc[n].get('checkpoint', '?')}`, "
                         f"{_int(enc[n].get('parameters'))} parameters")
            continue
        lines.append(f"- `{n}`: {desc} — {_int(pt.get('parameters'))} parameters "
                     f"({_int(pt.get('report_parameters'))} on the report side); pretraining "
                     f"{_num(pt.get('seconds'), '.0f')} s ({_num(pt.get('pairs_per_s'), '.0f')} pairs/s), "
                     f"final loss {_num(pt.get('final_loss'), '.3f')}")
    env = results.get("env", {})
    if env:
        lines += [f"- machine: {env.get('platform')}, {env.get('cpu_count')} CPUs, torch {env.get('torch')} "
                  f"({env.get('torch_threads')} threads), dgl {env.get('dgl')}, graphclr {env.get('graphclr')}"
                  + (f", GPU {env['gpu']}" if env.get("gpu") else "")]
    seeds = results.get("seeds", {})
    if seeds:
        lines += ["- seeds: " + ", ".join(f"{k} {v}" for k, v in seeds.items())]
    if results.get("command"):
        lines += [f"- command: `{results['command']}`"]
    if results.get("wall_seconds") is not None:
        lines += [f"- wall time: {results['wall_seconds']:.0f} s"]
    plots = results.get("plots", {})
    if plots:
        lines += ["", "## Plots", ""]
        for title, rel in plots.items():
            lines += [f"![{title}]({rel})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _int(x: Any) -> str:
    return f"{int(x):,}" if isinstance(x, (int, float)) else "?"


def _num(x: Any, fmt: str) -> str:
    return format(x, fmt) if _finite(x) else "?"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    from graphclr.utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _pyplot().close(fig)
    return path


def plot_auroc_vs_fraction(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path | None:
    """Mean AUROC (with 95% CI bars) against label fraction, one line per encoder."""
    enc = results.get("encoders", {})
    if not any(e.get("linear_probe") for e in enc.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, e in enc.items():
        lp = e.get("linear_probe", {})
        xs, ys, lo, hi = [], [], [], []
        for entry in lp.values():
            s = entry["metrics"]["mean"]["auroc"]
            if not _finite(s.get("value")):
                continue
            xs.append(100 * entry["fraction"])
            ys.append(s["value"])
            lo.append(s["value"] - (s["ci_low"] if _finite(s.get("ci_low")) else s["value"]))
            hi.append((s["ci_high"] if _finite(s.get("ci_high")) else s["value"]) - s["value"])
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training labels used (%)")
    ax.set_ylabel("mean AUROC (linear probe)")
    title = "AUROC vs label fraction"
    if results.get("synthetic"):
        title += " (synthetic images)"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_training_loss(curves: Mapping[str, Sequence[tuple[int, float]]], path: str | os.PathLike[str],
                       *, synthetic: bool = False) -> Path | None:
    """Contrastive training loss against step, one line per encoder."""
    if not any(curves.values()):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, pts in curves.items():
        if pts:
            steps, losses = zip(*pts)
            ax.plot(steps, losses, lw=1.2, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("contrastive loss")
    ax.set_title("pretraining loss" + (" (synthetic images)" if synthetic else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_rocs(y_true: np.ndarray, scores: Mapping[str, np.ndarray], labels: Sequence[str],
              path: str | os.PathLike[str], *, title: str, readers: Sequence[Any] = ()) -> Path:
    """ROC curves per label, one curve per encoder (see :func:`graphclr.eval.plot_roc_curves`)."""
    from graphclr.eval.metrics import plot_roc_curves

    return plot_roc_curves(y_true, scores, labels, path, readers=readers, title=title)


def write_plots(results: Mapping[str, Any], out_dir: str | os.PathLike[str],
                readers: Sequence[Any] = ()) -> dict[str, str]:
    """The PNG plots of a run in ``out_dir/plots``; returns ``{title: relative path}``."""
    out = Path(out_dir)
    pdir = out / "plots"
    plots: dict[str, str] = {}
    syn = " (synthetic images)" if results.get("synthetic") else ""
    labels = list(results.get("labels", []))
    if plot_auroc_vs_fraction(results, pdir / "auroc_vs_label_fraction.png"):
        plots["AUROC vs label fraction"] = "plots/auroc_vs_label_fraction.png"
    curves = {n: e.get("loss_curve", []) for n, e in results["encoders"].items()}
    if plot_training_loss(curves, pdir / "training_loss.png", synthetic=bool(syn)):
        plots["pretraining loss"] = "plots/training_loss.png"
    arrays = {n: np.load(out / "encoders" / n / "scores.npz") for n in results["encoders"]}
    if not arrays:
        return plots
    first = next(iter(arrays.values()))
    y = first["y_test"]
    names = [str(s) for s in first["test_labels"]]
    keys = set.intersection(*(set(a.files) for a in arrays.values()))
    fracs = [k for k in first.files if k.startswith("linear_probe__")]
    if fracs and fracs[-1] in keys:
        key = fracs[-1]   # the largest fraction (insertion order)
        cols = [names.index(lab) for lab in labels]
        frac = key.split("__", 1)[1]
        plot_rocs(y[:, cols], {n: a[key] for n, a in arrays.items()}, labels,
                  pdir / "roc_linear_probe.png", title=f"ROC, linear probe on {frac} of labels{syn}",
                  readers=readers)
        plots[f"ROC curves, linear probe {frac}"] = "plots/roc_linear_probe.png"
    if "zero_shot" in keys:
        zl = results["encoders"][next(iter(results["encoders"]))]["zero_shot"]["labels"]
        cols = [names.index(lab) for lab in zl]
        plot_rocs(y[:, cols], {n: a["zero_shot"] for n, a in arrays.items()}, zl, pdir / "roc_zero_shot.png",
                  title=f"ROC, zero-shot from prompt graphs{syn}", readers=readers)
        plots["ROC curves, zero-shot"] = "plots/roc_zero_shot.png"
    return plots


def write_report(results: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``results.json`` and ``report.md`` into ``out_dir`` (atomically)."""
    from graphclr.utils import atomic_write

    out = Path(out_dir)
    with atomic_write(out / "results.json") as fh:
        json.dump(results, fh, indent=1, default=_json_default)
    path = out / "report.md"
    with atomic_write(path) as fh:
        fh.write(markdown_report(results))
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
