"""The report processor of graph models: a batch of reports -> the :class:`ReportBatch` the
graph encoder takes.

Data loaders call it (in worker processes), so it is a plain picklable object: it holds
the vocabulary, the graph config and the featurizer's data-side encoder
(:data:`graphclr.nn.featurizers.REGISTRY`; for the pretrained-text featurizer a
:class:`~graphclr.graphs.text_spans.SpanEmbedder` that loads its encoder lazily and caches
span vectors). Its one output is a :class:`~graphclr.graphs.ReportBatch`, concatenated
straight from the reports' arrays, with any extra node data the featurizer needs
(``ngrams`` for hashed n-grams, ``text_emb`` for pretrained-text spans); DGL views of it
are one call away (``batch.to_dgl()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graphclr.graphs import GraphArrays, ReportBatch, Vocabulary
from graphclr.graphs.arrays import batch_arrays
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import dgl

    from graphclr.graphs.features import NodeFeatures
    from graphclr.graphs.text_spans import SpanEmbedder
    from graphclr.nn.encoder import GraphEncoderCfg

__all__ = ["GraphReportProcessor"]


class GraphReportProcessor:
    """``processor(reports) -> ReportBatch`` for a graph model (see module doc).

    Args:
        vocab: the model's vocabulary (``None``: every token is ``<unk>``).
        graph_cfg: the model's graph config (featurizer, ``max_tokens``, n-gram settings).
        homogeneous: return DGL's homogeneous view (``batch.to_dgl(homogeneous=True)``)
            instead of the batch; kept for callers that want a DGL graph.
    """

    def __init__(self, vocab: Vocabulary | None, graph_cfg: GraphEncoderCfg, *,
                 homogeneous: bool = False) -> None:
        from graphclr.nn.featurizers import REGISTRY

        self.vocab = vocab
        self.cfg = graph_cfg
        self.homogeneous = homogeneous
        self.features: NodeFeatures = REGISTRY[graph_cfg.featurizer].data(graph_cfg, vocab)

    def __repr__(self) -> str:
        return (f"GraphReportProcessor(featurizer={self.cfg.featurizer!r}, "
                f"vocab={len(self.vocab) if self.vocab else None}, homogeneous={self.homogeneous})")

    @property
    def span_embedder(self) -> SpanEmbedder:
        """The text encoder wrapper of the ``"text"`` featurizer (created on first use)."""
        embedder = getattr(self.features, "embedder", None)
        if embedder is None:
            raise AttributeError(f"the {self.cfg.featurizer!r} featurizer has no span embedder")
        return embedder

    def module_kwargs(self) -> dict[str, Any]:
        """What the featurizer's ``nn`` module needs from the data side (the span width)."""
        return self.features.module_kwargs()

    def precompute(self, reports: Sequence[ReportGraph], *, progress: bool = True) -> int:
        """Fill the featurizer's cache (span embeddings of ``"text"``; a no-op otherwise)."""
        return self.features.precompute(reports, progress=progress)

    def __call__(self, reports: Sequence[ReportGraph | GraphArrays]) -> ReportBatch | dgl.DGLGraph:
        if len(reports) == 0:
            raise ValueError("the report processor needs at least one report")
        for i, r in enumerate(reports):
            if not isinstance(r, (ReportGraph, GraphArrays)):
                raise TypeError(f"report {i}: expected a ReportGraph or GraphArrays, got "
                                f"{type(r).__name__}")
        arrays = batch_arrays(reports, self.vocab, self.cfg.max_tokens)
        batch = ReportBatch.from_arrays(arrays, self.features.node_data(reports))
        return batch.to_dgl(homogeneous=True) if self.homogeneous else batch
