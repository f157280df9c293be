"""Winoground scores against hand computation; the fact probe; scoring a model end to end."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from graphclr.eval.winoground import CHANCE, fact_probe, pair_similarities, score_counterfactuals, winoground_scores


def test_scores_of_a_hand_computed_2x2_case() -> None:
    # pair 0: s00=.9 > s01=.3 (image 0 ok), s11=.4 < s10=.5 (image 1 wrong);
    #         s00 > s10 (report 0 ok), s11=.4 > s01=.3 (report 1 ok)
    # pair 1: all four hold; pair 2: a tie counts as wrong
    sim = [[[0.9, 0.3], [0.5, 0.4]],
           [[0.7, 0.1], [0.2, 0.6]],
           [[0.5, 0.5], [0.1, 0.9]]]
    s = winoground_scores(sim)
    assert s["image"] == pytest.approx(4 / 6)     # images right: p0 1/2, p1 2/2, p2 1/2
    assert s["text"] == pytest.approx(6 / 6)      # reports: p2 report 0: .5 > .1, report 1: .9 > .5
    assert s["group"] == pytest.approx(1 / 3)     # only pair 1
    assert s["image_pair"] == pytest.approx(1 / 3) and s["text_pair"] == pytest.approx(1.0)
    assert s["n_pairs"] == 3


def test_chance_levels_are_those_of_exchangeable_similarities() -> None:
    # every ordering of four distinct similarities is equally likely: enumerate them
    perms = np.array(list(itertools.permutations(range(4))), float).reshape(-1, 2, 2)
    s = winoground_scores(perms)
    for k in ("image", "text", "group", "image_pair", "text_pair"):
        assert s[k] == pytest.approx(CHANCE[k])


def test_pair_similarities_are_cosines() -> None:
    img = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    rep = np.array([[[3.0, 0.0], [1.0, 1.0]]])
    sim = pair_similarities(img, rep)
    np.testing.assert_allclose(sim[0], [[1.0, 1 / np.sqrt(2)], [0.0, 1 / np.sqrt(2)]])
    with pytest.raises(ValueError, match=r"\[n_pairs, 2, d\]"):
        pair_similarities(img[0], rep[0])
    with pytest.raises(ValueError, match=r"\[n_pairs, 2, 2\]"):
        winoground_scores(np.zeros((3, 2)))


def test_fact_probe_reads_a_linear_fact_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    n = 60
    y = np.tile([0, 1], (n, 1))
    y[::2] = [1, 0]
    x = rng.normal(size=(n, 2, 5))
    x[..., 0] += 3.0 * (2 * y - 1)                        # the fact on one axis
    good = fact_probe(x, y, folds=4)
    assert good["accuracy"] > 0.95 and good["auroc"] > 0.98 and good["folds"] == 4
    noise = fact_probe(rng.normal(size=(n, 2, 5)), y, folds=4)
    assert 0.25 < noise["accuracy"] < 0.75


@pytest.mark.slow
def test_score_counterfactuals_on_a_tiny_model() -> None:
    import torch

    from graphclr.graphs.vocab import Vocabulary
    from graphclr.models import create_model
    from graphclr.synth.counterfactual_set import build_counterfactuals

    reports = [("h1", "FINDINGS: Small left pleural effusion. Right upper lobe opacity."),
               ("h2", "FINDINGS: Large right pneumothorax. Mild cardiomegaly."),
               ("h3", "IMPRESSION: The lungs are clear.")]
    sets = build_counterfactuals(reports, families=("laterality", "negation"), split=None)
    torch.manual_seed(0)
    graphs = [g for ps in sets.values() for p in ps for g in p.graphs]
    model = create_model("tiny", vocab=Vocabulary.from_graphs(graphs))
    out = score_counterfactuals(model, sets, probe_folds=3)
    assert set(out) == {"laterality", "negation"}
    for family, s in out.items():
        assert s["n_pairs"] == len(sets[family]) == 3
        for k in ("image", "text", "group"):
            assert 0.0 <= s[k] <= 1.0
        assert s["probe_image"]["folds"] == 3 and 0.0 <= s["probe_image"]["accuracy"] <= 1.0


def test_reports_that_embed_alike_score_zero_not_chance() -> None:
    rng = np.random.default_rng(1)
    img = rng.normal(size=(10, 2, 4))
    same = np.repeat(rng.normal(size=(10, 1, 4)), 2, axis=1)   # a bag of words on a binding pair
    s = winoground_scores(pair_similarities(img, same))
    assert s["image"] == 0.0 and s["group"] == 0.0
