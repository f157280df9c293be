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
    ("quantity noun: a side before 'areas of'",
     "Bibasilar areas of atelectasis.",
     [("Bibasilar", AN), ("atelectasis", DP)],
     {(LOC, "atelectasis", "Bibasilar")}),
    ("quantity noun: a size before 'amount of'",
     "Small amount of fluid in the left costophrenic angle.",
     [("Small", DP), ("fluid", DP), ("left", AN), ("costophrenic angle", AN)],
     {(MOD, "Small", "fluid"), (MOD, "left", "costophrenic angle"),
      (LOC, "fluid", "costophrenic angle")}),
    ("quantity noun: a pattern before 'foci of'",
     "Patchy foci of consolidation at the right base.",
     [("Patchy", DP), ("consolidation", DP), ("right", AN), ("base", AN)],
     {(MOD, "Patchy", "consolidation"), (MOD, "right", "base"), (LOC, "consolidation", "base")}),
    # --- lexicon: joints, irregular plurals, degree words, verbs of place ----------------
    ("shoulder joints are anatomy",
     "Mild bilateral glenohumeral joint degenerative changes.",
     [("Mild", DP), ("bilateral", AN), ("glenohumeral", AN), ("joint", AN),
      ("degenerative", DP), ("changes", DP)],
     {(MOD, "bilateral", "joint"), (MOD, "glenohumeral", "joint"), (MOD, "Mild", "changes"),
      (MOD, "degenerative", "changes"), (LOC, "changes", "joint")}),
    ("'sulci' is the plural of 'sulcus'",
     "Blunting of the costophrenic sulci bilaterally.",
     [("Blunting", DP), ("costophrenic sulci", AN), ("bilaterally", AN)],
     {(MOD, "bilaterally", "costophrenic sulci"), (LOC, "Blunting", "costophrenic sulci")}),
    ("'greatest' before a location",
     "Reticular opacities greatest in the lung bases.",
     [("Reticular", DP), ("opacities", DP), ("greatest", DP), ("lung", AN), ("bases", AN)],
     {(MOD, "Reticular", "opacities"), (MOD, "greatest", "opacities"), (MOD, "lung", "bases"),
      (LOC, "opacities", "bases")}),
    ("'most' as a degree adverb",
     "Opacities most confluent in the right perihilar lung.",
     [("Opacities", DP), ("confluent", DP), ("right", AN), ("perihilar", AN), ("lung", AN)],
     {(MOD, "confluent", "Opacities"), (MOD, "right", "lung"), (MOD, "perihilar", "lung"),
      (LOC, "Opacities", "lung")}),
    ("an adverb before the preposition",
     "A nodule partially overlying the right 4th rib.",
     [("nodule", DP), ("right", AN), ("rib", AN)],
     {(MOD, "right", "rib"), (LOC, "nodule", "rib")}),
    ("'persist' links findings to their location",
     "Atelectasis and blunting persist in both lower lobes.",
     [("Atelectasis", DP), ("blunting", DP), ("both", AN), ("lower", AN), ("lobes", AN)],
     {(MOD, "both", "lobes"), (MOD, "lower", "lobes"), (LOC, "blunting", "lobes"),
      (LOC, "Atelectasis", "lobes")}),
    ("'distributed through'",
     "Nodular opacities distributed through both lungs.",
     [("Nodular", DP), ("opacities", DP), ("both", AN), ("lungs", AN)],
     {(MOD, "Nodular", "opacities"), (MOD, "both", "lungs"), (LOC, "opacities", "lungs")}),
    ("'from' a side",
     "Catheter from the left.",
     [("Catheter", DP), ("left", AN)],
     {(LOC, "Catheter", "left")}),
    ("a device qualifier: nephrostomy",
     "Left nephrostomy tube.",
     [("Left", AN), ("nephrostomy", DP), ("tube", DP)],
     {(MOD, "nephrostomy", "tube"), (LOC, "tube", "Left")}),
    ("'bullet' qualifies 'fragments'",
     "Metallic bullet fragments within the left upper lobe.",
     [("bullet", DP), ("fragments", DP), ("left", AN), ("upper", AN), ("lobe", AN)],
     {(MOD, "bullet", "fragments"), (MOD, "left", "lobe"), (MOD, "upper", "lobe"),
      (LOC, "fragments", "lobe")}),
    # --- commas ------------------------------------------------------------------------
    ("a degree phrase after a comma, then the location",
     "Scarring, most notably in the left upper lobe.",
     [("Scarring", DP), ("most notably", DP), ("left", AN), ("upper", AN), ("lobe", AN)],
     {(MOD, "most notably", "Scarring"), (MOD, "left", "lobe"), (MOD, "upper", "lobe"),
      (LOC, "Scarring", "lobe")}),
    ("an appositive side after a modifier",
     "Large left effusion, small right sided.",
     [("Large", DP), ("left", AN), ("effusion", DP), ("small", DP), ("right sided", AN)],
     {(MOD, "Large", "effusion"), (MOD, "small", "effusion"), (LOC, "effusion", "left"),
      (LOC, "effusion", "right sided")}),
    ("not: a modified structure after a comma is not an appositive location",
     "Aortic tortuosity, stable mediastinal contours.",
     [("Aortic", AN), ("tortuosity", DP), ("stable", DP), ("mediastinal", AN), ("contours", AN)],
     {(MOD, "stable", "tortuosity"), (MOD, "mediastinal", "contours"),
      (LOC, "tortuosity", "Aortic")}),
    # --- a finding after "with" / "from", a suggested finding ---------------------------
    ("after 'with': the side of the finding before, then shared by a list",
     "Right basal atelectasis with airspace disease and effusion.",
     [("Right", AN), ("basal", AN), ("atelectasis", DP), ("airspace", AN), ("disease", DP),
      ("effusion", DP)],
     {(MOD, "Right", "basal"), (LOC, "atelectasis", "basal"), (LOC, "disease", "airspace"),
      (LOC, "disease", "basal"), (LOC, "effusion", "basal")}),
    ("after 'with' and modifiers: located where the finding before is",
     "Right lower lobe consolidation with mild residual pneumonia.",
     [("Right", AN), ("lower", AN), ("lobe", AN), ("consolidation", DP), ("mild", DP),
      ("residual", DP), ("pneumonia", DP)],
     {(MOD, "Right", "lobe"), (MOD, "lower", "lobe"), (MOD, "mild", "pneumonia"),
      (MOD, "residual", "pneumonia"), (LOC, "consolidation", "lobe"), (LOC, "pneumonia", "lobe")}),
    ("not: an absent finding after 'with'",
     "Left lower lobe pneumonia with no effusion.",
     [("Left", AN), ("lower", AN), ("lobe", AN), ("pneumonia", DP), ("effusion", DA)],
     {(MOD, "Left", "lobe"), (MOD, "lower", "lobe"), (LOC, "pneumonia", "lobe")}),
    ("after 'from' (a cause): located where the finding before is",
     "Right upper abdominal clips from prior cholecystectomy.",
     [("Right", AN), ("upper", AN), ("abdominal", AN), ("clips", DP), ("cholecystectomy", DP)],
     {(MOD, "Right", "abdominal"), (MOD, "upper", "abdominal"), (LOC, "clips", "abdominal"),
      (LOC, "cholecystectomy", "abdominal")}),
    ("a suggested finding with an unsided location takes the side",
     "Right basilar opacity may represent pleural effusion.",
     [("Right", AN), ("basilar", AN), ("opacity", DP), ("pleural", AN), ("effusion", U)],
     {(MOD, "Right", "basilar"), (LOC, "opacity", "basilar"), (LOC, "effusion", "pleural"),
      (LOC, "effusion", "basilar"), (SUG, "opacity", "effusion")}),
    ("'irregularity' is a finding that suggests another",
     "Pleural irregularity at the left apex compatible with scarring.",
     [("Pleural", AN), ("irregularity", DP), ("left", AN), ("apex", AN), ("scarring", DP)],
     {(MOD, "left", "apex"), (LOC, "irregularity", "Pleural"), (LOC, "irregularity", "apex"),
      (LOC, "scarring", "Pleural"), (LOC, "scarring", "apex"), (SUG, "irregularity", "scarring")}),
    ("'represents' after 'which' suggests across the clause word",
     "Irregularity of the left 7th rib which likely represents an old fracture.",
     [("Irregularity", DP), ("left", AN), ("rib", AN), ("old", U), ("fracture", U)],
     {(MOD, "left", "rib"), (MOD, "old", "fracture"), (LOC, "Irregularity", "rib"),
      (LOC, "fracture", "rib"), (SUG, "Irregularity", "fracture")}),
]


@pytest.mark.parametrize("name,text,entities,relations", CASES, ids=[c[0] for c in CASES])
def test_reach(ex: Extractor, name: str, text: str, entities: list, relations: set) -> None:
    ents, rels = graph(ex, text)
    assert ents == entities, name
    assert rels == relations, name

