"""DGL heterographs: hand-counted structure, agreement with dgl.heterograph/dgl.batch,
components, homogeneous view, vocabulary, graph store, rendering."""

from __future__ import annotations

import json
from pathlib import Path

import dgl
import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphclr.constants import ENTITY_LABELS, RELATION_IDS, RELATIONS
from graphclr.graphs import (
    CANONICAL_ETYPES,
    SCHEMA_ETYPES,
    GraphStore,
    Vocabulary,
    batch_graphs,
    connected_components,
    empty_heterograph,
    encode_report,
    graph_component_counts,
    load_graph_store,
    render_graph,
    save_graph_store,
    to_heterograph,
    to_homogeneous,
)
from graphclr.reports.schema import Entity, Relation, ReportGraph, read_radgraph

SCHEMA_PAIRS = {("observation", "located_at", "anatomy"), ("anatomy", "modify", "anatomy"),
                ("observation", "modify", "observation"),
                ("observation", "suggestive_of", "observation")}
#: every relation between every ordered pair of node types, and the reverses: 24 types
ALL_ETYPES = {(s, r + rev, d) for s in ("anatomy", "observation") for d in ("anatomy", "observation")
              for r in RELATIONS for rev in ("", "_rev")}


# --- an independent reference built with DGL's public API --------------------------------
def reference_heterograph(g: ReportGraph, vocab: Vocabulary | None = None, max_tokens: int = 4):
    """The documented layout, built the slow, obvious way with dgl.heterograph."""
    kinds = [e.kind for e in g.entities]
    local = {}
    per_type = {"anatomy": [], "observation": []}
    for i, k in enumerate(kinds):
        local[i] = len(per_type[k])
        per_type[k].append(i)
    edges = {c: ([], []) for c in sorted(ALL_ETYPES)}
    for r in g.relations:   # off-schema pairs too: each under its own edge type
        s, d = kinds[r.head], kinds[r.tail]
        edges[(s, r.type, d)][0].append(local[r.head])
        edges[(s, r.type, d)][1].append(local[r.tail])
        edges[(d, r.type + "_rev", s)][0].append(local[r.tail])
        edges[(d, r.type + "_rev", s)][1].append(local[r.head])
    nxg = nx.Graph()
    nxg.add_nodes_from(range(len(kinds)))
    for r in g.relations:
        nxg.add_edge(r.head, r.tail)
    comps = sorted((sorted(c) for c in nx.connected_components(nxg)), key=min)
    comp_of = {n: ci for ci, c in enumerate(comps) for n in c}
    h = dgl.heterograph({c: (torch.tensor(u, dtype=torch.int64), torch.tensor(v, dtype=torch.int64))
                         for c, (u, v) in edges.items()},
                        num_nodes_dict={t: len(ix) for t, ix in per_type.items()}, idtype=torch.int64)
    cert = {"present": 0, "absent": 1, "uncertain": 2}
    for t, ix in per_type.items():
        ents = [g.entities[i] for i in ix]
        tok = torch.zeros((len(ix), max_tokens), dtype=torch.int64)
        ntok = []
        for row, e in enumerate(ents):
            words = e.tokens.split()[:max_tokens]
            ids = vocab.lookup(words) if vocab else [1] * len(words)
            tok[row, : len(ids)] = torch.tensor(ids)
            ntok.append(len(ids))
        h.nodes[t].data["certainty"] = torch.tensor([cert[e.certainty] for e in ents], dtype=torch.int64)
        h.nodes[t].data["entity_type"] = torch.tensor(
            [(0 if t == "anatomy" else 3) + cert[e.certainty] for e in ents], dtype=torch.int64)
        h.nodes[t].data["tokens"] = tok
        h.nodes[t].data["num_tokens"] = torch.tensor(ntok, dtype=torch.int64)
        h.nodes[t].data["component"] = torch.tensor([comp_of[i] for i in ix], dtype=torch.int64)
        h.nodes[t].data["entity_index"] = torch.tensor(ix, dtype=torch.int64)
    return h


def assert_same_graph(a, b) -> None:
    assert a.ntypes == b.ntypes
    assert a.canonical_etypes == b.canonical_etypes
    assert a.batch_size == b.batch_size
    for t in a.ntypes:
        assert a.num_nodes(t) == b.num_nodes(t), t
        assert torch.equal(a.batch_num_nodes(t), b.batch_num_nodes(t)), t
        assert sorted(a.nodes[t].data.keys()) == sorted(b.nodes[t].data.keys())
        for k in a.nodes[t].data:
            assert torch.equal(a.nodes[t].data[k], b.nodes[t].data[k]), (t, k)
    for c in a.canonical_etypes:
        ua, va = a.edges(etype=c)
        ub, vb = b.edges(etype=c)
        assert torch.equal(ua, ub) and torch.equal(va, vb), c
        assert torch.equal(a.batch_num_edges(c), b.batch_num_edges(c)), c


# --- hand-counted structure ---------------------------------------------------------------
def test_heterograph_counts_by_hand(radgraph_dir: Path) -> None:
    rg = read_radgraph(radgraph_dir / "train.json")[0]
    g = to_heterograph(rg)
    # anatomy: left, pleural, right, lower, lobe, Heart, size; observations: small,
    # effusion, Patchy, opacity, pneumonia, normal, pneumothorax
    assert g.num_nodes("anatomy") == 7
    assert g.num_nodes("observation") == 7
    expected = {
        ("observation", "located_at", "anatomy"): 3,      # effusion, opacity, normal
        ("anatomy", "modify", "anatomy"): 4,              # left, right, lower, Heart
        ("observation", "modify", "observation"): 2,      # small, Patchy
        ("observation", "suggestive_of", "observation"): 1,  # opacity -> pneumonia
    }
    for (s, r, d), n in expected.items():
        assert g.num_edges((s, r, d)) == n
        assert g.num_edges((d, r + "_rev", s)) == n
    assert g.num_edges() == 20
    assert set(g.canonical_etypes) == set(CANONICAL_ETYPES) == ALL_ETYPES
    # opacity (observation #3) is located_at lobe (anatomy #4) and suggests pneumonia (obs #4)
    u, v = g.edges(etype=("observation", "located_at", "anatomy"))
    assert (3, 4) in set(zip(u.tolist(), v.tolist()))
    u, v = g.edges(etype=("observation", "suggestive_of", "observation"))
    assert (u.tolist(), v.tolist()) == ([3], [4])
    # components: {small effusion left pleural} {Patchy opacity right lower lobe pneumonia}
    # {Heart size normal} {pneumothorax}
    tokens = {e: i for i, e in enumerate(x.tokens for x in rg.entities)}
    comp = {}
    for t in g.ntypes:
        for ei, c in zip(g.nodes[t].data["entity_index"].tolist(), g.nodes[t].data["component"].tolist()):
            comp[rg.entities[ei].tokens] = c
    assert comp == {"small": 0, "left": 0, "pleural": 0, "effusion": 0,
                    "Patchy": 1, "opacity": 1, "right": 1, "lower": 1, "lobe": 1, "pneumonia": 1,
                    "Heart": 2, "size": 2, "normal": 2, "pneumothorax": 3}
    assert len(tokens) == 14
    assert graph_component_counts(g).tolist() == [4]


def test_certainty_and_entity_type_features(radgraph_dir: Path) -> None:
    rg = read_radgraph(radgraph_dir / "dev.json")[0]  # Mild ... congestion ... early edema (OBS-U)
    g = to_heterograph(rg)
    obs = [rg.entities[i].tokens for i in g.nodes["observation"].data["entity_index"].tolist()]
    assert obs == ["Mild", "congestion", "early", "edema"]
    assert g.nodes["observation"].data["certainty"].tolist() == [0, 0, 2, 2]
    assert g.nodes["observation"].data["entity_type"].tolist() == [3, 3, 5, 5]
    assert g.nodes["anatomy"].data["entity_type"].tolist() == [0, 0, 0]
    # "pulmonary vascular" is one entity of two tokens
    assert g.nodes["anatomy"].data["num_tokens"].tolist() == [2, 1, 1]


def test_batch_mixing_empty_single_and_multicomponent(radgraph_dir: Path) -> None:
    reports = read_radgraph(radgraph_dir / "train.json")
    multi, single, empty = reports[0], reports[1], reports[2]
    assert (len(multi.entities), len(single.entities), len(empty.entities)) == (14, 1, 0)
    bg = batch_graphs([empty, multi, single, empty])
    assert bg.batch_size == 4
    assert bg.batch_num_nodes("anatomy").tolist() == [0, 7, 0, 0]
    assert bg.batch_num_nodes("observation").tolist() == [0, 7, 1, 0]
    assert graph_component_counts(bg).tolist() == [0, 4, 1, 0]
    assert_same_graph(bg, dgl.batch([to_heterograph(r) for r in [empty, multi, single, empty]]))
    h = to_homogeneous(bg)
    assert h.batch_num_nodes().tolist() == [0, 14, 1, 0]
    # component ids are unique over the batch: the multi report owns 0..3, the single one 4
    assert h.ndata["component_id"].tolist() == [0, 0, 1, 1, 1, 2, 2, 0, 0, 1, 1, 1, 2, 3, 4]
    assert h.ndata["graph_id"].tolist() == [1] * 14 + [2]
    # DGL readouts work per report, empty ones included
    h.ndata["one"] = torch.ones(h.num_nodes(), 1)
    assert dgl.sum_nodes(h, "one").squeeze(1).tolist() == [0.0, 14.0, 1.0, 0.0]
    assert dgl.unbatch(bg)[0].num_nodes() == 0


def test_empty_report_gives_a_valid_graph() -> None:
    g = empty_heterograph()
    assert g.num_nodes() == 0 and g.num_edges() == 0
    assert set(g.canonical_etypes) == set(CANONICAL_ETYPES)
    assert g.nodes["observation"].data["tokens"].shape == (0, 4)
    h = to_homogeneous(dgl.batch([g, g]))
    assert h.num_nodes() == 0 and h.batch_size == 2


def test_off_schema_relations_keep_their_own_edge_types() -> None:
    rg = ReportGraph("r", "left lung base opacity", [
        Entity("left", "ANAT-DP", 0, 0), Entity("lung", "ANAT-DP", 1, 1),
        Entity("base", "ANAT-DP", 2, 2), Entity("opacity", "OBS-DP", 3, 3)],
        [Relation("modify", 0, 1), Relation("located_at", 1, 2),   # anatomy located_at anatomy
         Relation("modify", 3, 2), Relation("located_at", 3, 2)])  # obs modify anatomy
    arrays = encode_report(rg)
    assert arrays.num_off_schema == 2 and set(SCHEMA_ETYPES) == SCHEMA_PAIRS
    g = to_heterograph(rg)
    assert g.num_edges(("anatomy", "modify", "anatomy")) == 1
    assert g.num_edges(("observation", "located_at", "anatomy")) == 1
    assert g.num_edges(("anatomy", "located_at", "anatomy")) == 1
    assert g.num_edges(("anatomy", "located_at_rev", "anatomy")) == 1
    assert g.edges(etype=("observation", "modify", "anatomy"))[1].tolist() == [2]
    assert g.edges(etype=("anatomy", "modify_rev", "observation"))[0].tolist() == [2]
    assert g.num_edges() == 8
    # every relation joins the components: one component
    assert arrays.component.tolist() == [0, 0, 0, 0]
    # homogeneous view: each edge takes its relation's id
    h = to_homogeneous(g)
    u, v = h.edges()
    # nodes: left, lung, base (anatomy), then opacity
    pairs = sorted(zip(u.tolist(), v.tolist(), h.edata["rel"].tolist()))
    assert pairs == sorted([(0, 1, RELATION_IDS["modify"]), (1, 0, RELATION_IDS["modify_rev"]),
                            (1, 2, RELATION_IDS["located_at"]), (2, 1, RELATION_IDS["located_at_rev"]),
                            (3, 2, RELATION_IDS["modify"]), (2, 3, RELATION_IDS["modify_rev"]),
                            (3, 2, RELATION_IDS["located_at"]), (2, 3, RELATION_IDS["located_at_rev"])])
    assert torch.equal(g.ndata["component"]["observation"], torch.tensor([0]))


def test_connected_components_numbering() -> None:
    assert connected_components(0, [], []) == ([], 0)
    assert connected_components(4, [3], [0]) == ([0, 1, 2, 0], 3)
    assert connected_components(6, [5, 4, 1], [4, 2, 5]) == ([0, 1, 1, 2, 1, 1], 3)


# --- agreement with DGL's public constructors, on random graphs ----------------------------
WORDS = ["left", "lower", "lobe", "opacity", "effusion", "heart", "size", "normal", "small",
         "pleural", "pneumothorax", "edema", "vascular", "congestion"]


@st.composite
def report_graphs(draw, max_entities: int = 10):
    n = draw(st.integers(0, max_entities))
    entities = []
    for i in range(n):
        width = draw(st.integers(1, 6))
        words = draw(st.lists(st.sampled_from(WORDS), min_size=width, max_size=width))
        entities.append(Entity(" ".join(words), draw(st.sampled_from(ENTITY_LABELS)), 0, 0))
    relations = []
    if n:
        for _ in range(draw(st.integers(0, 2 * n))):
            relations.append(Relation(draw(st.sampled_from(RELATIONS)),
                                      draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))))
    text = " ".join(e.tokens for e in entities)
    return ReportGraph(draw(st.text(min_size=1, max_size=5)), text, entities, relations)


VOCAB = Vocabulary.build([WORDS[:8]])


@settings(max_examples=60, deadline=None)
@given(report_graphs())
def test_to_heterograph_matches_dgl_heterograph(rg: ReportGraph) -> None:
    assert_same_graph(to_heterograph(rg, VOCAB), reference_heterograph(rg, VOCAB))


@settings(max_examples=40, deadline=None)
@given(st.lists(report_graphs(), min_size=1, max_size=6))
def test_batch_graphs_matches_dgl_batch(reports: list[ReportGraph]) -> None:
    reference = dgl.batch([reference_heterograph(r, VOCAB) for r in reports])
    # from reports (one pass over the batch) and from per-report arrays (cached encodings)
    assert_same_graph(batch_graphs(reports, VOCAB), reference)
    assert_same_graph(batch_graphs([encode_report(r, VOCAB) for r in reports]), reference)


@settings(max_examples=30, deadline=None)
@given(st.lists(report_graphs(), min_size=1, max_size=5))
def test_homogeneous_view_keeps_edge_types_and_nodes(reports: list[ReportGraph]) -> None:
    bg = batch_graphs(reports, VOCAB)
    h = to_homogeneous(bg)
    assert h.num_nodes() == bg.num_nodes() and h.num_edges() == bg.num_edges()
    ntypes = bg.ntypes
    ntype, nid = h.ndata[dgl.NTYPE], h.ndata[dgl.NID]
    # every homogeneous node maps back to its heterograph node, data included
    for k in ("tokens", "certainty", "component", "entity_index"):
        for ti, t in enumerate(ntypes):
            mask = ntype == ti
            assert torch.equal(h.ndata[k][mask], bg.nodes[t].data[k][nid[mask]])
    # every edge keeps its type: map both ends back and compare with the hetero edges
    u, v = h.edges()
    got = {}
    for e in range(h.num_edges()):
        canon = CANONICAL_ETYPES[int(h.edata[dgl.ETYPE][e])]
        assert int(h.edata["rel"][e]) == RELATION_IDS[canon[1]]
        assert ntypes[int(ntype[u[e]])] == canon[0] and ntypes[int(ntype[v[e]])] == canon[2]
        got.setdefault(canon, []).append((int(nid[u[e]]), int(nid[v[e]])))
    for canon in CANONICAL_ETYPES:
        a, b = bg.edges(etype=canon)
        assert sorted(got.get(canon, [])) == sorted(zip(a.tolist(), b.tolist()))
    # nodes and edges stay grouped by report
    gid = h.ndata["graph_id"]
    assert torch.equal(gid, torch.repeat_interleave(torch.arange(len(reports)), h.batch_num_nodes()))
    assert torch.all(gid[u] == gid[v])
    assert torch.all(torch.diff(gid[u]) >= 0)
    assert h.batch_num_edges().sum() == h.num_edges()


# --- vocabulary ------------------------------------------------------------------------------
def test_vocabulary_build_lookup_save_load(tmp_path: Path, radgraph_dir: Path) -> None:
    graphs = read_radgraph(radgraph_dir / "train.json")
    vocab = Vocabulary.from_graphs(graphs)
    assert vocab.itos[:2] == ["<pad>", "<unk>"]
    assert len(vocab) == 2 + len({t.lower() for g in graphs for e in g.entities for t in e.tokens.split()})
    assert vocab.lookup(["LOBE", "never-seen"]) == [vocab.stoi["lobe"], 1]
    vocab.save(tmp_path / "v.json")
    again = Vocabulary.load(tmp_path / "v.json")
    assert again == vocab and again.fingerprint == vocab.fingerprint
    # frequency order, ties alphabetical, min_freq and max_size honoured
    v = Vocabulary.build([["b", "a", "c"], ["c", "b"], ["c"]], min_freq=2)
    assert v.itos == ["<pad>", "<unk>", "c", "b"]
    assert Vocabulary.build([["b", "a", "c"], ["c"]], max_size=3).itos == ["<pad>", "<unk>", "c"]
    (tmp_path / "bad.json").write_text(json.dumps({"tokens": ["a"]}))
    with pytest.raises(ValueError, match=r"bad\.json: not a graphclr vocabulary"):
        Vocabulary.load(tmp_path / "bad.json")


def test_token_ids_follow_the_vocabulary(radgraph_dir: Path) -> None:
    rg = read_radgraph(radgraph_dir / "dev.json")[0]
    vocab = Vocabulary.from_graphs([rg])
    g = to_heterograph(rg, vocab, max_tokens=2)
    row = g.nodes["anatomy"].data["tokens"][0].tolist()
    assert row == vocab.lookup(["pulmonary", "vascular"])
    assert g.nodes["observation"].data["tokens"][0].tolist() == [vocab.stoi["mild"], 0]


# --- graph store -----------------------------------------------------------------------------
def test_graph_store_round_trip(tmp_path: Path, radgraph_dir: Path) -> None:
    reports = list(read_radgraph(radgraph_dir / "MIMIC-CXR_graphs.json"))
    vocab = Vocabulary.from_graphs(reports)
    graphs = [to_heterograph(r, vocab) for r in reports]
    ids = [r.id for r in reports]
    path = tmp_path / "store.bin"
    save_graph_store(path, graphs, ids, {"vocab": vocab.to_dict(), "note": "x"})
    store = load_graph_store(path)
    assert isinstance(store, GraphStore)
    assert store.ids == ids
    assert store.metadata == {"vocab": vocab.to_dict(), "note": "x"}
    for a, b in zip(store.graphs, graphs):
        assert_same_graph(a, b)
    part = load_graph_store(path, indices=[3, 1])
    assert part.ids == [ids[3], ids[1]]
    assert_same_graph(part.graphs[0], graphs[3])


def test_graph_store_write_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "store.bin"
    save_graph_store(path, [empty_heterograph()], ["a"])
    before = path.read_bytes()

    def crash(filename, *args, **kwargs):
        Path(filename).write_bytes(b"partial")
        raise RuntimeError("killed")

    monkeypatch.setattr(dgl, "save_graphs", crash)
    with pytest.raises(RuntimeError, match="killed"):
        save_graph_store(path, [empty_heterograph()], ["b"])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.bin"]


def test_graph_store_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 graphs but 1 ids"):
        save_graph_store(tmp_path / "s.bin", [empty_heterograph()] * 2, ["a"])
    with pytest.raises(ValueError, match="unique"):
        save_graph_store(tmp_path / "s.bin", [empty_heterograph()] * 2, ["a", "a"])
    (tmp_path / "junk.bin").write_bytes(b"not a graph file")
    with pytest.raises(ValueError, match=r"junk\.bin"):
        load_graph_store(tmp_path / "junk.bin")
    with pytest.raises(FileNotFoundError, match="no such graph store"):
        load_graph_store(tmp_path / "missing.bin")


# --- rendering -------------------------------------------------------------------------------
def test_render_writes_png(tmp_path: Path, radgraph_dir: Path) -> None:
    rg = read_radgraph(radgraph_dir / "train.json")[0]
    out = render_graph(rg, tmp_path / "g.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    empty = render_graph(ReportGraph("e", ""), tmp_path / "e.png")
    assert empty.read_bytes()[:4] == b"\x89PNG"


def test_render_colours_by_type_and_certainty(tmp_path: Path) -> None:
    from PIL import Image

    from graphclr.graphs.render import NODE_COLOURS

    rg = ReportGraph("c", "no pneumothorax", [Entity("pneumothorax", "OBS-DA", 1, 1)])
    out = render_graph(rg, tmp_path / "c.png", dpi=60)
    pixels = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    green = tuple(int(NODE_COLOURS[("observation", "absent")][i:i + 2], 16) for i in (1, 3, 5))
    red = tuple(int(NODE_COLOURS[("observation", "present")][i:i + 2], 16) for i in (1, 3, 5))
    def count(rgb):
        return int(np.all(np.abs(pixels.astype(int) - rgb) <= 2, axis=1).sum())
    # the absent node is a large green disc; red appears only as the legend swatch
    assert count(green) > 3 * count(red) > 0
