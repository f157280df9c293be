"""Zero-shot from prompt graphs and retrieval, on a model built so that graphs and images agree."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import top_k_accuracy_score

from graphclr.eval import (
    FeatureSet,
    build_zero_shot_classifier,
    load_prompts,
    prompt_reports,
    retrieval_recall,
    zero_shot_eval,
    zero_shot_scores,
)
from graphclr.reports.schema import Entity, ReportGraph

FINDINGS = ("effusion", "cardiomegaly", "edema")
LABELS = ("Pleural Effusion", "Cardiomegaly", "Edema")


class AgreeingModel(torch.nn.Module):
    """A stand-in contrastive model whose graph and image embeddings agree by construction.

    Dimension ``k`` of an image embedding is the strength of finding ``k``; a report graph
    embeds to +1 on ``k`` when it states finding ``k`` present and -1 when absent; the last
    dimension is a constant so that empty embeddings stay finite.
    """

    def __init__(self, flip: bool = False) -> None:
        super().__init__()
        self.flip = flip
        self.report_processor = self.process

    def process(self, reports):
        out = torch.zeros(len(reports), len(FINDINGS) + 1)
        for i, g in enumerate(reports):
            assert isinstance(g, ReportGraph)
            out[i, -1] = 0.1
            for e in g.entities:
                word = e.tokens.lower().rstrip("s")
                if word in FINDINGS:
                    out[i, FINDINGS.index(word)] = -1.0 if e.certainty == "absent" else 1.0
        return out

    def encode_image(self, images, normalize=False):
        x = images if not self.flip else -images
        return torch.nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_report(self, batch, normalize=False):
        return torch.nn.functional.normalize(batch, dim=-1) if normalize else batch


def _graph(text: str, present: str | None = None, absent: str | None = None) -> ReportGraph:
    toks = text.split()
    ents = []
    for word, label in ((present, "OBS-DP"), (absent, "OBS-DA")):
        if word:
            i = [t.lower().strip(".") for t in toks].index(word)
            ents.append(Entity(word, label, i, i))
    return ReportGraph(text, text, ents)


def fake_extractor(texts):
    """A tiny stand-in for graphclr.reports.extract: 'no X' -> X absent, else the finding present."""
    out = []
    for t in texts:
        words = [w.lower().strip(".,") for w in t.split()]
        found = next((w for w in words if w.rstrip("s") in FINDINGS), None)
        neg = "no" in words
        out.append(_graph(t, None if neg else found, found if neg else None))
    return out


def _prompt_file(tmp_path):
    data = {"format": "graphclr-prompts/1", "labels": {
        "Pleural Effusion": {"positive": ["There is a pleural effusion."], "negative": ["No effusion."]},
        "Cardiomegaly": {"positive": ["Cardiomegaly."], "negative": ["No cardiomegaly."]},
        # a prompt given directly as a RadGraph record
        "Edema": {"positive": [{"text": "edema", "entities": {"1": {"tokens": "edema", "label": "OBS-DP",
                                                                     "start_ix": 0, "end_ix": 0, "relations": []}}}],
                  "negative": [{"text": "no edema", "entities": {"1": {"tokens": "edema", "label": "OBS-DA",
                                                                        "start_ix": 1, "end_ix": 1, "relations": []}}}]},
    }}
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(data))
    return path


def _images(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 3)) < 0.3).astype(np.float32)
    x = np.concatenate([y + 0.15 * rng.normal(size=y.shape), np.full((n, 1), 0.1)], axis=1)
    return FeatureSet(x.astype(np.float32), y, list(LABELS), [str(i) for i in range(n)], [""] * n)


def test_zero_shot_recovers_labels_when_graph_and_image_embeddings_agree(tmp_path):
    prompts = load_prompts(_prompt_file(tmp_path))
    test = _images()
    res = zero_shot_eval(AgreeingModel(), test, prompts, extractor=fake_extractor, n_bootstrap=100)
    assert res["labels"] == list(LABELS)
    for name in LABELS:
        assert res["metrics"]["per_label"][name]["auroc"]["value"] > 0.95
    # a model whose image side points the other way is ranked backwards: the score is not trivial
    flipped = build_zero_shot_classifier(AgreeingModel(flip=True), prompts, extractor=fake_extractor)
    feats = AgreeingModel(flip=True).encode_image(torch.from_numpy(test.features)).numpy()
    s = zero_shot_scores(feats, flipped)
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(test.labels[:, 0], s[:, 0]) < 0.05


def test_zero_shot_score_is_the_cosine_gap(tmp_path):
    prompts = load_prompts(_prompt_file(tmp_path))
    clf = build_zero_shot_classifier(AgreeingModel(), prompts, extractor=fake_extractor)
    x = np.array([[2.0, 0.0, 0.0, 0.1]])
    xn = x / np.linalg.norm(x)
    expected = xn @ clf.positive[0] - xn @ clf.negative[0]
    assert zero_shot_scores(x, clf)[0, 0] == pytest.approx(expected)
    np.testing.assert_allclose(np.linalg.norm(clf.positive, axis=1), 1.0)


def test_prompts_for_text_models_are_text(tmp_path):
    prompts = load_prompts(_prompt_file(tmp_path))
    reports = prompt_reports(prompts, "text")
    assert reports["Cardiomegaly"] == (["Cardiomegaly."], ["No cardiomegaly."])
    assert reports["Edema"][1] == ["no edema"]


def test_shipped_prompts_load_and_bad_files_are_named(tmp_path):
    p = load_prompts("chexpert5")
    assert p.names == ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion", "No Finding"]
    assert load_prompts("effusion_laterality").names == ["Effusion_Left", "Effusion_Right"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "graphclr-prompts/1", "labels": {"Edema": {"positive": ["x"]}}}))
    with pytest.raises(ValueError, match=r"labels\['Edema'\].negative"):
        load_prompts(bad)
    with pytest.raises(FileNotFoundError, match="chexpert5"):
        load_prompts("no-such-prompts")


def test_retrieval_recall_matches_sklearn_top_k_and_handles_groups():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(50, 8))
    rep = img + 0.8 * rng.normal(size=img.shape)
    res = retrieval_recall(img, rep, ks=(1, 5))
    ni = img / np.linalg.norm(img, axis=1, keepdims=True)
    nr = rep / np.linalg.norm(rep, axis=1, keepdims=True)
    sim = ni @ nr.T
    assert res["image_to_report"][5] == top_k_accuracy_score(np.arange(50), sim, k=5, labels=np.arange(50))
    assert res["report_to_image"][1] == pytest.approx(np.mean(sim.argmax(axis=0) == np.arange(50)))
    # identical features retrieve perfectly; two images of one study share its report
    same = retrieval_recall(np.eye(4), np.eye(4), ks=(1,))
    assert same["image_to_report"][1] == 1.0
    img2 = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    rep2 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    grouped = retrieval_recall(img2, rep2, ks=(1,), groups=["s1", "s1", "s2"])
    assert grouped["image_to_report"][1] == 1.0 and grouped["report_to_image"][1] == 1.0
    assert grouped["n_candidates"] == 2
