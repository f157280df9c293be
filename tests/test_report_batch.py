"""ReportBatch: the layout against a loop-by-loop twin, every way of making one, devices,
pickling, and the encoder's presorted edges against the unsorted plan."""

from __future__ import annotations

import pickle

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_graphs import VOCAB, report_graphs

from graphclr.constants import RELATION_IDS
from graphclr.graphs import ReportBatch, batch_graphs, encode_report, to_homogeneous
from graphclr.nn.naive import reference_rgcn_layer
from graphclr.nn.rgcn import FastRelGraphConv, edge_plan
from graphclr.reports.schema import Entity, Relation, ReportGraph

ETYPE_ORDER = sorted({(s, r + rev, d) for s in ("anatomy", "observation")
                      for d in ("anatomy", "observation")
                      for r in ("located_at", "modify", "suggestive_of") for rev in ("", "_rev")})


def naive_batch(reports: list[ReportGraph]) -> dict:
    """The documented layout, spelled out one report, node and relation at a time."""
    nodes, edges, comp_ids = [], [], []
    comp_base = 0
    for gi, rg in enumerate(reports):
        order = [i for i, e in enumerate(rg.entities) if e.kind == "anatomy"] + \
                [i for i, e in enumerate(rg.entities) if e.kind == "observation"]
        pos = {ent: len(nodes) + k for k, ent in enumerate(order)}
        nxg = nx.Graph()
        nxg.add_nodes_from(range(len(rg.entities)))
        nxg.add_edges_from((r.head, r.tail) for r in rg.relations)
        comps = sorted((min(c) for c in nx.connected_components(nxg)))
        comp_of = {n: comps.index(min(c)) for c in nx.connected_components(nxg) for n in c}
        for ent in order:
            nodes.append((gi, ent))
            comp_ids.append(comp_base + comp_of[ent])
        comp_base += len(comps)
        per_report = []
        for k, r in enumerate(rg.relations):
            hk, tk = rg.entities[r.head].kind, rg.entities[r.tail].kind
            per_report.append((ETYPE_ORDER.index((hk, r.type, tk)), k,
                               (pos[r.head], pos[r.tail], RELATION_IDS[r.type])))
            per_report.append((ETYPE_ORDER.index((tk, r.type + "_rev", hk)), k,
                               (pos[r.tail], pos[r.head], RELATION_IDS[r.type + "_rev"])))
        edges += [(gi, et, k, e) for et, k, e in per_report]
    # by relation, then report, then edge type, then relation order in the report
    edges.sort(key=lambda x: (x[3][2], x[0], x[1], x[2]))
    return {"nodes": nodes, "edges": [e[3] for e in edges], "component_id": comp_ids}


def assert_same_batch(a: ReportBatch, b: ReportBatch) -> None:
    assert a.ndata.keys() == b.ndata.keys()
    for k in a.ndata:
        assert torch.equal(a.ndata[k], b.ndata[k]), k
    for k in ("src", "dst", "rel", "etype", "node_offsets", "edge_counts"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k
    assert (a.rel_counts, a.num_components, a.batch_size, a.num_nodes) == \
        (b.rel_counts, b.num_components, b.batch_size, b.num_nodes)


@settings(max_examples=40, deadline=None)
@given(st.lists(report_graphs(), min_size=1, max_size=4))
def test_layout_matches_the_naive_twin(reports: list[ReportGraph]) -> None:
    b = ReportBatch.from_reports(reports, VOCAB)
    want = naive_batch(reports)
    assert [(int(g), int(e)) for g, e in zip(b.graph_id, b.ndata["entity_index"])] == want["nodes"]
    assert list(zip(b.src.tolist(), b.dst.tolist(), b.rel.tolist())) == want["edges"]
    assert b.component_id.tolist() == want["component_id"]
    assert b.num_components == (max(want["component_id"]) + 1 if want["component_id"] else 0)
    sizes = [len(r.entities) for r in reports]
    assert b.node_offsets.tolist() == [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    assert b.edge_counts.tolist() == [2 * len(r.relations) for r in reports]
    assert list(b.rel_counts) == [sum(1 for e in want["edges"] if e[2] == r) for r in range(6)]
    # every way of making the same batch gives the same batch
    assert_same_batch(ReportBatch.from_reports([encode_report(r, VOCAB) for r in reports]), b)
    hetero = batch_graphs(reports, VOCAB)
    assert_same_batch(ReportBatch.from_dgl(hetero), b)
    assert_same_batch(ReportBatch.from_dgl(to_homogeneous(hetero)), b)
    assert_same_batch(ReportBatch.from_dgl(b.to_dgl(homogeneous=True)), b)


def test_moves_pickles_and_takes_node_data() -> None:
    rg = ReportGraph("r", "no effusion left lung", [
        Entity("effusion", "OBS-DA", 1, 1), Entity("left lung", "ANAT-DP", 2, 3)],
        [Relation("located_at", 0, 1)])
    b = ReportBatch.from_reports([rg, rg], node_data={"x": torch.arange(4.0).numpy()})
    # entity order (effusion, left lung, effusion, left lung) -> node order (anatomy first)
    assert b.ndata["x"].tolist() == [1.0, 0.0, 3.0, 2.0]
    moved = b.to("meta")
    assert moved.device.type == "meta"
    assert all(t.device.type == "meta" for t in moved.ndata.values())
    assert moved.node_offsets.device.type == "meta" and b.device.type == "cpu"
    assert_same_batch(pickle.loads(pickle.dumps(b)), b)
    with pytest.raises(ValueError, match="needs 4 rows"):
        b.with_node_data("y", torch.zeros(3))
    with pytest.raises(ValueError, match="3 rows for 4 entities"):
        ReportBatch.from_reports([rg, rg], node_data={"x": torch.zeros(3).numpy()})


@pytest.mark.parametrize("regularizer,num_bases", [("basis", 3), ("bdd", 2)])
def test_presorted_edges_give_the_sorting_plan_and_the_reference(regularizer, num_bases) -> None:
    reports = [ReportGraph("a", "x", [Entity("a", "OBS-DP", 0, 0), Entity("b", "ANAT-DP", 1, 1),
                                      Entity("c", "OBS-U", 2, 2), Entity("d", "ANAT-DP", 3, 3)],
                           [Relation("located_at", 0, 1), Relation("modify", 2, 0),
                            Relation("suggestive_of", 0, 2), Relation("modify", 3, 1),
                            Relation("located_at", 1, 3)])]
    b = ReportBatch.from_reports(reports * 3)
    perm = torch.randperm(b.src.shape[0], generator=torch.Generator().manual_seed(0))
    unsorted = edge_plan(b.src[perm], b.dst[perm], b.rel[perm], b.num_nodes, 6)
    presorted = edge_plan(b.src, b.dst, b.rel, b.num_nodes, 6, presorted=True)
    assert presorted.seglen == unsorted.seglen == list(b.rel_counts)
    assert sorted(zip(presorted.src.tolist(), presorted.dst.tolist())) == \
        sorted(zip(unsorted.src.tolist(), unsorted.dst.tolist()))
    torch.manual_seed(0)
    layer = FastRelGraphConv(4, 4, 6, regularizer=regularizer, num_bases=num_bases,
                             activation=torch.relu)
    x = torch.randn(b.num_nodes, 4)
    want = reference_rgcn_layer(layer, x, b.src.tolist(), b.dst.tolist(), b.rel.tolist())
    torch.testing.assert_close(layer(None, x, None, plan=presorted), want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(layer(None, x, None, plan=unsorted), want, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="not sorted by relation"):
        edge_plan(b.src.flip(0), b.dst.flip(0), b.rel.flip(0), b.num_nodes, 6, presorted=True)
