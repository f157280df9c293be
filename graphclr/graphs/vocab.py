"""Token vocabulary for entity text.

Node token ids come from a vocabulary built on the training graphs. Tokens are
lower-cased; ids 0 and 1 are reserved for padding and unknown tokens, so a model trained
with one vocabulary maps any unseen word to ``<unk>`` instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from graphclr.reports.schema import ReportGraph
from graphclr.utils import atomic_write

__all__ = ["Vocabulary", "PAD", "UNK", "normalize_token"]

PAD = "<pad>"
UNK = "<unk>"
_FORMAT = "graphclr-vocab/1"


def normalize_token(token: str) -> str:
    """Lower-case a token; the single normalisation applied before lookup."""
    return token.lower()


class Vocabulary:
    """A token <-> id map with reserved ``<pad>`` (0) and ``<unk>`` (1).

    Examples:
        >>> vocab = Vocabulary.build([["Left", "effusion"], ["effusion"]])
        >>> vocab.lookup(["effusion", "left", "pneumothorax"])
        [2, 3, 1]
        >>> len(vocab)
        4
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {tokens[:2]!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], *, min_freq: int = 1,
              max_size: int | None = None) -> Vocabulary:
        """Count normalised tokens and keep those seen ``min_freq`` times or more.

        Ties in frequency break alphabetically, so the same corpus always gives the same
        ids whatever its order.
        """
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(normalize_token(t) for t in tokens)
        for special in (PAD, UNK):
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([PAD, UNK, *kept])

    @classmethod
    def from_graphs(cls, graphs: Iterable[ReportGraph], *, min_freq: int = 1,
                    max_size: int | None = None) -> Vocabulary:
        """Build from the entity tokens of report graphs."""
        return cls.build((e.tokens.split() for g in graphs for e in g.entities),
                         min_freq=min_freq, max_size=max_size)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return normalize_token(token) in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, sha1={self.fingerprint[:10]})"

    def lookup(self, tokens: Iterable[str]) -> list[int]:
        stoi, unk = self.stoi, self.unk_id
        return [stoi.get(normalize_token(t), unk) for t in tokens]

    @property
    def fingerprint(self) -> str:
        """A hash of the token list, stored in checkpoints to catch vocabulary mix-ups."""
        return hashlib.sha1("\n".join(self.itos).encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "tokens": self.itos}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        if data.get("format") != _FORMAT or not isinstance(data.get("tokens"), list):
            raise ValueError(f"not a graphclr vocabulary (expected format {_FORMAT!r})")
        return cls(data["tokens"])

    def save(self, path: str | os.PathLike[str]) -> None:
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (json.JSONDecodeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None
