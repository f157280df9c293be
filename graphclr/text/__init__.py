"""Report-text baselines (``TextCLIP``): the same contract, loop and budget as ``GraphCLIP``.

* :class:`TransformerTextEncoder` -- from scratch, own word vocabulary;
* :class:`BagOfWordsEncoder` -- MLP over TF-IDF;
* :class:`MiniLMEncoder` -- pretrained MiniLM-L6 from a local directory, frozen or fine-tuned.

Configs: ``graphclr/text/configs/*.json`` (:func:`list_text_configs`); built by
:func:`build_text_model`, which ``graphclr.models``' factory calls for
``"model_type": "text"``. Importing this package imports torch.
"""

from graphclr.text.encoders import BagOfWordsEncoder, MiniLMEncoder, TransformerTextEncoder
from graphclr.text.factory import TEXT_ENCODERS, build_text_model, list_text_configs, load_text_config
from graphclr.text.text_clip import TextCLIP
from graphclr.text.tokenize import (
    HFTokenProcessor,
    TfidfProcessor,
    TokenProcessor,
    build_vocabulary,
    default_minilm_dir,
    report_text,
    tokenize_report,
)

__all__ = [
    "BagOfWordsEncoder", "HFTokenProcessor", "MiniLMEncoder", "TEXT_ENCODERS", "TextCLIP",
    "TfidfProcessor", "TokenProcessor", "TransformerTextEncoder", "build_text_model",
    "build_vocabulary", "default_minilm_dir", "list_text_configs", "load_text_config",
    "report_text", "tokenize_report",
]
