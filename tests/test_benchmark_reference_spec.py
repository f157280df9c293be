"""The reference-recipe spec (benchmarks/specs/igcl_reference_chexpert.json) end to end on
the MIMIC-CXR-JPG/RadGraph/CheXpert fixture trees, with a tiny local CLIP and a tiny local
BERT written by the test, shrunk with --set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_data_fixtures import write_chexpert_test, write_chexpert_tree, write_mimic_tree

SPEC = Path(__file__).resolve().parent.parent / "benchmarks" / "specs" / "igcl_reference_chexpert.json"


def tiny_clip(path: Path) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                     num_attention_heads=2, image_size=64, patch_size=32)).save_pretrained(path)
    return path


def tiny_bert(path: Path) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "effusion", "pleural", "left",
             "right", "lung", "opacity", "edema", "heart", "normal", "size", "the", "is", "."]
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True).save_pretrained(path)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                         intermediate_size=24, max_position_embeddings=128)).save_pretrained(path)
    return path


@pytest.mark.slow
def test_reference_spec_runs_on_fixture_trees(tmp_path, monkeypatch):
    from graphclr.cli import main

    mimic = write_mimic_tree(tmp_path / "mimic-cxr-jpg")
    write_chexpert_tree(tmp_path / "chexpert")
    write_chexpert_test(tmp_path / "chexpert-test")
    for var, value in {"MIMIC_CXR_JPG": mimic.root, "RADGRAPH": mimic.graphs.parent,
                       "CHEXPERT": tmp_path / "chexpert", "CHEXPERT_TEST": tmp_path / "chexpert-test",
                       "CLIP_VIT_B_32": tiny_clip(tmp_path / "clip"),
                       "BERT_BASE_UNCASED": tiny_bert(tmp_path / "bert")}.items():
        monkeypatch.setenv(var, str(value))
    model = {"embed_dim": 16, "image_cfg": {"image_size": 64, "letterbox": 80},
             "graph_cfg": {"text_dim": 16, "width": 8, "max_seq_len": 128}}
    out = tmp_path / "run"
    args = ["-v", "benchmark", str(SPEC), "--out", str(out), "--no-progress",
            "--set", f"model={json.dumps(model)}",
            "--set", "budget={\"max_steps\": 2, \"batch_size\": 1, \"num_workers\": 0, \"checkpoint_every\": 1, "
                     "\"amp\": \"none\", \"decay_all_params\": true, \"min_lr_ratio\": 1.0, \"drop_last\": false}",
            "--set", "evaluations.igcl={\"fractions\": [1.0], \"num_runs\": 2, \"n_bootstrap\": 5, \"epochs\": 2}",
            "--set", "threads=1"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    enc = results["encoders"]["igcl-reference"]
    assert enc["pretrain"]["steps"] == 2
    igcl = enc["igcl"]["fraction_1"]
    assert igcl["n_train"] == results["dataset"]["n_train"] and len(igcl["best_epochs"]) == 2
    # two runs pooled: every test image twice
    assert igcl["n_rows"] == 2 * results["dataset"]["n_test"]
    assert set(igcl["auroc"]) == set(json.loads(SPEC.read_text())["labels"]) | {"mean"}
    assert igcl["mean_excludes"] == ["No Finding"]
