"""clip-vit-b-32: tiny random CLIPVisionModels saved locally (Hugging Face directory and an
open_clip-layout state dict written by the test), loaded through the backbone registry, and
the reference preprocessing against CheXzero's maths on 0-255 pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPVisionConfig, CLIPVisionModel

from graphclr.models.backbones import build_backbone
from graphclr.models.hf_clip import CHEXZERO_MEAN, CHEXZERO_STD, CLIPVisionBackbone, load_clip_vision
from graphclr.models.image import ImageEncoder, ImageEncoderCfg, image_transform, letterbox

TINY = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
            image_size=64, patch_size=32)


@pytest.fixture
def tiny_clip(tmp_path):
    torch.manual_seed(0)
    model = CLIPVisionModel(CLIPVisionConfig(**TINY)).eval()
    model.save_pretrained(tmp_path / "clip")
    return model, tmp_path / "clip"


def to_open_clip(model):
    """The inverse renaming, written independently: HF CLIPVisionModel -> open_clip keys."""
    sd = {k.removeprefix("vision_model."): v for k, v in model.state_dict().items()}
    out = {"visual.conv1.weight": sd["embeddings.patch_embedding.weight"],
           "visual.class_embedding": sd["embeddings.class_embedding"],
           "visual.positional_embedding": sd["embeddings.position_embedding.weight"],
           "visual.ln_pre.weight": sd["pre_layrnorm.weight"], "visual.ln_pre.bias": sd["pre_layrnorm.bias"],
           "visual.ln_post.weight": sd["post_layernorm.weight"], "visual.ln_post.bias": sd["post_layernorm.bias"],
           "visual.proj": torch.randn(32, 16), "token_embedding.weight": torch.randn(10, 16)}
    for i in range(TINY["num_hidden_layers"]):
        h, o = f"encoder.layers.{i}.", f"visual.transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[o + f"attn.in_proj_{kind}"] = torch.cat(
                [sd[h + f"self_attn.{n}_proj.{kind}"] for n in "qkv"])
            out[o + f"attn.out_proj.{kind}"] = sd[h + f"self_attn.out_proj.{kind}"]
            out[o + f"ln_1.{kind}"] = sd[h + f"layer_norm1.{kind}"]
            out[o + f"ln_2.{kind}"] = sd[h + f"layer_norm2.{kind}"]
            out[o + f"mlp.c_fc.{kind}"] = sd[h + f"mlp.fc1.{kind}"]
            out[o + f"mlp.c_proj.{kind}"] = sd[h + f"mlp.fc2.{kind}"]
    return out


def test_hf_directory_through_the_registry(tiny_clip):
    model, path = tiny_clip
    x = torch.randn(3, 3, 64, 64)
    tower = build_backbone("clip-vit-b-32", 64, 3, weights=path)
    assert isinstance(tower, CLIPVisionBackbone) and tower.feature_dim == 32
    with torch.no_grad():
        torch.testing.assert_close(tower.eval()(x), model(pixel_values=x).pooler_output)
    with pytest.raises(ValueError, match="takes 64 px images"):
        build_backbone("clip-vit-b-32", 224, 3, weights=path)


def test_open_clip_checkpoint_renamed_exactly(tiny_clip, tmp_path):
    model, _ = tiny_clip
    file = tmp_path / "open_clip.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in to_open_clip(model).items()}}, file)
    tower = load_clip_vision(file, num_heads=2, hidden_act=model.config.hidden_act).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(tower(x), model(pixel_values=x).pooler_output)
    assert tower.model.config.num_hidden_layers == 2 and tower.model.config.intermediate_size == 48


def test_bad_clip_files_are_named(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="x.pt.*visual.conv1.weight"):
        load_clip_vision(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_clip_vision(tmp_path)


def test_image_encoder_width_and_gray_input(tiny_clip):
    _, path = tiny_clip
    enc = ImageEncoder(ImageEncoderCfg(backbone="clip-vit-b-32", image_size=64, channels=3,
                                       grayscale="repeat", pretrained=str(path))).eval()
    assert enc.output_dim == 32
    gray = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(enc(gray), enc(gray.expand(-1, 3, -1, -1)))


def test_reference_preprocessing_matches_chexzero_maths():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (320, 320)).astype(np.uint8)
    cfg = ImageEncoderCfg(backbone="clip-vit-b-32", image_size=224, channels=3, grayscale="repeat",
                          mean=[CHEXZERO_MEAN], std=[CHEXZERO_STD], interpolation="bicubic",
                          antialias=False, clamp=False)
    got = image_transform(cfg, is_train=False)(Image.fromarray(pixels))
    # the reference: Normalize(101.48761, 83.43944) on 0-255 pixels, then Resize(224, bicubic)
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    ref = (torch.from_numpy(pixels).float()[None].expand(3, -1, -1) - 101.48761) / 83.43944
    ref = TF.resize(ref, 224, InterpolationMode.BICUBIC, antialias=False)
    assert got.shape == (3, 224, 224)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-5)


def test_letterbox_pads_the_short_side_with_black():
    out = letterbox(torch.full((1, 10, 20), 0.5), 8)   # 20x10 -> 8x4, pasted at rows 2..5
    assert out.shape == (1, 8, 8)
    assert out[0, :2].abs().sum() == 0 and out[0, 6:].abs().sum() == 0
    torch.testing.assert_close(out[0, 2:6], torch.full((4, 8), 0.5), atol=1e-3, rtol=0)
