"""Graph encoder modules: RGCN (fast path vs DGL vs an edge-by-edge reference), component
pooling vs a per-graph loop, the [GRAPH]-token transformer vs torch.nn.TransformerEncoder,
the igcl augmentation, and every encoder variant on a batch that mixes empty,
single-node and multi-component graphs (shapes, finiteness, permutation invariance)."""

from __future__ import annotations

import random

import dgl
import numpy as np
import pytest
import torch
from torch import nn

from graphclr.graphs import Vocabulary, batch_graphs, to_homogeneous
from graphclr.nn import (
    VARIANTS,
    ComponentAttentionPooling,
    ComponentTransformer,
    FastRelGraphConv,
    GraphEncoder,
    GraphEncoderCfg,
    RGCNStack,
    TokenFeaturizer,
    add_virtual_nodes,
    edge_plan,
    hashed_ngram_ids,
)
from graphclr.nn.naive import reference_component_pooling, reference_rgcn_layer
from graphclr.nn.rgcn import edge_norm
from graphclr.nn.transformer import pad_by_segment
from graphclr.reports.schema import Entity, Relation, ReportGraph
from graphclr.synth.pairs import synthetic_reports


# tiny ops on 2 cores: one thread avoids OpenMP spin contention (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def mixed_reports() -> list[ReportGraph]:
    """Empty, single-node, two isolated nodes, and realistic multi-component reports."""
    single = ReportGraph("single", "cardiomegaly", [Entity("cardiomegaly", "OBS-DP", 0, 0)])
    isolated = ReportGraph("isolated", "no pneumothorax lungs", [
        Entity("pneumothorax", "OBS-DA", 1, 1), Entity("lungs", "ANAT-DP", 2, 2)])
    chain = ReportGraph("chain", "small left pleural effusion", [
        Entity("small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
        Entity("pleural", "ANAT-DP", 2, 2), Entity("effusion", "OBS-DP", 3, 3)],
        [Relation("modify", 0, 3), Relation("modify", 1, 2), Relation("located_at", 3, 2)])
    return [ReportGraph("empty", ""), single, isolated, chain, *synthetic_reports(3, seed=7)]


def random_graph(n: int, e: int, num_rels: int, seed: int) -> tuple[dgl.DGLGraph, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=g)
    dst = torch.randint(0, n, (e,), generator=g)
    rel = torch.randint(0, num_rels, (e,), generator=g)
    return dgl.graph((src, dst), num_nodes=n), rel


# --- RGCN ---------------------------------------------------------------------------------
@pytest.mark.parametrize("regularizer,num_bases", [("basis", 3), ("bdd", 4), (None, None)])
@pytest.mark.parametrize("norm", ["mean", "sum"])
def test_fast_relgraphconv_equals_dgl_and_edge_reference(regularizer, num_bases, norm) -> None:
    torch.manual_seed(0)
    layer = FastRelGraphConv(8, 12, 6, regularizer=regularizer, num_bases=num_bases,
                             activation=torch.relu)
    assert isinstance(layer, dgl.nn.RelGraphConv)
    with torch.no_grad():
        layer.h_bias.normal_()
    g, rel = random_graph(9, 30, 6, seed=1)
    x = torch.randn(9, 8, requires_grad=True)
    src, dst = g.edges()
    fast = layer(g, x, rel, plan=edge_plan(src, dst, rel, 9, 6, norm))
    stock = layer(g, x, rel, edge_norm(dst, rel, 9, norm))
    ref = reference_rgcn_layer(layer, x, src.tolist(), dst.tolist(), rel.tolist(), norm)
    assert torch.allclose(fast, ref, atol=1e-5)
    assert torch.allclose(stock, ref, atol=1e-5)
    grads = []
    for out in (fast, stock):
        layer.zero_grad()
        x.grad = None
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads.append([p.grad.clone() for p in layer.parameters()] + [x.grad.clone()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("regularizer,num_bases", [("basis", 3), ("bdd", 4)])
def test_first_layer_on_embedding_tables_equals_layer_on_nodes(regularizer, num_bases) -> None:
    from graphclr.nn import HashedNgramFeaturizer

    torch.manual_seed(0)
    nd = {"tokens": torch.tensor([[2, 5, 0], [3, 0, 0], [2, 0, 0], [5, 4, 2]]),
          "entity_type": torch.tensor([1, 4, 0, 1])}
    for feat in (TokenFeaturizer(vocab_size=7, dim=8), HashedNgramFeaturizer(7, 8)):
        data = nd if isinstance(feat, TokenFeaturizer) else {"ngrams": nd["tokens"], "entity_type": nd["entity_type"]}
        bags = feat.bags(data)
        assert bags.table.shape[0] == 5          # padding + the 4 distinct ids
        dense = feat(data)
        assert torch.allclose(bags.features(), dense, atol=1e-6)
        layer = FastRelGraphConv(8, 12, 6, regularizer=regularizer, num_bases=num_bases,
                                 activation=torch.relu)
        plan = edge_plan(torch.tensor([0, 1, 3, 2]), torch.tensor([1, 2, 0, 0]),
                         torch.tensor([0, 3, 0, 5]), 4, 6)
        assert torch.allclose(layer(None, bags, None, plan=plan), layer(None, dense, None, plan=plan),
                              atol=1e-5)
        padded = bags.with_empty_nodes(2).features()
        assert torch.equal(padded[4:], torch.zeros(2, 8)) and torch.allclose(padded[:4], dense, atol=1e-6)


def test_mean_norm_is_per_relation_in_degree() -> None:
    # node 0 receives two edges of relation 1 and one of relation 2
    norm = edge_norm(torch.tensor([0, 0, 0, 1]), torch.tensor([1, 1, 2, 1]), 2, "mean")
    assert norm.flatten().tolist() == [0.5, 0.5, 1.0, 1.0]


def test_rgcn_stack_without_edges_or_nodes() -> None:
    stack = RGCNStack(4, 8, 2, regularizer="bdd", num_bases=2)
    no_edges = dgl.graph(([], []), num_nodes=3)
    out = stack(no_edges, torch.randn(3, 4), torch.zeros(0, dtype=torch.int64))
    assert out.shape == (3, 8) and torch.isfinite(out).all()
    empty = dgl.graph(([], []), num_nodes=0)
    assert stack(empty, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)).shape == (0, 8)


def test_rgcn_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="divisible"):
        RGCNStack(10, 16, regularizer="bdd", num_bases=4)
    with pytest.raises(ValueError, match="num_bases"):
        RGCNStack(8, 16, regularizer="bdd")
    with pytest.raises(ValueError, match="relation ids"):
        edge_plan(torch.tensor([0]), torch.tensor([0]), torch.tensor([6]), 1, 6)


# --- pooling -------------------------------------------------------------------------------
@pytest.mark.parametrize("readout", ["attention", "attention+mean"])
@pytest.mark.parametrize("gate", ["gated", "linear"])
def test_component_pooling_equals_per_graph_loop(gate, readout) -> None:
    torch.manual_seed(0)
    vocab = Vocabulary.from_graphs(mixed_reports())
    hg = to_homogeneous(batch_graphs(mixed_reports(), vocab))
    h = torch.randn(hg.num_nodes(), 6)
    pool = ComponentAttentionPooling(6, hidden=5, gate=gate, readout=readout)
    comp = hg.ndata["component_id"]
    n_comp = int(comp.max()) + 1
    pooled, alpha = pool(h, comp, n_comp, return_attention=True)
    expected = reference_component_pooling(pool, h, hg.ndata["graph_id"].tolist(), comp.tolist())
    flat = [v for per_graph in expected for v in per_graph]
    assert len(flat) == n_comp
    assert torch.allclose(pooled, torch.stack(flat), atol=1e-6)
    sums = torch.zeros(n_comp).index_add_(0, comp, alpha)
    assert torch.allclose(sums, torch.ones(n_comp), atol=1e-6)


def test_pooling_of_a_singleton_component_is_the_node() -> None:
    pool = ComponentAttentionPooling(3, hidden=4)
    h = torch.randn(3, 3)
    out = pool(h, torch.tensor([0, 1, 1]), 2)
    assert torch.allclose(out[0], h[0])
    both = ComponentAttentionPooling(3, hidden=4, readout="attention+mean")
    assert torch.allclose(both(h, torch.tensor([0, 1, 1]), 2)[0], 2 * h[0])


def test_attention_plus_mean_keeps_a_share_of_every_node() -> None:
    """Hand-made case: a gate that scores the first node +20 and the others 0 puts
    (almost) all attention on it; the mean term still gives every node 1/|C|."""
    torch.manual_seed(0)
    pool = ComponentAttentionPooling(2, gate="linear", readout="attention+mean")
    with torch.no_grad():
        pool.w.weight.copy_(torch.tensor([[20.0, 0.0]]))
    h = torch.tensor([[1.0, 0.0], [0.0, 3.0], [0.0, -6.0]])   # obs, left, right-ish nodes
    out, alpha = pool(h, torch.tensor([0, 0, 0]), 1, return_attention=True)
    assert alpha[0] > 0.999
    expected = h[0] * alpha[0] + (h[1] * alpha[1] + h[2] * alpha[2]) + h.mean(0)
    assert torch.allclose(out[0], expected, atol=1e-6)
    assert abs(out[0, 1].item() - (-1.0)) < 1e-3        # (3 - 6) / 3 survives
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(pool(h[perm], torch.tensor([0, 0, 0]), 1), out, atol=1e-6)
    with pytest.raises(ValueError, match="readout must be one of"):
        ComponentAttentionPooling(2, readout="max")


# --- transformer ---------------------------------------------------------------------------
def torch_reference_all(enc: ComponentTransformer, comps: torch.Tensor, graph_of: torch.Tensor,
                        batch: int) -> torch.Tensor:
    """nn.TransformerEncoder over padded (token, components) sequences: every position."""
    cls = enc.graph_token.expand(batch, -1)
    padded, mask, _ = pad_by_segment(comps, graph_of, batch, lead=cls)
    stack = nn.TransformerEncoder(enc.layers[0], num_layers=len(enc.layers), enable_nested_tensor=False)
    stack.layers = enc.layers
    return stack(padded, src_key_padding_mask=mask)


def torch_reference(enc: ComponentTransformer, comps: torch.Tensor, graph_of: torch.Tensor,
                    batch: int) -> torch.Tensor:
    """nn.TransformerEncoder over padded (token, components) sequences, read at position 0."""
    return torch_reference_all(enc, comps, graph_of, batch)[:, 0]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("norm_first", [False, True])
def test_component_transformer_equals_torch_encoder(layers, norm_first) -> None:
    torch.manual_seed(0)
    enc = ComponentTransformer(16, num_heads=4, ff_dim=24, num_layers=layers, dropout=0.1,
                               norm_first=norm_first).eval()
    comps = torch.randn(7, 16)
    graph_of = torch.tensor([0, 0, 0, 2, 3, 3, 3])     # graph 1 has no components
    fast = enc(comps, graph_of, 4)
    full = enc(comps, graph_of, 4, cls_only=False)
    ref = torch_reference(enc, comps, graph_of, 4)
    assert torch.allclose(fast, ref, atol=1e-5)
    assert torch.allclose(full, ref, atol=1e-5)
    assert torch.isfinite(fast[1]).all()


def test_component_transformer_gradients_match_torch() -> None:
    torch.manual_seed(1)
    enc = ComponentTransformer(8, num_heads=2, ff_dim=16, dropout=0.0)
    comps = torch.randn(5, 8, requires_grad=True)
    graph_of = torch.tensor([0, 1, 1, 1, 2])
    grads = []
    for out in (enc(comps, graph_of, 3), torch_reference(enc, comps, graph_of, 3)):
        enc.zero_grad()
        comps.grad = None
        out.pow(2).sum().backward()
        grads.append([p.grad.clone() for p in enc.parameters()] + [comps.grad.clone()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_component_order_does_not_matter() -> None:
    torch.manual_seed(0)
    enc = ComponentTransformer(8, num_heads=2, ff_dim=16).eval()
    comps = torch.randn(4, 8)
    graph_of = torch.tensor([0, 0, 0, 1])
    perm = torch.tensor([2, 0, 1, 3])
    assert torch.allclose(enc(comps, graph_of, 2), enc(comps[perm], graph_of[perm], 2), atol=1e-6)


# --- igcl ----------------------------------------------------------------------------------
def test_virtual_nodes_by_hand() -> None:
    # graph 0: nodes 0-1 (component 0) and node 2 (component 1); graph 1: empty
    src, dst, rel, node_graph, n = add_virtual_nodes(
        torch.tensor([0]), torch.tensor([1]), torch.tensor([2]), torch.tensor([0, 0, 1]),
        torch.tensor([0, 0, 0]), num_components=2, batch_size=2, virtual_rel=6)
    assert n == 3 + 2 + 2
    edges = set(zip(src.tolist(), dst.tolist(), rel.tolist()))
    expected = {(0, 1, 2)}
    expected |= {(v, c, 6) for v, c in [(0, 3), (1, 3), (2, 4)]}
    expected |= {(c, v, 6) for v, c in [(0, 3), (1, 3), (2, 4)]}
    expected |= {(3, 5, 6), (5, 3, 6), (4, 5, 6), (5, 4, 6)}
    assert edges == expected and len(edges) == src.numel()
    assert node_graph.tolist() == [0, 0, 0, 0, 0, 0, 1]


# --- featurizers ---------------------------------------------------------------------------
def test_token_featurizer_is_mean_plus_type() -> None:
    torch.manual_seed(0)
    f = TokenFeaturizer(vocab_size=6, dim=4)
    g = dgl.graph(([], []), num_nodes=2)
    g.ndata["tokens"] = torch.tensor([[2, 5, 0], [3, 0, 0]])
    g.ndata["entity_type"] = torch.tensor([1, 4])
    out = f(g)
    e, t = f.table.weight, f.type_emb.weight
    assert torch.allclose(out[0], (e[2] + e[5]) / 2 + t[1])
    assert torch.allclose(out[1], e[3] + t[4])


def test_hashed_ngrams_are_stable_and_shared_by_related_words() -> None:
    import zlib

    ids = hashed_ngram_ids("Effusion", num_buckets=97, n_min=3, n_max=3)
    grams = ["<effusion>", "<ef", "eff", "ffu", "fus", "usi", "sio", "ion", "on>"]
    assert ids == [zlib.crc32(g.encode()) % 97 + 1 for g in grams]
    a = set(hashed_ngram_ids("effusion", 2**20))
    b = set(hashed_ngram_ids("effusions", 2**20))
    assert len(a & b) >= len(a) // 2


# --- whole encoder -------------------------------------------------------------------------
def small_cfg(variant: str, featurizer: str = "tokens", **kw) -> GraphEncoderCfg:
    base = dict(variant=variant, featurizer=featurizer, feature_dim=8, width=16, layers=2,
                regularizer="bdd", num_bases=4, pool_hidden=8, heads=2, ff_dim=32,
                hash_buckets=512, transformer_dropout=0.0)
    if variant == "igcl":
        base.update(regularizer=None, num_bases=None, fc_layers=2)
    base.update(kw)
    return GraphEncoderCfg(**base)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("featurizer", ["tokens", "hashed"])
def test_every_variant_on_a_mixed_batch(variant, featurizer) -> None:
    from graphclr.models.processor import GraphReportProcessor

    torch.manual_seed(0)
    reports = mixed_reports()
    vocab = Vocabulary.from_graphs(reports)
    cfg = small_cfg(variant, featurizer)
    enc = GraphEncoder(cfg, vocab_size=len(vocab))
    batch = GraphReportProcessor(vocab, cfg)(reports)
    out = enc(batch)
    assert out.shape == (len(reports), 16)
    assert torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # the empty report differs from the single-node one: both are real embeddings
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("pool_readout,graph_readout", [
    ("attention+mean", "token+mean"), ("attention", "token+mean"), ("attention+mean", "token"),
    ("attention", "token"), ("attention+mean", "mean"), ("attention+mean", "token+nodemean")])
def test_components_readout_equals_a_per_graph_loop(pool_readout, graph_readout) -> None:
    """The batched readout against a slow twin: per graph, per component, the naive pooling
    loop, then torch's TransformerEncoder on that graph alone, plus (``token+mean``) the
    mean of its component vectors written out by hand."""
    torch.manual_seed(0)
    reports = mixed_reports()
    vocab = Vocabulary.from_graphs(reports)
    enc = GraphEncoder(small_cfg("components", pool_readout=pool_readout,
                                 graph_readout=graph_readout), vocab_size=len(vocab)).eval()
    assert enc.pool.readout == pool_readout
    seen: list[tuple] = []
    enc.pool.register_forward_hook(lambda mod, args, out: seen.append(args))
    with torch.no_grad():
        out = enc(batch_graphs(reports, vocab))
        h, comp = seen[0][0], seen[0][1]
        h = h.full() if hasattr(h, "full") else h
        hg = to_homogeneous(batch_graphs(reports, vocab))
        per_graph = reference_component_pooling(enc.pool, h, hg.ndata["graph_id"].tolist(),
                                                comp.tolist())
        for g, comps in enumerate(per_graph + [[]] * (len(reports) - len(per_graph))):
            z = torch.stack(comps) if comps else torch.zeros(0, 16)
            ref = torch_reference_all(enc.transformer, z, torch.zeros(len(comps), dtype=torch.int64), 1)
            want = ref[0, 0] if graph_readout != "mean" else ref[0, :1 + len(comps)].mean(0)
            if graph_readout == "token+mean" and comps:
                want = want + sum(comps) / len(comps)
            nodes = [i for i, gi in enumerate(hg.ndata["graph_id"].tolist()) if gi == g]
            if graph_readout == "token+nodemean" and nodes:
                want = want + sum(h[i] for i in nodes) / len(nodes)
            assert torch.allclose(out[g], want, atol=1e-5), reports[g].report_id


@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_paths_equal_stock_modules(variant) -> None:
    torch.manual_seed(0)
    reports = mixed_reports()
    vocab = Vocabulary.from_graphs(reports)
    enc = GraphEncoder(small_cfg(variant, regularizer="basis", num_bases=3), vocab_size=len(vocab)).eval()
    batch = batch_graphs(reports, vocab)
    fast = enc(batch)
    enc.fast = False
    assert torch.allclose(fast, enc(batch), atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_deduplicated_computation_gives_the_same_values_and_gradients(variant) -> None:
    """Repeated reports and phrases are computed once per distinct computation tree: the
    outputs and every parameter gradient equal the stock modules' computed node by node."""
    from graphclr.nn.rgcn import UniqueRows

    torch.manual_seed(0)
    reports = mixed_reports()
    reports = reports + reports[::-1] + synthetic_reports(4, seed=7)
    vocab = Vocabulary.from_graphs(reports)
    enc = GraphEncoder(small_cfg(variant, regularizer="basis", num_bases=3, dropout=0.0),
                       vocab_size=len(vocab))
    batch = batch_graphs(reports, vocab)
    results = []
    for fast in (True, False):
        enc.fast = fast
        enc.zero_grad()
        out = enc(batch)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in enc.named_parameters()
                                       if p.grad is not None}))
    (a, ga), (b, gb) = results
    assert torch.allclose(a, b, atol=1e-5)
    assert ga.keys() == gb.keys()
    for name in ga:
        assert torch.allclose(ga[name], gb[name], atol=1e-5), name
    if variant != "igcl":   # the deduplicated states really are fewer than the nodes
        hg = to_homogeneous(batch)
        enc.rgcn.fast = True
        states = enc.rgcn(hg, enc.featurizer.bags(hg), hg.edata["rel"], unique=True)
        assert isinstance(states, UniqueRows)
        assert states.table.shape[0] < 0.7 * hg.num_nodes()


def test_dropout_switches_deduplication_off() -> None:
    stack = RGCNStack(4, 8, 2, dropout=0.5)
    assert not stack.dedup_allowed()
    assert stack.eval().dedup_allowed()


def test_colour_refinement_separates_different_neighbourhoods() -> None:
    from graphclr.nn.dedup import refine_labels, row_labels

    # nodes 0..5 share their own features; 1 and 3 both hear "0" over relation 0,
    # 5 hears "0" over relation 1, and 4 hears two neighbours
    base, n = row_labels(torch.zeros(6, 2, dtype=torch.int64))
    assert n == 1
    src, dst, rel = torch.tensor([0, 2, 4, 0, 2]), torch.tensor([1, 3, 5, 4, 4]), torch.tensor([0, 0, 1, 0, 0])
    labels, count = refine_labels(base, n, src, dst, rel, num_rels=2)
    assert labels[1] == labels[3]
    assert len({int(labels[i]) for i in (0, 1, 4, 5)}) == 4 and labels[0] == labels[2]
    assert count == 4


def permuted(rg: ReportGraph, perm: list[int]) -> ReportGraph:
    """The same report with its entities listed in another order."""
    new_of = {old: new for new, old in enumerate(perm)}
    ents = [rg.entities[old] for old in perm]
    rels = [Relation(r.type, new_of[r.head], new_of[r.tail]) for r in reversed(rg.relations)]
    return ReportGraph(rg.id, rg.text, ents, rels)


@pytest.mark.parametrize("variant", VARIANTS)
def test_node_order_does_not_change_embeddings(variant) -> None:
    torch.manual_seed(0)
    reports = mixed_reports()
    vocab = Vocabulary.from_graphs(reports)
    enc = GraphEncoder(small_cfg(variant), vocab_size=len(vocab)).eval()
    rng = random.Random(3)
    shuffled = []
    for rg in reports:
        perm = list(range(len(rg.entities)))
        rng.shuffle(perm)
        shuffled.append(permuted(rg, perm))
    assert any(a.entities != b.entities for a, b in zip(reports, shuffled))
    a = enc(batch_graphs(reports, vocab))
    b = enc(batch_graphs(shuffled, vocab))
    assert torch.allclose(a, b, atol=1e-5)
    # and a graph's embedding does not depend on its batch-mates or its place in the batch
    order = list(reversed(range(len(reports))))
    c = enc(batch_graphs([reports[i] for i in order], vocab))
    assert torch.allclose(a[order], c, atol=1e-5)
    single = enc(batch_graphs([reports[3]], vocab))
    assert torch.allclose(single[0], a[3], atol=1e-5)


def test_encoder_accepts_homogeneous_batches() -> None:
    reports = mixed_reports()
    vocab = Vocabulary.from_graphs(reports)
    enc = GraphEncoder(small_cfg("components"), vocab_size=len(vocab)).eval()
    hetero = batch_graphs(reports, vocab)
    assert torch.allclose(enc(hetero), enc(to_homogeneous(hetero)))


def test_config_rejects_unknown_fields_and_variants() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        GraphEncoderCfg.from_dict({"widht": 3}, where="cfg.json: graph_cfg")
    with pytest.raises(ValueError, match="variant"):
        GraphEncoderCfg(variant="gat")
    with pytest.raises(ValueError, match="vocab_size"):
        GraphEncoder(GraphEncoderCfg())


def test_realistic_batch_statistics_match_reports() -> None:
    # the synthetic generator used by the benchmark gives report-sized graphs
    reports = synthetic_reports(200, seed=0, sentences=(6, 9))
    sizes = np.array([len(r.entities) for r in reports])
    assert 13 <= sizes.mean() <= 25
    for r in reports[:20]:
        r.validate()
