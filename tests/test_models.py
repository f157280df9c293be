"""Models: configs and registry, image backbones (weights from torchvision and
torchxrayvision files, grayscale handling), transforms on every PIL mode, GraphCLIP's
contract, checkpoints (weights-only round trip), and the text-model dispatch."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graphclr.graphs import Vocabulary
from graphclr.models import (
    GraphCLIP,
    ModelCfg,
    add_model_config,
    build_backbone,
    create_model,
    create_model_and_transforms,
    get_model_config,
    image_transform,
    list_backbones,
    list_models,
    load_checkpoint,
    load_model,
    save_checkpoint,
    to_gray_tensor,
)
from graphclr.models.backbones import get_backbone_spec, load_backbone_weights
from graphclr.models.image import ImageEncoder, ImageEncoderCfg
from graphclr.synth.pairs import SyntheticPairDataset


# tiny ops on 2 cores: one thread avoids OpenMP spin contention (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> SyntheticPairDataset:
    return SyntheticPairDataset(6, image_size=40, seed=1)


@pytest.fixture(scope="module")
def vocab(data) -> Vocabulary:
    return Vocabulary.from_graphs(data.graphs)


# --- configs -------------------------------------------------------------------------------
def test_registry_has_tiny_and_reference_configs() -> None:
    names = list_models()
    assert {"tiny", "graphclr-resnet50", "graphclr-resnet18", "graphclr-densenet121",
            "graphclr-vit-b-16", "igcl-vit-b-16", "rgcn-mean-resnet50"} <= set(names)
    ref = ModelCfg.from_dict(get_model_config("graphclr-resnet50"))
    g = ref.graph_cfg
    assert (ref.embed_dim, g.width, g.layers, g.transformer_layers, g.heads) == (768, 512, 2, 1, 2)
    assert math.isclose(ref.init_logit_scale, math.log(1 / 0.07))


def test_config_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "mine.json"
    bad.write_text(json.dumps({"embed_dim": 8, "graph_cfg": {"widht": 4}}))
    with pytest.raises(ValueError, match=r"mine\.json.*graph_cfg.*widht"):
        add_model_config(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('{"embed_dim": 8,,}')
    with pytest.raises(ValueError, match=r"broken\.json.*line 1"):
        add_model_config(broken)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("no-such-model")


def test_add_model_config_and_overrides(tmp_path: Path, vocab) -> None:
    cfg = get_model_config("tiny")
    cfg["embed_dim"] = 12
    path = tmp_path / "tiny-12.json"
    path.write_text(json.dumps(cfg))
    assert add_model_config(path) == ["tiny-12"]
    assert "tiny-12" in list_models()
    m = create_model("tiny-12", vocab=vocab, overrides={"graph_cfg": {"variant": "rgcn-mean"}})
    assert m.embed_dim == 12 and m.cfg.graph_cfg.variant == "rgcn-mean"


def test_tokens_featurizer_needs_a_vocabulary() -> None:
    with pytest.raises(ValueError, match="vocab"):
        create_model("tiny")
    m = create_model("tiny", overrides={"graph_cfg": {"featurizer": "hashed"}})
    assert m.vocab is None


# --- backbones ------------------------------------------------------------------------------
def test_builtin_backbones_give_their_feature_width() -> None:
    assert {"resnet18", "resnet50", "densenet121", "vit_b_16", "tiny-cnn"} <= set(list_backbones())
    for name, size in [("resnet18", 64), ("densenet121", 64), ("tiny-cnn", 32)]:
        enc = ImageEncoder(ImageEncoderCfg(backbone=name, image_size=size)).eval()
        with torch.no_grad():
            out = enc(torch.randn(2, 1, size, size))
        assert out.shape == (2, get_backbone_spec(name).num_features)


def test_adapted_stem_equals_repeating_the_gray_image() -> None:
    torch.manual_seed(0)
    rep = ImageEncoder(ImageEncoderCfg(backbone="resnet18", image_size=64, grayscale="repeat")).eval()
    adapted = ImageEncoder(ImageEncoderCfg(backbone="resnet18", image_size=64)).eval()
    state = rep.backbone.state_dict()
    state["conv1.weight"] = state["conv1.weight"].sum(1, keepdim=True)
    adapted.backbone.load_state_dict(state)
    assert adapted.backbone.conv1.in_channels == 1 and rep.backbone.conv1.in_channels == 3
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(rep(x), adapted(x), atol=1e-4)
        assert torch.allclose(adapted(x.expand(-1, 3, -1, -1)), adapted(x), atol=1e-5)


def test_torchvision_state_dict_loads_and_sums_rgb_stem(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18-tv.pth"
    torch.save(tv.state_dict(), path)
    enc = ImageEncoder(ImageEncoderCfg(backbone="resnet18", image_size=64, pretrained=str(path))).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        tv.fc = torch.nn.Identity()
        assert torch.allclose(enc(x), tv(x.expand(-1, 3, -1, -1)), atol=1e-4)


def test_torchxrayvision_densenet_weights_load(tmp_path: Path) -> None:
    import torchxrayvision as xrv  # in the tested lock (graphclr[openi])

    torch.manual_seed(0)
    ref = xrv.models.DenseNet(weights=None).eval()
    path = tmp_path / "xrv-densenet.pt"
    torch.save({"model": ref.state_dict()}, path)
    enc = ImageEncoder(ImageEncoderCfg(backbone="densenet121", image_size=64, pretrained=str(path),
                                       mean=[0.5], std=[1 / 2048])).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        feats = ref.features(x)
        expected = torch.nn.functional.adaptive_avg_pool2d(torch.relu(feats), 1).flatten(1)
        assert torch.allclose(enc(x), expected, atol=1e-4)


def test_xrv_resnet_prefixed_keys_load(tmp_path: Path) -> None:
    import torchvision

    model = torchvision.models.resnet50(weights=None, num_classes=18)
    model.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    path = tmp_path / "xrv-resnet50.pt"
    torch.save({f"model.{k}": v for k, v in model.state_dict().items()}, path)
    built = build_backbone("resnet50", 64, 1, weights=path)
    assert torch.equal(built.conv1.weight, model.conv1.weight)


def test_bad_weights_are_reported_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    spec = get_backbone_spec("resnet18")
    with pytest.raises(ValueError, match=r"wrong\.pt.*missing"):
        load_backbone_weights(build_backbone("resnet18", 64, 1), path, spec)
    with pytest.raises(FileNotFoundError):
        build_backbone("resnet18", 64, 1, weights=tmp_path / "absent.pt")


# --- transforms ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA", "I;16", "I", "F", "1"])
def test_transforms_accept_every_pil_mode(mode) -> None:
    rgb = Image.fromarray((np.arange(48 * 30).reshape(30, 48) % 251).astype(np.uint8)).convert("RGB")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    elif mode == "I":
        img = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.int32) * 257)
    elif mode == "F":
        img = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.float32) / 255.0)
    else:
        img = rgb.convert(mode)
    assert img.mode == mode
    gray = to_gray_tensor(img)
    assert gray.shape == (1, 30, 48) and 0.0 <= float(gray.min()) <= float(gray.max()) <= 1.0
    if mode in ("L", "RGB", "I;16", "I", "F", "LA", "RGBA"):
        assert torch.allclose(gray, to_gray_tensor(rgb.convert("L")), atol=1 / 255 + 1e-6)
    tf = image_transform({"image_size": 24, "channels": 1, "mean": [0.5], "std": [0.25]}, is_train=False)
    out = tf(img)
    assert out.shape == (1, 24, 24) and out.dtype == torch.float32


def test_transform_normalises_and_crops() -> None:
    white = Image.new("L", (50, 20), 255)
    tf = image_transform({"image_size": 10, "channels": 3, "mean": [0.5], "std": [0.25]}, False)
    out = tf(white)
    assert out.shape == (3, 10, 10)
    assert torch.allclose(out, torch.full_like(out, 2.0))
    train_tf = image_transform({"image_size": 10, "augment": True}, True)
    assert train_tf(white).shape == (1, 10, 10)
    assert pickle.loads(pickle.dumps(tf))(white).shape == (3, 10, 10)


# --- GraphCLIP -----------------------------------------------------------------------------
def test_graphclip_contract(data, vocab) -> None:
    torch.manual_seed(0)
    model, train_tf, eval_tf = create_model_and_transforms("tiny", vocab=vocab)
    assert isinstance(model, GraphCLIP)
    assert model.report_key == "graph" and model.model_type == "graph"
    assert math.isclose(float(model.logit_scale), math.log(1 / 0.07), rel_tol=1e-6)
    images = torch.stack([eval_tf(data[i]["image"]) for i in range(4)])
    batch = pickle.loads(pickle.dumps(model.report_processor))([data.graphs[i] for i in range(4)])
    out = model(images, batch)
    assert set(out) == {"image_features", "report_features", "graph_features", "logit_scale"}
    for key in ("image_features", "report_features"):
        assert out[key].shape == (4, 32)
        assert torch.allclose(out[key].norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.equal(out["graph_features"], out["report_features"])
    raw = model.encode_graph(batch)
    assert torch.allclose(torch.nn.functional.normalize(raw, dim=-1), out["report_features"], atol=1e-6)
    assert torch.equal(model.encode_report(batch), raw)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert math.isclose(float(model(images, None)["logit_scale"]), 100.0, rel_tol=1e-5)


def test_lock_image_tower(vocab) -> None:
    model = create_model("tiny", vocab=vocab)
    model.lock_image_tower()
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert all(p.requires_grad for p in model.image_proj.parameters())
    assert all(p.requires_grad for p in model.graph.parameters())


def test_checkpoint_round_trip_is_weights_only(tmp_path: Path, data, vocab) -> None:
    torch.manual_seed(0)
    model = create_model("tiny", vocab=vocab).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, note="hello")
    raw = torch.load(path, weights_only=True)
    assert raw["vocab"]["tokens"] == vocab.itos and raw["preprocess_cfg"]["image_size"] == 32
    assert raw["model_config"]["graph_cfg"]["width"] == 32 and raw["note"] == "hello"
    again = load_model(path).eval()
    batch = model.report_processor(data.graphs[:3])
    images = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        a, b = model(images, batch), again(images, batch)
    for k in a:
        assert torch.equal(a[k], b[k])
    other = Vocabulary.build([["pneumothorax"]])
    with pytest.raises(ValueError, match="different vocabulary"):
        create_model("tiny", vocab=other, pretrained=path)
    with pytest.raises(ValueError, match="weights do not fit"):
        create_model("tiny", vocab=vocab, pretrained=path, overrides={"embed_dim": 16})
    assert load_checkpoint(path)["format"] == "graphclr-checkpoint/1"


def test_reference_sized_model_builds_with_the_reference_widths(vocab) -> None:
    model = create_model("graphclr-resnet18", vocab=vocab)
    assert model.graph_proj.weight.shape == (768, 512)
    assert model.image_proj.weight.shape == (768, 512)
    assert model.graph_proj.bias is None
    layers = model.graph.rgcn.layers
    assert len(layers) == 2 and layers[1].loop_weight.shape == (512, 512)
    assert len(model.graph.transformer.layers) == 1
    assert model.graph.transformer.layers[0].self_attn.num_heads == 2


def test_text_models_are_built_by_graphclr_text(data) -> None:
    model = create_model("text-bow", overrides={"image_cfg": get_model_config("tiny")["image_cfg"],
                                                "embed_dim": 16},
                         reports=[g.text for g in data.graphs])
    assert model.model_type == "text" and model.report_key == "text"
    out = model(torch.randn(2, 1, 32, 32), model.report_processor([data.graphs[0].text, "no effusion"]))
    assert out["image_features"].shape == out["report_features"].shape == (2, 16)


@pytest.mark.parametrize("variant", ["components", "igcl", "rgcn-mean"])
def test_bf16_autocast_forward_and_backward(variant, data, vocab) -> None:
    """Mixed precision (CPU autocast standing in for the GPU's) keeps dtypes consistent."""
    from graphclr.loss import ClipLoss

    torch.manual_seed(0)
    model = create_model("tiny", vocab=vocab, overrides={"graph_cfg": {
        "variant": variant, "regularizer": None if variant == "igcl" else "bdd"}})
    batch = model.report_processor(list(data.graphs) + [__import__("graphclr").ReportGraph("e", "")])
    images = torch.randn(len(data.graphs) + 1, 1, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(images, batch)
        loss = ClipLoss()(out["image_features"].float(), out["report_features"].float(),
                          out["logit_scale"].float())
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_checkpoint_of_the_attention_only_readout_still_loads_as_it_was_trained(
        tmp_path: Path, data, vocab) -> None:
    """Checkpoints written before ``graph_cfg.pool_readout`` existed (issue 10) carry no
    such field: they are rebuilt with the attention-only readout they were trained with."""
    torch.manual_seed(0)
    old = create_model("tiny", vocab=vocab, overrides={
        "graph_cfg": {"pool_readout": "attention", "graph_readout": "token"}}).eval()
    path = save_checkpoint(tmp_path / "old.pt", old)
    raw = torch.load(path, weights_only=True)
    del raw["model_config"]["graph_cfg"]["pool_readout"]      # as an old checkpoint
    del raw["model_config"]["graph_cfg"]["graph_readout"]
    torch.save(raw, path)
    again = load_model(path).eval()
    assert again.graph.pool.readout == "attention"
    assert again.cfg.graph_cfg.graph_readout == "token"
    new = create_model("tiny", vocab=vocab)
    assert (new.graph.pool.readout, new.cfg.graph_cfg.graph_readout) == ("attention+mean", "token")
    batch = old.report_processor(data.graphs[:4])
    with torch.no_grad():
        assert torch.equal(old.encode_graph(batch), again.encode_graph(batch))
