"""How fast report graphs become DGL graphs and batches.

Measures, on one thread:
  * encode: ReportGraph -> GraphArrays (the per-report work a data loader does),
  * heterograph: ReportGraph -> one DGLHeteroGraph per report, by ``build_graphs``
    (chunks batched, then ``dgl.slice_batch``) and, for comparison, by one
    ``to_heterograph`` per report (the path before chunking),
  * graph store (CPU time, ``time.process_time``): ``save_graph_store`` of the encoded
    reports (what ``graphclr graphs build`` runs after encoding; chunks of 1,024) against
    the per-report store it replaced (``to_heterograph`` + ``dgl.save_graphs`` of one graph
    per report), and reading every graph back, or 64 random ones, from each,
  * batch: 256 ReportGraphs -> one batched heterograph (encode included), and from cached
    GraphArrays, against ``dgl.batch`` of 256 prebuilt graphs,
  * homogeneous: the batched heterograph -> the RelGraphConv view.

Goals (issue 2): a batch of 256 in under 20 ms; building at >= 5,000 graphs/s on one core.

Graphs come from the built-in extractor over the real Open-i reports when both are
available (torchxrayvision's archive), else from a seeded generator of RadGraph-like
graphs; the result says which.

    python benchmarks/graph_build.py [--n 2048] [--batch 256] [--store-repeats 3]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import record, time_call  # noqa: E402


def store_timings(reports, vocab, repeats: int) -> dict:
    """CPU seconds of writing and reading a graph store, chunked and per report."""
    import tempfile
    import time

    import dgl
    import numpy as np

    from graphclr.graphs import encode_report, load_graph_store, save_graph_store, to_heterograph

    ids = [f"r{i}" for i in range(len(reports))]
    arrays = [encode_report(r, vocab) for r in reports]
    picks = np.random.default_rng(0).integers(0, len(reports), 64).tolist()
    cpu = {"clock": time.process_time, "repeats": repeats, "warmup": 1}
    with tempfile.TemporaryDirectory() as tmp:
        new, old = f"{tmp}/chunked.bin", f"{tmp}/per_report.bin"
        out = {"write_chunked": time_call(lambda: save_graph_store(new, arrays, ids), **cpu),
               "write_per_report": time_call(lambda: dgl.save_graphs(
                   old, [to_heterograph(a) for a in arrays]), **cpu),
               "read_all_chunked": time_call(lambda: load_graph_store(new), **cpu),
               "read_all_per_report": time_call(lambda: dgl.load_graphs(old), **cpu),
               "read_64_chunked": time_call(lambda: load_graph_store(new, picks), **cpu),
               "read_64_per_report": time_call(lambda: dgl.load_graphs(old, sorted(set(picks))), **cpu)}
    return out


def generated_reports(n: int, seed: int = 0):
    """RadGraph-like graphs: findings located at lateralised anatomy, with modifiers."""
    from graphclr.reports.schema import Entity, Relation, ReportGraph

    rng = random.Random(seed)
    out = []
    for i in range(n):
        ents, rels = [], []

        def add(tokens: str, label: str) -> int:
            ents.append(Entity(tokens, label, len(ents), len(ents)))
            return len(ents) - 1

        for _ in range(rng.randint(1, 6)):
            anat = add(rng.choice(["lung", "lobe", "base", "pleural", "heart"]), "ANAT-DP")
            side = add(rng.choice(["left", "right"]), "ANAT-DP")
            rels.append(Relation("modify", side, anat))
            obs = add(rng.choice(["opacity", "effusion", "atelectasis", "edema"]),
                      rng.choice(["OBS-DP", "OBS-DA", "OBS-U"]))
            rels.append(Relation("located_at", obs, anat))
            if rng.random() < 0.5:
                rels.append(Relation("modify", add(rng.choice(["small", "mild"]), "OBS-DP"), obs))
            if rng.random() < 0.2:
                rels.append(Relation("suggestive_of", obs, add("pneumonia", "OBS-U")))
        out.append(ReportGraph(str(i), " ".join(e.tokens for e in ents), ents, rels))
    return out


def openi_reports(n: int):
    try:
        from graphclr.reports.extract import extract_reports
        from graphclr.reports.readers import read_openi
    except ImportError:
        return None
    try:
        items = []
        for rep in read_openi():
            items.append((rep.id, rep.text))
            if len(items) >= n:
                break
    except (FileNotFoundError, ImportError):
        return None
    return list(extract_reports(items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2048, help="reports to build per timing")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--store-repeats", type=int, default=3, help="timed store writes/reads")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import dgl
    import numpy as np
    import torch

    from graphclr.graphs import (Vocabulary, batch_graphs, build_graphs, encode_report,
                                 to_heterograph, to_homogeneous)

    torch.set_num_threads(1)
    reports = openi_reports(args.n)
    source = "built-in extractor over Open-i reports (torchxrayvision archive)"
    if not reports:
        reports = generated_reports(args.n)
        source = "seeded generator of RadGraph-like graphs (extractor or Open-i archive unavailable)"
    reports = (reports * (args.n // len(reports) + 1))[: args.n]
    vocab = Vocabulary.from_graphs(reports)
    batch = reports[: args.batch]
    arrays = [encode_report(r, vocab) for r in reports]
    prebuilt = [to_heterograph(a) for a in arrays[: args.batch]]

    enc = time_call(lambda: [encode_report(r, vocab) for r in reports], repeats=5)
    het = time_call(lambda: build_graphs(reports, vocab), repeats=3)
    het_one = time_call(lambda: [to_heterograph(a) for a in arrays], repeats=3)
    store = store_timings(reports, vocab, args.store_repeats)
    b_rep = time_call(lambda: batch_graphs(batch, vocab), repeats=30)
    b_arr = time_call(lambda: batch_graphs(arrays[: args.batch]), repeats=30)
    b_dgl = time_call(lambda: dgl.batch(prebuilt), repeats=10)
    bg = batch_graphs(batch, vocab)
    homo = time_call(lambda: to_homogeneous(bg), repeats=30)

    n = len(reports)
    result = {
        "graphs": source,
        "num_reports": n,
        "batch_size": args.batch,
        "mean_entities": float(np.mean([len(r.entities) for r in reports])),
        "mean_relations": float(np.mean([len(r.relations) for r in reports])),
        "threads": 1,
        "encode_graphs_per_s": n / enc["median_s"],
        "heterograph_per_report_graphs_per_s": n / het["median_s"],
        "to_heterograph_one_by_one_graphs_per_s": n / het_one["median_s"],
        "store_write_chunked_graphs_per_cpu_s": n / store["write_chunked"]["median_s"],
        "store_write_per_report_graphs_per_cpu_s": n / store["write_per_report"]["median_s"],
        "store_read_all_chunked_graphs_per_cpu_s": n / store["read_all_chunked"]["median_s"],
        "store_read_all_per_report_graphs_per_cpu_s": n / store["read_all_per_report"]["median_s"],
        "store_read_64_random_chunked_cpu_ms": store["read_64_chunked"]["median_s"] * 1e3,
        "store_read_64_random_per_report_cpu_ms": store["read_64_per_report"]["median_s"] * 1e3,
        "batch_from_reports_ms": b_rep["median_s"] * 1e3,
        "batch_from_reports_graphs_per_s": args.batch / b_rep["median_s"],
        "batch_from_cached_arrays_ms": b_arr["median_s"] * 1e3,
        "dgl_batch_of_prebuilt_graphs_ms": b_dgl["median_s"] * 1e3,
        "to_homogeneous_ms": homo["median_s"] * 1e3,
        "goals": {"batch_256_under_ms": 20, "build_graphs_per_s": 5000},
        "timings": {"encode": enc, "heterograph": het, "heterograph_one_by_one": het_one,
                    "store_cpu": store, "batch_from_reports": b_rep,
                    "batch_from_arrays": b_arr, "dgl_batch": b_dgl, "to_homogeneous": homo},
    }
    path = record("graph_build", result, args.out)
    for k in ("encode_graphs_per_s", "heterograph_per_report_graphs_per_s",
              "to_heterograph_one_by_one_graphs_per_s", "store_write_chunked_graphs_per_cpu_s",
              "store_write_per_report_graphs_per_cpu_s", "store_read_all_chunked_graphs_per_cpu_s",
              "store_read_all_per_report_graphs_per_cpu_s", "store_read_64_random_chunked_cpu_ms",
              "store_read_64_random_per_report_cpu_ms", "batch_from_reports_ms",
              "batch_from_reports_graphs_per_s", "batch_from_cached_arrays_ms",
              "dgl_batch_of_prebuilt_graphs_ms", "to_homogeneous_ms"):
        print(f"{k:44s} {result[k]:10.1f}")
    print(f"graphs: {source}\nwritten to {path}")


if __name__ == "__main__":
    main()
