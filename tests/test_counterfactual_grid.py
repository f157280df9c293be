"""benchmarks/counterfactual_training.py: each grid cell is the default spec with only the
named encoders, the pretraining pairs and their families changed; unknown encoders are
named with the allowed ones; merged rows keep their own cell and date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphclr.runner import default_spec_path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def grid(load_benchmark):
    return load_benchmark("counterfactual_training")


def test_a_cell_changes_only_encoders_pairs_and_groups(grid) -> None:
    default = json.loads(default_spec_path().read_text(encoding="utf-8"))
    ablation = json.loads((BENCH / "specs" / "readout_ablation.json").read_text(encoding="utf-8"))
    cell = grid.grid_spec(True, ["igcl", "graph"], BENCH / "specs" / "readout_ablation.json", ["laterality", "zone"])
    by_name = {e["name"]: e for e in ablation["encoders"]}
    assert cell["encoders"] == [by_name["igcl"], by_name["graph"]]
    assert cell["dataset"] == {**default["dataset"], "train_counterfactuals": ["laterality", "zone"]}
    assert cell["budget"] == {**default["budget"], "batch_groups": "patient_id"}
    assert cell["model"] == default["model"] and cell["labels"] == default["labels"]
    assert set(cell["evaluations"]) == {"n_bootstrap", "probe", "zero_shot", "laterality", "counterfactual"}
    assert cell["evaluations"]["counterfactual"] == {**default["evaluations"]["counterfactual"], "split": "test"}
    val = grid.grid_spec(True, ["graph"], probe_split="val")
    assert val["evaluations"]["counterfactual"] == {**default["evaluations"]["counterfactual"], "split": "val"}
    assert {k: v for k, v in val.items() if k != "evaluations"} == \
        {k: v for k, v in grid.grid_spec(True, ["graph"]).items() if k != "evaluations"}
    natural = grid.grid_spec(False, ["graph", "bag-of-words"])
    assert "train_counterfactuals" not in natural["dataset"] and "batch_groups" not in natural["budget"]
    assert [e["name"] for e in natural["encoders"]] == ["graph", "bag-of-words"]


def test_an_unknown_encoder_is_named_with_the_allowed_ones(grid) -> None:
    with pytest.raises(SystemExit, match=r"no encoder named \['bert'\]; allowed: \['bag-of-words', 'graph', 'text-transformer'\]"):
        grid.grid_spec(False, ["graph", "bert"])


def test_cells_sort_natural_then_all_families_then_subsets_by_steps(grid) -> None:
    rows = [{"steps": 600, "pairs": True, "train_families": ["laterality"]},
            {"steps": 1200, "pairs": True},  # a row recorded before train_families existed
            {"steps": 300, "pairs": True, "train_families": list(grid.FAMILIES)},
            {"steps": 600, "pairs": False, "train_families": []}]
    assert [(r["steps"], grid._pairs_label(r)) for r in sorted(rows, key=grid._cell_key)] == [
        (600, "natural"), (300, "natural + counterfactual"), (1200, "natural + counterfactual"),
        (600, "natural + counterfactual (laterality only)")]


def _cell(steps, binding, negation, families=None):
    row = {"steps": steps, "pairs": True, "probe_split": "val",
           "encoders": {"graph": {"counterfactual": {"binding": {"group": binding}, "negation": {"group": negation}}}}}
    if families is not None:
        row["train_families"] = families
    return row


def test_the_budget_rule_takes_the_best_binding_negation_mean_and_ties_go_to_fewer_steps(grid) -> None:
    # means: 600 -> 0.80, 1200 -> 0.88, 1800 -> 0.88 (tie: fewer steps), 2400 -> 0.87;
    # the subset-family cell (0.99) and natural cells are not candidates
    rows = [_cell(600, 0.82, 0.78), _cell(1800, 0.90, 0.86), _cell(1200, 0.86, 0.90), _cell(2400, 0.92, 0.82),
            _cell(3600, 0.99, 0.99, ["laterality"]),
            {**_cell(4800, 1.0, 1.0), "pairs": False}]
    assert grid.choose_budget(rows) == (1200, 0.88)
    with pytest.raises(ValueError, match="no cell with counterfactual pairs of all five families"):
        grid.choose_budget(rows[4:])


def test_validation_and_test_cells_are_distinct_cells(grid) -> None:
    test_row, val_row = {"steps": 600, "pairs": True}, {"steps": 600, "pairs": True, "probe_split": "val"}
    assert grid._cell_key(test_row) != grid._cell_key(val_row)


def test_several_seeds_average_in_the_rule_and_get_a_mean_sd_table(grid) -> None:
    # 600 steps: seeds 0.90 and 0.70 (mean 0.80); 1200 steps: 0.85 and 0.85 (mean 0.85) -> 1200
    rows = [{**_cell(600, 0.9, 0.9), "seed": 0}, {**_cell(600, 0.7, 0.7), "seed": 1},
            {**_cell(1200, 0.85, 0.85), "seed": 0}, {**_cell(1200, 0.8, 0.9), "seed": 1}]
    assert grid.choose_budget(rows) == (1200, 0.85)
    for r, zs in zip(rows, (0.90, 0.94, 0.95, 0.97)):
        cf = r["encoders"]["graph"]["counterfactual"]
        for f in ("laterality", "zone", "size"):
            cf[f] = {"group": 0.5}
        r["encoders"]["graph"].update(zero_shot_mean_auroc=zs, effusion_side_zero_shot_auroc=1.0)
        r.update(seconds=100.0, date="2026-12-04")
    meta = {"command": "x", "date": "2026-12-04", "machine": {"platform": "p", "cpu_count": 2}}
    md = grid.markdown(rows, meta, ["graph"])
    assert "Pretraining seeds 0, 1 (one per cell)" in md
    assert "| 600 | natural + counterfactual | 1 | graph | 0.700 |" in md
    # binding 0.9, 0.7: mean 0.8, sd sqrt(0.02) = 0.141; zero-shot 0.90, 0.94: 0.920 ± 0.028
    assert "| 600 | natural + counterfactual | graph | 2 | 0.800 ± 0.141 |" in md and "| 0.920 ± 0.028 |" in md
    assert "**Chosen budget: 1200 steps**" in md
