"""Build text baselines from small JSON configs (``graphclr/text/configs/*.json``).

A text config is a model config with ``"model_type": "text"``::

    {"model_type": "text", "embed_dim": 128,
     "text_cfg": {"encoder": "transformer", "width": 256, "layers": 4, "heads": 4,
                  "max_len": 128, "vocab_min_freq": 2, "vocab_max_size": 5000}}

``image_cfg`` (and ``embed_dim``) can be left out: the benchmark runner fills them from the
graph model it compares against, so every encoder gets the same image tower. The factory in
:mod:`graphclr.models` calls :func:`build_text_model` for ``model_type == "text"``.

The vocabulary and IDF weights are *built from the training reports* (``reports=``) the
first time and then written into the returned model's ``config`` (``text_cfg.vocab``,
``text_cfg.idf``), so a checkpoint's config alone rebuilds the same processor.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["TEXT_ENCODERS", "build_text_model", "list_text_configs", "load_text_config"]

log = logging.getLogger(__name__)

_CONFIG_DIR = Path(__file__).parent / "configs"
#: text encoders a config can name in ``text_cfg.encoder``
TEXT_ENCODERS: tuple[str, ...] = ("transformer", "bow", "minilm")


def list_text_configs() -> list[str]:
    """Names of the shipped text-baseline configs."""
    return sorted(p.stem for p in _CONFIG_DIR.glob("*.json"))


def load_text_config(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """A shipped config by name (``text-transformer``, ...) or a JSON file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = _CONFIG_DIR / f"{name_or_path}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no text config {str(name_or_path)!r}; shipped: {', '.join(list_text_configs())}")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if cfg.get("model_type") != "text":
        raise ValueError(f"{path}: field 'model_type' must be 'text'; got {cfg.get('model_type')!r}")
    return cfg


def _report_texts(reports: Sequence[Any]) -> list[str]:
    from graphclr.text.tokenize import report_text

    return [report_text(r) for r in reports]


def _preprocess_of(tower: Any) -> dict[str, Any]:
    """The tower's preprocessing: ``ImageEncoder.cfg.preprocess_cfg()`` or ``.preprocess_cfg``."""
    cfg = getattr(tower, "cfg", None)
    if cfg is not None and hasattr(cfg, "preprocess_cfg"):
        return dict(cfg.preprocess_cfg())
    pre = getattr(tower, "preprocess_cfg", None)
    return dict(pre() if callable(pre) else (pre or {}))


def _image_tower(cfg: Mapping[str, Any], visual: Any) -> tuple[Any, int, dict[str, Any]]:
    """``(visual, visual_dim, preprocess_cfg)``, built from ``image_cfg`` unless given."""
    if visual is None:
        image_cfg = cfg.get("image_cfg")
        if image_cfg is None:
            raise ValueError("text model config has no 'image_cfg': give one (or let the benchmark "
                             "runner copy the graph model's) so both kinds of model get the same "
                             "image tower")
        from graphclr.models.image import create_image_encoder

        visual = create_image_encoder(dict(image_cfg))
    return visual, int(visual.output_dim), _preprocess_of(visual)


def build_text_model(cfg: Mapping[str, Any], *, reports: Sequence[Any] | None = None,
                     vocab: Any = None, visual: Any = None, **overrides: Any) -> Any:
    """Build a :class:`~graphclr.text.TextCLIP` from a config dict.

    Args:
        cfg: the config (see module doc); not modified.
        reports: the training reports (text or ``ReportGraph``) the from-scratch encoders
            build their vocabulary (and TF-IDF weights) from. Needed unless ``text_cfg``
            already carries ``vocab`` or ``vocab`` is given (a rebuilt checkpoint).
        vocab: the word vocabulary (a :class:`~graphclr.graphs.Vocabulary`, as
            :func:`graphclr.models.create_model` passes back from a checkpoint).
        visual: an image tower to use instead of building one from ``image_cfg``.
        **overrides: top-level config keys to replace (``embed_dim``, ``image_cfg``);
            ``None`` values are ignored.

    Returns:
        the model; ``model.config`` is the complete config, vocabulary included.
    """
    from graphclr.graphs.vocab import Vocabulary
    from graphclr.text.encoders import BagOfWordsEncoder, MiniLMEncoder, TransformerTextEncoder
    from graphclr.text.text_clip import TextCLIP
    from graphclr.text.tokenize import (
        HFTokenProcessor,
        TfidfProcessor,
        TokenProcessor,
        build_vocabulary,
        default_minilm_dir,
    )

    cfg = copy.deepcopy(dict(cfg))
    for key in ("embed_dim", "image_cfg"):
        if overrides.get(key) is not None:
            cfg[key] = overrides[key]
    if cfg.get("model_type", "text") != "text":
        raise ValueError(f"build_text_model needs model_type 'text'; got {cfg.get('model_type')!r}")
    cfg["model_type"] = "text"
    tcfg = dict(cfg.get("text_cfg") or {})
    kind = tcfg.get("encoder")
    if kind not in TEXT_ENCODERS:
        raise ValueError(f"text_cfg.encoder must be one of {', '.join(TEXT_ENCODERS)}; got {kind!r}")
    if "embed_dim" not in cfg:
        raise ValueError("text model config needs 'embed_dim'")
    visual, vdim, preprocess = _image_tower(cfg, visual)

    if kind in ("transformer", "bow"):
        if vocab is not None:
            if tcfg.get("vocab") is not None and Vocabulary.from_dict(tcfg["vocab"]) != vocab:
                raise ValueError("the vocabulary given differs from the one in text_cfg.vocab")
            tcfg["vocab"] = vocab.to_dict()
        elif tcfg.get("vocab") is not None:
            vocab = Vocabulary.from_dict(tcfg["vocab"])
        elif reports is not None:
            vocab = build_vocabulary(_report_texts(reports), min_freq=int(tcfg.get("vocab_min_freq", 2)),
                                     max_size=tcfg.get("vocab_max_size", 5000))
            tcfg["vocab"] = vocab.to_dict()
        else:
            raise ValueError(f"the {kind!r} text encoder builds its vocabulary from the training reports: "
                             "pass reports=... (or a config whose text_cfg carries 'vocab')")
        if kind == "transformer":
            max_len = int(tcfg.get("max_len", 128))
            encoder = TransformerTextEncoder(len(vocab), width=int(tcfg.get("width", 256)),
                                             layers=int(tcfg.get("layers", 4)), heads=int(tcfg.get("heads", 4)),
                                             max_len=max_len, dropout=float(tcfg.get("dropout", 0.1)))
            processor: Any = TokenProcessor(vocab, max_len=max_len)
        else:
            if tcfg.get("idf") is None:
                if reports is None:
                    raise ValueError("the 'bow' encoder needs the training reports for its IDF weights")
                tcfg["idf"] = [round(float(v), 6) for v in TfidfProcessor.idf_from(_report_texts(reports), vocab)]
            import numpy as np

            processor = TfidfProcessor(vocab, np.asarray(tcfg["idf"], dtype=np.float32))
            encoder = BagOfWordsEncoder(len(vocab), hidden=int(tcfg.get("hidden", 512)),
                                        width=int(tcfg.get("width", 256)), dropout=float(tcfg.get("dropout", 0.1)))
    else:
        model_dir = tcfg.get("model_dir") or str(default_minilm_dir())
        encoder = MiniLMEncoder(model_dir, freeze=bool(tcfg.get("freeze", True)))
        processor = HFTokenProcessor(model_dir, max_len=int(tcfg.get("max_len", 128)))
        tcfg.setdefault("model_dir", None)  # the default directory is found again at load time
        vocab = None
    cfg["text_cfg"] = tcfg
    extra = {k: cfg[k] for k in ("init_logit_scale", "max_logit_scale", "proj_bias") if k in cfg}
    return TextCLIP(visual, encoder, processor=processor, embed_dim=int(cfg["embed_dim"]), visual_dim=vdim,
                    preprocess_cfg=preprocess, cfg=_model_cfg(cfg), vocab=vocab, **extra)


def _model_cfg(cfg: dict[str, Any]) -> Any:
    """A ``ModelCfg`` when the config is complete (what checkpoints store), else the dict."""
    if cfg.get("image_cfg") is None:
        return cfg
    from graphclr.models.config import ModelCfg

    return ModelCfg.from_dict(cfg, where="text model config")
