"""Text encoders for the report-text baselines (ConVIRT / GLoRIA / CheXzero style).

Three report encoders stand in for the graph encoder, so that one training loop, one
image backbone and one budget compare *what the report side sees*:

* :class:`TransformerTextEncoder` -- a transformer trained from scratch on the reports,
  with its own word vocabulary (the CheXzero recipe of a text transformer trained with the
  image encoder, at a size the budget allows);
* :class:`BagOfWordsEncoder` -- an MLP over TF-IDF vectors: order-free, so "no left
  effusion" and "left effusion, no ..." look alike; the floor any structured encoder
  should beat;
* :class:`MiniLMEncoder` -- the pretrained MiniLM-L6 sentence encoder (ConVIRT/GLoRIA
  fine-tune a pretrained BERT), frozen or fine-tuned, loaded from a local directory.

Each maps a processed batch to ``[B, output_dim]``; :class:`graphclr.models.TextCLIP` adds the
projection into the shared space.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

__all__ = ["TransformerTextEncoder", "BagOfWordsEncoder", "MiniLMEncoder"]


class TransformerTextEncoder(nn.Module):
    r"""A transformer encoder over report tokens, read out at a learned [CLS] token.

    .. math::
        H^{(0)} = [e_{\mathrm{cls}};\, E[t_1];\, \dots;\, E[t_T]] + P_{0..T},\qquad
        H^{(\ell)} = \mathrm{TransformerLayer}(H^{(\ell-1)}, \text{mask}),\qquad
        z = \mathrm{LayerNorm}(H^{(L)}_0)

    with token embeddings :math:`E`, learned positions :math:`P`, pre-LayerNorm layers and
    a key-padding mask so padding never takes part in attention.

    Args:
        vocab_size: size of the word vocabulary (``<pad>`` = 0).
        width: model width ``d`` (the output dimension).
        layers, heads: transformer depth and attention heads.
        max_len: longest token sequence (positions are learned up to ``max_len + 1``).
        dropout: dropout in the layers.

    Examples:
        >>> enc = TransformerTextEncoder(vocab_size=50, width=32, layers=1, heads=2, max_len=16)
        >>> ids = torch.tensor([[5, 6, 7], [8, 0, 0]])
        >>> enc({"ids": ids, "padding_mask": ids == 0}).shape
        torch.Size([2, 32])
    """

    def __init__(self, vocab_size: int, width: int = 256, layers: int = 4, heads: int = 4,
                 max_len: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.output_dim = int(width)
        self.max_len = int(max_len)
        self.token = nn.Embedding(vocab_size, width, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(max_len + 1, width))
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        nn.init.normal_(self.token.weight, std=0.02)
        nn.init.normal_(self.position, std=0.01)
        nn.init.normal_(self.cls, std=0.02)
        with torch.no_grad():
            self.token.weight[0].zero_()

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, pad = batch["ids"], batch["padding_mask"]
        ids, pad = ids[:, : self.max_len], pad[:, : self.max_len]
        b, t = ids.shape
        x = torch.cat([self.cls.expand(b, 1, -1), self.token(ids)], dim=1) + self.position[: t + 1]
        mask = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=pad.device), pad], dim=1)
        x = self.transformer(x, src_key_padding_mask=mask)
        return self.norm(x[:, 0])


class BagOfWordsEncoder(nn.Module):
    r"""An MLP over L2-normalised TF-IDF vectors.

    .. math::
        z = W_2\, \mathrm{Dropout}(\mathrm{GELU}(W_1 v + b_1)) + b_2

    where :math:`v \in \mathbb{R}^{V}` is the report's TF-IDF vector
    (:class:`graphclr.text.tokenize.TfidfProcessor`).

    Examples:
        >>> enc = BagOfWordsEncoder(vocab_size=20, hidden=16, width=8)
        >>> enc(torch.rand(3, 20)).shape
        torch.Size([3, 8])
    """

    def __init__(self, vocab_size: int, hidden: int = 512, width: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.output_dim = int(width)
        self.mlp = nn.Sequential(nn.Linear(vocab_size, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, width))

    def forward(self, tfidf: torch.Tensor) -> torch.Tensor:
        return self.mlp(tfidf)


class MiniLMEncoder(nn.Module):
    r"""A pretrained sentence encoder (MiniLM-L6) with mean pooling over tokens.

    .. math::
        z = \frac{\sum_t m_t\, h_t}{\sum_t m_t}

    over the last hidden states :math:`h_t` and attention mask :math:`m_t` (the pooling of
    ``all-MiniLM-L6-v2``). Loaded with ``local_files_only=True`` from ``model_dir``: never a
    Hub download.

    Args:
        model_dir: local Hugging Face model directory.
        freeze: keep the pretrained weights fixed (only the projection learns); a frozen
            encoder also stays in eval mode (no dropout).
        cache_size: a frozen encoder maps a report to the same vector every time, so it
            keeps up to this many report vectors (keyed by their token ids) and runs the
            transformer only on reports it has not seen: pretraining for several epochs
            then costs one MiniLM pass per report instead of one per step. ``0`` disables.
    """

    def __init__(self, model_dir: str | os.PathLike[str], freeze: bool = True, cache_size: int = 100_000) -> None:
        super().__init__()
        from transformers import AutoModel

        self.model_dir = str(model_dir)
        self.freeze = bool(freeze)
        self.model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        self.output_dim = int(self.model.config.hidden_size)
        self.cache_size = int(cache_size) if self.freeze else 0
        self._cache: dict[bytes, torch.Tensor] = {}
        if self.freeze:
            self.model.requires_grad_(False)
            self.model.eval()

    def train(self, mode: bool = True) -> MiniLMEncoder:
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def _encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if not self.cache_size:
            return self._encode(ids, mask)
        keys = [row[m.bool()].cpu().numpy().tobytes() for row, m in zip(ids, mask)]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            sel = torch.tensor(todo, device=ids.device)
            width = int(mask[sel].sum(dim=1).max())
            with torch.no_grad():
                new = self._encode(ids[sel, :width], mask[sel, :width])
            for i, vec in zip(todo, new):
                if len(self._cache) < self.cache_size:
                    self._cache[keys[i]] = vec.detach()
                else:
                    break
            fresh = dict(zip(todo, new))
        else:
            fresh = {}
        return torch.stack([self._cache[k] if k in self._cache else fresh[i] for i, k in enumerate(keys)])
