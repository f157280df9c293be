"""Statistics over pretraining seeds (graphclr.eval.multiseed) against hand computations, and the
counterfactual evaluation's config and pair cache."""

import math

import pytest

from graphclr.eval.multiseed import aggregate, headline, markdown_sections, mean_sd, paired


def _entry(lp10, zs, group_binding, image_binding):
    auc = lambda v: {"metrics": {"mean": {"auroc": {"value": v}}}}   # noqa: E731
    return {"linear_probe": {"10%": auc(lp10)}, "zero_shot": auc(zs),
            "retrieval": {"image_to_report": {"1": 0.5}},
            "counterfactual": {"binding": {"image": image_binding, "text": 0.5, "group": group_binding,
                                           "n_pairs": 10, "probe_image": {"accuracy": 0.75}}}}


def test_mean_sd_and_paired_by_hand():
    # values 1, 2, 4: mean 7/3, sample variance ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 42/18
    s = mean_sd([1.0, 2.0, 4.0])
    assert s["mean"] == pytest.approx(7 / 3) and s["sd"] == pytest.approx(math.sqrt(42 / 18)) and s["n"] == 3
    assert math.isnan(mean_sd([3.0])["sd"]) and mean_sd([float("nan")])["n"] == 0
    d = paired([0.9, 0.8, 0.7], [0.8, 0.75, 0.6])          # graph wins by 0.1, 0.05, 0.1
    assert d["diffs"] == pytest.approx([0.1, 0.05, 0.1]) and d["holds"] == "better"
    assert d["mean"] == pytest.approx(0.25 / 3) and d["sd"] == pytest.approx(math.sqrt(2 * (0.05 / 3) ** 2 / 2 + (0.1 / 3) ** 2 / 2))
    assert paired([0.1, 0.2], [0.3, 0.4])["holds"] == "worse"
    assert paired([0.1, 0.5], [0.3, 0.4])["holds"] == "mixed"
    assert paired([0.5], [0.4])["holds"] is None                # one seed says nothing about seed noise
    assert paired([0.5, float("nan")], [0.4, 0.3])["diffs"] == pytest.approx([0.1])


def test_aggregate_three_seeds_by_hand():
    per_seed = {0: {"graph": _entry(0.80, 0.90, 0.9, 1.0), "bow": _entry(0.78, 0.88, 0.0, 0.5)},
                1: {"graph": _entry(0.70, 0.92, 0.8, 0.9), "bow": _entry(0.74, 0.86, 0.0, 0.5)},
                2: {"graph": _entry(0.75, 0.91, 1.0, 1.0), "bow": _entry(0.72, 0.87, 0.0, 0.5)}}
    agg = aggregate(per_seed)
    assert agg["seeds"] == [0, 1, 2] and agg["encoders"] == ["graph", "bow"] and agg["reference"] == "graph"
    lp = agg["metrics"]["linear_probe/10% labels"]["graph"]
    assert lp["values"] == [0.80, 0.70, 0.75] and lp["mean"] == pytest.approx(0.75)
    assert lp["sd"] == pytest.approx(0.05)                      # sqrt((0.05^2 + 0.05^2 + 0) / 2)
    # linear probe: +0.02, -0.04, +0.03 -> mixed; zero-shot: +0.02, +0.06, +0.04 -> better in every seed
    assert agg["paired"]["linear_probe/10% labels"]["bow"]["holds"] == "mixed"
    zs = agg["paired"]["zero_shot/mean AUROC"]["bow"]
    assert zs["holds"] == "better" and zs["mean"] == pytest.approx(0.04) and zs["sd"] == pytest.approx(0.02)
    g = agg["metrics"]["counterfactual:binding/group"]
    assert g["graph"]["mean"] == pytest.approx(0.9) and g["bow"]["mean"] == 0.0 and g["bow"]["sd"] == 0.0
    assert list(headline(per_seed[0]["graph"])) == [
        "linear_probe/10% labels", "zero_shot/mean AUROC", "retrieval/image→report R@1", "counterfactual:binding/image",
        "counterfactual:binding/text", "counterfactual:binding/group", "counterfactual:binding/fact probe (image)"]
    # an encoder missing from a seed is missing (nan), not zero
    agg2 = aggregate({0: per_seed[0], 1: {"graph": per_seed[1]["graph"]}})
    assert agg2["metrics"]["zero_shot/mean AUROC"]["bow"]["n"] == 1
    assert agg2["paired"]["zero_shot/mean AUROC"]["bow"]["holds"] is None

    lines = "\n".join(markdown_sections({"multi_seed": agg, "encoders": per_seed[0]}))
    assert "## Over 3 pretraining seeds (0, 1, 2): mean ± sd" in lines
    assert "| graph | 0.750 ± 0.050 |" in lines                   # linear probe 10%
    assert "0.040 ± 0.020 (**better**)" in lines and "(mixed)" in lines
    assert "### binding (10 pairs)" in lines and "| *chance* | 0.5 | 0.5 | 0.167 | 0.5 |" in lines
    assert "| bow | 0.500 ± 0.000 | 0.500 ± 0.000 | 0.000 ± 0.000 | 0.750 ± 0.000 |" in lines


def test_one_run_report_has_family_tables_but_no_seed_summary():
    lines = "\n".join(markdown_sections({"encoders": {"graph": _entry(0.8, 0.9, 0.9, 1.0)}}))
    assert "pretraining seeds" not in lines and "| graph | 1.000 | 0.500 | 0.900 | 0.750 |" in lines
    # results from before the split was recorded are test-split results
    assert "pairs start only from reports of the test split, so neither" in lines


def test_the_report_names_the_split_the_pairs_came_from():
    entry = _entry(0.8, 0.9, 0.9, 1.0)
    entry["counterfactual"]["binding"]["split"] = "val"
    lines = "\n".join(markdown_sections({"encoders": {"graph": entry}}))
    assert "pairs start only from reports of the validation split, so neither" in lines
    entry["counterfactual"]["binding"]["split"] = "all"
    lines = "\n".join(markdown_sections({"encoders": {"graph": entry}}))
    assert "pairs start from every report of the corpus (it has no splits" in lines and "so neither" not in lines


def test_counterfactual_config_is_strict():
    from graphclr.eval.config import EvalConfig

    cfg = EvalConfig.from_dict({"counterfactual": {}})
    assert cfg.get("counterfactual").families == ("binding", "laterality", "negation", "zone", "size")
    with pytest.raises(ValueError, match=r"evaluations.counterfactual.families: .*'scope'"):
        EvalConfig.from_dict({"counterfactual": {"families": ["scope"]}})
    with pytest.raises(ValueError, match=r"evaluations.counterfactual.max_per_family"):
        EvalConfig.from_dict({"counterfactual": {"max_per_family": 1}})
    with pytest.raises(ValueError, match=r"evaluations.counterfactual: unknown field\(s\) \['n'\]"):
        EvalConfig.from_dict({"counterfactual": {"n": 3}})
    with pytest.raises(ValueError, match=r"evaluations.counterfactual.split: expected 'val' or 'test'.*'train'"):
        EvalConfig.from_dict({"counterfactual": {"split": "train"}})
    assert EvalConfig.from_dict({"counterfactual": {"split": "val"}}).get("counterfactual").split == "val"


def test_validation_pairs_start_from_validation_reports_only(tmp_path):
    from graphclr.eval.counterfactuals import CounterfactualSource
    from graphclr.synth.build import report_split

    reports = [(f"r{i}", "FINDINGS: Small left pleural effusion.") for i in range(60)]   # hand-written
    test_src = CounterfactualSource(tmp_path, reports=reports)
    val_src = test_src.with_split("val")
    ids = {s: {p.source_id for p in src.pairs(["laterality"], 100)["laterality"]}
           for s, src in (("test", test_src), ("val", val_src))}
    expected = {s: {r for r, _ in reports if report_split(r, 0) == s} for s in ("test", "val")}
    assert ids == expected and ids["val"] and ids["test"] and not ids["val"] & ids["test"]
    assert test_src.key(["laterality"], 100) != val_src.key(["laterality"], 100)
    every = CounterfactualSource(tmp_path, reports=reports, split=None)
    assert every.with_split("val") is every   # a corpus without splits keeps all its reports


def test_pair_source_builds_once_and_reads_its_cache(tmp_path, monkeypatch):
    from graphclr.eval.counterfactuals import CounterfactualSource

    reports = [("r1", "FINDINGS: Small left pleural effusion. No pneumothorax."),   # hand-written
               ("r2", "IMPRESSION: Right upper lobe opacity.")]
    src = CounterfactualSource(tmp_path, reports=reports, split=None)
    sets = src.pairs(["laterality"], 5)
    assert len(sets["laterality"]) == 2 and len(list(tmp_path.glob("pairs-*.pkl"))) == 1
    again = CounterfactualSource(tmp_path, reports=reports, split=None)
    monkeypatch.setattr(again, "_build", lambda *a: pytest.fail("rebuilt despite the cache"))
    cached = again.pairs(["laterality"], 5)
    assert [p.texts for p in cached["laterality"]] == [p.texts for p in sets["laterality"]]
    assert again.key(["laterality"], 5) != again.key(["laterality"], 6)
