"""benchmarks/radgraph_agreement.py: entity/relation micro-F1 between two RadGraph JSON
files, on hand-written records (character spans, so tokenization may differ)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def agree(load_benchmark):
    return load_benchmark("radgraph_agreement")


def ent(tokens, label, start, end, relations=()):
    return {"tokens": tokens, "label": label, "start_ix": start, "end_ix": end,
            "relations": [list(r) for r in relations]}


REFERENCE = {
    "r1": {"text": "small left-sided effusion .", "entities": {
        "1": ent("small", "Observation::definitely present", 0, 0, [("modify", "3")]),
        "2": ent("left-sided", "Anatomy::definitely present", 1, 1),
        "3": ent("effusion", "Observation::definitely present", 2, 2, [("located_at", "2")])}},
    "r2": {"text": "no pneumothorax .", "entities": {
        "1": ent("pneumothorax", "Observation::definitely absent", 1, 1)}},
    "r3": {"text": "different text .", "entities": {}},
    "r4": {"text": "not predicted .", "entities": {}},
}
PREDICTED = {
    # same characters, tokenized differently: "left - sided"
    "r1": {"text": "small left - sided effusion .", "entities": {
        "1": ent("small", "OBS-DP", 0, 0, [("modify", "3")]),
        "2": ent("left - sided", "ANAT-DP", 1, 3),
        "3": ent("effusion", "OBS-DP", 4, 4, [("located_at", "2")]),
        "4": ent("sided", "ANAT-DP", 3, 3)}},          # one false positive entity
    "r2": {"text": "no pneumothorax .", "entities": {
        "1": ent("pneumothorax", "OBS-DP", 1, 1)}},     # wrong label: a miss and a false positive
    "r3": {"text": "other text .", "entities": {}},
}


def test_micro_f1_by_character_spans(agree, tmp_path: Path) -> None:
    ref, pred, out = tmp_path / "ref.json", tmp_path / "pred.json", tmp_path / "out.json"
    ref.write_text(json.dumps(REFERENCE), encoding="utf-8")
    pred.write_text(json.dumps(PREDICTED), encoding="utf-8")
    assert agree.main([str(ref), str(pred), "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert (result["reports_scored"], result["missing_in_predicted"], result["text_mismatch"]) == (2, 1, 1)
    # entities: reference 4, predicted 5, matched 3 (small, left-sided, effusion)
    assert result["entity"] == {"tp": 3, "predicted": 5, "reference": 4, "precision": 0.6,
                                "recall": 0.75, "f1": round(6 / 9, 4)}
    # relations: both of r1's match
    assert result["relation"]["tp"] == 2 and result["relation"]["f1"] == 1.0


def test_the_extractor_on_reference_texts(agree, tmp_path: Path, capsys) -> None:
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"r2": REFERENCE["r2"]}), encoding="utf-8")
    assert agree.main([str(ref), "--extract"]) == 0
    assert "entity micro-F1 1.000" in capsys.readouterr().out  # "no pneumothorax": OBS-DA
    assert agree.main([str(ref)]) == 2  # neither PREDICTED nor --extract
    assert agree.main([str(tmp_path / "absent.json"), "--extract"]) == 2
