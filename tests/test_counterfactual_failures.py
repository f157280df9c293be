"""benchmarks/counterfactual_failures.py: the per-pair failure counts against hand-worked
2x2 similarities, and the comparisons they rest on against the Winoground scores."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def failures(load_benchmark):
    return load_benchmark("counterfactual_failures")


def test_failure_table_counts_each_side_by_hand(failures) -> None:
    sim = np.array([[[0.9, 0.1], [0.2, 0.8]],     # passes all four comparisons
                    [[0.3, 0.6], [0.1, 0.8]],     # image 0 prefers report 1; both reports keep their image
                    [[0.9, 0.8], [0.95, 0.97]],   # images keep their report; report 0 prefers image 1
                    [[0.5, 0.5], [0.2, 0.9]],     # a tie: image 0 fails (ties are failures), text holds
                    [[0.1, 0.9], [0.9, 0.1]]])    # everything crossed: both sides
    # unit embeddings: version distance sqrt(2) for pairs 0 and 2, 0 for pairs 1, 3, 4
    e = np.array([[1.0, 0.0], [0.0, 1.0]])
    same = np.array([[1.0, 0.0], [1.0, 0.0]])
    emb = np.stack([e, same, e, same, same])
    table = failures.failure_table(sim, emb, emb, ["x", "x", "y", "y", "y"])
    assert {k: {f: v[f] for f in ("pairs", "fail", "image_only", "text_only", "both")} for k, v in table.items()} == {
        "x": {"pairs": 2, "fail": 1, "image_only": 1, "text_only": 0, "both": 0},
        "y": {"pairs": 3, "fail": 3, "image_only": 1, "text_only": 1, "both": 1}}
    assert table["x"]["image_distance_fail"] == 0.0 and table["x"]["image_distance_pass"] == pytest.approx(2 ** 0.5, abs=1e-4)
    assert table["y"]["image_distance_pass"] is None
    assert table["y"]["report_distance_fail"] == pytest.approx(2 ** 0.5 / 3, abs=1e-4)


def test_comparisons_are_what_the_winoground_scores_count() -> None:
    from graphclr.eval.winoground import comparisons, winoground_scores

    sim = np.random.default_rng(0).normal(size=(40, 2, 2))
    img, txt = comparisons(sim)
    s = winoground_scores(sim)
    assert s["image"] == img.mean() and s["text"] == txt.mean()
    assert s["group"] == (img.all(axis=1) & txt.all(axis=1)).mean()
    with pytest.raises(ValueError, match=r"sim must be \[n_pairs, 2, 2\]"):
        comparisons(np.zeros((3, 2)))
