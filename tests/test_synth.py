"""The synthetic renderer responds to the graph, and only to what the graph asserts."""

from __future__ import annotations

import numpy as np
import pytest

from graphclr.reports.schema import Entity, Relation, ReportGraph
from graphclr.synth import (
    LABEL_COLUMNS,
    Renderer,
    finding,
    findings_from_graph,
    plan_case,
)
from graphclr.reports.labels import Finding
from graphclr.synth.findings import drawable


def graph(text: str, ents: list[tuple[str, str]], rels: list[tuple[str, int, int]] = ()) -> ReportGraph:
    """A graph whose i-th entity is the i-th listed (tokens, label), spans found in ``text``."""
    words = text.split()
    entities, pos = [], 0
    for tokens, label in ents:
        n = len(tokens.split())
        while words[pos:pos + n] != tokens.split():
            pos += 1
        entities.append(Entity(tokens, label, pos, pos + n - 1))
        pos += n
    g = ReportGraph("r1", text, entities, [Relation(t, h, tl) for t, h, tl in rels])
    g.validate()
    return g


RENDER = Renderer(128)


def image(findings: list[Finding], item: str = "case-1", seed: int = 7, renderer: Renderer = RENDER) -> np.ndarray:
    return renderer.render(plan_case(None, item, seed, findings=findings)).astype(np.float64)


# --- graph -> findings ------------------------------------------------------------------
def test_findings_read_side_size_zone_and_certainty_from_the_graph() -> None:
    g = graph("small right pleural effusion . possible left lower lobe pneumonia . no pneumothorax .",
              [("small", "OBS-DP"), ("right", "ANAT-DP"), ("pleural", "ANAT-DP"), ("effusion", "OBS-DP"),
               ("left", "ANAT-DP"), ("lower", "ANAT-DP"), ("lobe", "ANAT-DP"), ("pneumonia", "OBS-U"),
               ("pneumothorax", "OBS-DA")],
              [("modify", 0, 3), ("located_at", 3, 2), ("modify", 1, 2),
               ("located_at", 7, 6), ("modify", 4, 6), ("modify", 5, 6)])
    got = [tuple(drawable(f))[:5] for f in findings_from_graph(g)]
    assert got == [("effusion", "present", "right", None, "small"),
                   ("pneumonia", "uncertain", "left", "lower", None),
                   ("pneumothorax", "absent", None, None, None)]


def test_enlarged_heart_is_cardiomegaly_but_enlarged_node_is_not() -> None:
    heart = graph("heart size is enlarged", [("heart", "ANAT-DP"), ("size", "ANAT-DP"), ("enlarged", "OBS-DP")],
                  [("located_at", 2, 0), ("modify", 1, 0)])
    assert [f.name for f in findings_from_graph(heart)] == ["cardiomegaly"]
    node = graph("enlarged lymph node", [("enlarged", "OBS-DP"), ("lymph node", "ANAT-DP")],
                 [("located_at", 0, 1)])
    assert findings_from_graph(node) == []


def test_devices_get_their_kind() -> None:
    g = graph("endotracheal tube in place", [("endotracheal tube", "OBS-DP")])
    assert [(drawable(f).name, drawable(f).kind) for f in findings_from_graph(g)] == [("device", "ett")]


# --- rendering responds to the graph -----------------------------------------------------
def heart_width(img: np.ndarray, case) -> int:
    """Widest bright run through the heart's centre column, over the heart's rows.

    Computed from pixels only: the run is stopped by the dark lungs on both sides.
    """
    p = case.patient
    s = img.shape[0]
    centre = int((p.cx + p.heart_shift) * s)
    widths = []
    for r in range(int((p.heart_cy - 0.03) * s), int((p.heart_cy + 0.03) * s)):
        row = np.convolve(img[r], np.ones(3) / 3, mode="same")  # tame the noise
        lung = np.percentile(row, 10)
        thresh = (lung + row[centre]) / 2
        left = right = centre
        while left > 0 and row[left - 1] > thresh:
            left -= 1
        while right < s - 1 and row[right + 1] > thresh:
            right += 1
        widths.append(right - left + 1)
    return max(widths)


@pytest.mark.parametrize("item", ["a", "b", "c", "d"])
def test_heart_is_wider_for_cardiomegaly(item: str) -> None:
    normal_case = plan_case(None, item, 3, findings=[])
    big_case = plan_case(None, item, 3, findings=[finding("cardiomegaly", "present")])
    normal = RENDER.render(normal_case).astype(float)
    big = RENDER.render(big_case).astype(float)
    w0, w1 = heart_width(normal, normal_case), heart_width(big, big_case)
    assert w1 >= 1.2 * w0, (w0, w1)
    assert big_case.labels()["Cardiomegaly"] == 1 and normal_case.labels()["Cardiomegaly"] == 0


@pytest.mark.parametrize("item", ["p1", "p2", "p3"])
def test_left_and_right_effusions_shade_opposite_bases(item: str) -> None:
    s = RENDER.size
    base = image([], item)
    left = image([finding("effusion", "present", "left", size="moderate")], item) - base
    right = image([finding("effusion", "present", "right", size="moderate")], item) - base
    lower = slice(int(0.5 * s), int(0.85 * s))
    img_left, img_right = slice(0, s // 2), slice(s // 2, s)
    # the patient's left is the image's right (PA display)
    assert left[lower, img_right].mean() > 5 and abs(left[lower, img_left].mean()) < 1
    assert right[lower, img_left].mean() > 5 and abs(right[lower, img_right].mean()) < 1
    # and the bases, not the apices
    upper = slice(int(0.1 * s), int(0.35 * s))
    assert left[upper, img_right].mean() < 0.2 * left[lower, img_right].mean()


def test_absent_findings_are_not_drawn() -> None:
    text = "no pleural effusion . no pneumothorax . no consolidation"
    g_absent = graph(text, [("pleural", "ANAT-DP"), ("effusion", "OBS-DA"), ("pneumothorax", "OBS-DA"),
                            ("consolidation", "OBS-DA")], [("located_at", 1, 0)])
    g_empty = ReportGraph("r1", text)
    a = RENDER.render(plan_case(g_absent, "same-id", 5))
    b = RENDER.render(plan_case(g_empty, "same-id", 5))
    assert np.array_equal(a, b)
    case = plan_case(g_absent, "same-id", 5)
    assert case.labels()["No Finding"] == 1 and sum(case.labels().values()) == 1
    assert [f.drawn for f in case.findings] == [False, False, False]


def test_each_finding_changes_the_image_where_expected() -> None:
    s = RENDER.size
    base = image([], "z")
    for one in (finding("consolidation", "present", "right", "upper"),
                finding("nodule", "present", "right", "upper"),
                finding("mass", "present", "right", "upper"),
                finding("pneumonia", "present", "right", "upper"),
                finding("atelectasis", "present", "right", "upper")):
        diff = image([one], "z") - base
        quadrant = diff[: s // 2, : s // 2].sum()
        assert quadrant > 0.9 * np.abs(diff).sum() > 0, one.name  # patient's right upper = image top-left
    ptx = image([finding("pneumothorax", "present", "left")], "z") - base
    assert np.abs(ptx[: s // 2, s // 2:]).sum() > 0.9 * np.abs(ptx).sum() > 0
    edema = image([finding("edema", "present")], "z") - base
    assert edema[:, : s // 2].sum() > 0 and edema[:, s // 2:].sum() > 0
    devices = image([finding("device", "present", kind="ett")], "z") - base
    assert devices.max() > 50


def test_uncertain_findings_are_drawn_with_the_stated_probability() -> None:
    f = [finding("effusion", "uncertain", "left")]
    drawn = [plan_case(None, f"u{i}", 0, findings=f, uncertain_prob=0.5).labels()["Pleural Effusion"]
             for i in range(400)]
    assert 0.42 < np.mean(drawn) < 0.58
    assert all(plan_case(None, f"u{i}", 0, findings=f, uncertain_prob=0.0).labels()["Pleural Effusion"] == 0
               for i in range(20))
    assert all(plan_case(None, f"u{i}", 0, findings=f, uncertain_prob=1.0).labels()["Effusion_Left"] == 1
               for i in range(20))


def test_identical_seeds_identical_images_and_seeds_matter() -> None:
    f = [finding("consolidation", "present", None, None), finding("effusion", "present")]
    a = Renderer(96).render(plan_case(None, "x1", 11, findings=f))
    b = Renderer(96).render(plan_case(None, "x1", 11, findings=f))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, Renderer(96).render(plan_case(None, "x1", 12, findings=f)))
    assert not np.array_equal(a, Renderer(96).render(plan_case(None, "x2", 11, findings=f)))


def test_patient_variation_and_sizes() -> None:
    imgs = [Renderer(64).render(plan_case(None, f"v{i}", 0, findings=[])) for i in range(5)]
    assert len({im.tobytes() for im in imgs}) == 5
    assert imgs[0].shape == (64, 64) and imgs[0].dtype == np.uint8
    with pytest.raises(ValueError, match="size"):
        Renderer(16)


def test_labels_cover_every_column_and_laterality() -> None:
    case = plan_case(None, "l", 0, findings=[finding("effusion", "present", "bilateral"),
                                             finding("pneumothorax", "present", "right"),
                                             finding("device", "present", kind="ng_tube")])
    lab = case.labels()
    assert list(lab) == list(LABEL_COLUMNS)
    assert lab["Effusion_Left"] == lab["Effusion_Right"] == 1
    assert lab["Pneumothorax_Right"] == 1 and lab["Pneumothorax_Left"] == 0
    assert lab["Support Devices"] == 1 and lab["No Finding"] == 0
    only_device = plan_case(None, "l", 0, findings=[finding("device", "present", kind="ett")]).labels()
    assert only_device["No Finding"] == 1  # CheXpert: support devices do not count as findings


def test_backgrounds_are_used_and_findings_still_drawn(tmp_path) -> None:
    from PIL import Image

    bg = tmp_path / "bg.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((150, 140)) * 60 + 80).astype(np.uint8)).save(bg)
    r = Renderer(96)
    plain = r.render(plan_case(None, "b", 0, findings=[], backgrounds=[str(bg)])).astype(float)
    assert abs(plain.mean() - 110) < 15  # the background, not the synthetic anatomy
    eff = r.render(plan_case(None, "b", 0, findings=[finding("effusion", "present", "left")],
                             backgrounds=[str(bg)])).astype(float)
    assert (eff - plain)[48:85, 48:].mean() > 3


# --- one Finding class -------------------------------------------------------------------
@pytest.mark.parametrize("name,kind", [(n, None) for n in
                                       ("cardiomegaly", "effusion", "pneumothorax", "consolidation", "opacity",
                                        "atelectasis", "pneumonia", "edema", "nodule", "mass")]
                         + [("device", k) for k in ("ett", "ng_tube", "central_line", "pacemaker", "chest_tube")])
def test_finding_builds_the_labels_finding_that_draws_as_asked(name: str, kind: str | None) -> None:
    f = finding(name, "uncertain", "left", "upper", "large", kind=kind, plural=name == "nodule")
    assert isinstance(f, Finding)
    assert tuple(drawable(f)) == (name, "uncertain", "left", "upper", "large", kind, name == "nodule")


def test_old_synth_finding_is_a_deprecated_builder_of_the_one_class() -> None:
    import graphclr.synth as synth

    with pytest.warns(DeprecationWarning, match="graphclr.reports.labels.Finding"):
        old = synth.Finding("effusion", "present", "left", size="moderate")
    assert old == finding("effusion", "present", "left", size="moderate")
    with pytest.raises(ValueError, match="unknown drawable finding 'efusion'"):
        finding("efusion")


def test_the_old_regex_reader_is_gone_and_its_method_name_warns() -> None:
    g = graph("small left pleural effusion", [("small", "OBS-DP"), ("left", "ANAT-DP"), ("pleural", "ANAT-DP"),
                                              ("effusion", "OBS-DP")],
              [("modify", 0, 3), ("located_at", 3, 2), ("modify", 1, 2)])
    with pytest.warns(DeprecationWarning, match=r"method='rules'\) is deprecated"):
        old = findings_from_graph(g, "rules")
    assert old == findings_from_graph(g) and [tuple(drawable(f))[:5] for f in old] == [
        ("effusion", "present", "left", None, "small")]
