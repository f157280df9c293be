"""Image decoding: modes, 16-bit scaling, JPEG DCT scaling, probes, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data_fixtures import truncate_file, write_image

from graphclr.data import GrayscaleToTensor, ImageLoadError, load_image, probe_image, resize_square


def test_sixteen_bit_png_is_scaled_by_its_maximum(tmp_path: Path) -> None:
    arr = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.mode == "L"
    assert np.asarray(img).tolist() == [[0, 63], [127, 255]]  # floor(255 * v / 4000)


def test_rgb_becomes_grey(tmp_path: Path) -> None:
    Image.new("RGB", (4, 3), (255, 0, 0)).save(tmp_path / "c.png")
    img = load_image(tmp_path / "c.png")
    assert img.mode == "L" and img.size == (4, 3) and np.asarray(img)[0, 0] == 76  # ITU-R 601 luma


def test_jpeg_dct_scaling_keeps_both_sides_at_least_the_request(tmp_path: Path) -> None:
    write_image(tmp_path / "big.jpg", size=(1600, 1200))
    assert load_image(tmp_path / "big.jpg").size == (1600, 1200)
    small = load_image(tmp_path / "big.jpg", decode_size=224)
    assert small.size == (400, 300)  # 1/4 scale: the smallest with both sides >= 224
    assert load_image(tmp_path / "big.jpg", decode_size=700).size == (1600, 1200)
    write_image(tmp_path / "big.png", size=(1600, 1200))
    assert load_image(tmp_path / "big.png", decode_size=224).size == (1600, 1200)


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"nope\.jpg: missing image") as err:
        load_image(tmp_path / "nope.jpg")
    assert err.value.reason == "missing"
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageLoadError, match="unreadable"):
        load_image(tmp_path / "text.png")
    for suffix in (".jpg", ".png"):
        p = write_image(tmp_path / f"t{suffix}", size=(200, 200))
        assert probe_image(p) == (200, 200)
        truncate_file(p, keep=0.7)
        with pytest.raises(ImageLoadError, match="truncated"):
            probe_image(p)
        assert probe_image(p, "exists") == (0, 0)
        with pytest.raises(ImageLoadError):
            probe_image(p, "decode")


def test_resize_square_and_default_transform() -> None:
    img = Image.fromarray(np.tile(np.arange(300, dtype=np.uint8)[None, :] % 256, (200, 1)))
    sq = resize_square(img, 100)
    assert sq.size == (100, 100)
    arr = np.asarray(sq)
    assert arr[:, 0].mean() > 20  # centre crop: the darkest columns (x < 50 of 300) are cut
    t = GrayscaleToTensor()(sq)
    assert t.shape == (1, 100, 100) and float(t.max()) <= 1.0 and t.dtype.is_floating_point
