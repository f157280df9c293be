"""Counterfactual pairs differ in exactly the stated fact: text, graph, rendered labels, pixels."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from graphclr.reports.labels import findings
from graphclr.synth.counterfactual import FAMILIES, make_pair
from graphclr.synth.counterfactual_set import build_counterfactuals, pair_counts
from graphclr.synth.paint import Renderer

# hand-written reports (not Open-i): each carries, or lacks, the words a family edits
REPORTS = [
    ("h1", "FINDINGS: Heart size is normal. Small left pleural effusion. Right upper lobe opacity. "
           "IMPRESSION: Left effusion, no pneumothorax."),
    ("h2", "FINDINGS: Large right pneumothorax. Left lower lobe consolidation. Mild cardiomegaly."),
    ("h3", "FINDINGS: The lungs are clear. No acute cardiopulmonary process."),
    ("h4", "IMPRESSION: Nodule in the right upper lobe. Degenerative changes of the spine."),
    ("h5", "FINDINGS: Endotracheal tube in place. Small bilateral pleural effusions. Pulmonary edema."),
]
SWAPS = {"laterality": {"left", "right"}, "binding": {"left", "right"}, "zone": {"upper", "lower"},
         "size": {"small", "large"}}
RENDER = Renderer(96)


@pytest.fixture(scope="module")
def pairs():
    return build_counterfactuals(REPORTS, split=None)


def fact_view(graph) -> Counter:
    """What the graph states, read independently of the pair builder (reports.labels)."""
    return Counter((f.name, f.certainty, f.laterality, f.zone, f.size) for f in findings(graph, schema="chexpert")
                   if f.category in ("finding", "device"))


def test_every_family_is_built_and_labels_are_balanced(pairs) -> None:
    counts = pair_counts(pairs)
    assert set(counts) == set(FAMILIES)
    for family, ps in pairs.items():
        assert ps, family
        for p in ps:
            assert sorted(p.y) == [0, 1]
            assert p.pair_id == f"counterfactual-{family}-{p.source_id}"
    # the report with a stated side and size is edited in place, not templated
    lat = {p.source_id: p for p in pairs["laterality"]}
    assert lat["h1"].edit == "in_place" and lat["h3"].edit == "template"


@pytest.mark.parametrize("family", FAMILIES)
def test_text_differs_only_in_the_fact_words(pairs, family: str) -> None:
    for p in pairs[family]:
        a, b = p.texts[0].split(), p.texts[1].split()
        assert Counter(w.lower() for w in a) == Counter(w.lower() for w in b) or family not in ("negation", "binding")
        if family == "negation":
            assert Counter(a) == Counter(b) and a != b       # the same words, another scope
            continue
        assert len(a) == len(b)
        diff = [(x.lower(), y.lower()) for x, y in zip(a, b) if x != y]
        assert len(diff) == (2 if family == "binding" else 1), (p.source_id, diff)
        for x, y in diff:
            assert {x, y} == SWAPS[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_graph_differs_only_in_the_fact(pairs, family: str) -> None:
    attr = {"laterality": 2, "binding": 2, "zone": 3, "size": 4}
    for p in pairs[family]:
        va, vb = fact_view(p.graphs[0]), fact_view(p.graphs[1])
        only_a, only_b = list((va - vb).elements()), list((vb - va).elements())
        assert only_a and only_b, p.source_id
        if family == "negation":      # two findings swap present <-> absent
            assert sorted((n, c) for n, c, *_ in only_a) != sorted((n, c) for n, c, *_ in only_b)
            assert sorted(n for n, *_ in only_a) == sorted(n for n, *_ in only_b)
            assert {c for _, c, *_ in only_a + only_b} == {"present", "absent"}
            continue
        k = attr[family]
        for x in only_a:   # each changed mention has a twin equal but in the fact
            twin = [y for y in only_b if all(x[i] == y[i] for i in range(5) if i != k)]
            assert twin and {x[k], twin[0][k]} == SWAPS[family], (p.source_id, only_a, only_b)


@pytest.mark.parametrize("family", FAMILIES)
def test_rendered_labels_and_findings_differ_only_in_the_fact(pairs, family: str) -> None:
    for p in pairs[family]:
        la, lb = p.cases[0].labels(), p.cases[1].labels()
        changed = {k for k in la if la[k] != lb[k]}
        if family in ("zone", "size"):
            assert not changed            # no label column holds zone or size ...
        elif family in ("laterality", "binding"):
            assert changed and all(k.endswith(("_Left", "_Right")) for k in changed), changed
        else:
            assert changed, p.source_id
        # ... the drawn findings do: one (two for binding/negation) differ, in the fact only
        a, b = p.changed
        assert len(a) == len(b) == (1 if family in ("laterality", "zone", "size") else 2)
        if family != "negation":
            field = {"laterality": "side", "binding": "side", "zone": "zone", "size": "size"}[family]
            for f in a:
                g = next(g for g in b if g.name == f.name)
                assert {getattr(f, field), getattr(g, field)} == SWAPS[family]
                assert (f.certainty, f.drawn, f.kind) == (g.certainty, g.drawn, g.kind)
        assert p.cases[0].patient == p.cases[1].patient
        assert p.cases[0].texture_seed == p.cases[1].texture_seed


@pytest.mark.parametrize("family", FAMILIES)
def test_pixels_differ_only_where_the_fact_is_drawn(pairs, family: str) -> None:
    for p in pairs[family]:
        ca, cb = p.cases
        img_a, img_b = RENDER.render(ca), RENDER.render(cb)
        a, b = p.changed
        without_a = replace(ca, findings=[f for f in ca.findings if all(f is not g for g in a)])
        without_b = replace(cb, findings=[f for f in cb.findings if all(f is not g for g in b)])
        base_a, base_b = RENDER.render(without_a), RENDER.render(without_b)
        assert np.array_equal(base_a, base_b)           # the same patient without the fact
        drawn = (img_a != base_a) | (img_b != base_b)
        differ = img_a != img_b
        assert differ.any(), p.source_id
        assert not (differ & ~drawn).any(), p.source_id  # identical wherever the fact is not drawn


def test_a_report_that_cannot_carry_the_fact_gives_no_pair() -> None:
    # every finding the zone templates use is already stated, and no zone word to flip
    text = "FINDINGS : right lung opacity . left consolidation . nodule in the right lung ."
    assert make_pair("zone", "x", text) is None
    assert make_pair("laterality", "x", text) is not None    # its side words can be flipped
    with pytest.raises(ValueError, match="unknown counterfactual family 'colour'"):
        make_pair("colour", "x", text)


def test_only_test_split_reports_are_used_by_default() -> None:
    from graphclr.synth.build import report_split

    reports = [(f"CXR{i}", "FINDINGS: Small left pleural effusion.") for i in range(1, 41)]
    sets = build_counterfactuals(reports, families=("laterality",), seed=0)
    ids = {p.source_id for p in sets["laterality"]}
    assert ids == {rid for rid, _ in reports if report_split(rid, 0) == "test"} and ids


@pytest.mark.slow
def test_at_least_200_pairs_per_family_from_a_synthetic_corpus() -> None:
    from graphclr.synth.pairs import synthetic_reports

    corpus = [(g.id, g.text) for g in synthetic_reports(260, seed=3)]
    sets = build_counterfactuals(corpus, split=None, max_per_family=200)
    assert {f: len(v) for f, v in sets.items()} == {f: 200 for f in FAMILIES}
