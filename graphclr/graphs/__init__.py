"""Report graphs: flat arrays, the model's ``ReportBatch``, DGL heterographs, vocabulary,
storage, rendering.

DGL and torch are imported on first use of a function that needs them, so importing
this package is cheap.
"""

from graphclr.graphs.arrays import (
    CANONICAL_ETYPES,
    FORWARD_ETYPES,
    NODE_FEATURES,
    SCHEMA_ETYPES,
    GraphArrays,
    connected_components,
    encode_report,
)
from graphclr.graphs.batch import ReportBatch
from graphclr.graphs.build import (
    batch_graphs,
    build_graphs,
    empty_heterograph,
    graph_component_counts,
    to_heterograph,
    to_homogeneous,
)
from graphclr.graphs.render import render_graph, to_networkx
from graphclr.graphs.store import GraphStore, load_graph_store, save_graph_store
from graphclr.graphs.vocab import PAD, UNK, Vocabulary

__all__ = [
    "CANONICAL_ETYPES", "FORWARD_ETYPES", "NODE_FEATURES", "SCHEMA_ETYPES", "GraphArrays", "GraphStore",
    "ReportBatch",
    "PAD", "UNK", "Vocabulary", "batch_graphs", "build_graphs", "connected_components",
    "empty_heterograph", "encode_report", "graph_component_counts", "load_graph_store",
    "render_graph", "save_graph_store", "to_heterograph", "to_homogeneous", "to_networkx",
]
