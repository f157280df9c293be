"""Text towers: the typed ``text_cfg`` section and :func:`build_text_tower` (open_clip's
``_build_text_tower``).

A text model config (``graphclr/model_configs/text-*.json``) is a model config with
``"model_type": "text"`` and a ``text_cfg`` section read into :class:`TextTowerCfg`::

    {"model_type": "text", "embed_dim": 128,
     "text_cfg": {"encoder": "transformer", "width": 256, "layers": 4, "heads": 4,
                  "max_len": 128, "vocab_min_freq": 2, "vocab_max_size": 5000}}

The whole model (image tower, projections, temperature) is assembled by the one factory,
:func:`graphclr.models.create_model`; this module only builds the report-side pair
``(encoder, processor)``. It never imports :mod:`graphclr.models` (the factory imports it).

The from-scratch encoders' word vocabulary and IDF weights are *built from the training
reports* (``reports=``) the first time and written into the returned config
(``vocab``, ``idf``), so a checkpoint's config alone rebuilds the same processor.

Examples:
    >>> cfg = TextTowerCfg.from_dict({"encoder": "bow", "hidden": 8, "width": 4, "vocab_min_freq": 1})
    >>> tower = build_text_tower(cfg, reports=["no effusion .", "small effusion ."])
    >>> tower.encoder.output_dim, len(tower.vocab), tower.cfg.vocab is not None
    (4, 6, True)
    >>> TextTowerCfg.from_dict({"encoder": "lstm"}, where="my.json: text_cfg")
    Traceback (most recent call last):
    ValueError: my.json: text_cfg: encoder must be one of transformer, bow, minilm; got 'lstm'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphclr.nn._config import dataclass_from_dict

__all__ = ["TEXT_ENCODERS", "TextTowerCfg", "TextTower", "build_text_tower"]

#: text encoders a config can name in ``text_cfg.encoder``
TEXT_ENCODERS: tuple[str, ...] = ("transformer", "bow", "minilm")


@dataclass(frozen=True)
class TextTowerCfg:
    """The ``text_cfg`` section of a text model config.

    ``transformer`` uses ``width``, ``layers``, ``heads``, ``max_len``, ``dropout``; ``bow``
    uses ``hidden``, ``width``, ``dropout``; both build a vocabulary (``vocab_min_freq``,
    ``vocab_max_size``). ``minilm`` uses ``model_dir`` (``None``: the bundled MiniLM-L6),
    ``freeze`` and ``max_len``.
    """

    encoder: str                            #: one of TEXT_ENCODERS
    description: str = ""
    width: int = 256
    layers: int = 4
    heads: int = 4
    hidden: int = 512
    max_len: int = 128
    dropout: float = 0.1
    vocab_min_freq: int = 2
    vocab_max_size: int | None = 5000
    freeze: bool = True
    model_dir: str | None = None
    vocab: dict[str, Any] | None = None     #: the built vocabulary (``Vocabulary.to_dict``)
    idf: list[float] | None = None          #: ``bow``: the IDF weights from the training reports

    def __post_init__(self) -> None:
        if self.encoder not in TEXT_ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(TEXT_ENCODERS)}; got {self.encoder!r}")
        for name in ("width", "layers", "heads", "hidden", "max_len", "vocab_min_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "text_cfg") -> TextTowerCfg:
        """Read a ``text_cfg`` section strictly (an unknown or bad field names ``where``)."""
        return dataclass_from_dict(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict that :meth:`from_dict` reads back."""
        return dataclasses.asdict(self)


class TextTower(NamedTuple):
    """What :func:`build_text_tower` returns."""

    encoder: Any      #: an ``nn.Module`` from :mod:`graphclr.text.encoders` (has ``output_dim``)
    processor: Any    #: the picklable ``report_processor`` (reports -> the encoder's batch)
    vocab: Any        #: the word vocabulary (``None`` for ``minilm``)
    cfg: TextTowerCfg  #: the config with ``vocab`` / ``idf`` filled in


def _report_texts(reports: Sequence[Any]) -> list[str]:
    from graphclr.text.tokenize import report_text

    return [report_text(r) for r in reports]


def _vocabulary(cfg: TextTowerCfg, reports: Sequence[Any] | None, vocab: Any) -> Any:
    from graphclr.graphs.vocab import Vocabulary
    from graphclr.text.tokenize import build_vocabulary

    if vocab is not None:
        if cfg.vocab is not None and Vocabulary.from_dict(cfg.vocab) != vocab:
            raise ValueError("the vocabulary given differs from the one in text_cfg.vocab")
        return vocab
    if cfg.vocab is not None:
        return Vocabulary.from_dict(cfg.vocab)
    if reports is not None:
        return build_vocabulary(_report_texts(reports), min_freq=cfg.vocab_min_freq, max_size=cfg.vocab_max_size)
    raise ValueError(f"the {cfg.encoder!r} text encoder builds its vocabulary from the training reports: "
                     "pass reports=... (or use create_model_for(dataset, ...), or a config whose "
                     "text_cfg carries 'vocab')")


def build_text_tower(cfg: TextTowerCfg, *, reports: Sequence[Any] | None = None, vocab: Any = None) -> TextTower:
    """The text encoder and its processor for ``cfg``.

    Args:
        cfg: the tower config.
        reports: the training reports (text or ``ReportGraph``) the from-scratch encoders
            build their vocabulary (and TF-IDF weights) from; not needed when ``cfg``
            already carries them or ``vocab`` is given (a rebuilt checkpoint).
        vocab: the word vocabulary (a :class:`~graphclr.graphs.Vocabulary`).
    """
    import numpy as np

    from graphclr.text.encoders import BagOfWordsEncoder, MiniLMEncoder, TransformerTextEncoder
    from graphclr.text.tokenize import HFTokenProcessor, TfidfProcessor, TokenProcessor, default_minilm_dir

    if cfg.encoder == "minilm":
        model_dir = cfg.model_dir or str(default_minilm_dir())   # the default is found again at load
        return TextTower(MiniLMEncoder(model_dir, freeze=cfg.freeze),
                         HFTokenProcessor(model_dir, max_len=cfg.max_len), None, cfg)
    vocab = _vocabulary(cfg, reports, vocab)
    cfg = dataclasses.replace(cfg, vocab=vocab.to_dict())
    if cfg.encoder == "transformer":
        encoder: Any = TransformerTextEncoder(len(vocab), width=cfg.width, layers=cfg.layers, heads=cfg.heads,
                                              max_len=cfg.max_len, dropout=cfg.dropout)
        return TextTower(encoder, TokenProcessor(vocab, max_len=cfg.max_len), vocab, cfg)
    if cfg.idf is None:
        if reports is None:
            raise ValueError("the 'bow' encoder needs the training reports for its IDF weights")
        idf = TfidfProcessor.idf_from(_report_texts(reports), vocab)
        cfg = dataclasses.replace(cfg, idf=[round(float(v), 6) for v in idf])
    if len(cfg.idf) != len(vocab):
        raise ValueError(f"text_cfg.idf has {len(cfg.idf)} weights for a vocabulary of {len(vocab)} words")
    processor = TfidfProcessor(vocab, np.asarray(cfg.idf, dtype=np.float32))
    encoder = BagOfWordsEncoder(len(vocab), hidden=cfg.hidden, width=cfg.width, dropout=cfg.dropout)
    return TextTower(encoder, processor, vocab, cfg)
