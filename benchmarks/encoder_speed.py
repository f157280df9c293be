"""Train-step throughput of the graph encoder at the reference sizes, against BERT-base.

One *graph step* is what pretraining does on the report side for a batch of reports:
the graph tower of ``graphclr-resnet50`` (token featurizer, 2 RelGraphConv layers of
width 512, component attention pooling, 1 transformer layer with 2 heads, 512 -> 768
projection) embeds the batch the model's report processor made (a ``ReportBatch``; before
it, a batched heterograph whose homogeneous view the step built), the CLIP loss is taken
against fixed image features, and AdamW steps. One *text step* does the same with a
BERT-base-sized encoder (Hugging Face ``BertModel``: 12 layers, width 768, 12 heads,
random init) on the same reports' text, word-piece tokenised and cut/padded to 128
tokens. The two alternate in rounds in one process, so both see the same machine state.

Reported: graphs/s of the graph step (batch 256), seconds per report of the text step
and their ratio; the collate cost (the report processor on cached ``GraphArrays`` and on
``ReportGraph``) separately, and the step with its collate (``end_to_end_*``: the sum of
the two medians; ``graph_step_with_collate_*``: measured as one call); CPU utilisation (a
busy machine shows as < threads); and, with ``--variants``, the same step for the stock
DGL/PyTorch modules, other
regularisers/variants, and ``--profile`` the top operators.

Goals (issue 4): >= 1,000 graphs/s on 2 CPU cores, and a graph step <= 1/100 of the text
step per report.

Reports: the real Open-i reports (torchxrayvision's archive, read in place; nothing is
written) through the built-in extractor, about 20 entities in about 9 disconnected pieces
per report. Without the archive (or with ``--source synthetic``) a seeded generator of
report-sized graphs is used instead; its template sentences repeat far more than real
reports, which flatters the encoder's deduplication of repeated computation trees, so
prefer the real reports. The result records the share of distinct computation trees.

    python benchmarks/encoder_speed.py [--threads 2] [--batch 256] [--rounds 5] [--variants] [--profile]

Before/after a change, in one run on one machine state: ``benchmarks/encoder_speed_compare.py``
runs this script from an older commit and from the working tree alternately, with the
same arguments (the interface and the result keys are kept for that).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record  # noqa: E402


def load_reports(source: str, n: int) -> tuple[list, str]:
    from graphclr.synth.pairs import synthetic_reports

    if source == "auto":
        try:
            return load_reports("openi", n)
        except (ImportError, FileNotFoundError, OSError):
            source = "synthetic"
    if source == "openi":
        from graphclr.reports.extract import extract_reports
        from graphclr.reports.readers import read_openi

        items = []
        for rep in read_openi():
            items.append((rep.id, rep.text))
            if len(items) >= n:
                break
        return list(extract_reports(items)), "Open-i reports (torchxrayvision archive) through graphclr.reports.extract"
    return (synthetic_reports(n, seed=1, sentences=(7, 11)),
            "seeded synthetic report generator (graphclr.synth.pairs, 7-11 sentences)")


class Timer:
    """Wall and process CPU time of repeated calls."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, fn) -> Any:
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        self.wall.append(time.perf_counter() - w0)
        self.cpu.append(time.process_time() - c0)
        return out

    def summary(self) -> dict[str, float]:
        return {"median_s": statistics.median(self.wall), "min_s": min(self.wall),
                "max_s": max(self.wall), "n": len(self.wall),
                "cpu_median_s": statistics.median(self.cpu),
                "cpu_utilisation": sum(self.cpu) / max(sum(self.wall), 1e-9)}


def graph_tower(graph_cfg: dict[str, Any], vocab, *, fast: bool = True):
    import torch
    from torch import nn

    from graphclr.nn import GraphEncoder, GraphEncoderCfg

    enc = GraphEncoder(GraphEncoderCfg.from_dict(graph_cfg), vocab_size=len(vocab), fast=fast)
    proj = nn.Linear(enc.out_dim, 768, bias=False)
    tower = nn.Sequential()
    tower.add_module("encoder", enc)
    tower.add_module("proj", proj)
    scale = nn.Parameter(torch.tensor(2.659))
    return tower, scale


def make_graph_step(tower, scale, batches: list, targets):
    import torch
    import torch.nn.functional as F

    from graphclr.loss import ClipLoss

    opt = torch.optim.AdamW(list(tower.parameters()) + [scale], lr=1e-4)
    loss_fn = ClipLoss()
    state = {"i": 0}

    def step() -> float:
        batch = batches[state["i"] % len(batches)]
        state["i"] += 1
        if isinstance(batch, functools.partial):   # made in the step: the collate included
            batch = batch()
        feats = F.normalize(tower(batch), dim=-1)
        loss = loss_fn(targets, feats, scale.exp())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)
    return step


def make_text_step(texts: list[str], batch: int, max_len: int):
    import torch
    import torch.nn.functional as F
    from transformers import AutoTokenizer, BertConfig, BertModel

    from graphclr.loss import ClipLoss
    from graphclr.graphs.text_spans import default_text_model_dir

    tok = AutoTokenizer.from_pretrained(str(default_text_model_dir()), local_files_only=True)
    torch.manual_seed(0)
    bert = BertModel(BertConfig())          # BERT-base: 12 x 768, 12 heads, 3072 FFN, random init
    proj = torch.nn.Linear(768, 768, bias=False)
    scale = torch.nn.Parameter(torch.tensor(2.659))
    opt = torch.optim.AdamW(list(bert.parameters()) + list(proj.parameters()) + [scale], lr=1e-5)
    loss_fn = ClipLoss()
    enc = [tok(texts[i: i + batch], padding="max_length", truncation=True, max_length=max_len,
               return_tensors="pt") for i in range(0, len(texts) - batch + 1, batch)]
    targets = F.normalize(torch.randn(batch, 768), dim=-1)
    state = {"i": 0}
    bert.train()

    def step() -> float:
        e = enc[state["i"] % len(enc)]
        state["i"] += 1
        cls = bert(input_ids=e["input_ids"], attention_mask=e["attention_mask"]).last_hidden_state[:, 0]
        loss = loss_fn(targets, F.normalize(proj(cls), dim=-1), scale.exp())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)
    n_tokens = float(sum(int(x["attention_mask"].sum()) for x in enc) / (len(enc) * batch))
    return step, n_tokens


def measure_graph(graph_cfg, vocab, batches, targets, repeats: int, *, fast: bool = True) -> dict:
    import torch

    torch.manual_seed(0)
    tower, scale = graph_tower(graph_cfg, vocab, fast=fast)
    return time_step(make_graph_step(tower, scale, batches, targets), targets.shape[0], repeats)


def time_step(step, batch: int, repeats: int) -> dict:
    """Two warm-up calls, then ``repeats`` timed ones; graphs/s from the median."""
    for _ in range(2):
        step()
    t = Timer()
    for _ in range(repeats):
        t(step)
    out = t.summary()
    out["graphs_per_s"] = batch / out["median_s"]
    return out


def measure_igcl_reference(chunks: list, targets, repeats: int) -> dict:
    """The reference DRACON tower (``igcl-reference``: full weights, reaction nodes, unmasked
    transformer) on 772-d node features precomputed as the data side caches them (random
    span vectors here); ``processor_median_s``: that data side's reference edges and
    reaction transform per batch."""
    import torch
    from torch import nn

    from graphclr.models import get_model_config
    from graphclr.models.igcl_reference import IGCLReferenceCfg, IGCLReferenceProcessor, IGCLReferenceTower

    gcfg = get_model_config("igcl-reference")["graph_cfg"]
    processor = IGCLReferenceProcessor(IGCLReferenceCfg.from_dict({**gcfg, "features": "types"}))
    prep, gen, batches = Timer(), torch.Generator().manual_seed(0), []
    for c in chunks:
        b = prep(lambda c=c: processor(c))
        batches.append(b._replace(x=torch.cat([torch.randn(len(b.x), 768, generator=gen), b.x], 1)))
    torch.manual_seed(0)
    tower = nn.Sequential(IGCLReferenceTower(IGCLReferenceCfg.from_dict(gcfg)), nn.Linear(512, 768, bias=False))
    step = make_graph_step(tower, nn.Parameter(torch.tensor(2.659)), batches, targets)
    return {**time_step(step, targets.shape[0], repeats), "processor_median_s": prep.summary()["median_s"]}


def profile_graph(graph_cfg, vocab, batches, targets, top: int = 15) -> list[dict]:
    import torch
    from torch.profiler import profile

    torch.manual_seed(0)
    tower, scale = graph_tower(graph_cfg, vocab)
    step = make_graph_step(tower, scale, batches, targets)
    step()
    with profile() as prof:
        for _ in range(3):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    return [{"op": e.key, "self_cpu_ms_per_step": e.self_cpu_time_total / 3e3,
             "share": e.self_cpu_time_total / total, "calls_per_step": e.count / 3} for e in rows]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="graphs per graph step")
    parser.add_argument("--text-batch", type=int, default=8, help="reports per text step")
    parser.add_argument("--max-len", type=int, default=128, help="text tokens per report")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--graph-steps", type=int, default=6, help="graph steps per round")
    parser.add_argument("--model", default="graphclr-resnet50", help="config whose graph_cfg is measured")
    parser.add_argument("--source", choices=["auto", "synthetic", "openi"], default="auto",
                        help="auto: the Open-i reports when torchxrayvision's archive is "
                             "installed, else the synthetic generator")
    parser.add_argument("--variants", action="store_true", help="also time stock modules and other variants")
    parser.add_argument("--profile", action="store_true", help="record the top operators of the graph step")
    parser.add_argument("--no-text", action="store_true", help="skip the BERT-base comparison")
    parser.add_argument("--quick", action="store_true",
                        help="tiny batches and one round: checks the script runs (used by the tests)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.text_batch, args.max_len, args.rounds, args.graph_steps = 16, 2, 32, 1, 2

    import numpy as np
    import torch
    import torch.nn.functional as F

    from graphclr.graphs import Vocabulary, encode_report
    from graphclr.models import get_model_config
    from graphclr.models.processor import GraphReportProcessor
    from graphclr.nn import GraphEncoderCfg

    torch.set_num_threads(args.threads)
    reports, source = load_reports(args.source, 4 * args.batch)
    reports = (reports * (4 * args.batch // max(1, len(reports)) + 1))[: 4 * args.batch]
    vocab = Vocabulary.from_graphs(reports)
    graph_cfg = get_model_config(args.model)["graph_cfg"]
    cfg = GraphEncoderCfg.from_dict(graph_cfg)
    processor = GraphReportProcessor(vocab, cfg)
    arrays = [encode_report(r, vocab, max_tokens=cfg.max_tokens) for r in reports]
    chunks = [reports[i: i + args.batch] for i in range(0, len(reports), args.batch)]
    batches = [processor(c) for c in chunks]
    targets = F.normalize(torch.randn(args.batch, 768, generator=torch.Generator().manual_seed(0)), dim=-1)

    from graphclr.nn.dedup import refine_labels, row_labels

    b0 = batches[0]
    labels, count = row_labels(torch.cat([b0.ndata["tokens"], b0.ndata["entity_type"][:, None]], 1))
    distinct = []
    for _ in range(cfg.layers):
        labels, count = refine_labels(labels, count, b0.src, b0.dst, b0.rel, 6)
        distinct.append(count / b0.num_nodes)

    collate_arrays, collate_reports = Timer(), Timer()
    for _ in range(10):
        collate_arrays(lambda: processor(arrays[: args.batch]))
        collate_reports(lambda: processor(chunks[0]))

    torch.manual_seed(0)
    tower, scale = graph_tower(graph_cfg, vocab)
    graph_step = make_graph_step(tower, scale, batches, targets)
    collate_step = make_graph_step(tower, scale, [functools.partial(processor, c) for c in chunks], targets)
    text_step = None
    tokens = None
    if not args.no_text:
        text_step, tokens = make_text_step([r.text for r in reports], args.text_batch, args.max_len)
    for _ in range(2):
        graph_step()
    if text_step:
        text_step()
    g_timer, t_timer, with_collate = Timer(), Timer(), Timer()
    rounds = []
    for _ in range(args.rounds):
        g_round = Timer()
        for _ in range(args.graph_steps):
            g_round(graph_step)
        g_timer.wall += g_round.wall
        g_timer.cpu += g_round.cpu
        with_collate(collate_step)
        entry = {"graph_step_median_s": statistics.median(g_round.wall)}
        if text_step:
            t_timer(text_step)
            entry["text_step_s"] = t_timer.wall[-1]
            entry["ratio"] = (entry["text_step_s"] / args.text_batch) / (entry["graph_step_median_s"] / args.batch)
        rounds.append(entry)
    g = g_timer.summary()
    graphs_per_s = args.batch / g["median_s"]
    result: dict[str, Any] = {
        "graphs": source,
        "model": args.model,
        "graph_cfg": graph_cfg,
        "threads": args.threads,
        "batch": args.batch,
        "mean_entities": float(np.mean([len(r.entities) for r in reports])),
        "mean_in_schema_relations": float(np.mean([a.src.shape[0] - a.num_off_schema for a in arrays])),
        "mean_components": float(np.mean([a.num_components for a in arrays])),
        "distinct_computation_trees_per_layer": distinct,
        "graph_step": g,
        "graph_step_graphs_per_s": graphs_per_s,
        "graph_step_best_graphs_per_s": args.batch / g["min_s"],
        # CPU seconds are robust to time-slicing on a shared machine (with one thread; with
        # more, OpenMP threads that spin while waiting inflate them)
        "graph_step_graphs_per_cpu_s": args.batch / g["cpu_median_s"],
        "collate_from_arrays_ms": statistics.median(collate_arrays.wall) * 1e3,
        "collate_from_reports_ms": statistics.median(collate_reports.wall) * 1e3,
        "end_to_end_graphs_per_s_one_process": args.batch / (g["median_s"] + statistics.median(collate_reports.wall)),
        "graph_step_with_collate": with_collate.summary(),
        "graph_step_with_collate_graphs_per_s": args.batch / with_collate.summary()["median_s"],
        "rounds": rounds,
        "goals": {"graphs_per_s": 1000, "graph_over_text_per_report": 0.01},
    }
    if text_step:
        t = t_timer.summary()
        text_per_report = t["median_s"] / args.text_batch
        ratio = statistics.median(r["ratio"] for r in rounds)
        result.update({
            "text_model": "Hugging Face BertModel(BertConfig()), BERT-base size, random init, AdamW",
            "text_batch": args.text_batch, "text_max_len": args.max_len,
            "text_mean_real_tokens": tokens,
            "text_step": t, "text_s_per_report": text_per_report,
            "text_cpu_s_per_report": t["cpu_median_s"] / args.text_batch,
            "graph_s_per_report": g["median_s"] / args.batch,
            "text_over_graph_per_report": ratio,
            "graph_over_text_per_report": 1 / ratio,
        })
    result["meets_goals"] = {
        "graphs_per_s": graphs_per_s >= 1000,
        "graph_over_text": (result.get("graph_over_text_per_report", 1.0) <= 0.01) if text_step else None,
    }
    if args.variants:
        variants = {}
        specs = [
            ("default (fast)", {}, True),
            ("default, stock DGL RelGraphConv + torch transformer", {}, False),
            ("basis regulariser (6 bases = full weights)", {"regularizer": "basis", "num_bases": None}, True),
            ("basis regulariser, stock modules", {"regularizer": "basis", "num_bases": None}, False),
            ("no regulariser (full weights)", {"regularizer": None, "num_bases": None}, True),
            ("pool_hidden 128", {"pool_hidden": 128}, True),
            ("feature_dim 512", {"feature_dim": 512}, True),
            ("variant rgcn-mean", {"variant": "rgcn-mean"}, True),
            ("variant igcl (full weights, fc 2)", {"variant": "igcl", "regularizer": None,
                                                   "num_bases": None, "fc_layers": 2}, True),
        ]
        for name, change, fast in specs:
            variants[name] = measure_graph({**graph_cfg, **change}, vocab, batches, targets,
                                           repeats=5, fast=fast)
            print(f"{name:55s} {variants[name]['graphs_per_s']:8.0f} graphs/s")
        dgl_batches = [b.to_dgl() for b in batches]
        variants["DGL heterograph input (converted to a ReportBatch in the step)"] = measure_graph(
            graph_cfg, vocab, dgl_batches, targets, repeats=5)
        name = "igcl-reference (DRACON, 772-d cached features)"
        variants[name] = measure_igcl_reference(chunks, targets, repeats=5)
        print(f"{name:55s} {variants[name]['graphs_per_s']:8.0f} graphs/s")
        result["variants"] = variants
    if args.profile:
        result["profile_top_ops"] = profile_graph(graph_cfg, vocab, batches, targets)
    import os

    result["env"] = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS",
                                                   "MKL_NUM_THREADS", "GOMP_SPINCOUNT")}
    result["note"] = ("Timings on a shared machine vary with other jobs; cpu_utilisation below "
                      "the thread count means this process waited for CPU time (and OpenMP "
                      "threads that wait for a descheduled sibling spin).")
    result["quick"] = args.quick
    name = "encoder_speed" if args.threads == 2 else f"encoder_speed_{args.threads}threads"
    path = record(name + ("_quick" if args.quick else ""), result, args.out)
    print(f"graphs: {source}; {result['mean_entities']:.1f} entities, "
          f"{result['mean_components']:.1f} components per report")
    print(f"graph step: {graphs_per_s:.0f} graphs/s (median of {g['n']}, batch {args.batch}, "
          f"{args.threads} threads, cpu utilisation {g['cpu_utilisation']:.2f})")
    print(f"collate: {result['collate_from_arrays_ms']:.1f} ms from GraphArrays, "
          f"{result['collate_from_reports_ms']:.1f} ms from ReportGraphs")
    if text_step:
        print(f"text step (BERT-base, {args.max_len} tokens): {result['text_s_per_report']:.3f} s/report; "
              f"graph/text per report = 1/{result['text_over_graph_per_report']:.0f}")
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    main()
