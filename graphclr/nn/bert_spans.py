r"""The reference IGCL node features: ``bert-base-uncased`` entity-span vectors + a 4-way type.

What rajpurkarlab/IGCL (``gen_word_embedding.py``, ``collect_bert_embedding_tu.py``) did,
reproduced from a local model directory (nothing is downloaded):

1. the whole report becomes ``"[CLS] " + text + " [SEP]"``, split into words on spaces
   (graphclr joins ``text.split()`` with single spaces first; RadGraph texts already are);
2. each word is word-piece tokenized on its own; a report under ``max_seq_len`` (512)
   pieces is one BERT pass. Longer reports take the reference's two windows: the first
   holds words ``0..L`` plus one more token, the second one token plus words ``F..end``
   (``L``, ``F`` the last/first words that fit, counting forward/backward); words
   ``0..L`` come from the first window, the rest from the second. The extra tokens are
   the strings ``" [SEP]"`` and ``"[CLS] "``, which are not in BERT's vocabulary, so the
   reference fed ``[UNK]`` there; so does this module;
3. the last 4 hidden layers are summed, :math:`s_p = \sum_{l=L-3}^{L} H^{(l)}_p`, and
   word pieces are summed per word, :math:`w_j = \sum_{p \in j} s_p`;
4. entity :math:`v` with span ``[start_ix, end_ix]`` (indices into the report's words)
   gets the mean :math:`e_v = \frac{1}{|S_v|}\sum_{j=start}^{end} w_{j+1}` -- the +1
   skips the ``[CLS]`` row;
5. the node feature is :math:`x_v = [e_v \,\|\, \mathrm{onehot}_4(\tau_v)]` (772-d for
   BERT-base) with the reference's type order ``OBS-DP, OBS-DA, OBS-U, ANAT-DP``
   (:data:`REFERENCE_TYPE_ORDER`; anatomy of any certainty is ``ANAT-DP``, as in
   RadGraph v1).

Segment ids: the reference builds all-ones "segment ids" but passes them as BertModel's
*second positional* argument, which is ``attention_mask``; the token type ids it actually
ran with are BERT's default 0. ``token_type_id`` (default 0) reproduces that; set 1 for
what the code comments intended.

Windows are batched with padding and an attention mask (equal to the reference's
one-at-a-time passes to float tolerance). Vectors are cached like
:class:`~graphclr.nn.text_spans.SpanEmbedder`'s (the cache key includes this recipe).

Examples:
    >>> import torch
    >>> reference_type_onehot(torch.tensor([0, 3, 4, 5])).tolist()   # ANAT-DP OBS-DP OBS-DA OBS-U
    [[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    >>> reference_windows([1, 1, 1, 1, 1, 1, 1, 1], max_seq_len=8)   # (L, F): words 0..5, 2..7
    (5, 2)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import torch

from graphclr.graphs.text_spans import SpanEmbedder

__all__ = ["REFERENCE_TYPE_ORDER", "reference_type_onehot", "reference_windows",
           "BertSpanEmbedder"]

#: The reference's 4-way entity-type one-hot order (its ``nodetype2idx``).
REFERENCE_TYPE_ORDER: tuple[str, ...] = ("OBS-DP", "OBS-DA", "OBS-U", "ANAT-DP")
# graphclr's 6-way entity_type (kind * 3 + certainty; anatomy 0-2, observation 3-5) -> 4-way
_SIX_TO_FOUR = torch.tensor([3, 3, 3, 0, 1, 2])


def reference_type_onehot(entity_type: torch.Tensor) -> torch.Tensor:
    """``[N, 4]`` one-hot in :data:`REFERENCE_TYPE_ORDER` from graphclr's 6-way ``entity_type``."""
    idx = _SIX_TO_FOUR.to(entity_type.device)[entity_type]
    return torch.nn.functional.one_hot(idx, 4).float()


def reference_windows(pieces_per_word: Sequence[int], max_seq_len: int = 512) -> tuple[int, int] | None:
    """``None`` if the words fit one pass, else the reference's ``(L, F)`` (see module doc).

    ``pieces_per_word`` counts the ``[CLS]`` and ``[SEP]`` words too.
    """
    if sum(pieces_per_word) < max_seq_len:
        return None
    fwd = np.cumsum(pieces_per_word)
    last = int((fwd < max_seq_len).sum()) - 2
    bwd = np.cumsum(pieces_per_word[::-1])
    first = len(pieces_per_word) - (int((bwd < max_seq_len).sum()) - 1)
    if last <= 0 or last <= first:
        raise ValueError(f"max_seq_len={max_seq_len} is too short for the reference's two "
                         "overlapping windows")
    return last, first


class BertSpanEmbedder(SpanEmbedder):
    """Reference IGCL span vectors from a local BERT directory (see the module doc).

    Args:
        model_dir: local Hugging Face BERT directory (``bert-base-uncased`` in the reference).
        max_seq_len: pieces per pass (512, capped by the model's position embeddings).
        token_type_id: token type of every piece (the reference ran with 0, see module doc).
        batch_size, cache_dir, dtype: as :class:`~graphclr.nn.text_spans.SpanEmbedder`.
    """

    def __init__(self, model_dir: str | os.PathLike[str], *, max_seq_len: int = 512,
                 token_type_id: int = 0, batch_size: int = 16,
                 cache_dir: str | os.PathLike[str] | None = None, dtype: str = "float32") -> None:
        super().__init__(model_dir, layers=4, batch_size=batch_size, cache_dir=cache_dir, dtype=dtype)
        self.max_seq_len = min(max_seq_len, self.max_positions)
        self.token_type_id = token_type_id
        recipe = f"{self.fingerprint}|igcl-bert|{self.max_seq_len}|{token_type_id}"
        self.fingerprint = hashlib.sha1(recipe.encode()).hexdigest()

    def _windows(self, words: list[str]) -> list[tuple[list[int], list[int], int, int]]:
        """``(ids, row of each id, first word kept, words kept)`` per BERT pass."""
        tok = self._tokenizer
        pieces = [[tok.cls_token_id]] + [tok.convert_tokens_to_ids(tok.tokenize(w)) for w in words]
        pieces.append([tok.sep_token_id])
        rows = [[j] * len(p) for j, p in enumerate(pieces)]
        split = reference_windows([len(p) for p in pieces], self.max_seq_len)
        flat = [i for p in pieces for i in p]
        if split is None:
            return [(flat, [r for rs in rows for r in rs], 0, len(pieces))]
        last, first = split
        unk = tok.unk_token_id
        ids1 = [i for p in pieces[: last + 1] for i in p] + [unk]
        rows1 = [r for rs in rows[: last + 1] for r in rs] + [last + 1]
        ids2 = [unk] + [i for p in pieces[first:] for i in p]
        rows2 = [first - 1] + [r for rs in rows[first:] for r in rs]
        return [(ids1, rows1, 0, last + 1), (ids2, rows2, last + 1, len(pieces) - last - 1)]

    def reference_word_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``[len(words) + 2, dim]`` per text: rows ``[CLS]``, the words, ``[SEP]``."""
        self._load()
        jobs = []                                   # (text index, ids, rows, first, count)
        out = []
        for ti, text in enumerate(texts):
            words = text.split()
            out.append(np.zeros((len(words) + 2, self.dim), dtype=np.float32))
            jobs += [(ti, *w) for w in self._windows(words)]
        for b in range(0, len(jobs), self.batch_size):
            batch = jobs[b: b + self.batch_size]
            width = max(len(j[1]) for j in batch)
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros(len(batch), width, dtype=torch.long)
            for r, job in enumerate(batch):
                ids[r, : len(job[1])] = torch.tensor(job[1])
                mask[r, : len(job[1])] = 1
            types = torch.full_like(ids, self.token_type_id)
            with torch.inference_mode():
                hidden = self._model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                                     output_hidden_states=True).hidden_states
            summed = torch.stack(hidden[-4:], 0).sum(0)          # [B, T, D]
            for r, (ti, job_ids, job_rows, first, count) in enumerate(batch):
                # rows are relative to the window's first row (which is first - 1 for
                # the second window's leading [UNK]): sum pieces per word
                base = job_rows[0]
                idx = torch.tensor(job_rows) - base
                size = max(int(idx.max()) + 1, first - base + count)
                words = torch.zeros(size, self.dim).index_add_(
                    0, idx, summed[r, : len(job_ids)])
                keep = words[first - base: first - base + count]
                out[ti][first: first + count] = keep.numpy()
        return out

    def word_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``[len(text.split()), dim]`` per text (the reference rows without [CLS]/[SEP])."""
        return [v[1:-1] for v in self.reference_word_vectors(texts)]
