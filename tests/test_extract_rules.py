"""Every certainty and relation rule of the extractor, on hand-written sentences, with the
exact expected graph (all entities with labels, in order, and all relations)."""

from __future__ import annotations

import pytest

from graphclr.reports.extract import Extractor
from graphclr.reports.extract.lexicon import default_lexicon
from graphclr.reports.extract.rules import graph_parts

DP, DA, U, AN = "OBS-DP", "OBS-DA", "OBS-U", "ANAT-DP"
MOD, LOC, SUG = "modify", "located_at", "suggestive_of"


@pytest.fixture(scope="module")
def ex() -> Extractor:
    return Extractor()


def graph(ex: Extractor, text: str) -> tuple[list[tuple[str, str]], set[tuple[str, str, str]]]:
    g = ex.extract(text)
    g.validate()
    ents = [(e.tokens, e.label) for e in g.entities]
    names = [e.tokens for e in g.entities]
    assert len(set(names)) == len(names), "test sentences must name entities uniquely"
    rels = {(r.type, names[r.head], names[r.tail]) for r in g.relations}
    assert len(rels) == len(g.relations), "no duplicate relations"
    return ents, rels


CASES = [
    # --- certainty: negation ------------------------------------------------------------
    ("pre-negation over a list",
     "No focal consolidation, pleural effusion, or pneumothorax.",
     [("focal", DA), ("consolidation", DA), ("pleural", AN), ("effusion", DA), ("pneumothorax", DA)],
     {(MOD, "focal", "consolidation"), (LOC, "effusion", "pleural")}),
    ("a clause word ends the scope",
     "No effusion but there is a small pneumothorax.",
     [("effusion", DA), ("small", DP), ("pneumothorax", DP)],
     {(MOD, "small", "pneumothorax")}),
    ("the nearest trigger wins",
     "No effusion, possible atelectasis.",
     [("effusion", DA), ("atelectasis", U)], set()),
    ("a hedge right after 'no' keeps the negation",
     "No definite consolidation.",
     [("consolidation", DA)], set()),
    ("affirm words end a negation",
     "No pneumothorax and stable cardiomegaly.",
     [("pneumothorax", DA), ("stable", DP), ("cardiomegaly", DP)],
     {(MOD, "stable", "cardiomegaly")}),
    ("post-negation",
     "Pneumothorax is not seen.",
     [("Pneumothorax", DA)], set()),
    ("post-negation over an anatomy phrase",
     "The left pleural effusion has resolved.",
     [("left", AN), ("pleural", AN), ("effusion", DA)],
     {(MOD, "left", "pleural"), (LOC, "effusion", "pleural")}),
    ("post-negation stops at a comma",
     "Mild atelectasis, pneumothorax not identified.",
     [("Mild", DP), ("atelectasis", DP), ("pneumothorax", DA)],
     {(MOD, "Mild", "atelectasis")}),
    ("post-negation stops at a normal-state word behind a conjunction",
     "Heart is normal and effusion is not seen.",
     [("Heart", AN), ("normal", DP), ("effusion", DA)],
     {(LOC, "normal", "Heart")}),
    # --- certainty: uncertainty ---------------------------------------------------------
    ("'cannot be excluded' is uncertain",
     "Pneumonia cannot be excluded.",
     [("Pneumonia", U)], set()),
    ("pre-uncertainty; modifiers share it",
     "Possible small right effusion.",
     [("small", U), ("right", AN), ("effusion", U)],
     {(MOD, "small", "effusion"), (LOC, "effusion", "right")}),
    ("a question mark makes the phrase before it uncertain",
     "Left lower lobe pneumonia?",
     [("Left", AN), ("lower", AN), ("lobe", AN), ("pneumonia", U)],
     {(MOD, "Left", "lobe"), (MOD, "lower", "lobe"), (LOC, "pneumonia", "lobe")}),
    ("'suspected' after a finding",
     "Small effusions suspected.",
     [("Small", U), ("effusions", U)], {(MOD, "Small", "effusions")}),
    ("'suspected' before a finding",
     "Suspected pneumonia.",
     [("pneumonia", U)], set()),
    # --- pseudo-triggers ----------------------------------------------------------------
    ("'no change' is not a negation",
     "No change in the small left effusion.",
     [("small", DP), ("left", AN), ("effusion", DP)],
     {(MOD, "small", "effusion"), (LOC, "effusion", "left")}),
    ("'not only' is not a negation",
     "There is not only cardiomegaly but also edema.",
     [("cardiomegaly", DP), ("edema", DP)], set()),
    ("'no increase' is not a negation",
     "No increase in the right effusion.",
     [("right", AN), ("effusion", DP)], {(LOC, "effusion", "right")}),
    # --- alternatives ---------------------------------------------------------------------
    ("alternatives are present and share a location",
     "Atelectasis or pneumonia in the left base.",
     [("Atelectasis", DP), ("pneumonia", DP), ("left", AN), ("base", AN)],
     {(MOD, "left", "base"), (LOC, "pneumonia", "base"), (LOC, "Atelectasis", "base")}),
    # --- normal states, masks, inflections, multi-word terms ------------------------------
    ("'heart size normal' (labels read it as absent cardiomegaly)",
     "Heart size normal.",
     [("Heart", AN), ("size", AN), ("normal", DP)],
     {(MOD, "Heart", "size"), (LOC, "normal", "size")}),
    ("Open-i XXXX masks are transparent",
     "XXXX opacity in the XXXX right lower lobe.",
     [("opacity", DP), ("right", AN), ("lower", AN), ("lobe", AN)],
     {(MOD, "right", "lobe"), (MOD, "lower", "lobe"), (LOC, "opacity", "lobe")}),
    ("MIMIC ___ masks are kept as tokens, never entities",
     "___ with small left effusion",
     [("small", DP), ("left", AN), ("effusion", DP)],
     {(MOD, "small", "effusion"), (LOC, "effusion", "left")}),
    ("plural finding; laterality alone is the location",
     "Bilateral effusions.",
     [("Bilateral", AN), ("effusions", DP)], {(LOC, "effusions", "Bilateral")}),
    ("adjective form of a finding modifies the noun",
     "Atelectatic changes at the lung bases.",
     [("Atelectatic", DP), ("changes", DP), ("lung", AN), ("bases", AN)],
     {(MOD, "lung", "bases"), (MOD, "Atelectatic", "changes"), (LOC, "changes", "bases")}),
    ("a device name splits (RadGraph), located after a verb and preposition",
     "Endotracheal tube terminates above the carina.",
     [("Endotracheal", DP), ("tube", DP), ("carina", AN)],
     {(MOD, "Endotracheal", "tube"), (LOC, "tube", "carina")}),
    ("'within normal limits' splits (RadGraph)",
     "Cardiomediastinal silhouette is within normal limits.",
     [("Cardiomediastinal", AN), ("silhouette", AN), ("normal", DP), ("limits", DP)],
     {(MOD, "Cardiomediastinal", "silhouette"), (MOD, "normal", "limits"),
      (LOC, "limits", "silhouette")}),
    ("multi-word finding wins over its anatomy word",
     "Findings of chronic obstructive pulmonary disease.",
     [("chronic obstructive pulmonary disease", DP)], set()),
    # --- relations ------------------------------------------------------------------------
    ("laterality modifies the anatomy; size modifies the finding",
     "Small left pleural effusion.",
     [("Small", DP), ("left", AN), ("pleural", AN), ("effusion", DP)],
     {(MOD, "left", "pleural"), (MOD, "Small", "effusion"), (LOC, "effusion", "pleural")}),
    ("located_at after a preposition",
     "Opacity in the right lower lobe.",
     [("Opacity", DP), ("right", AN), ("lower", AN), ("lobe", AN)],
     {(MOD, "right", "lobe"), (MOD, "lower", "lobe"), (LOC, "Opacity", "lobe")}),
    ("predicate located at its subject; severity modifies",
     "The heart is mildly enlarged.",
     [("heart", AN), ("mildly", DP), ("enlarged", DP)],
     {(MOD, "mildly", "enlarged"), (LOC, "enlarged", "heart")}),
    ("coordinated subjects",
     "Heart size and pulmonary vascularity are normal.",
     [("Heart", AN), ("size", AN), ("pulmonary", AN), ("vascularity", AN), ("normal", DP)],
     {(MOD, "Heart", "size"), (MOD, "pulmonary", "vascularity"), (LOC, "normal", "size"),
      (LOC, "normal", "vascularity")}),
    ("coordinated findings share a location",
     "Atelectasis and consolidation in the right base.",
     [("Atelectasis", DP), ("consolidation", DP), ("right", AN), ("base", AN)],
     {(MOD, "right", "base"), (LOC, "consolidation", "base"), (LOC, "Atelectasis", "base")}),
    ("'consistent with' suggests, certainty kept",
     "Patchy opacity consistent with pneumonia.",
     [("Patchy", DP), ("opacity", DP), ("pneumonia", DP)],
     {(MOD, "Patchy", "opacity"), (SUG, "opacity", "pneumonia")}),
    ("'suggestive of' suggests an uncertain finding",
     "Opacity suggestive of pneumonia.",
     [("Opacity", DP), ("pneumonia", U)], {(SUG, "Opacity", "pneumonia")}),
    ("'concerning for'",
     "Right lower lobe opacity concerning for pneumonia.",
     [("Right", AN), ("lower", AN), ("lobe", AN), ("opacity", DP), ("pneumonia", U)],
     {(MOD, "Right", "lobe"), (MOD, "lower", "lobe"), (LOC, "opacity", "lobe"),
      (SUG, "opacity", "pneumonia"), (LOC, "pneumonia", "lobe")}),  # located where suggested
    ("'may represent' a list of alternatives",
     "Opacity may represent atelectasis or pneumonia.",
     [("Opacity", DP), ("atelectasis", U), ("pneumonia", U)],
     {(SUG, "Opacity", "atelectasis"), (SUG, "Opacity", "pneumonia")}),
    ("a hedge after a comma suggests",
     "Left basilar opacity, likely atelectasis.",
     [("Left", AN), ("basilar", AN), ("opacity", DP), ("atelectasis", U)],
     {(MOD, "Left", "basilar"), (LOC, "opacity", "basilar"), (SUG, "opacity", "atelectasis"),
      (LOC, "atelectasis", "basilar")}),
    ("a negated observation suggests nothing",
     "No opacity to suggest pneumonia.",
     [("opacity", DA), ("pneumonia", DA)], set()),
    ("adjective observation + anatomy phrase with zone",
     "Calcified granuloma in the right upper lobe.",
     [("Calcified", DP), ("granuloma", DP), ("right", AN), ("upper", AN), ("lobe", AN)],
     {(MOD, "right", "lobe"), (MOD, "upper", "lobe"), (MOD, "Calcified", "granuloma"),
      (LOC, "granuloma", "lobe")}),
    ("qualifiers joined by 'and' share one anatomy head",
     "Right and left lower lobe atelectasis.",
     [("Right", AN), ("left", AN), ("lower", AN), ("lobe", AN), ("atelectasis", DP)],
     {(MOD, "Right", "lobe"), (MOD, "left", "lobe"), (MOD, "lower", "lobe"),
      (LOC, "atelectasis", "lobe")}),
    ("laterality convention without a structure word",
     "Left effusion.",
     [("Left", AN), ("effusion", DP)], {(LOC, "effusion", "Left")}),
    ("a modifier of anatomy only is located there; 'lung volumes' splits (RadGraph)",
     "Low lung volumes.",
     [("Low", DP), ("lung", AN), ("volumes", AN)], {(MOD, "lung", "volumes"), (LOC, "Low", "volumes")}),
]


# Relations v2 (issue 9): every side and location a sentence gives an observation.
RELATION_CASES = [
    ("a phrase before and a phrase after, past other anatomy (issue)",
     "An ill-defined pleural parenchymal opacity in the left upper lobe.",
     [("ill - defined", DP), ("pleural parenchymal", AN), ("opacity", DP), ("left", AN), ("upper", AN), ("lobe", AN)],
     {(LOC, "opacity", "lobe"), (LOC, "opacity", "pleural parenchymal"), (MOD, "ill - defined", "opacity"), (MOD, "left", "lobe"), (MOD, "upper", "lobe")}),
    ("the phrase before and the phrase after (issue)",
     "Airspace opacity in the right lung base.",
     [("Airspace", AN), ("opacity", DP), ("right", AN), ("lung", AN), ("base", AN)],
     {(LOC, "opacity", "Airspace"), (LOC, "opacity", "base"), (MOD, "lung", "base"), (MOD, "right", "base")}),
    ("an adverb, then 'most prominent in' (issue)",
     "Patchy opacities bilaterally, most prominent in the lung bases.",
     [("Patchy", DP), ("opacities", DP), ("bilaterally", AN), ("most prominent", DP), ("lung", AN), ("bases", AN)],
     {(LOC, "opacities", "bases"), (LOC, "opacities", "bilaterally"), (MOD, "Patchy", "opacities"), (MOD, "lung", "bases"), (MOD, "most prominent", "opacities")}),
    ("a phrase before, across a modifier (issue)",
     "Limited right base stringy density.",
     [("right", AN), ("base", AN), ("stringy", DP), ("density", DP)],
     {(LOC, "density", "base"), (MOD, "right", "base"), (MOD, "stringy", "density")}),
    ("an appositive phrase (issue)",
     "Old fracture, right mid clavicle.",
     [("Old", DP), ("fracture", DP), ("right", AN), ("mid", AN), ("clavicle", AN)],
     {(LOC, "fracture", "clavicle"), (MOD, "Old", "fracture"), (MOD, "mid", "clavicle"), (MOD, "right", "clavicle")}),
    ("coordinated phrases after a preposition (issue)",
     "Two nodules in the right midlung and left upper lung.",
     [("nodules", DP), ("right", AN), ("midlung", AN), ("left", AN), ("upper", AN), ("lung", AN)],
     {(LOC, "nodules", "lung"), (LOC, "nodules", "midlung"), (MOD, "left", "lung"), (MOD, "right", "midlung"), (MOD, "upper", "lung")}),
    ("prepositional phrases chained by a list",
     "Opacity at the right base and in the left upper lobe.",
     [("Opacity", DP), ("right", AN), ("base", AN), ("left", AN), ("upper", AN), ("lobe", AN)],
     {(LOC, "Opacity", "base"), (LOC, "Opacity", "lobe"), (MOD, "left", "lobe"), (MOD, "right", "base"), (MOD, "upper", "lobe")}),
    ("phrases before across modifiers",
     "Bibasilar streaky airspace opacities.",
     [("Bibasilar", AN), ("streaky", DP), ("airspace", AN), ("opacities", DP)],
     {(LOC, "opacities", "Bibasilar"), (LOC, "opacities", "airspace"), (MOD, "streaky", "opacities")}),
    ("phrases before across a list of numbered ribs",
     "Old left 5th and 6th rib fractures.",
     [("Old", DP), ("left", AN), ("rib", AN), ("fractures", DP)],
     {(LOC, "fractures", "left"), (LOC, "fractures", "rib"), (MOD, "Old", "fractures")}),
    ("a comparison after a comma gives both sides",
     "Small pleural effusions, right larger than left.",
     [("Small", DP), ("pleural", AN), ("effusions", DP), ("right", AN), ("larger", DP), ("left", AN)],
     {(LOC, "effusions", "left"), (LOC, "effusions", "pleural"), (LOC, "effusions", "right"), (MOD, "Small", "effusions"), (MOD, "larger", "effusions")}),
    ("an alternative shares all locations",
     "Left basilar atelectasis and/or airspace disease.",
     [("Left", AN), ("basilar", AN), ("atelectasis", DP), ("airspace", AN), ("disease", DP)],
     {(LOC, "atelectasis", "basilar"), (LOC, "disease", "airspace"), (LOC, "disease", "basilar"), (MOD, "Left", "basilar")}),
    ("a coordinated predicate shares the subject",
     "The aorta is dilated and tortuous.",
     [("aorta", AN), ("dilated", DP), ("tortuous", DP)],
     {(LOC, "dilated", "aorta"), (LOC, "tortuous", "aorta")}),
    ("'and' does not spread an organ adjective",
     "Right pleural effusion and atelectasis.",
     [("Right", AN), ("pleural", AN), ("effusion", DP), ("atelectasis", DP)],
     {(LOC, "effusion", "pleural"), (MOD, "Right", "pleural")}),
    ("an appositive observation shares the side and zone",
     "Left basilar opacity, atelectasis.",
     [("Left", AN), ("basilar", AN), ("opacity", DP), ("atelectasis", DP)],
     {(LOC, "atelectasis", "basilar"), (LOC, "opacity", "basilar"), (MOD, "Left", "basilar")}),
    ("a location fronted at the start of the sentence",
     "In the left lower lobe there is airspace disease.",
     [("left", AN), ("lower", AN), ("lobe", AN), ("airspace", AN), ("disease", DP)],
     {(LOC, "disease", "airspace"), (LOC, "disease", "lobe"), (MOD, "left", "lobe"), (MOD, "lower", "lobe")}),
    ("a pronoun sentence locates the previous finding",
     "There is a moderate right pneumothorax. It is largest at the apex.",
     [("moderate", DP), ("right", AN), ("pneumothorax", DP), ("apex", AN)],
     {(LOC, "pneumothorax", "apex"), (LOC, "pneumothorax", "right"), (MOD, "moderate", "pneumothorax")}),
    ("an associated finding is located with the one before",
     "Left pleural effusion with adjacent atelectasis.",
     [("Left", AN), ("pleural", AN), ("effusion", DP), ("adjacent", DP), ("atelectasis", DP)],
     {(LOC, "atelectasis", "pleural"), (LOC, "effusion", "pleural"), (MOD, "Left", "pleural"), (MOD, "adjacent", "atelectasis")}),
    ("an adverb after a preposition",
     "Small effusion on the left.",
     [("Small", DP), ("effusion", DP), ("left", AN)],
     {(LOC, "effusion", "left"), (MOD, "Small", "effusion")}),
    ("a hyphenated side word",
     "Left-sided effusion.",
     [("Left - sided", AN), ("effusion", DP)],
     {(LOC, "effusion", "Left - sided")}),
    ("compound words carry side and zone",
     "Bibasilar atelectasis and RLL consolidation.",
     [("Bibasilar", AN), ("atelectasis", DP), ("RLL", AN), ("consolidation", DP)],
     {(LOC, "atelectasis", "Bibasilar"), (LOC, "consolidation", "RLL")}),
    ("perihilar",
     "Perihilar haziness.",
     [("Perihilar", AN), ("haziness", DP)],
     {(LOC, "haziness", "Perihilar")}),
    ("'compatible with' keeps certainty",
     "Density compatible with atelectasis.",
     [("Density", DP), ("atelectasis", DP)],
     {(SUG, "Density", "atelectasis")}),
    ("'may represent' makes the suggested finding uncertain, located where suggested",
     "Right basilar opacity may represent pneumonia.",
     [("Right", AN), ("basilar", AN), ("opacity", DP), ("pneumonia", U)],
     {(LOC, "opacity", "basilar"), (LOC, "pneumonia", "basilar"), (MOD, "Right", "basilar"), (SUG, "opacity", "pneumonia")}),
    ("size modifiers both modify the finding",
     "Small to moderate left pleural effusion.",
     [("Small", DP), ("moderate", DP), ("left", AN), ("pleural", AN), ("effusion", DP)],
     {(LOC, "effusion", "pleural"), (MOD, "Small", "effusion"), (MOD, "left", "pleural"), (MOD, "moderate", "effusion")}),
    ("an intensifier modifies the modifier after it",
     "Moderately severe degenerative changes.",
     [("Moderately", DP), ("severe", DP), ("degenerative", DP), ("changes", DP)],
     {(MOD, "Moderately", "severe"), (MOD, "degenerative", "changes"), (MOD, "severe", "changes")}),
    ("an intensifier of an adjective finding",
     "Mildly enlarged heart.",
     [("Mildly", DP), ("enlarged", DP), ("heart", AN)],
     {(LOC, "enlarged", "heart"), (MOD, "Mildly", "enlarged")}),
    # --- sides spelled inside a word, side words after a linking verb ----------------
    ("a side prefix keeps the word one observation (its term carries the side)",
     "Mild levoscoliosis of the lumbar spine.",
     [("Mild", DP), ("levoscoliosis", DP), ("lumbar", AN), ("spine", AN)],
     {(MOD, "Mild", "levoscoliosis"), (LOC, "levoscoliosis", "spine"), (MOD, "lumbar", "spine")}),
    ("a separate side prefix modifies the curve",
     "Mild dextro curvature of the thoracic spine.",
     [("Mild", DP), ("dextro", DP), ("curvature", DP), ("thoracic", AN), ("spine", AN)],
     {(MOD, "Mild", "curvature"), (MOD, "dextro", "curvature"), (LOC, "curvature", "spine"),
      (MOD, "thoracic", "spine")}),
    ("a hyphenated side adjective",
     "Levo-convex curvature of the spine.",
     [("Levo - convex", DP), ("curvature", DP), ("spine", AN)],
     {(MOD, "Levo - convex", "curvature"), (LOC, "curvature", "spine")}),
    ("'bihilar' is a bilateral hilum word",
     "Bihilar adenopathy.",
     [("Bihilar", AN), ("adenopathy", DP)],
     {(LOC, "adenopathy", "Bihilar")}),
    ("a quantity word is transparent before a location",
     "Deformity of several right posterior ribs.",
     [("Deformity", DP), ("right", AN), ("posterior", AN), ("ribs", AN)],
     {(LOC, "Deformity", "ribs"), (MOD, "right", "ribs"), (MOD, "posterior", "ribs")}),
    ("a side adverb after a linking verb",
     "Small nodules seen bilaterally.",
     [("Small", DP), ("nodules", DP), ("bilaterally", AN)],
     {(MOD, "Small", "nodules"), (LOC, "nodules", "bilaterally")}),
    ("'both sides' and 'either side' are bilateral words",
     "Nodules are noted on both sides.",
     [("Nodules", DP), ("both sides", AN)],
     {(LOC, "Nodules", "both sides")}),
]

# RadGraph v1 conventions (docs/extractor.md, "RadGraph conventions").
CONVENTION_CASES = [
    ("'lung volumes' is an anatomy phrase: lung -modify-> volumes",
     "Low lung volumes.",
     [("Low", DP), ("lung", AN), ("volumes", AN)],
     {(LOC, "Low", "volumes"), (MOD, "lung", "volumes")}),
    ("a device name splits: the qualifier modifies the device word",
     "Nasogastric tube in the stomach.",
     [("Nasogastric", DP), ("tube", DP), ("stomach", AN)],
     {(LOC, "tube", "stomach"), (MOD, "Nasogastric", "tube")}),
    ("'chest tube': the chest is anatomy, the tube is located at it",
     "Right chest tube in place.",
     [("Right", AN), ("chest", AN), ("tube", DP)],
     {(LOC, "tube", "chest"), (MOD, "Right", "chest")}),
    ("'within normal limits' splits: normal -modify-> limits",
     "Heart size within normal limits.",
     [("Heart", AN), ("size", AN), ("normal", DP), ("limits", DP)],
     {(LOC, "limits", "size"), (MOD, "Heart", "size"), (MOD, "normal", "limits")}),
    ("the exam name is not an entity",
     "PA and lateral chest radiograph shows no effusion.",
     [("effusion", DA)],
     set()),
    ("section words are not entities",
     "FINDINGS: Mild cardiomegaly. IMPRESSION: No acute process.",
     [("Mild", DP), ("cardiomegaly", DP), ("acute", DA), ("process", DA)],
     {(MOD, "Mild", "cardiomegaly"), (MOD, "acute", "process")}),
    ("a hedge makes an observation uncertain",
     "Possible right lower lobe pneumonia.",
     [("right", AN), ("lower", AN), ("lobe", AN), ("pneumonia", U)],
     {(LOC, "pneumonia", "lobe"), (MOD, "lower", "lobe"), (MOD, "right", "lobe")}),
    ("'consistent with' keeps the suggested finding present",
     "Opacity consistent with atelectasis.",
     [("Opacity", DP), ("atelectasis", DP)],
     {(SUG, "Opacity", "atelectasis")}),
    ("a post-hedge makes the phrase before it uncertain",
     "Small effusion cannot be excluded.",
     [("Small", U), ("effusion", U)],
     {(MOD, "Small", "effusion")}),
    ("a negation makes it absent, its modifier too",
     "No large pneumothorax.",
     [("large", DA), ("pneumothorax", DA)],
     {(MOD, "large", "pneumothorax")}),
]
CASES += RELATION_CASES + CONVENTION_CASES


@pytest.mark.parametrize("name,text,entities,relations", CASES, ids=[c[0] for c in CASES])
def test_rule(ex: Extractor, name: str, text: str, entities: list, relations: set) -> None:
    got_entities, got_relations = graph(ex, text)
    assert got_entities == entities
    assert got_relations == relations


def test_alternatives_uncertain_option() -> None:
    ents, rels = graph(Extractor(alternatives_uncertain=True), "Atelectasis versus pneumonia.")
    assert ents == [("Atelectasis", U), ("pneumonia", U)] and rels == set()
    # a negated list is not an alternative
    ents, _ = graph(Extractor(alternatives_uncertain=True), "No effusion or pneumothorax.")
    assert ents == [("effusion", DA), ("pneumothorax", DA)]


def test_sentence_boundary_ends_scope(ex: Extractor) -> None:
    ents, _ = graph(ex, "No pneumothorax. Effusion. Possible edema; cardiomegaly")
    assert ents == [("pneumothorax", DA), ("Effusion", DP), ("edema", U), ("cardiomegaly", DP)]


def test_paragraph_break_ends_scope(ex: Extractor) -> None:
    ents, _ = graph(ex, "No pneumothorax\n\nEffusion")
    assert ents == [("pneumothorax", DA), ("Effusion", DP)]
    ents, _ = graph(ex, "No pneumothorax\nor effusion")  # a line wrap is not a break
    assert ents == [("pneumothorax", DA), ("effusion", DA)]


def test_graph_parts_directly_on_tokens() -> None:
    words = "no left effusion".split()
    ents, rels = graph_parts(words, [], default_lexicon())
    assert ents == [(1, 1, "ANAT-DP"), (2, 2, "OBS-DA")]
    assert rels == [("located_at", 1, 0)]
    assert graph_parts([], [], default_lexicon()) == ([], [])
