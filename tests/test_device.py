"""One device helper: device names, and moving batches (DGL graphs stay on the CPU)."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from graphclr.device import move_batch, resolve_device
from graphclr.graphs import ReportBatch, batch_graphs
from graphclr.reports.schema import Entity, Relation, ReportGraph

RG = ReportGraph("r", "no effusion left lung", [
    Entity("effusion", "OBS-DA", 1, 1), Entity("left lung", "ANAT-DP", 2, 3)],
    [Relation("located_at", 0, 1)])


def test_resolve_device_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    cuda = torch.cuda.is_available()
    assert resolve_device("auto") == torch.device("cuda" if cuda else "cpu")
    assert resolve_device("auto", local_rank=0) == torch.device("cuda:0" if cuda else "cpu")
    with pytest.raises(ValueError, match="'gpu': not a device name"):
        resolve_device("gpu")
    if cuda:
        assert resolve_device("cuda", local_rank=0) == torch.device("cuda:0")
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")


class Pair(NamedTuple):
    a: torch.Tensor
    b: int


class OnlyDevice:
    def __init__(self) -> None:
        self.moved_to = None

    def to(self, device):   # no non_blocking, like some tokenizer outputs
        self.moved_to = device
        return self


def test_move_batch_moves_tensors_and_report_batches_but_not_dgl_graphs() -> None:
    g = batch_graphs([RG])
    rb = ReportBatch.from_reports([RG, RG])
    moved = move_batch({"graph": g, "report": rb, "ids": [torch.zeros(2), Pair(torch.ones(1), 3)],
                        "n": 5, "tok": OnlyDevice()}, "meta")
    assert moved["graph"] is g and g.device.type == "cpu"
    assert isinstance(moved["report"], ReportBatch) and moved["report"].device.type == "meta"
    assert all(t.device.type == "meta" for t in moved["report"].ndata.values())
    assert moved["ids"][0].device.type == "meta"
    assert isinstance(moved["ids"][1], Pair) and moved["ids"][1].a.device.type == "meta"
    assert moved["ids"][1].b == 3 and moved["n"] == 5
    assert moved["tok"].moved_to == "meta"
    assert rb.device.type == "cpu"     # the original is left as it was


def test_encode_graph_takes_report_graphs_or_says_what_to_pass() -> None:
    from graphclr.models import create_model

    model = create_model("tiny", overrides={"graph_cfg": {"featurizer": "hashed"}}).eval()
    with torch.no_grad():
        want = model.encode_graph(model.report_processor([RG, ReportGraph("e", "")]))
        assert torch.equal(model.encode_graph([RG, ReportGraph("e", "")]), want)
        dgl_view = model.report_processor([RG, ReportGraph("e", "")]).to_dgl()
        assert torch.equal(model.encode_graph(dgl_view), want)
    for bad, what in (("effusion", "got str"), ([], "got an empty list"),
                      (["effusion"], "got list of str")):
        with pytest.raises(TypeError, match=f"list of ReportGraph.*{what}"):
            model.encode_graph(bad)
