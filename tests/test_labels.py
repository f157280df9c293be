"""Graph -> labels: findings() normalisation on hand-built and RadGraph graphs, the label
mapping, the uncertainty policies and the normal / No Finding rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphclr.reports.extract import Extractor
from graphclr.reports.labels import (
    CHEXPERT_LABELS,
    CXR14_LABELS,
    finding_laterality,
    findings,
    label_graph,
    label_graphs,
    labels_for,
)
from graphclr.reports.schema import Entity, Relation, ReportGraph, read_radgraph

FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def ex() -> Extractor:
    return Extractor()


def positives(labels: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in labels.items() if v}


def test_label_orders() -> None:
    assert CXR14_LABELS[:3] == ("Atelectasis", "Cardiomegaly", "Effusion")
    assert CXR14_LABELS[-2:] == ("Hernia", "normal") and len(CXR14_LABELS) == 15
    assert CHEXPERT_LABELS[0] == "No Finding" and CHEXPERT_LABELS[-1] == "Support Devices"
    assert len(CHEXPERT_LABELS) == 14


def hand_graph() -> ReportGraph:
    """RadGraph-style, built by hand (independent of the extractor):
    "mild bibasilar atelectasis . right upper lobe mass . heart size normal . no pneumothorax" """
    text = "mild bibasilar atelectasis . right upper lobe mass . heart size normal . no pneumothorax"
    ents = [Entity("mild", "OBS-DP", 0, 0), Entity("bibasilar", "ANAT-DP", 1, 1),
            Entity("atelectasis", "OBS-DP", 2, 2), Entity("right", "ANAT-DP", 4, 4),
            Entity("upper", "ANAT-DP", 5, 5), Entity("lobe", "ANAT-DP", 6, 6),
            Entity("mass", "OBS-U", 7, 7), Entity("heart", "ANAT-DP", 9, 9),
            Entity("size", "ANAT-DP", 10, 10), Entity("normal", "OBS-DP", 11, 11),
            Entity("pneumothorax", "OBS-DA", 14, 14)]
    rels = [Relation("modify", 0, 2), Relation("located_at", 2, 1), Relation("modify", 3, 5),
            Relation("modify", 4, 5), Relation("located_at", 6, 5), Relation("modify", 7, 8),
            Relation("located_at", 9, 8)]
    return ReportGraph("hand", text, ents, rels)


def test_findings_on_a_hand_built_graph() -> None:
    got = [(f.name, f.certainty, f.laterality, f.zone, f.severity, f.anatomy, f.entity)
           for f in findings(hand_graph())]
    assert got == [
        ("atelectasis", "present", "bilateral", "lower", "mild", ("base",), 2),
        ("mass", "uncertain", "right", "upper", None, ("lobe", "right", "upper"), 6),
        ("cardiomegaly", "absent", None, None, None, ("size", "heart"), 9),  # heart size normal
        ("pneumothorax", "absent", None, None, None, (), 10),
    ]
    mods = findings(hand_graph(), include_modifiers=True)
    assert [f.name for f in mods][0] == "mild"


def test_label_policies_and_normal() -> None:
    g = hand_graph()
    assert positives(label_graph(g)) == {"Atelectasis": 1}
    assert positives(label_graph(g, uncertain="positive")) == {"Atelectasis": 1, "Mass": 1}
    keep = label_graph(g, uncertain="keep")
    assert keep["Mass"] == -1 and keep["Cardiomegaly"] == 0 and keep["normal"] == 0
    assert list(keep) == list(CXR14_LABELS)
    chex = label_graph(g, "chexpert", "keep")
    assert list(chex) == list(CHEXPERT_LABELS)
    assert positives(chex) == {"Atelectasis": 1, "Lung Lesion": -1}


@pytest.mark.parametrize("text,cxr14,chexpert", [
    ("Heart size normal. Lungs are clear.", {"normal": 1}, {"No Finding": 1}),
    ("The heart is not enlarged. No acute cardiopulmonary process.", {"normal": 1}, {"No Finding": 1}),
    ("The heart is mildly enlarged.", {"Cardiomegaly": 1}, {"Cardiomegaly": 1}),
    ("Borderline heart size.", {"Cardiomegaly": 1}, {"Cardiomegaly": 1}),
    ("Large pericardial effusion.", {}, {}),
    ("Small left pleural effusion.", {"Effusion": 1}, {"Pleural Effusion": 1}),
    ("Calcified nodule in the right lung.", {"Nodule": 1}, {}),
    ("Nodular opacity in the left lung.", {}, {"Lung Lesion": 1}),
    ("Infection in the right base.", {}, {"Pneumonia": 1}),
    ("Right lower lobe pneumonia.", {"Pneumonia": 1}, {"Pneumonia": 1}),
    ("Endotracheal tube in good position. Lungs are clear.", {}, {"No Finding": 1, "Support Devices": 1}),
    ("Degenerative changes of the thoracic spine.", {}, {}),
    ("Apical pleural thickening.", {"Pleural_Thickening": 1}, {"Pleural Other": 1}),
    ("Emphysematous changes. Hiatal hernia.", {"Emphysema": 1, "Hernia": 1}, {}),
    ("Mild pulmonary edema and vascular congestion.", {"Edema": 1}, {"Edema": 1}),
    ("Right apical pneumothorax.", {"Pneumothorax": 1}, {"Pneumothorax": 1}),
    ("Patchy airspace consolidation. Interstitial infiltrates.",
     {"Consolidation": 1, "Infiltration": 1}, {"Consolidation": 1, "Lung Opacity": 1}),
    ("Pulmonary fibrosis. Atelectatic changes.", {"Fibrosis": 1, "Atelectasis": 1}, {"Atelectasis": 1}),
    ("Possible small right effusion.", {}, {}),
])
def test_label_mapping(ex: Extractor, text: str, cxr14: dict, chexpert: dict) -> None:
    g = ex.extract(text)
    assert positives(label_graph(g)) == cxr14
    assert positives(label_graph(g, "chexpert")) == {k: v for k, v in chexpert.items() if v}


def test_uncertain_abnormality_is_not_normal(ex: Extractor) -> None:
    g = ex.extract("Possible small right effusion.")
    assert label_graph(g)["normal"] == 0 and label_graph(g)["Effusion"] == 0
    assert label_graph(g, uncertain="positive")["Effusion"] == 1
    assert label_graph(g, uncertain="keep")["normal"] == -1
    assert label_graph(g, "chexpert", "keep")["No Finding"] == -1


def test_devices_are_abnormal_for_cxr14_normal_only(ex: Extractor) -> None:
    g = ex.extract("Left subclavian central venous catheter. Lungs are clear.")
    assert label_graph(g)["normal"] == 0
    assert label_graph(g, "chexpert")["No Finding"] == 1
    assert label_graph(g, "chexpert")["Support Devices"] == 1


def test_findings_attributes_from_extractor(ex: Extractor) -> None:
    g = ex.extract("Small left lower lobe opacity. Opacities in the right upper lobe and left lower "
                   "lobe. Moderate right pleural effusion. Left effusion.")
    got = [(f.name, f.laterality, f.zone, f.zones, f.size, f.severity) for f in findings(g)]
    assert got == [("opacity", "left", "lower", ("lower",), "small", None),
                   ("opacity", "bilateral", None, ("upper", "lower"), None, None),
                   ("effusion", "right", None, (), None, "moderate"),
                   ("effusion", "left", None, (), None, None)]
    assert finding_laterality(g, "effusion") == "bilateral"
    assert finding_laterality(g, "pneumothorax") is None


def test_explicit_laterality_beats_nothing_and_retrocardiac_has_none(ex: Extractor) -> None:
    g = ex.extract("Retrocardiac opacity. Right retrocardiac nodule.")
    assert [(f.name, f.laterality, f.zone) for f in findings(g)] == [
        ("opacity", None, "lower"), ("nodule", "right", "lower")]


def test_labels_on_radgraph_graphs() -> None:
    coll = read_radgraph(FIX / "radgraph" / "MIMIC-CXR_graphs.json")
    g = next(x for x in coll if x.id == "p18/p18004941/s58821758.txt")
    # "small left pleural effusion . Patchy opacity ... may represent pneumonia .
    #  Heart size is normal . No pneumothorax ." (labelled by hand in the fixture)
    assert positives(label_graph(g, uncertain="keep")) == {"Effusion": 1, "Pneumonia": -1}
    eff = next(f for f in findings(g) if f.name == "effusion")
    assert (eff.laterality, eff.size, eff.certainty) == ("left", "small", "present")
    frame = label_graphs(coll, "chexpert")
    assert list(frame.columns) == ["id", *CHEXPERT_LABELS]
    assert frame["id"].tolist() == [x.id for x in coll]
    assert str(frame["Pleural Effusion"].dtype) == "int8"


def test_multi_token_radgraph_entities_are_normalised() -> None:
    g = ReportGraph("x", "small left pleural effusion . enlarged cardiac silhouette",
                    [Entity("small left pleural effusion", "OBS-DP", 0, 3),
                     Entity("enlarged cardiac silhouette", "OBS-DP", 5, 7)])
    got = [(f.name, f.laterality, f.size) for f in findings(g)]
    assert got == [("effusion", "left", "small"), ("cardiomegaly", None, None)]


def test_unknown_words_and_empty_graph() -> None:
    g = ReportGraph("x", "zebra", [Entity("zebra", "OBS-DP", 0, 0)])
    f = findings(g)[0]
    assert (f.name, f.category, f.labels) == (None, "unknown", ())
    assert label_graph(g)["normal"] == 1  # an unknown word is not evidence of disease
    empty = label_graphs([], "cxr14")
    assert list(empty.columns) == ["id", *CXR14_LABELS] and len(empty) == 0


def test_bad_arguments() -> None:
    g = hand_graph()
    with pytest.raises(ValueError, match="unknown label schema 'nih'"):
        label_graph(g, "nih")
    with pytest.raises(ValueError, match="unknown uncertainty policy 'maybe'"):
        label_graph(g, uncertain="maybe")
    assert labels_for("effusion", "chexpert") == ("Pleural Effusion",)
    assert labels_for("no_such_concept") == ()


def test_docs_label_mapping_table_matches_the_data() -> None:
    """docs/extractor.md lists every concept that maps to a label, exactly as concepts.tsv."""
    from graphclr.reports.extract.lexicon import default_lexicon

    page = (Path(__file__).resolve().parent.parent / "docs" / "extractor.md").read_text(encoding="utf-8")
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            labels = [tuple(x.strip() for x in c.split(",")) if c != "-" else () for c in cells[1:]]
            rows[cells[0].strip("`")] = tuple(labels)
    data = {c.name: (c.cxr14, c.chexpert) for c in default_lexicon().concepts.values()
            if c.cxr14 or c.chexpert}
    assert rows == data
