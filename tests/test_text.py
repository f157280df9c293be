"""Text baselines: tokenisation, TF-IDF, encoders, TextCLIP and its config round trip."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from graphclr.reports.schema import ReportGraph
from graphclr.models import TextCLIP, build_text_model, get_model_config, list_models
from graphclr.text import (
    BagOfWordsEncoder,
    TextTowerCfg,
    TfidfProcessor,
    TokenProcessor,
    TransformerTextEncoder,
    build_text_tower,
    build_vocabulary,
    tokenize_report,
)

REPORTS = [
    "FINDINGS: Small left pleural effusion. IMPRESSION: No pneumothorax.",
    "The heart is enlarged. No effusion.",
    "Lungs are clear. No focal consolidation, effusion or pneumothorax.",
    "Right lower lobe atelectasis. Heart size normal.",
    "No acute cardiopulmonary process.",
]


def _visual(size: int = 16) -> nn.Module:
    tower = nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 24))
    tower.output_dim = 24
    return tower


def test_tfidf_matches_scikit_learn_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocab = build_vocabulary(REPORTS, min_freq=1)
    proc = TfidfProcessor(vocab, TfidfProcessor.idf_from(REPORTS, vocab))
    words = vocab.itos[2:]   # every word is in the vocabulary, so <unk> never counts
    ref = TfidfVectorizer(tokenizer=tokenize_report, lowercase=False, token_pattern=None,
                          vocabulary={w: i for i, w in enumerate(words)}).fit(REPORTS)
    expected = ref.transform(REPORTS).toarray()
    got = proc(REPORTS).numpy()
    np.testing.assert_allclose(got[:, 2:], expected, atol=1e-6)
    assert np.all(got[:, :2] == 0)


def test_token_processor_pads_truncates_and_reads_graph_text():
    vocab = build_vocabulary(REPORTS, min_freq=1)
    proc = TokenProcessor(vocab, max_len=6)
    graph = ReportGraph("g", "Small left pleural effusion .")
    batch = proc([REPORTS[0], graph, "zzz unknownword"])
    assert batch["ids"].shape == (3, 6)
    assert batch["ids"][1, :5].tolist() == vocab.lookup(["small", "left", "pleural", "effusion", "."])
    assert batch["padding_mask"][1].tolist() == [False] * 5 + [True]
    assert batch["ids"][2, :2].tolist() == [1, 1]          # unknown words -> <unk>
    assert pickle.loads(pickle.dumps(proc))(["no effusion"])["ids"].tolist() == proc(["no effusion"])["ids"].tolist()


def test_transformer_ignores_padding():
    torch.manual_seed(0)
    enc = TransformerTextEncoder(30, width=16, layers=2, heads=2, max_len=12).eval()
    ids = torch.tensor([[4, 5, 6]])
    padded = torch.tensor([[4, 5, 6, 0, 0, 0]])
    a = enc({"ids": ids, "padding_mask": ids == 0})
    b = enc({"ids": padded, "padding_mask": padded == 0})
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    other = torch.tensor([[6, 5, 4]])
    assert not torch.allclose(a, enc({"ids": other, "padding_mask": other == 0}))  # order matters


def test_bag_of_words_is_order_free():
    vocab = build_vocabulary(REPORTS, min_freq=1)
    proc = TfidfProcessor(vocab, TfidfProcessor.idf_from(REPORTS, vocab))
    enc = BagOfWordsEncoder(len(vocab), hidden=8, width=4).eval()
    a = enc(proc(["left effusion no pneumothorax"]))
    b = enc(proc(["no effusion left pneumothorax"]))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", ["text-transformer", "text-bow"])
def test_textclip_contract_and_config_round_trip(name):
    torch.manual_seed(0)
    model = build_text_model(get_model_config(name), reports=REPORTS, visual=_visual(), embed_dim=8)
    assert isinstance(model, TextCLIP) and model.report_key == "text"
    batch = model.report_processor(REPORTS[:3])
    out = model(torch.rand(3, 3, 16, 16), batch)
    assert out["image_features"].shape == out["report_features"].shape == (3, 8)
    torch.testing.assert_close(out["report_features"].norm(dim=-1), torch.ones(3))
    assert float(out["logit_scale"]) == pytest.approx(1 / 0.07, rel=1e-5)
    assert model.encode_report(batch).shape == (3, 8)
    # the config alone (vocabulary included) rebuilds the same model
    again = build_text_model(model.config, visual=_visual(), embed_dim=8)
    again.load_state_dict(model.state_dict())
    model.eval()
    again.eval()
    torch.testing.assert_close(again.encode_report(again.report_processor(REPORTS)),
                               model.encode_report(model.report_processor(REPORTS)))


def test_text_configs_ship_and_errors_are_clear():
    assert {"text-transformer", "text-bow", "text-minilm", "text-minilm-finetune"} <= set(list_models())
    with pytest.raises(ValueError, match="reports="):
        build_text_model(get_model_config("text-transformer"), visual=_visual(), embed_dim=8)
    with pytest.raises(ValueError, match="text_cfg: encoder must be one of transformer, bow, minilm; got 'lstm'"):
        build_text_model({"model_type": "text", "embed_dim": 4, "text_cfg": {"encoder": "lstm"}}, visual=_visual())


def test_minilm_loads_offline_and_matches_sentence_transformers(monkeypatch):
    from sentence_transformers import SentenceTransformer

    from graphclr.text import default_minilm_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")      # any Hub access would fail
    model = build_text_model(get_model_config("text-minilm"), visual=_visual(), embed_dim=8).eval()
    texts = REPORTS[:3]
    ours = model.text(model.report_processor(texts))
    ref = SentenceTransformer(str(default_minilm_dir()), device="cpu").encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(torch.nn.functional.normalize(ours, dim=-1), ref, atol=1e-4, rtol=1e-4)
    # a frozen encoder caches report vectors: a second pass gives the same vectors
    batch = model.report_processor(texts[::-1] + [REPORTS[4]])
    assert len(model.text._cache) == 3
    cached = model.text(batch)
    torch.testing.assert_close(cached, model.text._encode(batch["input_ids"], batch["attention_mask"]),
                               atol=1e-5, rtol=1e-5)
    assert len(model.text._cache) == 4
    # frozen: only the projections and the image tower learn
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert "text" not in trainable


# --- the typed text tower config and the one registry (issue 13 item 2) --------------------
@pytest.mark.parametrize(("text_cfg", "error"), [
    ({"encoder": "bow", "widht": 8}, r"mine\.json: text_cfg: unknown field\(s\) \['widht'\]"),
    ({"encoder": "bow", "width": "8"}, r"mine\.json: text_cfg: field 'width' must be int; got '8'"),
    ({"encoder": "bow", "freeze": 1}, r"mine\.json: text_cfg: field 'freeze' must be bool; got 1"),
    ({"width": 8}, r"mine\.json: text_cfg: .*encoder"),
    ({"encoder": "transformer", "layers": 0}, r"mine\.json: text_cfg: layers must be positive; got 0"),
])
def test_text_cfg_is_a_strict_dataclass_naming_the_bad_field(tmp_path, text_cfg, error):
    from graphclr.models import add_model_config

    bad = tmp_path / "mine.json"
    bad.write_text(json.dumps({"model_type": "text", "text_cfg": text_cfg}))
    with pytest.raises(ValueError, match=error):
        add_model_config(bad)


def test_shipped_text_configs_load_into_text_tower_cfg():
    from graphclr.models import ModelCfg, create_model

    cfg = ModelCfg.from_dict(get_model_config("text-transformer"), partial=True)
    assert isinstance(cfg.text_cfg, TextTowerCfg)
    assert (cfg.text_cfg.encoder, cfg.text_cfg.width, cfg.text_cfg.vocab_max_size) == ("transformer", 256, 5000)
    model = create_model("text-transformer", overrides={"text_cfg": {"width": 8, "layers": 1, "heads": 2}},
                         reports=REPORTS, visual=_visual())
    assert isinstance(model.cfg.text_cfg, TextTowerCfg) and model.text.output_dim == 8


def test_text_tower_builds_vocabulary_once_and_config_carries_it():
    cfg = TextTowerCfg(encoder="bow", hidden=8, width=4, vocab_min_freq=1)
    tower = build_text_tower(cfg, reports=REPORTS)
    expected = build_vocabulary(REPORTS, min_freq=1)
    assert tower.vocab == expected and tower.cfg.vocab == expected.to_dict()
    np.testing.assert_allclose(tower.cfg.idf, TfidfProcessor.idf_from(REPORTS, expected), atol=1e-6)
    again = build_text_tower(tower.cfg)                  # no reports: everything from the config
    assert again.vocab == expected
    np.testing.assert_array_equal(again.processor(REPORTS[:2]).numpy(), tower.processor(REPORTS[:2]).numpy())
    with pytest.raises(ValueError, match="reports="):
        build_text_tower(TextTowerCfg(encoder="transformer"))


def test_old_text_names_are_deprecated_aliases_of_the_models_ones():
    import importlib
    import warnings

    import graphclr.models as models
    import graphclr.text as text

    with pytest.warns(DeprecationWarning, match="graphclr.models.text_clip"):
        assert text.TextCLIP is models.TextCLIP
    with pytest.warns(DeprecationWarning, match="graphclr.models.factory"):
        assert text.build_text_model is models.build_text_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert "text-bow" in text.list_text_configs() and "tiny" not in text.list_text_configs()
        assert text.load_text_config("text-bow") == get_model_config("text-bow")
        assert importlib.import_module("graphclr.text.model").TextCLIP is models.TextCLIP
        assert importlib.import_module("graphclr.text.factory").build_text_model is models.build_text_model
    with pytest.raises(AttributeError, match="no_such_name"):
        text.no_such_name  # noqa: B018


def _graphclr_imports(package: str) -> set[str]:
    """Every graphclr module a package's source imports, function-level imports included."""
    import ast
    from pathlib import Path

    import graphclr

    found = set()
    for path in (Path(graphclr.__file__).parent / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("graphclr")}


def test_no_import_cycle_between_models_and_text():
    import subprocess
    import sys

    text_imports = _graphclr_imports("text")
    assert not [m for m in text_imports if m.startswith("graphclr.models")], text_imports
    assert "graphclr.text.tower" in _graphclr_imports("models")       # the direction: models -> text
    code = "import sys, graphclr.text; assert not [m for m in sys.modules if m.startswith('graphclr.models')]"
    subprocess.run([sys.executable, "-c", code], check=True)
