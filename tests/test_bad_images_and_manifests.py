"""Hostile images and manifests (issues 11 and 12): each test reproduces one reported
defect and asserts the fixed behaviour, including the exact one-line messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_data_fixtures import write_image

from graphclr.cli import main
from graphclr.data import CSVDataset, check_dataset, load_image, probe_image
from graphclr.data.images import ImageLoadError


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> str:
    """A 16-bit PNG of 13000 x 13000 pixels that compresses to a few hundred kilobytes."""
    path = tmp_path_factory.mktemp("huge") / "huge16.png"
    arr = np.zeros((13000, 13000), np.uint16)
    arr[::100, ::100] = 60000
    Image.fromarray(arr).save(path)
    return str(path)


def test_oversized_image_is_refused_from_its_header(huge_png: str, monkeypatch) -> None:
    # decoding would cost ~2 GB: prove nothing is decoded by making decoding fail loudly
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded an oversized image"))
    expected = (f"{huge_png}: oversized image (13000x13000 = 169000000 pixels, over the limit of "
                f"50000000; raise it with GRAPHCLR_MAX_IMAGE_PIXELS or max_pixels=)")
    with pytest.raises(ImageLoadError) as err:
        load_image(huge_png)
    assert str(err.value) == expected and err.value.reason == "oversized"
    for level in ("header", "decode"):
        with pytest.raises(ImageLoadError, match="over the limit of 50000000"):
            probe_image(huge_png, level)
    monkeypatch.setenv("GRAPHCLR_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageLoadError, match="over the limit of 1000;"):
        probe_image(huge_png)
    assert probe_image(huge_png, max_pixels=13000 * 13000) == (13000, 13000)


def test_data_check_reports_an_oversized_image_as_an_error(tmp_path, huge_png, capsys) -> None:
    import shutil

    shutil.copy(huge_png, tmp_path / "huge.png")
    write_image(tmp_path / "ok.png")
    pd.DataFrame({"path": ["ok.png", "huge.png"], "text": ["a", "b"]}).to_csv(tmp_path / "m.csv", index=False)
    assert main(["data", "check", str(tmp_path / "m.csv"), "--format", "csv"]) == 1
    out = capsys.readouterr().out
    assert "oversized_image: 1" in out and f"{tmp_path / 'huge.png'}: 13000x13000" in out
    report = check_dataset(tmp_path / "m.csv", "csv", max_pixels=13000 * 13000)
    assert report.ok and report.counts["readable_images"] == 2


def test_jpeg_cut_in_half_with_its_end_marker_put_back(tmp_path) -> None:
    path = write_image(tmp_path / "x.jpg", size=(400, 512))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    assert probe_image(path, "header") == (400, 512)   # the header level cannot see it
    with pytest.raises(ImageLoadError) as err:
        probe_image(path, "decode")
    assert str(err.value).startswith(f"{path}: unreadable image (truncated JPEG: its bottom ")
    assert str(err.value).endswith(" of 512 rows are decoder fill (flat grey))")
    report = check_dataset(tmp_path, "folder", level="decode")
    assert report.num("unreadable_image") == 1
    whole = write_image(tmp_path / "whole.jpg", size=(400, 512))
    assert probe_image(whole, "decode") == (400, 512)


def _manifest(tmp_path, **columns) -> str:
    for k in range(3):
        write_image(tmp_path / f"i{k}.png", seed=k)
    frame = pd.DataFrame({"path": [f"i{k}.png" for k in range(3)],
                          "text": ["one line", "two\nlines", "three"], **columns})
    frame.to_csv(tmp_path / "manifest.csv", index=False)
    return str(tmp_path / "manifest.csv")


def test_one_bad_label_value_is_an_error_on_its_physical_line(tmp_path, capsys) -> None:
    # row 3 starts on line 5 of the file: row 2's quoted text spans lines 3-4
    m = _manifest(tmp_path, Edema=["1", "0", "maybe"], Cardiomegaly=["1", "0", "1"])
    with pytest.raises(ValueError) as err:
        CSVDataset(m)
    assert str(err.value) == (f"bad_label: {m}: line 5, column 'Edema' (value 'maybe' is not "
                              "1, 0, -1, yes, no or blank)")
    lenient = CSVDataset(m, strict=False)
    assert lenient.pathologies == ["Edema", "Cardiomegaly"] and len(lenient) == 2
    assert [s.kind for s in lenient.skipped] == ["bad_label"]
    assert main(["data", "check", m, "--format", "csv"]) == 1
    assert f"{m}: line 5, column 'Edema': value 'maybe'" in capsys.readouterr().out


def test_yes_no_labels_are_labels(tmp_path) -> None:
    m = _manifest(tmp_path, Edema=["yes", "No", ""], sex=["m", "f", "m"])
    ds = CSVDataset(m)
    assert ds.pathologies == ["Edema"]          # 'sex' holds no label value: not a label
    assert ds.labels[:, 0].tolist()[:2] == [1.0, 0.0] and np.isnan(ds.labels[2, 0])


def test_unknown_split_names_the_splits_there_are(tmp_path) -> None:
    m = _manifest(tmp_path, split=["train", "val", "train"])
    with pytest.raises(ValueError) as err:
        CSVDataset(m, split="Train")
    assert str(err.value) == f"{m}: no row has split 'Train'; the splits are ['train', 'val']"


def test_binary_graph_store_is_named(tmp_path) -> None:
    m = _manifest(tmp_path, graph_id=["a", "b", "c"])
    (tmp_path / "store.bin").write_bytes(b"\xa1\x00\xff" * 10)
    with pytest.raises(ValueError) as err:
        CSVDataset(m, graphs=tmp_path / "store.bin")
    assert str(tmp_path / "store.bin") in str(err.value) and "not a RadGraph JSON text file" in str(err.value)


def test_data_check_notes_a_text_only_manifest(tmp_path, capsys) -> None:
    m = _manifest(tmp_path)
    assert main(["data", "check", m, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "note: 3 row(s) have report text but no graphs" in out and f"graphclr extract {m}" in out
