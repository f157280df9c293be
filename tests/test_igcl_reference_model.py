"""The igcl-reference model config: every graph switch on a hand-written report, the model
built from the shipped JSON with a tiny local CLIP (and the type-only features)."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

from graphclr.models import create_model, get_model_config
from graphclr.models.igcl_reference import IGCLReferenceCfg, IGCLReferenceProcessor, reference_edges
from graphclr.reports.schema import Entity, Relation, ReportGraph

# entities: 0 small (OBS-DP), 1 left (ANAT-DP), 2 effusion (OBS-DP), 3 no (OBS-DA), 4 edema (OBS-U)
REPORT = ReportGraph("r1", "small left effusion no edema", [
    Entity("small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
    Entity("effusion", "OBS-DP", 2, 2), Entity("no", "OBS-DA", 3, 3),
    Entity("edema", "OBS-U", 4, 4)],
    [Relation("modify", 0, 2), Relation("located_at", 0, 1), Relation("located_at", 2, 1),
     Relation("suggestive_of", 2, 2)])


def test_relation_switches_hand_worked():
    cfg = IGCLReferenceCfg(features="types")
    # first relation of entity 0 only; the self-loop 2 -> 2 dropped; entity 2 keeps 2 -> 1
    assert reference_edges(REPORT, cfg) == ([(0, 2, 1), (2, 1, 0)], 4)
    every = IGCLReferenceCfg(features="types", first_relation_only=False)
    assert reference_edges(REPORT, every)[0] == [(0, 1, 0), (0, 2, 1), (2, 1, 0)]
    both = IGCLReferenceCfg(features="types", head_to_tail_only=False)
    assert reference_edges(REPORT, both) == ([(0, 2, 1), (1, 2, 4), (2, 0, 5), (2, 1, 0)], 7)
    bad = ReportGraph("r2", "a b", [Entity("a", "OBS-DP", 0, 0), Entity("b", "OBS-DP", 1, 1)],
                      [Relation("causes", 0, 1)])
    with pytest.raises(ValueError, match="r2.*causes"):
        reference_edges(bad, cfg)


def test_processor_types_reaction_nodes_and_empty_graphs():
    cfg = IGCLReferenceCfg(features="types")
    b = IGCLReferenceProcessor(cfg)([REPORT])
    # components {0,1,2}, {3}, {4}: nodes 3 and 4 isolated -> 3 dummies (5, 6, 7) + reaction 8
    assert b.x.shape == (9, 4) and b.num_graphs == 1
    assert b.x[:5].argmax(1).tolist() == [0, 3, 0, 1, 2]       # OBS-DP ANAT-DP OBS-DP OBS-DA OBS-U
    assert b.x[5:].abs().sum() == 0
    assert int((b.edge_type == 3).sum()) == 2 * (5 + 3)
    plain = IGCLReferenceProcessor(IGCLReferenceCfg(features="types", reaction_nodes=False))([REPORT])
    assert plain.x.shape == (5, 4) and plain.edge_type.tolist() == [1, 0]
    empty = ReportGraph("e", "", [])
    assert not cfg.keep(empty) and IGCLReferenceCfg(features="types", drop_empty_graphs=False).keep(empty)
    with pytest.raises(ValueError, match="text_model"):
        IGCLReferenceProcessor(IGCLReferenceCfg())


def test_shipped_config_builds_with_local_clip(tmp_path, one_thread):
    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=40, num_hidden_layers=1,
                                     num_attention_heads=2, image_size=64, patch_size=32)
                    ).save_pretrained(tmp_path / "clip")
    cfg = get_model_config("igcl-reference")
    assert cfg["graph_cfg"]["first_relation_only"] and not cfg["graph_cfg"]["mask_padding"]
    model = create_model("igcl-reference", overrides={
        "embed_dim": 16, "image_cfg": {"image_size": 64, "pretrained": str(tmp_path / "clip")},
        "graph_cfg": {"features": "types", "width": 8}}).eval()
    assert model.image_proj.weight.shape == (16, 32) and model.image_proj.bias is None
    with torch.no_grad():
        img = model.encode_image(torch.rand(2, 3, 64, 64))
        rep = model.encode_report(model.report_processor([REPORT, REPORT]), normalize=True)
    assert img.shape == (2, 16) and torch.allclose(rep.norm(dim=1), torch.ones(2))
    assert model.cfg.to_dict()["model_type"] == "igcl-reference"


def test_decay_all_params_switch():
    from torch import nn

    from graphclr.train.loop import _param_groups

    m = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))       # weight [3,2] + 3 one-dim tensors
    groups = _param_groups(m, 0.01)
    assert [len(g["params"]) for g in groups] == [1, 3] and groups[1]["weight_decay"] == 0.0
    everything = _param_groups(m, 0.01, decay_all=True)
    assert [len(g["params"]) for g in everything] == [4, 0] and everything[0]["weight_decay"] == 0.01


def test_reference_spec_names_every_reference_switch(monkeypatch):
    from pathlib import Path

    from graphclr.models.config import ModelCfg, deep_merge
    from graphclr.runner.spec import load_spec
    from graphclr.train.config import TrainConfig

    for var in ("MIMIC_CXR_JPG", "RADGRAPH", "CHEXPERT", "CHEXPERT_TEST", "CLIP_VIT_B_32",
                "BERT_BASE_UNCASED"):
        monkeypatch.setenv(var, f"/data/{var.lower()}")
    root = Path(__file__).resolve().parent.parent / "benchmarks" / "specs"
    spec = load_spec(root / "igcl_reference_chexpert.json")
    train = TrainConfig.from_dict(dict(spec["budget"]))
    assert (train.lr, train.weight_decay, train.decay_all_params, train.warmup_steps,
            train.min_lr_ratio, train.freeze_image_steps, train.amp, train.drop_last) == \
        (1e-3, 0.01, True, 0, 1.0, 20, "none", False)
    cfg = ModelCfg.from_dict(deep_merge(get_model_config("igcl-reference"), spec["model"]))
    g = cfg.graph_cfg
    assert (g.first_relation_only, g.head_to_tail_only, g.reaction_nodes, g.mask_padding,
            g.fc_layers, g.num_rels, g.feat_size, g.text_model) == \
        (True, True, True, False, 1, 4, 772, "/data/bert_base_uncased")
    assert cfg.image_cfg.backbone == "clip-vit-b-32" and not cfg.image_cfg.antialias
    ev = spec["evaluations"]["igcl"]
    assert ev["num_runs"] == 5 and spec["dataset"]["probe_train"]["uncertain"] == "keep"
    assert load_spec(root / "graphclr_chexpert.json")["name"] == "graphclr-chexpert"


def test_encoder_speed_igcl_reference_row(one_thread, load_benchmark):
    mod = load_benchmark("encoder_speed")
    targets = torch.nn.functional.normalize(torch.randn(2, 768), dim=-1)
    row = mod.measure_igcl_reference([[REPORT, REPORT]], targets, repeats=1)
    assert row["n"] == 1 and row["graphs_per_s"] > 0 and row["processor_median_s"] > 0


def test_empty_graph_pairs_dropped_before_pretraining(monkeypatch):
    from graphclr.models.config import ModelCfg
    from graphclr.models.igcl_reference import IGCLReferenceCLIP

    class Pairs:                 # the dataset contract the runner's pretraining set offers
        def __init__(self, graphs):
            self.graphs = graphs

        def __len__(self):
            return len(self.graphs)

        def report(self, i):
            return self.graphs[i], None

    cfg = ModelCfg.from_dict({"model_type": "igcl-reference", "embed_dim": 8,
                              "image_cfg": {"backbone": "tiny-cnn", "image_size": 32},
                              "graph_cfg": {"features": "types", "width": 8}})
    model = IGCLReferenceCLIP(cfg)
    empty = ReportGraph("e", "", [])
    full = Pairs([REPORT, REPORT])
    assert model.keep_pretrain_pairs(full) is full
    calls, kept = [], []
    monkeypatch.setattr("graphclr.data.base.SubsetDataset",
                        lambda dataset, indices: kept.append(list(indices)))
    model.keep_pretrain_pairs(Pairs([REPORT, empty, None, REPORT]), calls.append)
    assert kept == [[0, 2, 3]] and "1 pretraining pairs" in calls[0]    # no graph: not judged
    cfg.graph_cfg.drop_empty_graphs = False
    everything = Pairs([empty])
    assert model.keep_pretrain_pairs(everything) is everything
