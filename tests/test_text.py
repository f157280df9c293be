"""Text baselines: tokenisation, TF-IDF, encoders, TextCLIP and its config round trip."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from graphclr.reports.schema import ReportGraph
from graphclr.text import (
    BagOfWordsEncoder,
    TextCLIP,
    TfidfProcessor,
    TokenProcessor,
    TransformerTextEncoder,
    build_text_model,
    build_vocabulary,
    list_text_configs,
    load_text_config,
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
    model = build_text_model(load_text_config(name), reports=REPORTS, visual=_visual(), embed_dim=8)
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
    assert {"text-transformer", "text-bow", "text-minilm", "text-minilm-finetune"} <= set(list_text_configs())
    with pytest.raises(ValueError, match="reports="):
        build_text_model(load_text_config("text-transformer"), visual=_visual(), embed_dim=8)
    with pytest.raises(ValueError, match="text_cfg.encoder"):
        build_text_model({"model_type": "text", "embed_dim": 4, "text_cfg": {"encoder": "lstm"}}, visual=_visual())


def test_minilm_loads_offline_and_matches_sentence_transformers(monkeypatch):
    from sentence_transformers import SentenceTransformer

    from graphclr.text import default_minilm_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")      # any Hub access would fail
    model = build_text_model(load_text_config("text-minilm"), visual=_visual(), embed_dim=8).eval()
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
