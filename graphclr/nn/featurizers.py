r"""Node featurizers: from a report graph's node data to the first RGCN layer's input.

Three pluggable featurizers map node ``v`` (an entity with tokens :math:`t_1..t_n` and a
6-way type :math:`\tau_v` = kind x certainty) to a vector :math:`x_v`:

* :class:`TokenFeaturizer` -- learned token embeddings, mean over the entity's tokens,
  plus a learned type embedding:
  :math:`x_v = \frac{1}{n}\sum_i E[t_i] + T[\tau_v]`.
  Tokens are vocabulary ids (``ndata["tokens"]``, 0-padded); unseen words are ``<unk>``.
* :class:`HashedNgramFeaturizer` -- the same with fastText-style hashed character n-grams
  instead of vocabulary ids, so unseen and misspelt words still share n-grams with known
  ones: :math:`x_v = \frac{1}{|G_v|}\sum_{g \in G_v} E[h(g)] + T[\tau_v]`, where
  :math:`G_v` holds ``<word>`` and its character n-grams and :math:`h` is a stable
  (CRC-32) hash into ``num_buckets``. The n-gram ids are computed from the entity text by
  the model's report processor (:func:`~graphclr.graphs.features.hashed_ngram_ids`) into
  ``ndata["ngrams"]``.
* :class:`PretrainedTextFeaturizer` -- what the reference implementation did: a frozen
  pretrained text encoder embeds the whole report, the last four hidden layers are
  summed, word pieces are summed into words, the entity vector is the mean of its words,
  and a one-hot of the entity type is appended:
  :math:`x_v = [\frac{1}{|S_v|}\sum_{w \in S_v} \sum_{l=L-3}^{L} H^{(l)}_w \,\|\, \mathrm{onehot}(\tau_v)]`.
  The span vectors are computed (and cached) outside the model by
  :class:`graphclr.graphs.text_spans.SpanEmbedder` into ``ndata["text_emb"]``; the featurizer
  only appends the type one-hot, so training never runs the text model.

Each featurizer takes the node data of a :class:`~graphclr.graphs.ReportBatch` (the batch,
a DGL graph with that ``ndata``, or a mapping of the tensors) and returns ``[N, out_dim]``.

:data:`REGISTRY` pairs each featurizer's name with its data-side encoder
(:mod:`graphclr.graphs.features`, held by the report processor) and this module's
``nn`` class; adding a featurizer means one entry here plus its config fields.

Examples:
    >>> import torch, dgl
    >>> g = dgl.graph(([], []), num_nodes=2)
    >>> g.ndata["tokens"] = torch.tensor([[2, 3, 0], [4, 0, 0]])
    >>> g.ndata["entity_type"] = torch.tensor([0, 3])
    >>> f = TokenFeaturizer(vocab_size=5, dim=8)
    >>> f(g).shape
    torch.Size([2, 8])
    >>> hashed_ngram_ids("Effusion", num_buckets=1000)[:3]
    [28, 666, 702]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from graphclr.constants import NUM_ENTITY_TYPES
from graphclr.graphs.features import (
    HashedNgrams,
    NodeFeatures,
    TextSpans,
    TokenIds,
    hashed_ngram_ids,
    pad_ragged,
)

if TYPE_CHECKING:  # pragma: no cover
    import dgl

__all__ = ["node_data", "TokenFeaturizer", "HashedNgramFeaturizer", "PretrainedTextFeaturizer",
           "hashed_ngram_ids", "pad_ragged", "Featurizer", "REGISTRY", "FEATURIZERS"]


def node_data(g: Any) -> Mapping[str, torch.Tensor]:
    """``g.ndata`` for a DGL graph, ``g`` itself for a mapping of node tensors."""
    return g.ndata if hasattr(g, "ndata") else g


class _BagFeaturizer(nn.Module):
    """Mean of learned embeddings of the ids in ``ndata[key]`` plus an entity-type embedding."""

    key = "tokens"
    hint = ""

    def __init__(self, rows: int, dim: int, num_types: int) -> None:
        super().__init__()
        self.out_dim = dim
        self.requires: tuple[str, ...] = (self.key, "entity_type")
        self.table = nn.Embedding(rows, dim, padding_idx=0)
        self.type_emb = nn.Embedding(num_types, dim)
        nn.init.normal_(self.table.weight, std=dim ** -0.5)
        nn.init.normal_(self.type_emb.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.table.weight[0].zero_()

    def _ids(self, g: dgl.DGLGraph | Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        nd = node_data(g)
        if self.key not in nd:
            raise KeyError(f"{type(self).__name__} needs ndata[{self.key!r}]{self.hint}")
        return nd[self.key], nd["entity_type"]

    def forward(self, g: dgl.DGLGraph | Mapping[str, torch.Tensor]) -> torch.Tensor:
        ids, types = self._ids(g)
        if ids.shape[0] == 0:
            return self.type_emb.weight.new_zeros((0, self.out_dim))
        bag = F.embedding_bag(ids, self.table.weight, mode="mean", padding_idx=0)
        return bag + self.type_emb(types)

    def bags(self, g: dgl.DGLGraph | Mapping[str, torch.Tensor]) -> Any:
        """The same features as a :class:`~graphclr.nn.rgcn.BagInput` over the batch's
        distinct ids, so the first graph layer can transform those instead of every node."""
        from graphclr.nn.rgcn import BagInput

        ids, types = self._ids(g)
        uniq, inverse = torch.unique(torch.cat([ids.new_zeros(1), ids.flatten()]), return_inverse=True)
        return BagInput(self.table.weight.index_select(0, uniq), inverse[1:].view_as(ids),
                        self.type_emb.weight, types)


class TokenFeaturizer(_BagFeaturizer):
    """Mean of learned token embeddings plus a learned entity-type embedding.

    Args:
        vocab_size: ``len(vocab)``; id 0 is padding and never contributes.
        dim: output width.
        num_types: entity types (6: anatomy/observation x present/absent/uncertain).
    """

    key = "tokens"

    def __init__(self, vocab_size: int, dim: int, num_types: int = NUM_ENTITY_TYPES) -> None:
        if vocab_size < 2:
            raise ValueError("vocab_size must count <pad> and <unk> (>= 2)")
        super().__init__(vocab_size, dim, num_types)


class HashedNgramFeaturizer(_BagFeaturizer):
    """Mean of hashed character n-gram embeddings plus a learned entity-type embedding.

    Args:
        num_buckets: hash buckets (ids ``1..num_buckets``; 0 pads).
        dim: output width.
        num_types: entity types.
        n_min, n_max, max_ngrams: see :func:`hashed_ngram_ids` (used by the processor).
    """

    key = "ngrams"
    hint = ": batch the reports with the model's report_processor"

    def __init__(self, num_buckets: int, dim: int, num_types: int = NUM_ENTITY_TYPES, *,
                 n_min: int = 3, n_max: int = 5, max_ngrams: int = 64) -> None:
        super().__init__(num_buckets + 1, dim, num_types)
        self.num_buckets = num_buckets
        self.n_min, self.n_max, self.max_ngrams = n_min, n_max, max_ngrams

    def ids(self, text: str) -> list[int]:
        """The n-gram ids of one entity's text, with this featurizer's settings."""
        return hashed_ngram_ids(text, self.num_buckets, self.n_min, self.n_max, self.max_ngrams)


class PretrainedTextFeaturizer(nn.Module):
    """Precomputed span embeddings (``ndata["text_emb"]``) concatenated with a type one-hot.

    Args:
        text_dim: width of the span embeddings (384 for MiniLM-L6, 768 for BERT-base).
        num_types: entity types; ``out_dim = text_dim + num_types``.
    """

    requires: tuple[str, ...] = ("text_emb", "entity_type")

    def __init__(self, text_dim: int, num_types: int = NUM_ENTITY_TYPES) -> None:
        super().__init__()
        self.text_dim = text_dim
        self.num_types = num_types
        self.out_dim = text_dim + num_types

    def forward(self, g: dgl.DGLGraph | Mapping[str, torch.Tensor]) -> torch.Tensor:
        nd = node_data(g)
        if "text_emb" not in nd:
            raise KeyError("PretrainedTextFeaturizer needs ndata['text_emb']: batch ReportGraphs "
                           "(with text) through the model's report_processor")
        emb = nd["text_emb"].float()
        if emb.shape[1] != self.text_dim:
            raise ValueError(f"text_emb has width {emb.shape[1]}, the featurizer expects "
                             f"{self.text_dim}")
        onehot = F.one_hot(nd["entity_type"], self.num_types).to(emb.dtype)
        return torch.cat([emb, onehot], 1)


@dataclass(frozen=True)
class Featurizer:
    """A registered featurizer: its data-side encoder class and a builder of its module
    from ``(graph config, vocab_size, **data_side.module_kwargs())``."""

    data: type[NodeFeatures]
    module: type[nn.Module]
    build: Callable[..., nn.Module]


def _tokens(cfg: Any, vocab_size: int | None, **_: Any) -> nn.Module:
    if vocab_size is None:
        raise ValueError("the 'tokens' featurizer needs vocab_size (pass a vocabulary)")
    return TokenFeaturizer(vocab_size, cfg.feature_dim)


def _hashed(cfg: Any, vocab_size: int | None, **_: Any) -> nn.Module:
    return HashedNgramFeaturizer(cfg.hash_buckets, cfg.feature_dim, n_min=cfg.ngram_min,
                                 n_max=cfg.ngram_max, max_ngrams=cfg.max_ngrams)


def _text(cfg: Any, vocab_size: int | None, text_dim: int | None = None, **_: Any) -> nn.Module:
    if text_dim is None:
        raise ValueError("the 'text' featurizer needs text_dim (the span-embedding width)")
    return PretrainedTextFeaturizer(text_dim)


#: featurizer name (``graph_cfg.featurizer``) -> its data side and module
REGISTRY: dict[str, Featurizer] = {
    "tokens": Featurizer(TokenIds, TokenFeaturizer, _tokens),
    "hashed": Featurizer(HashedNgrams, HashedNgramFeaturizer, _hashed),
    "text": Featurizer(TextSpans, PretrainedTextFeaturizer, _text),
}
#: featurizer name -> its module class
FEATURIZERS = {name: f.module for name, f in REGISTRY.items()}
