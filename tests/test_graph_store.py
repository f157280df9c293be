"""The chunked graph store and the chunked ``build_graphs``: every per-report graph equals
``to_heterograph`` of its report (the per-report twin), across chunk boundaries."""

from __future__ import annotations

import json
from pathlib import Path

import dgl
import pytest
import torch
from test_graphs import assert_same_graph

from graphclr.graphs import (
    build_graphs,
    encode_report,
    load_graph_store,
    save_graph_store,
    to_heterograph,
)
from graphclr.graphs.store import STORE_FORMAT
from graphclr.reports.schema import Entity, Relation, ReportGraph, read_radgraph


def _reports(radgraph_dir: Path) -> list[ReportGraph]:
    """Fixture reports plus hand-written ones: empty, single node, off-schema relations."""
    out = list(read_radgraph(radgraph_dir / "MIMIC-CXR_graphs.json"))
    out += list(read_radgraph(radgraph_dir / "train.json")) + list(read_radgraph(radgraph_dir / "dev.json"))
    out.append(ReportGraph("empty", ""))
    out.append(ReportGraph("one", "edema", [Entity("edema", "OBS-U", 0, 0)]))
    out.append(ReportGraph("off", "lung base opacity", [
        Entity("lung", "ANAT-DP", 0, 0), Entity("base", "ANAT-DP", 1, 1),
        Entity("opacity", "OBS-DP", 2, 2)],
        [Relation("located_at", 0, 1), Relation("modify", 2, 1), Relation("located_at", 2, 0)]))
    for i, r in enumerate(out):   # ids unique over the mix of files
        out[i] = ReportGraph(f"{i}:{r.id}", r.text, r.entities, r.relations)
    return out


def test_off_schema_fixture_is_what_it_claims(radgraph_dir: Path) -> None:
    g = to_heterograph(_reports(radgraph_dir)[-1])
    assert g.num_edges(("anatomy", "located_at", "anatomy")) == 1
    assert g.num_edges(("observation", "modify", "anatomy")) == 1
    assert g.num_edges(("observation", "located_at", "anatomy")) == 1


@pytest.mark.parametrize("chunk_size", [1, 3, 1024])
def test_store_of_arrays_reads_back_per_report_graphs(tmp_path: Path, radgraph_dir: Path,
                                                      chunk_size: int) -> None:
    reports = _reports(radgraph_dir)
    path = tmp_path / "s.bin"
    save_graph_store(path, [encode_report(r) for r in reports], [r.id for r in reports],
                     {"k": 1}, chunk_size=chunk_size)
    store = load_graph_store(path)
    assert store.ids == [r.id for r in reports] and store.metadata == {"k": 1}
    assert len(store) == len(reports)
    for g, r in zip(store.graphs, reports):
        assert g.idtype == torch.int64
        assert_same_graph(g, to_heterograph(r))
    # any order, repeats, across chunks
    picks = [len(reports) - 1, 0, 4, 4, 2]
    part = load_graph_store(path, picks)
    assert part.ids == [reports[i].id for i in picks]
    for g, i in zip(part.graphs, picks):
        assert_same_graph(g, to_heterograph(reports[i]))
    # the slices batch like graphs built one by one
    assert_same_graph(dgl.batch(part.graphs), dgl.batch([to_heterograph(reports[i]) for i in picks]))


def test_store_reads_only_the_chunks_it_needs(tmp_path: Path, radgraph_dir: Path, monkeypatch) -> None:
    reports = _reports(radgraph_dir)
    path = tmp_path / "s.bin"
    save_graph_store(path, [encode_report(r) for r in reports], [r.id for r in reports], chunk_size=2)
    asked = []
    real = dgl.load_graphs

    def spy(filename, idx_list=None):
        asked.append(idx_list)
        return real(filename, idx_list)

    monkeypatch.setattr(dgl, "load_graphs", spy)
    store = load_graph_store(path, [5, 0, 1])
    assert asked == [[0, 2]]                       # reports 0, 1 in chunk 0; 5 in chunk 2
    assert_same_graph(store.graphs[0], to_heterograph(reports[5]))
    with pytest.raises(IndexError, match=rf"s\.bin: no graph {len(reports)} "):
        load_graph_store(path, [len(reports)])


def test_store_of_heterographs_equals_store_of_arrays(tmp_path: Path, radgraph_dir: Path) -> None:
    reports = _reports(radgraph_dir)
    ids = [r.id for r in reports]
    save_graph_store(tmp_path / "a.bin", [encode_report(r) for r in reports], ids, chunk_size=4)
    save_graph_store(tmp_path / "g.bin", [to_heterograph(r) for r in reports], ids, chunk_size=4)
    for a, b in zip(load_graph_store(tmp_path / "a.bin").graphs, load_graph_store(tmp_path / "g.bin").graphs):
        assert_same_graph(a, b)
    with pytest.raises(TypeError, match="not a mix"):
        save_graph_store(tmp_path / "m.bin", [encode_report(reports[0]), to_heterograph(reports[1])], ids[:2])


def test_empty_store(tmp_path: Path) -> None:
    save_graph_store(tmp_path / "e.bin", [], [], {"n": 0})
    store = load_graph_store(tmp_path / "e.bin")
    assert store.graphs == [] and store.ids == [] and store.metadata == {"n": 0}


def _write_store(path: Path, graphs, meta: dict) -> None:
    blob = torch.frombuffer(bytearray(json.dumps(meta).encode("utf-8")), dtype=torch.uint8).clone()
    dgl.save_graphs(str(path), graphs, {"__graphclr_meta__": blob})


def test_format_1_stores_are_still_read(tmp_path: Path, radgraph_dir: Path) -> None:
    reports = _reports(radgraph_dir)[:5]
    graphs = [to_heterograph(r) for r in reports]
    path = tmp_path / "old.bin"       # what graphclr wrote before chunking: one graph per report
    _write_store(path, graphs, {"format": "graphclr-graph-store/1", "ids": [r.id for r in reports],
                                "metadata": {"v": 1}})
    store = load_graph_store(path)
    assert store.ids == [r.id for r in reports] and store.metadata == {"v": 1}
    for a, b in zip(store.graphs, graphs):
        assert_same_graph(a, b)
    part = load_graph_store(path, [3, 1])
    assert part.ids == [reports[3].id, reports[1].id]
    assert_same_graph(part.graphs[0], graphs[3])


def test_unknown_format_names_the_file_and_the_rebuild_command(tmp_path: Path) -> None:
    path = tmp_path / "future.bin"
    _write_store(path, [to_heterograph(ReportGraph("a", ""))],
                 {"format": "graphclr-graph-store/99", "ids": ["a"], "metadata": {}})
    with pytest.raises(ValueError) as err:
        load_graph_store(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "graphclr graphs build" in msg
    assert "'graphclr-graph-store/99'" in msg and STORE_FORMAT in msg


@pytest.mark.parametrize("chunk_size", [1, 2, 1024])
def test_build_graphs_equals_to_heterograph(radgraph_dir: Path, chunk_size: int) -> None:
    from graphclr.graphs import Vocabulary

    reports = _reports(radgraph_dir)
    vocab = Vocabulary.from_graphs(reports)
    built = build_graphs(iter(reports), vocab, max_tokens=3, chunk_size=chunk_size)
    assert len(built) == len(reports)
    for g, r in zip(built, reports):
        assert_same_graph(g, to_heterograph(r, vocab, max_tokens=3))
    assert build_graphs([], vocab) == []
