"""The reference IGCL encoder: the reaction transform on hand-worked graphs, and the
encoder against a pure-torch reimplementation of the reference maths (PyG RGCNConv:
per-relation mean + root + bias; unmasked post-LN attention over a zero-padded dense
batch; mean pool; Linear+ReLU) fed a state dict in the reference's key layout."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphclr.nn.igcl import IGCLReferenceEncoder, load_dracon_state_dict, reaction_transform

T = torch.tensor


def typed_edges(ei, et):
    return sorted(zip(ei[0].tolist(), ei[1].tolist(), et.tolist()))


def both_ways(a, b):
    return [(a, b, 3), (b, a, 3)]


# --- reaction_transform -----------------------------------------------------------------

def test_unchanged_without_isolated_node_even_with_two_components():
    x = torch.randn(4, 3)
    ei, et = T([[0, 2], [1, 3]]), T([0, 1])
    out = reaction_transform(x, ei, et)
    assert out[0] is x and out[1] is ei and out[2] is et


def test_unchanged_single_component_with_isolated_node():
    x = torch.randn(1, 3)                      # one node, no edge: isolated, one component
    out = reaction_transform(x, torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert out[0] is x and out[1].shape == (2, 0)


def test_isolated_and_several_components_hand_worked():
    # nodes 0..3; edge 3 -> 1 (suggestive_of); nodes 0 and 2 isolated.
    # components by smallest node: {0} -> dummy 4, {1, 3} -> dummy 5, {2} -> dummy 6;
    # reaction node 7.
    x = torch.arange(8.0).reshape(4, 2) + 1
    ei, et = T([[3], [1]]), T([2])
    x2, ei2, et2 = reaction_transform(x, ei, et)
    assert torch.equal(x2, torch.cat([x, torch.zeros(4, 2)]))
    expected = [(3, 1, 2)]
    for node, dummy in [(0, 4), (1, 5), (3, 5), (2, 6)]:
        expected += both_ways(node, dummy)
    for dummy in (4, 5, 6):
        expected += both_ways(7, dummy)
    assert typed_edges(ei2, et2) == sorted(expected)
    assert (ei2[:, 0] == ei[:, 0]).all() and et2[0] == 2    # original edges first


def test_self_loop_only_node_counts_as_isolated():
    # 0 -> 1 (modify), 2 -> 2 self-loop only: node 2 is isolated (PyG drops self-loops)
    x = torch.ones(3, 1)
    ei, et = T([[0, 2], [1, 2]]), T([1, 0])
    x2, ei2, et2 = reaction_transform(x, ei, et)
    assert x2.shape == (6, 1) and x2[3:].abs().sum() == 0
    expected = [(0, 1, 1), (2, 2, 0)] + both_ways(0, 3) + both_ways(1, 3) + both_ways(2, 4)
    expected += both_ways(5, 3) + both_ways(5, 4)
    assert typed_edges(ei2, et2) == sorted(expected)


def test_edgeless_graph_of_two_nodes():
    x2, ei2, et2 = reaction_transform(torch.ones(2, 1), torch.zeros(2, 0, dtype=torch.long),
                                      torch.zeros(0, dtype=torch.long))
    expected = both_ways(0, 2) + both_ways(1, 3) + both_ways(4, 2) + both_ways(4, 3)
    assert x2.shape == (5, 1) and typed_edges(ei2, et2) == sorted(expected)


def test_chain_components_found_through_long_paths():
    # a path 5 -> 4 -> 3 -> 2 -> 1 -> 0 and an isolated node 6: two components
    ei = T([[5, 4, 3, 2, 1], [4, 3, 2, 1, 0]])
    x2, ei2, et2 = reaction_transform(torch.ones(7, 1), ei, torch.zeros(5, dtype=torch.long))
    assert x2.shape[0] == 10
    dummy_of = {d: s for s, d, r in typed_edges(ei2, et2) if r == 3 and d in (7, 8) and s < 7}
    assert dummy_of == {7: 5, 8: 6}            # last node reached for each dummy
    assert sorted(s for s, d, r in typed_edges(ei2, et2) if d == 7 and s < 7) == list(range(6))


# --- the encoder against the reference maths ------------------------------------------

def reference_state_dict(feat, h, rels, conv, trans, fcn, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    sd = {}
    for i in range(conv):
        d_in = feat if i == 0 else h
        sd[f"rgcn.layers.{i}.weight"] = r(rels, d_in, h)
        sd[f"rgcn.layers.{i}.root"] = r(d_in, h)
        sd[f"rgcn.layers.{i}.bias"] = r(h)
    for i in range(trans):
        p = f"trans.layers.{i}."
        sd |= {p + "self_attn.in_proj_weight": r(3 * h, h), p + "self_attn.in_proj_bias": r(3 * h),
               p + "self_attn.out_proj.weight": r(h, h), p + "self_attn.out_proj.bias": r(h),
               p + "linear1.weight": r(1024, h), p + "linear1.bias": r(1024),
               p + "linear2.weight": r(h, 1024) * 0.1, p + "linear2.bias": r(h),
               p + "norm1.weight": 1 + r(h), p + "norm1.bias": r(h),
               p + "norm2.weight": 1 + r(h), p + "norm2.bias": r(h)}
    for i in range(fcn):
        sd[f"fcn.layers.{2 * i}.weight"] = r(h, h)
        sd[f"fcn.layers.{2 * i}.bias"] = r(h)
    return sd


def ref_rgcn_conv(x, ei, et, w, root, bias):
    out = x @ root + bias
    for rel in range(w.shape[0]):
        m = et == rel
        src, dst = ei[0, m], ei[1, m]
        agg = torch.zeros(x.shape[0], x.shape[1]).index_add_(0, dst, x[src])
        cnt = torch.bincount(dst, minlength=x.shape[0]).clamp(min=1).unsqueeze(1)
        out = out + (agg / cnt) @ w[rel]
    return out


def ref_trans_layer(seq, sd, p, heads):           # seq [L, B, D], post-LN, no mask
    L, B, D = seq.shape
    dh = D // heads
    qkv = seq @ sd[p + "self_attn.in_proj_weight"].t() + sd[p + "self_attn.in_proj_bias"]
    q, k, v = (t.reshape(L, B, heads, dh).permute(1, 2, 0, 3) for t in qkv.split(D, -1))
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v   # [B, H, L, dh]
    att = att.permute(2, 0, 1, 3).reshape(L, B, D)
    att = att @ sd[p + "self_attn.out_proj.weight"].t() + sd[p + "self_attn.out_proj.bias"]
    src = F.layer_norm(seq + att, (D,), sd[p + "norm1.weight"], sd[p + "norm1.bias"])
    ff = F.relu(src @ sd[p + "linear1.weight"].t() + sd[p + "linear1.bias"])
    ff = ff @ sd[p + "linear2.weight"].t() + sd[p + "linear2.bias"]
    return F.layer_norm(src + ff, (D,), sd[p + "norm2.weight"], sd[p + "norm2.bias"])


def reference_dracon(sd, conv, trans, fcn, heads, x, ei, et, batch, num_graphs):
    h = x
    for i in range(conv):
        p = f"rgcn.layers.{i}."
        h = F.relu(ref_rgcn_conv(h, ei, et, sd[p + "weight"], sd[p + "root"], sd[p + "bias"]))
    counts = torch.bincount(batch, minlength=num_graphs)
    dense = torch.zeros(num_graphs, int(counts.max()), h.shape[1])     # to_dense_batch
    for g in range(num_graphs):
        dense[g, :counts[g]] = h[batch == g]
    seq = dense.permute(1, 0, 2)
    for i in range(trans):
        seq = ref_trans_layer(seq, sd, f"trans.layers.{i}.", heads)
    dense = seq.permute(1, 0, 2)
    out = torch.stack([dense[g, :counts[g]].mean(0) for g in range(num_graphs)])
    for i in range(fcn):
        out = F.relu(out @ sd[f"fcn.layers.{2 * i}.weight"].t() + sd[f"fcn.layers.{2 * i}.bias"])
    return out


def batch_of(graphs):
    xs, eis, ets, batch, offset = [], [], [], [], 0
    for g, (x, ei, et) in enumerate(graphs):
        x, ei, et = reaction_transform(x, ei, et)
        xs.append(x), eis.append(ei + offset), ets.append(et)
        batch.append(torch.full((x.shape[0],), g))
        offset += x.shape[0]
    return torch.cat(xs), torch.cat(eis, 1), torch.cat(ets), torch.cat(batch), len(graphs)


def random_graphs(feat, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(3, feat, generator=g), T([[0], [1]]), T([2])),                # fires
            (torch.randn(5, feat, generator=g), T([[0, 1, 1, 3], [1, 2, 0, 4]]), T([0, 1, 0, 2])),
            (torch.randn(2, feat, generator=g), T([[1], [0]]), T([1]))]


@pytest.mark.parametrize("conv,trans,fcn,heads", [(2, 1, 1, 2), (1, 2, 2, 1), (2, 0, 0, 2)])
def test_encoder_equals_reference_maths(one_thread, conv, trans, fcn, heads):
    feat, h = 6, 8
    sd = reference_state_dict(feat, h, 4, conv, trans, fcn)
    enc = IGCLReferenceEncoder(feat, h, 4, conv, trans, fcn, heads)
    load_dracon_state_dict(enc, sd)
    enc.eval()
    args = batch_of(random_graphs(feat))
    with torch.no_grad():
        got = enc.forward_tensors(*args)
    want = reference_dracon(sd, conv, trans, fcn, heads, *args)
    assert got.shape == (3, h)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_embedding_depends_on_largest_graph_in_batch(one_thread):
    """The unmasked padding quirk: the 2-node graph alone vs batched with a 6-node one."""
    feat, h = 6, 8
    sd = reference_state_dict(feat, h, 4, 2, 1, 1)
    enc = IGCLReferenceEncoder(feat, h, 4, 2, 1, 1, 2)
    load_dracon_state_dict(enc, sd)
    enc.eval()
    graphs = random_graphs(feat)
    with torch.no_grad():
        alone = enc.forward_tensors(*batch_of(graphs[2:]))
        together = enc.forward_tensors(*batch_of(graphs[2:] + graphs[:1]))
    torch.testing.assert_close(together, reference_dracon(sd, 2, 1, 1, 2, *batch_of(graphs[2:] + graphs[:1])),
                               atol=1e-5, rtol=1e-5)
    assert (alone[0] - together[0]).abs().max() > 1e-4


def test_loader_accepts_whole_clip_checkpoint_and_names_bad_keys():
    feat, h = 4, 8
    sd = reference_state_dict(feat, h, 4, 1, 1, 1)
    enc = IGCLReferenceEncoder(feat, h, 4, 1, 1, 1, 2)
    clip = {f"gnn.encoder.{k}": v for k, v in sd.items()}
    clip |= {"gnn.proj": torch.zeros(h, 3), "visual.proj": torch.zeros(5, 3), "logit_scale": T(1.0)}
    load_dracon_state_dict(enc, clip)
    assert torch.equal(enc.rgcn.layers[0].linear_r.W, sd["rgcn.layers.0.weight"])
    assert torch.equal(enc.rgcn.layers[0].loop_weight, sd["rgcn.layers.0.root"])
    with pytest.raises(KeyError, match="att.gate_nn.weight"):
        load_dracon_state_dict(enc, sd | {"att.gate_nn.weight": torch.zeros(1, h)})
    with pytest.raises(KeyError, match="num_fcn_layers"):
        load_dracon_state_dict(enc, reference_state_dict(feat, h, 4, 1, 1, 2))
    with pytest.raises(KeyError, match="lacks"):
        load_dracon_state_dict(IGCLReferenceEncoder(feat, h, 4, 2, 1, 1, 2), sd)
    with pytest.raises(ValueError, match="rgcn.layers.0.linear_r.W"):
        load_dracon_state_dict(IGCLReferenceEncoder(feat, h, 3, 1, 1, 1, 2), sd)
