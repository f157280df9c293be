"""graphclr eval CHECKPOINT: the benchmark's protocol on a saved checkpoint, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_data_fixtures import radgraph_record, write_image

SIDES = ["left", "right"]


def _write_data(root: Path) -> Path:
    """40 paired items (images of different sizes), 20 patients, train/val/test by patient."""
    rows = []
    for k in range(40):
        effusion, cardio = k % 2, (k // 2) % 2
        size = (64 + 8 * (k % 3), 56 + 4 * (k % 4))
        write_image(root / "img" / f"i{k}.png", size=size, seed=k)
        side = SIDES[k % 2]
        text = f"{'large' if cardio else 'normal'} heart {side} {'effusion' if effusion else 'lung clear'}"
        ents = [("heart", "ANAT-DP", 1, [])]
        ents.append(("effusion", "OBS-DP", 3, [("located_at", 3)]) if effusion else ("clear", "OBS-DA", 4, []))
        ents.append((side, "ANAT-DP", 2, []))
        patient = k // 2
        split = "train" if patient < 12 else ("val" if patient < 16 else "test")
        rows.append({"path": f"img/i{k}.png", "patient_id": f"pt{patient}", "split": split,
                     "Cardiomegaly": cardio, "Pleural Effusion": effusion,
                     "graph_json": json.dumps(radgraph_record(text, ents))})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def _checkpoint(path: Path, manifest: Path, seed: int) -> Path:
    from graphclr.data import ManifestDataset, dataset_reports
    from graphclr.graphs import Vocabulary
    from graphclr.models import create_model
    from graphclr.models.factory import save_checkpoint
    from graphclr.utils import seed_everything

    seed_everything(seed)
    vocab = Vocabulary.from_graphs(dataset_reports(ManifestDataset(manifest), "graph"))
    model = create_model("tiny", vocab=vocab, overrides={"embed_dim": 16, "image_cfg": {"backbone": "cpu-cnn",
                                                                                         "image_size": 32}})
    return save_checkpoint(path, model)


SETTINGS = ["--labels", "Cardiomegaly,Pleural Effusion", "--set", "n_bootstrap=20", "--set", "probe.epochs=5",
            "--set", "linear_probe.fractions=[0.5,1.0]", "--set", "linear_probe.seeds=[0]",
            "--set", "few_shot.ks=[1]", "--set", "retrieval.ks=[1,5]", "--no-progress", "--device", "cpu"]


@pytest.mark.slow
def test_eval_a_checkpoint_end_to_end(tmp_path, capsys, one_thread):
    import torch
    from PIL import Image

    from graphclr.cli import main
    from graphclr.eval import FeatureSet, ProbeConfig, linear_probe_eval
    from graphclr.models import load_model
    from graphclr.models.image import image_transform

    manifest = _write_data(tmp_path / "data")
    ckpt = _checkpoint(tmp_path / "model.pt", manifest, seed=0)
    out = tmp_path / "eval"
    assert main(["eval", str(ckpt), "--csv", str(manifest), "--out", str(out), *SETTINGS]) == 0
    printed = capsys.readouterr().out
    assert f"report:  {out / 'report.md'}" in printed

    # the features are the checkpoint's image tower under its eval transform, image by image
    model = load_model(ckpt).eval()
    tf = image_transform(model.preprocess_cfg, is_train=False)
    test = FeatureSet.load(out / "encoders" / "model" / "features_test.npz")
    table = pd.read_csv(manifest)
    test_rows = table[table["split"] == "test"]
    assert test.ids == [str(Path(p).with_suffix("")) for p in test_rows["path"]] and len(test) == 8
    with torch.no_grad():
        images = torch.stack([tf(Image.open(manifest.parent / p)) for p in test_rows["path"]])
        expected = model.encode_image(images, normalize=False).numpy()
    assert images.shape[-2:] == (32, 32)
    np.testing.assert_allclose(test.features, expected, rtol=1e-5, atol=1e-5)

    # the numbers are the protocol's on those features
    results = json.loads((out / "results.json").read_text())
    assert results["kind"] == "eval" and results["labels"] == ["Cardiomegaly", "Pleural Effusion"]
    assert (results["dataset"]["n_train"], results["dataset"]["n_val"], results["dataset"]["n_test"]) == (24, 8, 8)
    enc = results["encoders"]["model"]
    assert enc["checkpoint"] == str(ckpt) and enc["parameters"] == sum(p.numel() for p in model.parameters())
    assert set(enc) >= {"linear_probe", "few_shot", "zero_shot", "retrieval"}
    feats = {s: FeatureSet.load(out / "encoders" / "model" / f"features_{s}.npz") for s in ("train", "val", "test")}
    lp = linear_probe_eval(feats["train"], feats["val"], feats["test"], labels=["Cardiomegaly", "Pleural Effusion"],
                           fractions=(0.5, 1.0), seeds=(0,), config=ProbeConfig(epochs=5), n_bootstrap=20)
    assert enc["linear_probe"]["100%"]["metrics"]["mean"]["auroc"] == \
        json.loads(json.dumps(lp["100%"]["metrics"]["mean"]["auroc"]))
    assert enc["linear_probe"]["50%"]["n_train"] == lp["50%"]["n_train"]
    assert enc["zero_shot"]["labels"] == ["Cardiomegaly", "Pleural Effusion"]
    assert enc["retrieval"]["n_candidates"] >= 2
    report = (out / "report.md").read_text()
    assert report.startswith("# graphclr eval: ")
    assert "## Linear probe: mean AUROC over labels" in report and "## Zero-shot from prompt graphs" in report
    assert "## Retrieval on the test set" in report and f"checkpoint `{ckpt}`" in report
    for png in ("auroc_vs_label_fraction", "roc_linear_probe", "roc_zero_shot"):
        assert (out / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"

    # the same evaluation again reuses the cached features and gives the same numbers
    assert main(["eval", str(ckpt), "--csv", str(manifest), "--out", str(out), *SETTINGS]) == 0
    assert json.loads((out / "results.json").read_text())["encoders"]["model"]["linear_probe"] == enc["linear_probe"]
    capsys.readouterr()
    # another checkpoint into the same folder and name is refused (one line, exit 2), then replaced on request
    other = _checkpoint(tmp_path / "other" / "model.pt", manifest, seed=1)
    assert main(["eval", str(other), "--csv", str(manifest), "--out", str(out), *SETTINGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"graphclr eval: error: {out / 'encoders' / 'model'} holds an evaluation of another "
                   "checkpoint, dataset or settings; use another --out or --name, or --overwrite to replace it"]
    assert main(["eval", str(other), "--csv", str(manifest), "--out", str(out), "--overwrite", *SETTINGS]) == 0
    again = json.loads((out / "results.json").read_text())["encoders"]["model"]
    assert again["checkpoint"] == str(other) and again["linear_probe"] != enc["linear_probe"]
    # nor is another name's evaluation written over this folder's results.json
    assert main(["eval", str(other), "--csv", str(manifest), "--out", str(out), "--name", "other", *SETTINGS]) == 2
    assert capsys.readouterr().err.strip() == (f"graphclr eval: error: {out} holds the results of another run "
                                               "(eval 'model'); use another --out, or --overwrite to replace "
                                               "its results.json")


@pytest.mark.parametrize("args, message", [
    ([], "give exactly one of --csv MANIFEST, --dataset FILE or --spec SPEC"),
    (["--csv", "m.csv", "--spec", "default"], "give exactly one of --csv MANIFEST, --dataset FILE or --spec SPEC "
                                              "(got --csv, --spec)"),
    (["--spec", "default", "--graphs", "g.json"], "--graphs and --image-root go with --csv"),
    (["--csv", "m.csv", "--name", "a b"], "--name 'a b': use letters, digits, '-', '_', '.'"),
])
def test_eval_usage_errors_are_one_line(tmp_path, capsys, args, message):
    from graphclr.cli import main

    assert main(["eval", str(tmp_path / "model.pt"), "--out", str(tmp_path / "o"), *args]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"graphclr eval: error: {message}"]


def test_eval_names_a_bad_setting_and_a_missing_label(tmp_path, capsys):
    from graphclr.cli import main

    manifest = _write_data(tmp_path / "data")
    ckpt = _checkpoint(tmp_path / "model.pt", manifest, seed=0)
    base = ["eval", str(ckpt), "--csv", str(manifest), "--out", str(tmp_path / "o")]
    assert main([*base, "--set", "few_shot.k=[1]"]) == 2
    assert capsys.readouterr().err.strip() == ("graphclr eval: error: evaluations.few_shot: unknown field(s) ['k']; "
                                               "known: ['ks', 'seeds']")
    assert main([*base, "--labels", "Edema"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no label column(s) ['Edema']" in err[0] and "--labels" in err[0]


def test_eval_from_a_dataset_section_without_a_pretraining_set(tmp_path, capsys, one_thread):
    from graphclr.cli import main

    manifest = _write_data(tmp_path / "data")
    ckpt = _checkpoint(tmp_path / "model.pt", manifest, seed=0)
    # paths relative to the JSON file, each split a dataset spec (graphclr.data.open_dataset), no 'pretrain'
    section = {"kind": "datasets", **{name: {"type": "manifest", "manifest": "data/manifest.csv", "split": split}
                                      for name, split in (("probe_train", "train"), ("probe_val", "val"),
                                                          ("test", "test"))}}
    (tmp_path / "dataset.json").write_text(json.dumps(section))
    (tmp_path / "evaluations.json").write_text(json.dumps({"n_bootstrap": 10, "probe": {"epochs": 2},
                                                           "linear_probe": {"fractions": [1.0], "seeds": [0]}}))
    out = tmp_path / "eval"
    assert main(["eval", str(ckpt), "--dataset", str(tmp_path / "dataset.json"), "--config",
                 str(tmp_path / "evaluations.json"), "--labels", "Cardiomegaly", "--name", "tiny", "--out", str(out),
                 "--no-progress", "--device", "cpu"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert (results["dataset"]["n_train"], results["dataset"]["n_val"], results["dataset"]["n_test"]) == (24, 8, 8)
    assert "n_pretrain" not in results["dataset"]
    assert list(results["encoders"]) == ["tiny"]
    enc = results["encoders"]["tiny"]
    assert set(enc) & {"linear_probe", "few_shot", "zero_shot", "retrieval"} == {"linear_probe"}
    assert enc["linear_probe"]["100%"]["n_train"] == [24]
    assert results["command"].startswith(f"graphclr eval {ckpt} --dataset ")
