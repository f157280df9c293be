"""Side and location reach of the extractor (issue 9): each pattern added to raise it, on
a hand-written sentence, with the exact expected graph (all entities with labels, in
order, and all relations), plus sentences where the new rules must not fire."""

from __future__ import annotations

import pytest

from graphclr.reports.extract import Extractor

DP, DA, U, AN = "OBS-DP", "OBS-DA", "OBS-U", "ANAT-DP"
MOD, LOC, SUG = "modify", "located_at", "suggestive_of"


@pytest.fixture(scope="module")
def ex() -> Extractor:
    return Extractor()


def graph(ex: Extractor, text: str) -> tuple[list[tuple[str, str]], set[tuple[str, str, str]]]:
    g = ex.extract(text)
    g.validate()
    names = [e.tokens for e in g.entities]
    assert len(set(names)) == len(names), "test sentences must name entities uniquely"
    rels = {(r.type, names[r.head], names[r.tail]) for r in g.relations}
    assert len(rels) == len(g.relations), "no duplicate relations"
    return [(e.tokens, e.label) for e in g.entities], rels


CASES = [
    # --- a quantity noun and its "of" are not entities; the finding after them is the head
    ("quantity noun: the location before 'areas of'",
     "Left apical areas of scarring.",
     [("Left", AN), ("apical", AN), ("scarring", DP)],
     {(MOD, "Left", "apical"), (LOC, "scarring", "apical")}),
    ("quantity noun: the size before 'amount of'",
     "Trace amount of fluid at the right base.",
     [("Trace", DP), ("fluid", DP), ("right", AN), ("base", AN)],
     {(MOD, "Trace", "fluid"), (MOD, "right", "base"), (LOC, "fluid", "base")}),
    ("quantity noun: the pattern before 'foci of'",
     "Patchy foci of consolidation at the right base.",
     [("Patchy", DP), ("consolidation", DP), ("right", AN), ("base", AN)],
     {(MOD, "Patchy", "consolidation"), (MOD, "right", "base"), (LOC, "consolidation", "base")}),
    # --- lexicon: joints, irregular plurals, degree words, verbs of place ----------------
    ("shoulder joints are anatomy (before the finding)",
     "Moderate right acromioclavicular joint degenerative change.",
     [("Moderate", DP), ("right", AN), ("acromioclavicular", AN), ("joint", AN),
      ("degenerative", DP), ("change", DP)],
     {(MOD, "right", "joint"), (MOD, "acromioclavicular", "joint"), (MOD, "Moderate", "change"),
      (MOD, "degenerative", "change"), (LOC, "change", "joint")}),
    ("shoulder joints are anatomy (after the finding)",
     "Degenerative changes of the left glenohumeral joint.",
     [("Degenerative", DP), ("changes", DP), ("left", AN), ("glenohumeral", AN), ("joint", AN)],
     {(MOD, "Degenerative", "changes"), (MOD, "left", "joint"), (MOD, "glenohumeral", "joint"),
      (LOC, "changes", "joint")}),
    ("'sulci' is the plural of 'sulcus'",
     "Both costophrenic sulci are blunted.",
     [("Both", AN), ("costophrenic sulci", AN), ("blunted", DP)],
     {(MOD, "Both", "costophrenic sulci"), (LOC, "blunted", "costophrenic sulci")}),
    ("'greatest' before a location",
     "Nodular densities greatest at the right apex.",
     [("Nodular", DP), ("densities", DP), ("greatest", DP), ("right", AN), ("apex", AN)],
     {(MOD, "Nodular", "densities"), (MOD, "greatest", "densities"), (MOD, "right", "apex"),
      (LOC, "densities", "apex")}),
    ("'most' as a degree adverb",
     "Consolidation most confluent at the left base.",
     [("Consolidation", DP), ("confluent", DP), ("left", AN), ("base", AN)],
     {(MOD, "confluent", "Consolidation"), (MOD, "left", "base"), (LOC, "Consolidation", "base")}),
    ("an adverb before the preposition",
     "A calcification partly projecting over the left clavicle.",
     [("calcification", DP), ("left", AN), ("clavicle", AN)],
     {(MOD, "left", "clavicle"), (LOC, "calcification", "clavicle")}),
    ("'persist' links a finding to its location",
     "Small effusions persist at both bases.",
     [("Small", DP), ("effusions", DP), ("both", AN), ("bases", AN)],
     {(MOD, "Small", "effusions"), (MOD, "both", "bases"), (LOC, "effusions", "bases")}),
    ("'distributed throughout'",
     "Tiny nodules distributed throughout the right lung.",
     [("Tiny", DP), ("nodules", DP), ("right", AN), ("lung", AN)],
     {(MOD, "Tiny", "nodules"), (MOD, "right", "lung"), (LOC, "nodules", "lung")}),
    ("'from' a side",
     "A dialysis catheter from the right.",
     [("dialysis catheter", DP), ("right", AN)],
     {(LOC, "dialysis catheter", "right")}),
    ("a device qualifier: nephrostomy",
     "Nephrostomy tube on the right.",
     [("Nephrostomy", DP), ("tube", DP), ("right", AN)],
     {(MOD, "Nephrostomy", "tube"), (LOC, "tube", "right")}),
    ("'bullet' qualifies 'fragments'",
     "Small bullet fragments over the right shoulder.",
     [("Small", DP), ("bullet", DP), ("fragments", DP), ("right", AN), ("shoulder", AN)],
     {(MOD, "Small", "fragments"), (MOD, "bullet", "fragments"), (MOD, "right", "shoulder"),
      (LOC, "fragments", "shoulder")}),
    # --- commas ------------------------------------------------------------------------
    ("a degree phrase after a comma, then the location",
     "Fibrosis, most notably in the right lower lobe.",
     [("Fibrosis", DP), ("most notably", DP), ("right", AN), ("lower", AN), ("lobe", AN)],
     {(MOD, "most notably", "Fibrosis"), (MOD, "right", "lobe"), (MOD, "lower", "lobe"),
      (LOC, "Fibrosis", "lobe")}),
    ("an appositive side after a modifier",
     "Pneumothorax, small left-sided.",
     [("Pneumothorax", DP), ("small", DP), ("left - sided", AN)],
     {(MOD, "small", "Pneumothorax"), (LOC, "Pneumothorax", "left - sided")}),
    ("not: a modified structure after a comma is not an appositive location",
     "Hyperinflation, stable hilar contours.",
     [("Hyperinflation", DP), ("stable", DP), ("hilar", AN), ("contours", AN)],
     {(MOD, "stable", "Hyperinflation"), (MOD, "hilar", "contours")}),
    # --- a finding after "with" / "from", a suggested finding ---------------------------
    ("after 'with': the side of the finding before, then shared by a list",
     "Left lower lobe pneumonia with airspace consolidation and effusion.",
     [("Left", AN), ("lower", AN), ("lobe", AN), ("pneumonia", DP), ("airspace", AN),
      ("consolidation", DP), ("effusion", DP)],
     {(MOD, "Left", "lobe"), (MOD, "lower", "lobe"), (LOC, "pneumonia", "lobe"),
      (LOC, "consolidation", "airspace"), (LOC, "consolidation", "lobe"), (LOC, "effusion", "lobe")}),
    ("after 'with' and modifiers: located where the finding before is",
     "Left upper lobe opacity with small residual cavity.",
     [("Left", AN), ("upper", AN), ("lobe", AN), ("opacity", DP), ("small", DP),
      ("residual", DP), ("cavity", DP)],
     {(MOD, "Left", "lobe"), (MOD, "upper", "lobe"), (MOD, "small", "cavity"),
      (MOD, "residual", "cavity"), (LOC, "opacity", "lobe"), (LOC, "cavity", "lobe")}),
    ("not: an absent finding after 'with'",
     "Right middle lobe pneumonia with no effusion.",
     [("Right", AN), ("middle", AN), ("lobe", AN), ("pneumonia", DP), ("effusion", DA)],
     {(MOD, "Right", "lobe"), (MOD, "middle", "lobe"), (LOC, "pneumonia", "lobe")}),
    ("after 'from' (a cause): located where the finding before is",
     "Left axillary clips from previous mastectomy.",
     [("Left", AN), ("axillary", AN), ("clips", DP), ("mastectomy", DP)],
     {(MOD, "Left", "axillary"), (LOC, "clips", "axillary"), (LOC, "mastectomy", "axillary")}),
    ("a suggested finding with an unsided location takes the side",
     "Left apical density may represent pleural thickening.",
     [("Left", AN), ("apical", AN), ("density", DP), ("pleural", AN), ("thickening", U)],
     {(MOD, "Left", "apical"), (LOC, "density", "apical"), (LOC, "thickening", "pleural"),
      (LOC, "thickening", "apical"), (SUG, "density", "thickening")}),
    ("'irregularity' is a finding that suggests another",
     "Irregularity along the right minor fissure, compatible with scarring.",
     [("Irregularity", DP), ("right", AN), ("minor fissure", AN), ("scarring", DP)],
     {(MOD, "right", "minor fissure"), (LOC, "Irregularity", "minor fissure"),
      (LOC, "scarring", "minor fissure"), (SUG, "Irregularity", "scarring")}),
    ("bare 'represent' suggests",
     "Irregularity at the right clavicle, thought to represent healed fracture.",
     [("Irregularity", DP), ("right", AN), ("clavicle", AN), ("healed", DP), ("fracture", DP)],
     {(MOD, "right", "clavicle"), (MOD, "healed", "fracture"), (LOC, "Irregularity", "clavicle"),
      (LOC, "fracture", "clavicle"), (SUG, "Irregularity", "fracture")}),
    ("'represents' after 'which' suggests across the clause word",
     "Cortical irregularity at the right clavicle, which could represent healed fracture.",
     [("irregularity", DP), ("right", AN), ("clavicle", AN), ("healed", U), ("fracture", U)],
     {(MOD, "right", "clavicle"), (MOD, "healed", "fracture"), (LOC, "irregularity", "clavicle"),
      (LOC, "fracture", "clavicle"), (SUG, "irregularity", "fracture")}),
]

@pytest.mark.parametrize("name,text,entities,relations", CASES, ids=[c[0] for c in CASES])
def test_reach(ex: Extractor, name: str, text: str, entities: list, relations: set) -> None:
    ents, rels = graph(ex, text)
    assert ents == entities, name
    assert rels == relations, name

