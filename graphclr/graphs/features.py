r"""The data side of the node featurizers: extra node data a featurizer needs, per entity.

Each featurizer of the graph encoder is a pair (see :data:`graphclr.nn.featurizers.REGISTRY`):
a data-side encoder here, held by the model's report processor (plain, picklable, runs in
data-loader workers), and an ``nn`` module that turns the batch's node data into the
first layer's input.

* :class:`TokenIds` (``"tokens"``): nothing extra -- the vocabulary ids are in every batch.
* :class:`HashedNgrams` (``"hashed"``): ``ngrams``, fastText-style hashed character
  n-grams of each entity's words (:func:`hashed_ngram_ids`), 0-padded.
* :class:`TextSpans` (``"text"``): ``text_emb``, each entity's span vector from a frozen
  local text encoder (:class:`~graphclr.graphs.text_spans.SpanEmbedder`, cached).

A data-side encoder takes the featurizer part of the graph config (``cfg``) and the
vocabulary; :meth:`NodeFeatures.node_data` returns ``{name: [entities, ...] array}`` in
entity order over the batch, and :meth:`NodeFeatures.module_kwargs` what the ``nn``
module needs to know of it (the span width).

Examples:
    >>> hashed_ngram_ids("Effusion", num_buckets=1000)[:3]
    [28, 666, 702]
    >>> pad_ragged([[3, 4], [5]]).tolist()
    [[3, 4], [5, 0]]
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphclr.graphs.arrays import GraphArrays
from graphclr.graphs.vocab import Vocabulary
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    from graphclr.graphs.text_spans import SpanEmbedder

__all__ = ["NodeFeatures", "TokenIds", "HashedNgrams", "TextSpans", "hashed_ngram_ids", "pad_ragged"]


def hashed_ngram_ids(text: str, num_buckets: int, n_min: int = 3, n_max: int = 5,
                     max_ngrams: int = 64) -> list[int]:
    """Hashed ids (``1..num_buckets``; 0 is padding) of an entity's words and their n-grams.

    Each lower-cased word ``w`` contributes ``<w>`` and every character n-gram of ``<w>``
    with ``n_min <= n <= n_max`` (fastText). CRC-32 keeps ids stable across processes and
    machines (Python's ``hash`` is salted per process). At most ``max_ngrams`` ids, the
    whole words first.
    """
    words = [f"<{w}>" for w in text.lower().split()] or ["<>"]
    grams = list(words)
    for w in words:
        for n in range(n_min, n_max + 1):
            grams.extend(w[i: i + n] for i in range(len(w) - n + 1) if w[i: i + n] != w)
    return [zlib.crc32(g.encode("utf-8")) % num_buckets + 1 for g in grams[:max_ngrams]]


def pad_ragged(rows: Sequence[Sequence[int]], width: int | None = None) -> np.ndarray:
    """Right-pad integer rows with 0 into an ``int64`` matrix (at least one column)."""
    width = max([len(r) for r in rows] + [1]) if width is None else width
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r[:width]
    return out


class NodeFeatures:
    """Base data-side encoder: no extra node data (see module doc)."""

    #: the featurizer needs a vocabulary (its ids index the model's embedding table)
    needs_vocab = False

    def __init__(self, cfg: Any, vocab: Vocabulary | None = None) -> None:
        self.cfg = cfg
        self.vocab = vocab

    def node_data(self, reports: Sequence[ReportGraph | GraphArrays]) -> dict[str, np.ndarray]:
        """Extra per-entity node data of a batch, in entity order over the batch."""
        return {}

    def precompute(self, reports: Sequence[ReportGraph], *, progress: bool = True) -> int:
        """Fill any cache before training; returns how many reports were computed."""
        return 0

    def module_kwargs(self) -> dict[str, Any]:
        """Keyword arguments the ``nn`` featurizer needs from the data side."""
        return {}


class TokenIds(NodeFeatures):
    """``"tokens"``: vocabulary ids, already in every batch."""

    needs_vocab = True


class HashedNgrams(NodeFeatures):
    """``"hashed"``: ``ngrams`` of each entity (``cfg.hash_buckets``, ``ngram_min/max``,
    ``max_ngrams``)."""

    def node_data(self, reports: Sequence[ReportGraph | GraphArrays]) -> dict[str, np.ndarray]:
        cfg = self.cfg
        rows: list[list[int]] = []
        for r in reports:
            if isinstance(r, ReportGraph):
                texts = [e.tokens for e in r.entities]
            else:   # GraphArrays carry vocabulary ids only: unknown words come back as <unk>
                itos = self.vocab.itos if self.vocab is not None else None
                texts = [" ".join(itos[t] if itos else "<unk>" for t in row[:n])
                         for row, n in zip(r.tokens.tolist(), r.num_tokens.tolist())]
            rows.extend(hashed_ngram_ids(t, cfg.hash_buckets, cfg.ngram_min, cfg.ngram_max,
                                         cfg.max_ngrams) for t in texts)
        return {"ngrams": pad_ragged(rows)}


class TextSpans(NodeFeatures):
    """``"text"``: ``text_emb`` span vectors (``cfg.text_model``, ``cfg.text_layers``)."""

    def __init__(self, cfg: Any, vocab: Vocabulary | None = None) -> None:
        super().__init__(cfg, vocab)
        self._embedder: SpanEmbedder | None = None

    @property
    def embedder(self) -> SpanEmbedder:
        """The span embedder (created on first use; it loads its encoder lazily)."""
        if self._embedder is None:
            from graphclr.graphs.text_spans import SpanEmbedder

            self._embedder = SpanEmbedder(self.cfg.text_model, layers=self.cfg.text_layers)
        return self._embedder

    @embedder.setter
    def embedder(self, value: SpanEmbedder) -> None:
        self._embedder = value

    def node_data(self, reports: Sequence[ReportGraph | GraphArrays]) -> dict[str, np.ndarray]:
        for i, r in enumerate(reports):
            if not isinstance(r, ReportGraph):
                raise TypeError(f"report {i}: the 'text' featurizer needs ReportGraph objects "
                                "(with their text), not GraphArrays")
        vectors = self.embedder(list(reports))
        dim = self.embedder.dim
        return {"text_emb": np.concatenate([v.astype(np.float32) for v in vectors] or
                                           [np.zeros((0, dim), np.float32)])}

    def precompute(self, reports: Sequence[ReportGraph], *, progress: bool = True) -> int:
        return self.embedder.precompute(reports, progress=progress)

    def module_kwargs(self) -> dict[str, Any]:
        return {"text_dim": self.embedder.dim}
