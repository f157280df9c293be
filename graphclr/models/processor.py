"""The report processor of graph models: a batch of reports -> the batch ``encode_graph`` takes.

Data loaders call it (in worker processes), so it is a plain picklable object: it holds
the vocabulary and the graph config, and for the pretrained-text featurizer a
:class:`~graphclr.nn.text_spans.SpanEmbedder` that loads its encoder lazily and caches
span vectors. It returns a batched heterograph from :func:`graphclr.graphs.batch_graphs`
with any extra node data the featurizer needs (``ngrams`` for hashed n-grams,
``text_emb`` for pretrained-text spans), or, with ``homogeneous=True``, its homogeneous
view (moving that conversion into the data-loader workers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphclr.constants import NODE_TYPES
from graphclr.graphs import GraphArrays, Vocabulary, batch_graphs, encode_report
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import dgl

    from graphclr.nn.encoder import GraphEncoderCfg
    from graphclr.nn.text_spans import SpanEmbedder

__all__ = ["GraphReportProcessor"]


class GraphReportProcessor:
    """``processor(reports) -> batched graph`` for a graph model (see module doc).

    Args:
        vocab: the model's vocabulary (``None``: every token is ``<unk>``).
        graph_cfg: the model's graph config (featurizer, ``max_tokens``, n-gram settings).
        homogeneous: return ``to_homogeneous(batch)`` instead of the heterograph.
    """

    def __init__(self, vocab: Vocabulary | None, graph_cfg: GraphEncoderCfg, *,
                 homogeneous: bool = False) -> None:
        self.vocab = vocab
        self.cfg = graph_cfg
        self.homogeneous = homogeneous
        self._span_embedder: SpanEmbedder | None = None

    def __repr__(self) -> str:
        return (f"GraphReportProcessor(featurizer={self.cfg.featurizer!r}, "
                f"vocab={len(self.vocab) if self.vocab else None}, homogeneous={self.homogeneous})")

    @property
    def span_embedder(self) -> SpanEmbedder:
        """The text encoder wrapper of the ``"text"`` featurizer (created on first use)."""
        if self._span_embedder is None:
            from graphclr.nn.text_spans import SpanEmbedder

            self._span_embedder = SpanEmbedder(self.cfg.text_model, layers=self.cfg.text_layers)
        return self._span_embedder

    def precompute(self, reports: Sequence[ReportGraph], *, progress: bool = True) -> int:
        """Fill the span-embedding cache (``"text"`` featurizer; a no-op otherwise)."""
        if self.cfg.featurizer != "text":
            return 0
        return self.span_embedder.precompute(reports, progress=progress)

    def __call__(self, reports: Sequence[ReportGraph | GraphArrays]) -> dgl.DGLGraph:
        if len(reports) == 0:
            raise ValueError("the report processor needs at least one report")
        arrays = []
        for i, r in enumerate(reports):
            if isinstance(r, GraphArrays):
                arrays.append(r)
            elif isinstance(r, ReportGraph):
                arrays.append(encode_report(r, self.vocab, max_tokens=self.cfg.max_tokens))
            else:
                raise TypeError(f"report {i}: expected a ReportGraph or GraphArrays, got "
                                f"{type(r).__name__}")
        g = batch_graphs(arrays)
        kinds = np.concatenate([a.kind for a in arrays]) if arrays else np.zeros(0, np.int64)
        if self.cfg.featurizer == "hashed":
            _attach(g, kinds, "ngrams", self._ngrams(reports, arrays))
        elif self.cfg.featurizer == "text":
            _attach(g, kinds, "text_emb", self._spans(reports))
        if self.homogeneous:
            from graphclr.graphs import to_homogeneous

            return to_homogeneous(g)
        return g

    def _ngrams(self, reports: Sequence[Any], arrays: Sequence[GraphArrays]) -> np.ndarray:
        from graphclr.nn.featurizers import hashed_ngram_ids, pad_ragged

        rows: list[list[int]] = []
        cfg = self.cfg
        for r, a in zip(reports, arrays):
            if isinstance(r, ReportGraph):
                texts = [e.tokens for e in r.entities]
            else:   # GraphArrays carry vocabulary ids only: unknown words come back as <unk>
                itos = self.vocab.itos if self.vocab is not None else None
                texts = [" ".join(itos[t] if itos else "<unk>" for t in row[:n])
                         for row, n in zip(a.tokens.tolist(), a.num_tokens.tolist())]
            rows.extend(hashed_ngram_ids(t, cfg.hash_buckets, cfg.ngram_min, cfg.ngram_max,
                                         cfg.max_ngrams) for t in texts)
        return pad_ragged(rows)

    def _spans(self, reports: Sequence[Any]) -> np.ndarray:
        for i, r in enumerate(reports):
            if not isinstance(r, ReportGraph):
                raise TypeError(f"report {i}: the 'text' featurizer needs ReportGraph objects "
                                "(with their text), not GraphArrays")
        vectors = self.span_embedder(list(reports))
        dim = self.span_embedder.dim
        if not vectors:
            return np.zeros((0, dim), dtype=np.float32)
        return np.concatenate([v.astype(np.float32) for v in vectors] or
                              [np.zeros((0, dim), np.float32)])


def _attach(g: dgl.DGLGraph, kinds: np.ndarray, name: str, values: np.ndarray) -> None:
    """Set per-entity ``values`` (entity order over the batch) as node data on each type."""
    import torch

    for t, ntype in enumerate(NODE_TYPES):
        g.nodes[ntype].data[name] = torch.from_numpy(np.ascontiguousarray(values[kinds == t]))
