"""Counterfactual probes: pairs of synthetic studies that differ in ONE structural fact.

Each pair starts from a real report (Open-i, read in place at run time; tests use
hand-written reports). The fact changes in the report *text*; both graphs are extracted
from their texts with the built-in extractor, so graph and text encoders see the same
change. Both images share the patient: they are planned with the same item id and seed
(:func:`graphclr.synth.case.plan_case`), so anatomy, exposure, texture and noise are the
same, and every finding but the changed one is drawn at the same place.

Families (:data:`FAMILIES`) and the fact label ``y`` of each side (0 or 1, the two sides
of a pair always differ):

============  =====================================================  ====================
family        edit                                                    ``y`` = 1 when
============  =====================================================  ====================
binding       two findings on opposite sides, the two side words      the first finding
              swapped ("left effusion . right pneumothorax"); the     (by name) is right
              two have different side labels (effusion,
              pneumothorax, parenchyma)
laterality    one finding, its side word flipped (left <-> right)     the side is right
negation      which of two findings is negated ("X . no Y" vs         the first finding
              "Y . no X", the same words)                             (by name) is negated
zone          one finding, upper <-> lower                            the zone is lower
size          one finding, small <-> large                            the size is large
============  =====================================================  ====================

How a pair is made (:func:`make_pair`): for binding, laterality, zone and size the report's
own words are edited in place when one of them carries the fact (each candidate word, in
text order, until one passes the check below); otherwise, and always for negation, a
templated sentence (:data:`TEMPLATES`) about findings the report does not mention is
appended, in the two versions. A candidate is kept only if the two planned cases differ in
exactly the stated fact: every drawn finding but the changed one(s) is identical, position
included, and the changed one differs only in the fact. A report that gives no such pair
is skipped for that family.

Examples:
    >>> pair = make_pair("laterality", "r1", "FINDINGS : heart size normal . small left pleural effusion .")
    >>> pair.texts[1], pair.edit, pair.y
    ('FINDINGS : heart size normal . small right pleural effusion .', 'in_place', (0, 1))
    >>> [(f.name, f.side) for f in pair.changed[0]], [(f.name, f.side) for f in pair.changed[1]]
    ([('effusion', 'left')], [('effusion', 'right')])
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphclr.reports.schema import ReportGraph
from graphclr.synth.case import DEFAULT_UNCERTAIN_PROB, DrawnFinding, SyntheticCase, plan_case
from graphclr.synth.findings import drawable, findings_from_graph

__all__ = ["FAMILIES", "TEMPLATES", "CounterfactualPair", "make_pair", "changed_findings", "render_pair"]

FAMILIES: tuple[str, ...] = ("binding", "laterality", "negation", "zone", "size")
#: the attribute a family changes, and its two values (y = 0, y = 1)
_VALUES: dict[str, tuple[str, str]] = {"laterality": ("left", "right"), "binding": ("left", "right"),
                                       "zone": ("upper", "lower"), "size": ("small", "large")}
_ATTR = {"laterality": "side", "binding": "side", "zone": "zone", "size": "size"}
#: templated sentences (lower case, so the two versions hold the same words); {side},
#: {zone}, {size} are filled per report, seeded
TEMPLATES: dict[str, dict[str, str]] = {
    "laterality": {"effusion": "{side} pleural effusion .", "pneumothorax": "{side} pneumothorax .",
                   "opacity": "{side} lower lobe opacity .", "consolidation": "{side} upper lobe consolidation .",
                   "nodule": "nodule in the {side} upper lobe ."},
    "zone": {"opacity": "{side} {zone} lobe opacity .", "consolidation": "{side} {zone} lobe consolidation .",
             "nodule": "nodule in the {side} {zone} lobe ."},
    "size": {"effusion": "{size} {side} pleural effusion .", "pneumothorax": "{size} {side} pneumothorax .",
             "nodule": "{size} nodule in the {side} upper lobe .", "opacity": "{size} {side} lower lobe opacity ."},
    "binding": {"effusion": "{side} pleural effusion .", "pneumothorax": "{side} pneumothorax .",
                "opacity": "{side} lower lobe opacity .", "consolidation": "{side} upper lobe consolidation .",
                "nodule": "nodule in the {side} upper lobe ."},
    "negation": {"effusion": "pleural effusion", "pneumothorax": "pneumothorax", "consolidation": "consolidation",
                 "cardiomegaly": "cardiomegaly", "edema": "pulmonary edema"},
}

#: findings that share a side label column (Opacity_Left/Right): binding pairs two groups
_GROUP = {"opacity": "parenchyma", "consolidation": "parenchyma", "nodule": "parenchyma", "mass": "parenchyma",
          "pneumonia": "parenchyma", "atelectasis": "parenchyma"}

Extract = Callable[[str, str], ReportGraph]


@dataclass(frozen=True)
class CounterfactualPair:
    """Two versions of one study that differ in one fact.

    Attributes:
        family: one of :data:`FAMILIES`.
        pair_id: the item id both cases are planned with (the shared patient).
        source_id: the report it starts from.
        edit: ``"in_place"`` (the report's own word edited) or ``"template"``.
        texts, graphs, cases: the two versions (graphs extracted from the texts).
        y: the fact label of each version (``(0, 1)`` or ``(1, 0)``).
        changed: the drawn findings that differ, per version.
    """

    family: str
    pair_id: str
    source_id: str
    edit: str
    texts: tuple[str, str]
    graphs: tuple[ReportGraph, ReportGraph]
    cases: tuple[SyntheticCase, SyntheticCase]
    y: tuple[int, int]
    changed: tuple[tuple[DrawnFinding, ...], tuple[DrawnFinding, ...]]


def _key(f: DrawnFinding) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in f.to_dict().items()))


def changed_findings(a: SyntheticCase, b: SyntheticCase) -> tuple[list[DrawnFinding], list[DrawnFinding]]:
    """The planned findings of ``a`` not in ``b`` and of ``b`` not in ``a`` (as multisets,
    position and all)."""
    ka, kb = Counter(_key(f) for f in a.findings), Counter(_key(f) for f in b.findings)
    only_a, only_b = ka - kb, kb - ka
    out_a, out_b = [], []
    for f in a.findings:
        if only_a[_key(f)] > 0:
            only_a[_key(f)] -= 1
            out_a.append(f)
    for f in b.findings:
        if only_b[_key(f)] > 0:
            only_b[_key(f)] -= 1
            out_b.append(f)
    return out_a, out_b


def _same_but(f: DrawnFinding, g: DrawnFinding, attr: str) -> bool:
    fields = ("name", "certainty", "drawn", "side", "zone", "size", "kind")
    return all(getattr(f, k) == getattr(g, k) for k in fields if k != attr)


def _fact(family: str, a: list[DrawnFinding], b: list[DrawnFinding]) -> tuple[int, int] | None:
    """``y`` of both versions when ``a``/``b`` (the changed findings) are the family's fact."""
    if family == "negation":
        if len(a) != 2 or len(b) != 2:
            return None
        na = {f.name: f for f in a}
        nb = {f.name: f for f in b}
        if set(na) != set(nb) or len(na) != 2:
            return None
        first, second = sorted(na)
        ok = (na[first].drawn != na[second].drawn and nb[first].drawn == na[second].drawn
              and nb[second].drawn == na[first].drawn)
        ok = ok and all((f.certainty == "present") == f.drawn and f.certainty in ("present", "absent")
                        for f in (*a, *b))
        return (int(not na[first].drawn), int(not nb[first].drawn)) if ok else None
    attr = _ATTR[family]
    values = _VALUES[family]
    n = 2 if family == "binding" else 1
    if len(a) != n or len(b) != n or not all(f.drawn and f.certainty == "present" for f in (*a, *b)):
        return None
    a, b = sorted(a, key=lambda f: f.name), sorted(b, key=lambda f: f.name)
    for f, g in zip(a, b):
        if not _same_but(f, g, attr) or {getattr(f, attr), getattr(g, attr)} != set(values):
            return None
    if family == "binding" and (_GROUP.get(a[0].name, a[0].name) == _GROUP.get(a[1].name, a[1].name)
                                or a[0].side == a[1].side):
        return None
    return values.index(getattr(a[0], attr)), values.index(getattr(b[0], attr))


def _swap_word(word: str, table: dict[str, str]) -> str:
    new = table[word.lower()]
    return new.capitalize() if word[:1].isupper() else new


def _in_place_edits(family: str, tokens: list[str]) -> list[list[str]]:
    if family == "negation":
        return []
    lo, hi = _VALUES[family]
    table = {lo: hi, hi: lo}
    where = [i for i, t in enumerate(tokens) if t.lower() in table]
    if family == "binding":
        cands = [(i, j) for k, i in enumerate(where) for j in where[k + 1:]
                 if tokens[i].lower() != tokens[j].lower()][:8]
    else:
        cands = [(i,) for i in where]
    out = []
    for idx in cands:
        new = list(tokens)
        for i in idx:
            new[i] = _swap_word(tokens[i], table)
        out.append(new)
    return out


def _template_edits(family: str, present: set[str], rng: random.Random) -> list[tuple[str, str]]:
    """(sentence of version a, of version b) about findings the report does not mention."""
    names = [n for n in TEMPLATES[family] if n not in present]
    rng.shuffle(names)
    side, other = rng.sample(("left", "right"), 2)
    if family in ("binding", "negation"):
        pairs = [(x, y) for i, x in enumerate(names) for y in names[i + 1:]
                 if family == "negation" or _GROUP.get(x, x) != _GROUP.get(y, y)][:3]
        if family == "negation":
            t = TEMPLATES["negation"]
            return [(f"{t[x]} . no {t[y]} .", f"{t[y]} . no {t[x]} .") for x, y in pairs]
        t = TEMPLATES["binding"]
        return [(t[x].format(side=side) + " " + t[y].format(side=other),
                 t[x].format(side=other) + " " + t[y].format(side=side)) for x, y in pairs]
    lo, hi = _VALUES[family]
    fill = {"side": side, "zone": rng.choice(("upper", "lower")), "size": rng.choice(("small", "large"))}
    attr = _ATTR[family]
    return [(TEMPLATES[family][n].format(**{**fill, attr: lo}), TEMPLATES[family][n].format(**{**fill, attr: hi}))
            for n in names[:3]]


def _default_extract() -> Extract:
    from graphclr.reports.extract import extract_report

    return extract_report


def make_pair(family: str, source_id: str, text: str, *, seed: int = 0, extract: Extract | None = None,
              uncertain_prob: float = DEFAULT_UNCERTAIN_PROB,
              graph: ReportGraph | None = None) -> CounterfactualPair | None:
    """The family's pair for one report, or ``None`` when the report gives none.

    Args:
        family: one of :data:`FAMILIES`.
        source_id: the report's id (pairs are named ``counterfactual-<family>-<id>``).
        text: the report text the extractor reads (for Open-i, the extractor's text of the
            report: its FINDINGS and IMPRESSION).
        seed: the benchmark seed (patient, template choices).
        extract: ``(text, id) -> ReportGraph`` (default: the built-in extractor).
        graph: ``text``'s graph when already extracted.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown counterfactual family {family!r} (expected one of {', '.join(FAMILIES)})")
    extract = extract or _default_extract()
    pair_id = f"counterfactual-{family}-{source_id}"
    base = graph if graph is not None else extract(text, source_id)
    case_a = plan_case(base, pair_id, seed, uncertain_prob=uncertain_prob)
    tokens = text.split()
    tries: list[tuple[str, str, str, ReportGraph | None, SyntheticCase | None]] = [
        ("in_place", text, " ".join(t), base, case_a) for t in _in_place_edits(family, tokens)]
    mentioned = {d.name for d in map(drawable, findings_from_graph(base)) if d is not None}
    rng = random.Random(f"{seed}:{family}:{source_id}")
    for sa, sb in _template_edits(family, mentioned, rng):
        tries.append(("template", f"{text} {sa}".strip(), f"{text} {sb}".strip(), None, None))
    for edit, ta, tb, ga, ca in tries:
        if ga is None:
            ga = extract(ta, source_id)
            ca = plan_case(ga, pair_id, seed, uncertain_prob=uncertain_prob)
        gb = extract(tb, source_id)
        cb = plan_case(gb, pair_id, seed, uncertain_prob=uncertain_prob)
        a, b = changed_findings(ca, cb)
        y = _fact(family, a, b)
        if y is not None:
            return CounterfactualPair(family, pair_id, source_id, edit, (ta, tb), (ga, gb), (ca, cb), y,
                                      (tuple(a), tuple(b)))
    return None


def render_pair(pair: CounterfactualPair, renderer: Any) -> tuple[Any, Any]:
    """The two ``uint8`` images of a pair (``renderer``: a :class:`graphclr.synth.paint.Renderer`)."""
    return renderer.render(pair.cases[0]), renderer.render(pair.cases[1])
