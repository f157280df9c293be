"""``graphclr demo``: read the bundled example RadGraph file, build its heterographs,
print a summary and draw one graph. A smoke test of the install that needs no data."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build heterographs from the bundled example RadGraph file",
                       description="Read the bundled example RadGraph file, build DGL "
                                   "heterographs, print a summary and write a PNG of one graph.")
    p.add_argument("--out", type=Path, default=Path("graphclr-demo"),
                   help="output folder (default: ./graphclr-demo)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dgl

    from graphclr.examples import example_radgraph_path
    from graphclr.graphs import Vocabulary, batch_graphs, render_graph, to_homogeneous
    from graphclr.reports.schema import read_radgraph

    reports = read_radgraph(example_radgraph_path())
    vocab = Vocabulary.from_graphs(reports)
    batch = batch_graphs(list(reports), vocab)
    print(f"{len(reports)} example reports, vocabulary of {len(vocab)} tokens")
    print(f"{'report':<32} {'anat':>5} {'obs':>5} {'edges':>6} {'comps':>6}")
    homog = to_homogeneous(batch)
    comps = homog.ndata["component_id"]
    for i, (rg, g) in enumerate(zip(reports, dgl.unbatch(batch))):
        n_comp = int(comps[homog.ndata["graph_id"] == i].unique().numel())
        print(f"{rg.id:<32} {g.num_nodes('anatomy'):>5} {g.num_nodes('observation'):>5} "
              f"{g.num_edges():>6} {n_comp:>6}")
    print(f"batched heterograph: {batch.num_nodes()} nodes, {batch.num_edges()} edges over "
          f"{len(batch.canonical_etypes)} edge types; homogeneous view: {homog.num_nodes()} nodes, "
          f"{homog.num_edges()} edges")
    largest = max(reports, key=lambda r: len(r.entities))
    args.out.mkdir(parents=True, exist_ok=True)
    png = render_graph(largest, args.out / "example_graph.png")
    print(f"graph of report {largest.id} -> {png}")
    return 0
