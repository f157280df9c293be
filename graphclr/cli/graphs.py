"""``graphclr graphs``: RadGraph JSON -> graph store, and report -> PNG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("graphs", help="build graph stores from RadGraph JSON; draw report graphs",
                       description="Build DGL graph stores from RadGraph JSON and draw report graphs.")
    gsub = p.add_subparsers(dest="graphs_command", metavar="SUBCOMMAND", required=True)

    b = gsub.add_parser("build", help="RadGraph JSON -> graph store (+ vocabulary)",
                        description="Read RadGraph JSON files (any released layout), build the "
                                    "reports' DGL heterographs (batched 1024 at a time) and "
                                    "save them as a graph store.")
    b.add_argument("inputs", nargs="+", type=Path, help="RadGraph JSON file(s)")
    b.add_argument("--out", type=Path, required=True, help="graph store to write (.bin)")
    b.add_argument("--vocab", type=Path, help="existing vocabulary to use (default: build one)")
    b.add_argument("--vocab-out", type=Path, help="where to save the vocabulary "
                   "(default: <out>.vocab.json when it is built here)")
    b.add_argument("--min-freq", type=int, default=1, help="keep tokens seen this often (default 1)")
    b.add_argument("--max-tokens", type=int, default=4, help="tokens kept per entity (default 4)")
    b.add_argument("--labeler", choices=["labeler_1", "labeler_2", "all"], default=None,
                   help="for the RadGraph test set: which annotation to read (default labeler_1)")
    b.add_argument("--skip-invalid", action="store_true",
                   help="skip malformed records (each reported) instead of stopping at the first")
    b.set_defaults(func=run_build)

    s = gsub.add_parser("show", help="draw one report's graph as PNG",
                        description="Draw one report graph from a RadGraph JSON file as a PNG.")
    s.add_argument("input", type=Path, help="RadGraph JSON file")
    s.add_argument("report_id", nargs="?", help="report id (default: the first report)")
    s.add_argument("--out", type=Path, required=True, help="PNG to write")
    s.add_argument("--labeler", choices=["labeler_1", "labeler_2"], default=None)
    s.set_defaults(func=run_show)


def run_build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from graphclr.graphs import Vocabulary, encode_report, save_graph_store
    from graphclr.reports.schema import read_radgraph
    from graphclr.utils import paused_gc

    reports = []
    skipped = 0
    for path in args.inputs:
        coll = read_radgraph(path, strict=not args.skip_invalid, labeler=args.labeler)
        for err in coll.skipped:
            print(f"skipped: {err}", file=sys.stderr)
        skipped += coll.num_skipped
        reports.extend(coll)
    if args.labeler == "all":
        ids = [f"{g.id}#{g.annotator}" if g.annotator else g.id for g in reports]
    else:
        ids = [g.id for g in reports]
    if len(set(ids)) != len(ids):
        raise ValueError("the inputs repeat report ids; build one store per file instead")
    vocab = Vocabulary.load(args.vocab) if args.vocab else Vocabulary.from_graphs(reports, min_freq=args.min_freq)
    with paused_gc():
        graphs = [encode_report(rg, vocab, max_tokens=args.max_tokens)
                  for rg in tqdm(reports, desc="encoding graphs", unit="graph", disable=None)]
        off_schema = sum(a.num_off_schema for a in graphs)
        nodes = sum(a.num_nodes for a in graphs)
        edges = 2 * sum(int(a.src.shape[0]) for a in graphs)   # each relation and its reverse
        meta = {"sources": [str(p) for p in args.inputs], "max_tokens": args.max_tokens,
                "vocab": vocab.to_dict(), "num_off_schema_relations": off_schema,
                "num_skipped_records": skipped}
        save_graph_store(args.out, graphs, ids, meta)   # one batched heterograph per chunk
    if not args.vocab:
        vocab_out = args.vocab_out or args.out.with_name(args.out.name + ".vocab.json")
        vocab.save(vocab_out)
        print(f"vocabulary: {len(vocab)} tokens -> {vocab_out}")
    print(f"graph store: {len(graphs)} graphs, {nodes} nodes, {edges} edges (reverse edges "
          f"included) -> {args.out}")
    if off_schema:
        print(f"note: {off_schema} relations join node types the RadGraph schema does not "
              "relate; they keep their own edge types in the DGL graphs (see docs/schema.md)")
    if skipped:
        print(f"skipped {skipped} malformed records")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from graphclr.graphs import render_graph
    from graphclr.reports.schema import read_radgraph

    coll = read_radgraph(args.input, labeler=args.labeler)
    if not len(coll):
        raise ValueError(f"{args.input}: no reports")
    if args.report_id is None:
        graph = coll[0]
    else:
        matches = [g for g in coll if g.id == args.report_id]
        if not matches:
            raise ValueError(f"{args.input}: no report with id {args.report_id!r}")
        graph = matches[0]
    path = render_graph(graph, args.out)
    print(f"report {graph.id}: {len(graph.entities)} entities, {len(graph.relations)} relations -> {path}")
    return 0
