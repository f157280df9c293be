"""Render a report graph to PNG with networkx and matplotlib.

Colours encode what the graph encoder sees: anatomy in blue; observations in red when
present, green when absent and orange when uncertain. Edge labels name the relation.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from graphclr.constants import ABSENT, ANATOMY, PRESENT, UNCERTAIN
from graphclr.reports.schema import ReportGraph

__all__ = ["NODE_COLOURS", "render_graph", "to_networkx"]

NODE_COLOURS: dict[tuple[str, str], str] = {
    (ANATOMY, PRESENT): "#6baed6",
    (ANATOMY, ABSENT): "#c6dbef",
    (ANATOMY, UNCERTAIN): "#9ecae1",
    ("observation", PRESENT): "#ef6548",
    ("observation", ABSENT): "#74c476",
    ("observation", UNCERTAIN): "#fdae6b",
}


def to_networkx(graph: ReportGraph):
    """A ``networkx.MultiDiGraph`` with one node per entity (keeps parallel relations)."""
    import networkx as nx

    g = nx.MultiDiGraph(id=graph.id)
    for i, ent in enumerate(graph.entities):
        g.add_node(i, tokens=ent.tokens, label=ent.label, kind=ent.kind, certainty=ent.certainty)
    for rel in graph.relations:
        g.add_edge(rel.head, rel.tail, type=rel.type)
    return g


def render_graph(graph: ReportGraph, path: str | os.PathLike[str], *, title: str | None = None,
                 seed: int = 0, dpi: int = 120) -> Path:
    """Draw ``graph`` and save it as a PNG; returns the path written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.patches import Patch

    from graphclr.utils import atomic_path

    g = to_networkx(graph)
    n = g.number_of_nodes()
    size = min(16.0, 5.0 + 0.35 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.75))
    try:
        if n:
            pos = nx.spring_layout(nx.Graph(g), seed=seed, k=1.5 / max(1, n) ** 0.5)
            colours = [NODE_COLOURS[(d["kind"], d["certainty"])] for _, d in g.nodes(data=True)]
            nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=900,
                                   edgecolors="#333333", linewidths=0.8)
            nx.draw_networkx_labels(g, pos, ax=ax, font_size=8,
                                    labels={i: "\n".join(textwrap.wrap(d["tokens"], 14))
                                            for i, d in g.nodes(data=True)})
            nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=14, node_size=900,
                                   edge_color="#555555")
            edge_labels = {(u, v): d["type"] for u, v, d in g.edges(data=True)}
            nx.draw_networkx_edge_labels(g, pos, ax=ax, edge_labels=edge_labels, font_size=7)
        else:
            ax.text(0.5, 0.5, "no entities", ha="center", va="center", fontsize=14)
        legend = [Patch(color=NODE_COLOURS[(ANATOMY, PRESENT)], label="anatomy"),
                  Patch(color=NODE_COLOURS[("observation", PRESENT)], label="observation: present"),
                  Patch(color=NODE_COLOURS[("observation", ABSENT)], label="observation: absent"),
                  Patch(color=NODE_COLOURS[("observation", UNCERTAIN)], label="observation: uncertain")]
        ax.legend(handles=legend, loc="lower left", fontsize=8, frameon=False)
        ax.set_title(title if title is not None else f"report {graph.id}: {n} entities, "
                     f"{len(graph.relations)} relations", fontsize=10)
        ax.axis("off")
        fig.tight_layout()
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return path
