"""Report-text towers for the text baselines: encoders, tokenisers and the typed ``text_cfg``.

* :class:`TransformerTextEncoder` -- from scratch, own word vocabulary;
* :class:`BagOfWordsEncoder` -- MLP over TF-IDF;
* :class:`MiniLMEncoder` -- pretrained MiniLM-L6 from a local directory, frozen or fine-tuned.

:func:`build_text_tower` turns a :class:`TextTowerCfg` into ``(encoder, processor)``. The
whole model (``TextCLIP``, :mod:`graphclr.models.text_clip`) is built by the one factory,
:func:`graphclr.models.create_model`, from the shipped configs (``text-transformer``,
``text-bow``, ``text-minilm``, ...) in the one registry (:func:`graphclr.models.list_models`).
This package never imports :mod:`graphclr.models`; ``graphclr.text.TextCLIP``,
``build_text_model``, ``list_text_configs`` and ``load_text_config`` still resolve, with a
DeprecationWarning (:mod:`graphclr._compat`). Importing this package imports torch.
"""

from graphclr._compat import moved_names_getattr
from graphclr.text.encoders import BagOfWordsEncoder, MiniLMEncoder, TransformerTextEncoder
from graphclr.text.tokenize import (
    HFTokenProcessor,
    TfidfProcessor,
    TokenProcessor,
    build_vocabulary,
    default_minilm_dir,
    report_text,
    tokenize_report,
)
from graphclr.text.tower import TEXT_ENCODERS, TextTower, TextTowerCfg, build_text_tower

__getattr__ = moved_names_getattr(__name__)

__all__ = [
    "BagOfWordsEncoder", "HFTokenProcessor", "MiniLMEncoder", "TEXT_ENCODERS", "TextTower",
    "TextTowerCfg", "TfidfProcessor", "TokenProcessor", "TransformerTextEncoder",
    "build_text_tower", "build_vocabulary", "default_minilm_dir", "report_text", "tokenize_report",
]
