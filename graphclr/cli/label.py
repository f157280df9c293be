"""``graphclr label``: reports or report graphs -> ChestX-ray14 / CheXpert labels (CSV)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from graphclr.cli.extract import READ_HELP, add_input_arguments

    p = sub.add_parser("label", help="reports or graphs -> ChestX-ray14 / CheXpert labels (CSV)",
                       description="Label reports with ChestX-ray14 or CheXpert labels. Report "
                                   "inputs are run through the built-in extractor first; RadGraph "
                                   "JSON inputs (graphclr extract output, RadGraph's own files) "
                                   "are labelled as they are. Writes one row per report: id, "
                                   "then the label columns as 1/0 (-1 for uncertain with "
                                   "--uncertain keep).")
    p.add_argument("inputs", nargs="+", help=READ_HELP + "; or RadGraph .json graph files")
    p.add_argument("--schema", choices=["cxr14", "chexpert"], default="cxr14",
                   help="label set (default cxr14: 14 ChestX-ray14 findings + normal)")
    p.add_argument("--uncertain", choices=["negative", "positive", "keep"], default="negative",
                   help="uncertain findings become 0 (default), 1, or -1 (keep)")
    p.add_argument("--labeler", choices=["labeler_1", "labeler_2"], default=None,
                   help="for files that nest labelers (the RadGraph test set): which "
                        "annotation to label (default labeler_1); other files ignore it")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    add_input_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import csv
    from itertools import chain, islice

    from tqdm import tqdm

    from graphclr.cli.extract import Problems, iter_graphs
    from graphclr.reports.labels import SCHEMAS, label_graph
    from graphclr.reports.schema import iter_radgraph
    from graphclr.utils import atomic_write

    graph_files = [p for p in args.inputs if str(p).lower().endswith(".json")]
    report_inputs = [p for p in args.inputs if not str(p).lower().endswith(".json")]
    problems = Problems()
    sources = []
    for path in graph_files:  # streamed: a 227k-report file never sits in memory
        graphs_in = iter_radgraph(path, strict=args.strict, labeler=args.labeler,
                                  skipped=problems.unreadable, warnings=problems.warned)
        sources.append(tqdm(graphs_in, desc=f"labelling {Path(path).name}", unit="report",
                            disable=None))
    if report_inputs:
        args.inputs = report_inputs
        sources.append(iter_graphs(args, problems, "extracting + labelling"))
    graphs = chain.from_iterable(sources)
    if args.limit is not None:
        graphs = islice(graphs, args.limit)
    columns = SCHEMAS[args.schema]
    n = 0
    positives = dict.fromkeys(columns, 0)
    with atomic_write(args.out, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", *columns])
        for graph in problems.first_of_each_id(graphs, args.strict, "labelled"):
            try:
                labels = label_graph(graph, args.schema, args.uncertain)
            except Exception as err:  # noqa: BLE001 - one bad graph is reported, not fatal
                problems.extraction_failed(graph.id, err)
                continue
            writer.writerow([graph.id, *(labels[c] for c in columns)])
            n += 1
            for c in columns:
                positives[c] += labels[c] == 1
    print(f"{n} reports labelled ({args.schema}, uncertain -> {args.uncertain}) -> {args.out}")
    print("positives: " + ", ".join(f"{c} {k}" for c, k in positives.items() if k))
    if problems.summary():
        print(problems.summary(), file=sys.stderr)
    if problems.warned:
        print(f"{len(problems.warned)} warning(s) in the graphs read", file=sys.stderr)
    return 0
