"""The one model factory: create_model_for (what a model needs, from the data), the one
resolver, checkpoint errors that name the file and the model, the top-level API and the
raw-report processor (issue 13 item 2, issue 11 item 10)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import graphclr
from graphclr.graphs import Vocabulary
from graphclr.models import (
    add_model_config,
    create_model,
    create_model_for,
    get_model_config,
    get_report_processor,
    load_model,
    resolve_model_config,
    save_checkpoint,
)
from graphclr.reports.schema import Entity, Relation, ReportGraph
from graphclr.synth.pairs import SyntheticPairDataset
from graphclr.text import build_vocabulary

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_IMAGE = {"backbone": "tiny-cnn", "image_size": 32}


@pytest.fixture(scope="module")
def data() -> SyntheticPairDataset:
    return SyntheticPairDataset(6, image_size=32, seed=3)


class TextOnly:
    """A dataset of report texts without graphs (a text-only manifest)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    def report(self, idx: int) -> tuple[None, str]:
        return None, self.texts[idx]


TEXTS = ["Small left pleural effusion.", "No effusion. Heart size normal.", "Left effusion, small."]


# --- create_model_for ------------------------------------------------------------------------
def test_create_model_for_builds_a_vocabulary_for_the_tokens_featurizer_only(data) -> None:
    tokens = create_model_for(data, "tiny")
    assert tokens.vocab == Vocabulary.from_graphs(data.graphs)
    for featurizer in ("hashed",):
        model = create_model_for(data, "tiny", overrides={"graph_cfg": {"featurizer": featurizer}})
        assert model.vocab is None and model.cfg.graph_cfg.featurizer == featurizer
    given = Vocabulary.build([["effusion"]])
    assert create_model_for(data, "tiny", vocab=given).vocab == given


def test_create_model_for_text_models_builds_their_vocabulary_from_the_texts(data) -> None:
    model = create_model_for(data, "text-transformer", overrides={
        "image_cfg": TINY_IMAGE, "embed_dim": 8, "text_cfg": {"width": 8, "layers": 1, "heads": 2}})
    assert model.vocab == build_vocabulary([g.text for g in data.graphs], min_freq=2, max_size=5000)
    assert model.cfg.text_cfg.vocab == model.vocab.to_dict() and model.model_name == "text-transformer"
    texts = TextOnly(TEXTS)                         # a text-only dataset works for text models
    bow = create_model_for(texts, "text-bow", overrides={"image_cfg": TINY_IMAGE, "embed_dim": 8,
                                                         "text_cfg": {"vocab_min_freq": 1}})
    assert bow.vocab == build_vocabulary(TEXTS, min_freq=1) and len(bow.cfg.text_cfg.idf) == len(bow.vocab)


def test_tokens_model_on_a_text_only_dataset_is_one_clear_error() -> None:
    # before: an empty vocabulary was built and training failed later with a KeyError
    with pytest.raises(ValueError, match=r"^tiny: the 'tokens' featurizer needs a vocabulary .*graphclr extract"):
        create_model_for(TextOnly(TEXTS), "tiny")


def test_cli_pretrain_builds_no_vocabulary_for_a_hashed_model(tmp_path: Path) -> None:
    # before: the CLI built (and saved) a vocabulary for every graph model, the runner only
    # for the tokens featurizer; both now go through create_model_for
    from graphclr.cli import main

    out = tmp_path / "run"
    assert main(["pretrain", "--model", "tiny", "--generated", "8", "--generated-image-size", "32",
                 "--max-steps", "1", "--batch-size", "4", "--out", str(out), "--no-progress",
                 "--override", '{"graph_cfg": {"featurizer": "hashed"}}']) == 0
    assert not (out / "vocab.json").exists()
    assert load_model(out / "model.pt").vocab is None


def test_runner_uses_the_one_resolver_and_factory(tmp_path: Path, data) -> None:
    import graphclr.runner.models as run
    import graphclr.runner.run as runner

    for module in (run, runner):
        assert "resolve_model_config" not in module.__dict__          # its own copy is gone
        with pytest.warns(DeprecationWarning, match="graphclr.models.registry.resolve_model_config"):
            assert module.resolve_model_config is resolve_model_config
    mine = tmp_path / "text-bow.json"                          # a file shadowing a shipped name
    mine.write_text(json.dumps({"model_type": "text", "text_cfg": {"encoder": "bow", "hidden": 4}}))
    spec = {"model": {"embed_dim": 8, "image_cfg": TINY_IMAGE}}
    assert run.encoder_config(spec, {"model": str(mine)})["text_cfg"] == {"encoder": "bow", "hidden": 4}
    assert run.encoder_config(spec, {"model": "text-bow"})["text_cfg"] == get_model_config("text-bow")["text_cfg"]
    hashed = run.encoder_config(spec, {"model": "tiny", "overrides": {"graph_cfg": {"featurizer": "hashed"}}})

    assert run.build_model(hashed, data, 0).vocab is None
    assert run.build_model(run.encoder_config(spec, {"model": "tiny"}), data, 0).vocab == \
        Vocabulary.from_graphs(data.graphs)


def test_one_resolver_reads_names_paths_dicts(tmp_path: Path) -> None:
    assert resolve_model_config("tiny") == get_model_config("tiny")
    path = tmp_path / "sub" / "mine"
    with pytest.raises(FileNotFoundError, match="model config not found"):
        resolve_model_config(str(path))
    with pytest.raises(ValueError, match="unknown model 'no-such'; known: .*text-bow.*tiny"):
        resolve_model_config("no-such")


# --- checkpoint errors -----------------------------------------------------------------------
def test_load_model_of_a_plain_state_dict_names_the_file(tmp_path: Path) -> None:
    model = create_model("tiny", overrides={"graph_cfg": {"featurizer": "hashed"}})
    path = tmp_path / "plain_state_dict.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError, match=rf"^{path}: a bare state dict without a model config; "
                                         r"name the model .*create_model\(NAME, pretrained="):
        load_model(path)
    again = create_model("tiny", overrides={"graph_cfg": {"featurizer": "hashed"}}, pretrained=path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_checkpoint_of_another_model_is_one_error_naming_it(tmp_path: Path, data) -> None:
    cfg = get_model_config("tiny")
    cfg["embed_dim"], cfg["graph_cfg"]["width"] = 16, 24
    (tmp_path / "tiny-other.json").write_text(json.dumps(cfg))
    add_model_config(tmp_path / "tiny-other.json")
    other = create_model_for(data, "tiny-other")
    path = save_checkpoint(tmp_path / "other.pt", other)
    assert torch.load(path, weights_only=True)["model_name"] == "tiny-other"
    with pytest.raises(ValueError) as info:
        create_model("tiny", pretrained=path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: weights do not fit: the checkpoint was made for "
                                              "'tiny-other' (tiny-cnn image tower, graph tower, embed_dim 16), "
                                              "not 'tiny': ")
    assert "tensor(s) differ in shape" in msg and "load_model(path)" in msg
    # a checkpoint without a stored name is recognised by its config
    raw = torch.load(path, weights_only=True)
    del raw["model_name"]
    torch.save(raw, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"made for 'tiny-other' \(tiny-cnn"):
        create_model("tiny", pretrained=tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"other\.pt: the checkpoint \(made for 'tiny-other'.*different vocabulary"):
        create_model("tiny-other", pretrained=path, vocab=Vocabulary.build([["x"]]))
    assert load_model(path).model_name == "tiny-other"


# --- top-level API and the raw-report processor ----------------------------------------------
def test_top_level_api_is_lazy_and_the_models_one() -> None:
    code = ("import sys, graphclr; assert 'torch' not in sys.modules, 'import graphclr loaded torch'; "
            "m = graphclr.create_model_and_transforms; import graphclr.models as g; "
            "assert m is g.create_model_and_transforms and graphclr.load_model is g.load_model; "
            "assert graphclr.create_model is g.create_model and graphclr.list_models is g.list_models; "
            "assert graphclr.get_report_processor is g.get_report_processor; "
            "assert graphclr.create_model_for is g.create_model_for")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert {"create_model_and_transforms", "get_report_processor"} <= set(dir(graphclr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        graphclr.nope  # noqa: B018


def _graph() -> ReportGraph:
    return ReportGraph("r1", "Small left effusion .",
                       [Entity("Small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
                        Entity("effusion", "OBS-DP", 2, 2)],
                       [Relation("modify", 0, 2), Relation("located_at", 2, 1)])


def test_report_processor_takes_text_graphs_and_arrays(data) -> None:
    from graphclr.graphs import encode_report
    from graphclr.reports.extract import extract_reports

    model = create_model_for(data, "tiny").eval()
    process = get_report_processor(model)
    text = "FINDINGS: Small left pleural effusion. No pneumothorax."
    with torch.no_grad():
        from_text = model.encode_report(process([text, _graph()]))
        expected = model.encode_report(model.report_processor([next(iter(extract_reports([text]))), _graph()]))
        torch.testing.assert_close(from_text, expected, rtol=0, atol=0)
        one = model.encode_report(process(encode_report(_graph(), model.vocab)))
        torch.testing.assert_close(one, expected[1:], rtol=1e-6, atol=1e-6)
    assert pickle.loads(pickle.dumps(process)).report_key == "graph"
    calls = []
    custom = get_report_processor(model, extractor=lambda ts: calls.append(ts) or [_graph() for _ in ts])
    custom(["anything"])
    assert calls == [["anything"]]


def test_report_processor_of_a_text_model(data) -> None:
    from graphclr.graphs import encode_report

    model = create_model_for(data, "text-bow", overrides={"image_cfg": TINY_IMAGE, "embed_dim": 8})
    process = get_report_processor(model)
    assert torch.equal(process([_graph(), "no effusion"]), model.report_processor([_graph().text, "no effusion"]))
    assert torch.equal(process("no effusion"), model.report_processor(["no effusion"]))
    with pytest.raises(TypeError, match="report 0: a text model needs report text or a ReportGraph"):
        process([encode_report(_graph())])
    with pytest.raises(TypeError, match="has no report_processor"):
        get_report_processor(torch.nn.Linear(2, 2))


def test_no_deprecation_warning_from_the_new_paths(data) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        create_model_for(data, "text-bow", overrides={"image_cfg": TINY_IMAGE, "embed_dim": 8})


# --- one of each helper ------------------------------------------------------------------------
def test_one_report_field_lookup() -> None:
    import importlib.util

    from graphclr.data.base import report_key_of
    from graphclr.train.data import report_key_of as train_key

    # eval reads the field through data.base.report_key_of too; its wrapper module is gone
    assert importlib.util.find_spec("graphclr.eval._model") is None
    assert train_key is report_key_of

    class Wrapped:                     # DDP-style wrapper of a text model
        module = type("TextModel", (), {"report_key": "text"})()

    assert report_key_of(Wrapped()) == "text" and report_key_of(object()) == "graph"
    with pytest.raises(ValueError, match="report_key must be one of"):
        report_key_of(type("Odd", (), {"report_key": "image"})())


def test_one_shipped_json_reader(tmp_path: Path) -> None:
    from graphclr.eval.zeroshot import builtin_prompts, load_prompts
    from graphclr.runner.spec import default_spec_path, load_spec
    from graphclr.shipped import find_json, read_json, shipped_names

    assert builtin_prompts() == shipped_names("eval/prompts") and "chexpert5" in builtin_prompts()
    assert default_spec_path() == find_json("default", "runner/specs")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": 1,\n  oops}')
    for read in (read_json, load_prompts, load_spec, add_model_config):   # every reader: file and line
        with pytest.raises(ValueError, match=rf"^{broken}: invalid JSON at line 2"):
            read(broken)
    with pytest.raises(FileNotFoundError, match=r"no prompt set 'nope' \(not a file, and not one of the shipped: .*chexpert5"):
        load_prompts("nope")
    with pytest.raises(FileNotFoundError, match=r"no benchmark spec 'nope' .*default"):
        load_spec("nope")
