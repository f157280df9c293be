"""The pretrained-text featurizer: span embeddings from the offline MiniLM, checked against a
hand-built computation (pieces per word, last four layers summed), windowing of long
reports, the in-memory and on-disk caches, pickling, and the model end to end."""

from __future__ import annotations

import pickle

import pytest
import torch

from graphclr.graphs.text_spans import SpanEmbedder, default_text_model_dir
from graphclr.reports.schema import Entity, Relation, ReportGraph

# tiny ops on 2 cores: one thread avoids OpenMP spin contention (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def embedder() -> SpanEmbedder:
    return SpanEmbedder()


def report() -> ReportGraph:
    text = "small left pleural effusion . no pneumothorax"
    return ReportGraph("r", text, [
        Entity("small", "OBS-DP", 0, 0), Entity("left pleural", "ANAT-DP", 1, 2),
        Entity("effusion", "OBS-DP", 3, 3), Entity("pneumothorax", "OBS-DA", 6, 6)],
        [Relation("modify", 0, 2), Relation("located_at", 2, 1)])


def hand_made(text: str) -> torch.Tensor:
    """Word vectors built piece by piece from the tokenizer's vocabulary."""
    from transformers import AutoModel, AutoTokenizer

    path = str(default_text_model_dir())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    words = text.split()
    pieces = [tok.tokenize(w) for w in words]
    ids = [tok.cls_token_id] + [tok.convert_tokens_to_ids(p) for ps in pieces for p in ps] + [tok.sep_token_id]
    with torch.no_grad():
        hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
    summed = sum(hidden[-4:])[0]
    out, pos = [], 1
    for ps in pieces:
        out.append(summed[pos: pos + len(ps)].sum(0))
        pos += len(ps)
    return torch.stack(out)


def test_span_vectors_follow_the_reference_recipe(embedder) -> None:
    rg = report()
    words = hand_made(rg.text)
    got = embedder([rg])[0]
    assert got.shape == (4, embedder.dim) == (4, 384)
    expected = torch.stack([words[0], words[1:3].mean(0), words[3], words[6]])
    assert torch.allclose(torch.from_numpy(got.astype("float32")), expected, atol=0.02, rtol=2e-3)


def test_long_reports_are_encoded_in_windows_of_whole_words(embedder, monkeypatch) -> None:
    text = "the heart is normal in size . " * 12
    full = embedder.word_vectors([text])[0]
    monkeypatch.setattr(embedder, "max_positions", 16)     # windows of <= 14 word pieces
    windowed = embedder.word_vectors([text])[0]
    assert windowed.shape == full.shape == (len(text.split()), embedder.dim)
    assert (abs(windowed).sum(1) > 0).all()
    # the first window is exactly the first few words encoded on their own
    first = embedder.word_vectors([" ".join(text.split()[:14])])[0]
    assert torch.allclose(torch.from_numpy(windowed[:14]), torch.from_numpy(first), atol=1e-4)
    assert not torch.allclose(torch.from_numpy(windowed), torch.from_numpy(full), atol=1e-3)


def test_cache_in_memory_and_on_disk(tmp_path, monkeypatch) -> None:
    emb = SpanEmbedder(cache_dir=tmp_path)
    first = emb([report()])[0]
    assert list(tmp_path.rglob("*.npy"))

    def boom(*_a, **_k):
        raise AssertionError("the text model ran again")

    monkeypatch.setattr(emb, "_embed", boom)
    assert (emb([report()])[0] == first).all()
    fresh = SpanEmbedder(cache_dir=tmp_path)
    monkeypatch.setattr(fresh, "_embed", boom)
    assert (fresh([report()])[0] == first).all()
    changed = report()
    changed.text = changed.text.replace("small", "large")
    monkeypatch.undo()
    assert fresh.key(changed) != fresh.key(report())


def test_embedder_pickles_without_its_model(embedder) -> None:
    embedder([report()])
    blob = pickle.dumps(embedder)
    assert len(blob) < 100_000
    clone = pickle.loads(blob)
    assert clone._model is None and not clone._cache
    assert (clone([report()])[0] == embedder([report()])[0]).all()


def test_text_featurizer_in_a_model() -> None:
    from graphclr.models import create_model

    model = create_model("tiny", overrides={"graph_cfg": {"featurizer": "text", "num_bases": 2}})
    batch = model.report_processor([report(), ReportGraph("empty", "")])
    hg_emb = batch.to_dgl().nodes["observation"].data["text_emb"]
    assert hg_emb.shape == (3, 384)
    out = model.encode_graph(batch, normalize=True)
    assert out.shape == (2, 32) and torch.isfinite(out).all()
    x = model.graph.featurizer(batch)
    assert x.shape == (4, 384 + 6)
    assert torch.equal(x[:, 384:].sum(1), torch.ones(4))


def test_text_featurizer_needs_report_text() -> None:
    from graphclr.graphs import encode_report
    from graphclr.models import create_model

    model = create_model("tiny", overrides={"graph_cfg": {"featurizer": "text", "num_bases": 2}})
    with pytest.raises(TypeError, match="ReportGraph"):
        model.report_processor([encode_report(report())])
