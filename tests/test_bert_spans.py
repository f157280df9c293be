"""Reference IGCL BERT span features on a tiny random BertModel saved locally: short reports
(one pass) and long ones (the reference's two windows) against BERT run by hand on ids the
test builds itself; the 4-way type one-hot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from graphclr.nn.bert_spans import BertSpanEmbedder, reference_type_onehot, reference_windows
from graphclr.reports.schema import Entity, ReportGraph

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "small", "left", "eff", "##usion",
         "no", "a", "b", "c", "d", "e", "f", "g"]
ID = {w: i for i, w in enumerate(VOCAB)}


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert")
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True).save_pretrained(path)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=4,
                                 num_attention_heads=2, intermediate_size=24,
                                 max_position_embeddings=64)).eval()
    model.save_pretrained(path)
    return model, path


def last4(model, ids, token_type=0):
    ids = torch.tensor([ids])
    with torch.no_grad():
        hs = model(input_ids=ids, token_type_ids=torch.full_like(ids, token_type),
                   output_hidden_states=True).hidden_states
    return (hs[-1] + hs[-2] + hs[-3] + hs[-4])[0]


def test_short_report_hand_worked(tiny_bert, one_thread):
    model, path = tiny_bert
    # "[CLS] small left effusion [SEP]" -> pieces [CLS] small left eff ##usion [SEP]
    s = last4(model, [ID[w] for w in ["[CLS]", "small", "left", "eff", "##usion", "[SEP]"]])
    words = torch.stack([s[1], s[2], s[3] + s[4]])
    emb = BertSpanEmbedder(path)
    got = emb.word_vectors(["Small left  effusion"])[0]
    np.testing.assert_allclose(got, words.numpy(), atol=1e-5)
    report = ReportGraph("r", "small left effusion", [Entity("left effusion", "OBS-DP", 1, 2),
                                                      Entity("small", "OBS-DA", 0, 0)])
    spans = emb([report])[0]
    np.testing.assert_allclose(spans[0], ((words[1] + words[2]) / 2).numpy(), atol=1e-5)
    np.testing.assert_allclose(spans[1], words[0].numpy(), atol=1e-5)
    s1 = last4(model, [ID[w] for w in ["[CLS]", "small", "left", "eff", "##usion", "[SEP]"]], 1)
    got1 = BertSpanEmbedder(path, token_type_id=1).word_vectors(["small left effusion"])[0]
    np.testing.assert_allclose(got1[0], s1[1].numpy(), atol=1e-5)
    assert not np.allclose(got1[0], got[0], atol=1e-3)


def test_long_report_uses_the_reference_two_windows(tiny_bert, one_thread):
    model, path = tiny_bert
    text = "a b c d e f"                 # 8 words with [CLS]/[SEP], 8 pieces >= max_seq_len 8
    assert reference_windows([1] * 8, 8) == (5, 2)
    w1 = last4(model, [ID["[CLS]"], ID["a"], ID["b"], ID["c"], ID["d"], ID["e"], ID["[UNK]"]])
    w2 = last4(model, [ID["[UNK]"], ID["b"], ID["c"], ID["d"], ID["e"], ID["f"], ID["[SEP]"]])
    want = torch.cat([w1[:6], w2[5:7]])  # rows 0..5 (CLS, a..e) then f, SEP
    emb = BertSpanEmbedder(path, max_seq_len=8, batch_size=3)
    got = emb.reference_word_vectors([text, "small left"])
    np.testing.assert_allclose(got[0], want.numpy(), atol=1e-5)
    short = last4(model, [ID["[CLS]"], ID["small"], ID["left"], ID["[SEP]"]])
    np.testing.assert_allclose(got[1], short.numpy(), atol=1e-5)   # batched with padding


def test_reference_windows_refuses_too_short_windows():
    with pytest.raises(ValueError, match="too short"):
        reference_windows([1, 5, 5, 1], max_seq_len=6)


def test_type_onehot_order():
    # graphclr 6-way: anatomy 0-2, observation present/absent/uncertain 3-5
    got = reference_type_onehot(torch.tensor([3, 4, 5, 0, 2]))
    assert got.argmax(1).tolist() == [0, 1, 2, 3, 3] and got.sum().item() == 5
