"""Where the graph encoder's attention readout loses the side of a finding (issue 10).

Reads a finished run of ``benchmarks/specs/readout_ablation.json`` (or any benchmark run
whose encoders are graph models) and, for every graph encoder in it, measures on the
effusion-side prompt graphs ("Left pleural effusion.", "Small right pleural effusion.", ...):

* ``side_attention``: the attention weight :math:`\\alpha_v` that the component readout puts
  on the ``left``/``right`` node (mean over prompts; only for the ``components`` variant),
  next to ``uniform`` = the mean of :math:`1/|C|`, the share every node would get from a
  plain mean;
* ``left_right_cosine``: the mean cosine similarity of the normalised embeddings of the
  left and the right version of the same prompt (1.0 = the side is invisible to the
  image tower's partner);
* the effusion-side zero-shot AUROC and probe AUROC of that run (from its ``results.json``).

Usage (one run per pretraining seed; several runs are summarised as mean ± sd)::

    for s in 0 1 2; do graphclr benchmark benchmarks/specs/readout_ablation.json \
        --out /tmp/readout$s --set seed=$s; done
    python benchmarks/readout_attention.py /tmp/readout0 /tmp/readout1 /tmp/readout2

Writes ``benchmarks/results/readout_attention.{json,md}`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, record  # noqa: E402

PAIRS = [("Left pleural effusion.", "Right pleural effusion."),
         ("Small left pleural effusion.", "Small right pleural effusion."),
         ("Large left pleural effusion.", "Large right pleural effusion."),
         ("Moderate left pleural effusion.", "Moderate right pleural effusion.")]
SIDES = ("left", "right")


def _side_attention(model: Any, graphs: list[Any]) -> dict[str, float] | None:
    """Mean attention on the side node, and mean 1/|C| of its component, over ``graphs``."""
    import torch

    pool = getattr(model.graph, "pool", None)
    if pool is None:
        return None
    from graphclr.graphs import to_homogeneous

    captured: list[tuple[Any, ...]] = []
    hook = pool.register_forward_hook(lambda mod, args, out: captured.append(args))
    shares, uniform = [], []
    try:
        for g in graphs:
            captured.clear()
            batch = model.report_processor([g])
            with torch.no_grad():
                model.encode_graph(batch)
                h, comp, n_comp = captured[0][:3]
                _, alpha = pool(h, comp, n_comp, return_attention=True)
            # which node is which entity: the homogeneous view's entity_index (public ndata)
            view = to_homogeneous(batch) if hasattr(batch, "ntypes") and len(batch.ntypes) > 1 else batch
            ent = view.ndata["entity_index"].tolist() if hasattr(view, "ndata") else list(range(len(alpha)))
            for node, e in enumerate(ent):
                if g.entities[e].tokens.lower() in SIDES:
                    c = int(comp[node])
                    shares.append(float(alpha[node]))
                    uniform.append(1.0 / int((comp == c).sum()))
    finally:
        hook.remove()
    if not shares:
        return None
    return {"side_attention": sum(shares) / len(shares), "uniform": sum(uniform) / len(uniform),
            "side_nodes": len(shares)}


def _mean_auroc(block: Any) -> float | None:
    """``block["metrics"]["mean"]["auroc"]["value"]`` of a zero-shot result, if there."""
    try:
        return float(block["metrics"]["mean"]["auroc"]["value"])
    except (KeyError, TypeError):
        return None


def _stage_cosines(model: Any, pairs: list[tuple[Any, Any]]) -> dict[str, float]:
    """Mean cosine of the left and the right prompt at each stage of the readout: the pooled
    component (one per prompt graph), the graph encoder's output, the normalised embedding."""
    import torch
    import torch.nn.functional as F

    enc = model.graph
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, a, out, k=k: seen.__setitem__(k, out))
             for k, m in (("pooled_component", getattr(enc, "pool", None)), ("encoder_output", enc))
             if m is not None]
    cos: dict[str, list[float]] = {}
    try:
        for left, right in pairs:
            with torch.no_grad():
                e = model.encode_graph(model.report_processor([left, right]), normalize=True)
            stages = {**seen, "left_right_cosine": e}
            for k, t in stages.items():
                t = t[0] if isinstance(t, tuple) else t
                cos.setdefault(k if k == "left_right_cosine" else f"cosine_{k}", []).append(
                    float(F.cosine_similarity(t[0], t[1], dim=0)))
    finally:
        for h in hooks:
            h.remove()
    return {k: sum(v) / len(v) for k, v in cos.items()}


def measure(run: Path) -> dict[str, Any]:
    import torch

    from graphclr.models import load_model
    from graphclr.reports.extract import extract_report

    out: dict[str, Any] = {}
    for edir in sorted((run / "encoders").iterdir()):
        ckpt = edir / "pretrain" / "model.pt"
        res_path = edir / "results.json"
        if not ckpt.is_file():
            continue
        model = load_model(ckpt).eval()
        if not hasattr(model, "graph"):
            continue                      # a text encoder: no graph readout to look at
        graphs = {t: extract_report(t, report_id=f"prompt{i}")
                  for i, pair in enumerate(PAIRS) for t in pair}
        gcfg = model.cfg.graph_cfg
        row: dict[str, Any] = {"readout": gcfg.variant + (
            f"/{getattr(gcfg, 'pool_readout', 'attention')}/{getattr(gcfg, 'graph_readout', 'token')}"
            if gcfg.variant == "components" else "")}
        row.update(_stage_cosines(model, [(graphs[a], graphs[b]) for a, b in PAIRS]))
        att = _side_attention(model, list(graphs.values()))
        if att:
            row.update(att)
        if res_path.is_file():
            res = json.loads(res_path.read_text())
            lat = (res.get("laterality") or {}).get("pleural-effusion-side") or {}
            row["side_zero_shot_auroc"] = _mean_auroc(lat.get("zero_shot"))
            probe = lat.get("probe") or {}
            if probe:
                last = next(reversed(probe.values()))
                row["side_probe_auroc"] = last["metrics"]["mean"]["auroc"]["value"]
            row["zero_shot_mean_auroc"] = _mean_auroc(res.get("zero_shot"))
        out[edir.name] = row
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per encoder and numeric column: ``{"mean", "sd", "values"}`` over the runs (seeds)."""
    import statistics

    out: dict[str, Any] = {}
    for rows in runs:
        for name, row in rows.items():
            slot = out.setdefault(name, {"readout": row["readout"]})
            for k, v in row.items():
                if isinstance(v, float):
                    slot.setdefault(k, {"values": []})["values"].append(v)
    for slot in out.values():
        for v in slot.values():
            if isinstance(v, dict):
                vals = v["values"]
                v["mean"] = statistics.fmean(vals)
                v["sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return out


def _markdown(summary: dict[str, Any], runs: list[Path]) -> str:
    cols = ["side_attention", "uniform", "cosine_pooled_component", "cosine_encoder_output",
            "left_right_cosine", "side_zero_shot_auroc", "side_probe_auroc", "zero_shot_mean_auroc"]
    lines = [f"# Readout ablation: how much of the side survives ({len(runs)} run(s): "
             + ", ".join(f"`{r}`" for r in runs) + ")", "",
             "| encoder | readout | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for name, row in summary.items():
        cells = []
        for c in cols:
            v = row.get(c)
            cells.append("–" if v is None else
                         f"{v['mean']:.3f}" + (f" ± {v['sd']:.3f}" if len(v["values"]) > 1 else ""))
        lines.append(f"| {name} | {row['readout']} | " + " | ".join(cells) + " |")
    lines += ["", "Mean ± sd over the runs (pretraining seeds). side_attention: attention weight "
              "on the left/right node of the effusion-side prompt graphs; uniform: 1/|C| of its "
              "component (what a mean gives); cosine_*: cosine of the left and the right prompt "
              "at that stage (pooled component, graph encoder output, final normalised "
              "embedding = left_right_cosine); side_zero_shot_auroc / side_probe_auroc: the "
              "effusion-side zero-shot and linear probe (28 test images per run); "
              "zero_shot_mean_auroc: the run's 6-label zero-shot mean. The images are synthetic."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+",
                    help="finished benchmark output directories (one per seed)")
    ap.add_argument("--out", type=Path, default=RESULTS / "readout_attention.json")
    args = ap.parse_args(argv)
    for run in args.runs:
        if not (run / "encoders").is_dir():
            ap.error(f"{run}: not a benchmark output directory (no encoders/)")
    per_run = [measure(run) for run in args.runs]
    summary = summarise(per_run)
    record("readout_attention", {"runs": [str(r) for r in args.runs], "per_run": per_run,
                                 "summary": summary}, out=args.out)
    md = _markdown(summary, args.runs)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
