"""Graph -> image-level labels (ChestX-ray14, CheXpert), and a structured view of findings.

Works on any :class:`~graphclr.reports.schema.ReportGraph`: the built-in extractor's output and
RadGraph's own graphs alike. Each observation entity is normalised with the lexicon
(:mod:`graphclr.reports.extract.lexicon`): its words give a *concept* ("effusion"), its relations
give context that can refine it ("effusion" located_at "pericardial" is a pericardial
effusion; "normal" located_at "heart size" means cardiomegaly is *absent*), and each
concept maps to labels through ``concepts.tsv`` (the mapping is listed in
``docs/extractor.md``).

* :func:`findings` -> one :class:`Finding` per observation: normalised name, certainty,
  laterality, zone, size, severity, ... (what prompt builders and the synthetic
  renderer need);
* :func:`label_graph` -> ``{label: 1/0/-1}`` for one graph;
* :func:`label_graphs` -> a DataFrame (``id`` then the label columns) for many.

Examples:
    >>> from graphclr.reports.schema import ReportGraph, Entity, Relation
    >>> g = ReportGraph("r1", "small left pleural effusion . heart size normal", [
    ...     Entity("small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
    ...     Entity("pleural", "ANAT-DP", 2, 2), Entity("effusion", "OBS-DP", 3, 3),
    ...     Entity("heart", "ANAT-DP", 5, 5), Entity("size", "ANAT-DP", 6, 6),
    ...     Entity("normal", "OBS-DP", 7, 7)],
    ...     [Relation("modify", 0, 3), Relation("modify", 1, 2), Relation("located_at", 3, 2),
    ...      Relation("modify", 4, 5), Relation("located_at", 6, 5)])
    >>> [(f.name, f.certainty, f.laterality, f.size) for f in findings(g)]
    [('effusion', 'present', 'left', 'small'), ('cardiomegaly', 'absent', None, None)]
    >>> labels = label_graph(g)
    >>> labels["Effusion"], labels["Cardiomegaly"], labels["normal"]
    (1, 0, 0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graphclr.constants import (
    ABSENT,
    CHEXPERT_LABELS,
    LABEL_TO_KIND_CERTAINTY as _KIND_CERTAINTY,
    LOCATED_AT,
    MODIFY,
    PRESENT,
    UNCERTAIN,
)
from graphclr.reports.extract.lexicon import ANATOMY_KIND, OBSERVATION_KIND, Lexicon, Term, default_lexicon
from graphclr.reports.schema import ReportGraph

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "CXR14_LABELS",
    "CHEXPERT_LABELS",
    "SCHEMAS",
    "UNCERTAIN_POLICIES",
    "ABNORMAL_CATEGORIES",
    "Finding",
    "findings",
    "finding_laterality",
    "label_graph",
    "label_graphs",
    "labels_for",
]

#: ChestX-ray14's 14 findings (NIH order) and ``normal`` (no abnormality present)
CXR14_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia", "normal",
)
SCHEMAS: dict[str, tuple[str, ...]] = {"cxr14": CXR14_LABELS, "chexpert": CHEXPERT_LABELS}
UNCERTAIN_POLICIES: tuple[str, ...] = ("negative", "positive", "keep")
#: concept categories that make a report not normal, per schema. CheXpert's "No Finding"
#: ignores support devices (as the CheXpert labeler does); ChestX-ray14/Open-i's
#: "normal" means nothing abnormal was reported, devices and surgical material included.
ABNORMAL_CATEGORIES: dict[str, frozenset[str]] = {
    "cxr14": frozenset({"finding", "device", "surgical"}),
    "chexpert": frozenset({"finding"}),
}
_NORMAL_LABEL = {"cxr14": "normal", "chexpert": "No Finding"}
_RANK = {ABSENT: 0, UNCERTAIN: 1, PRESENT: 2}
_ZONE_ORDER = ("upper", "middle", "lower")


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation of a report graph, normalised.

    Attributes:
        name: the concept (``"effusion"``, ``"cardiomegaly"``, ``"endotracheal_tube"``,
            ``"normal"``...), after refinement in context; ``None`` if the entity's words
            are not in the lexicon.
        category: ``finding``, ``device``, ``surgical``, ``technical``, ``normal``,
            ``neutral`` or ``unknown``.
        certainty: ``present``, ``absent`` or ``uncertain`` (inverted for refinements
            such as "heart size normal" -> cardiomegaly absent).
        laterality: ``left``, ``right``, ``bilateral`` or ``None``.
        zone: the lung zone (``upper``/``middle``/``lower``) when there is exactly one,
            else ``None``; ``zones`` lists all, top to bottom.
        size, severity, chronicity, change: the modifier values attached to it
            (``"small"``, ``"mild"``, ``"chronic"``, ``"stable"``) or ``None``.
        anatomy: the anatomy keys of its location (``("pleura",)``, ``("lobe",)``...).
        entity: its index in ``graph.entities``; ``tokens``: its text.
        labels: the labels of ``name`` in the requested schema (see :func:`labels_for`).
    """

    name: str | None
    category: str
    certainty: str
    laterality: str | None
    zone: str | None
    zones: tuple[str, ...]
    size: str | None
    severity: str | None
    chronicity: str | None
    change: str | None
    anatomy: tuple[str, ...]
    entity: int
    tokens: str
    labels: tuple[str, ...] = field(default=())


def _entity_terms(lex: Lexicon, tokens: str) -> tuple[Term | None, list[Term]]:
    """(head observation term, other matched terms) for an entity's words (memoised on
    the lexicon: entity texts repeat across reports)."""
    memo = lex._entity_cache
    found = memo.get(tokens)
    if found is None:
        found = _match_entity(lex, tokens)
        if len(memo) < 100_000:
            memo[tokens] = found
    return found


def _match_entity(lex: Lexicon, tokens: str) -> tuple[Term | None, list[Term]]:
    keys = [lex.key(w) for w in tokens.split()]
    exact = lex.terms.get(tuple(keys))
    if exact is not None:
        return exact, []
    matches = [t for _s, _e, t in lex.match(keys) if t.kind != "trigger"]
    head = None
    for t in reversed(matches):
        if t.kind == OBSERVATION_KIND and t.category != "modifier":
            head = t
            break
    if head is None:
        for t in reversed(matches):
            if t.kind == OBSERVATION_KIND:
                head = t
                break
    return head, [t for t in matches if t is not head]


def _laterality(values: Iterable[str | None]) -> str | None:
    lats = {v for v in values if v}
    if not lats:
        return None
    if "bilateral" in lats or {"left", "right"} <= lats:
        return "bilateral"
    return lats.pop()


def findings(graph: ReportGraph, *, schema: str = "cxr14", lexicon: Lexicon | None = None,
             include_modifiers: bool = False) -> list[Finding]:
    """Every observation of ``graph``, normalised (modifier words left out unless
    ``include_modifiers``), in entity order.

    Laterality and zone come from the anatomy the observation is located_at, the anatomy
    words modifying that anatomy, anatomy modifying the observation itself, and, for an
    observation that modifies another one ("calcified" -> "granuloma"), that one's
    location. Size/severity/chronicity/change come from the modifiers attached to it.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"unknown label schema {schema!r} (expected one of {', '.join(SCHEMAS)})")
    lex = lexicon or default_lexicon()
    result: list[Finding] = []
    for i, tokens, name, category, certainty, anat, mods in _observations(graph, lex,
                                                                         include_modifiers):
        zones = tuple(z for z in _ZONE_ORDER if any(t.zone == z for t in anat))
        result.append(Finding(
            name=name, category=category, certainty=certainty,
            laterality=_laterality(t.laterality for t in anat),
            zone=zones[0] if len(zones) == 1 else None, zones=zones,
            size=mods.get("size"), severity=mods.get("severity"),
            chronicity=mods.get("chronicity"), change=mods.get("change"),
            anatomy=tuple(dict.fromkeys(t.key for t in anat)), entity=i, tokens=tokens,
            labels=labels_for(name, schema, lex) if name else ()))
    return result


def _observations(graph: ReportGraph, lex: Lexicon, include_modifiers: bool,
                  ) -> list[tuple[int, str, str | None, str, str, list[Term], dict[str, str]]]:
    """What :func:`findings` and :func:`label_graph` read of each observation kept:
    ``(entity index, tokens, concept, category, certainty, anatomy terms, modifiers)``
    (labels need only the first five; building :class:`Finding` objects for them cost
    a third of labelling)."""
    ents = graph.entities
    n = len(ents)
    kinds = [_KIND_CERTAINTY[e.source_label or e.label] for e in ents]
    is_anat = [k[0] == ANATOMY_KIND for k in kinds]
    located: list[list[int]] = [[] for _ in range(n)]
    modified_by: list[list[int]] = [[] for _ in range(n)]
    modifies: list[list[int]] = [[] for _ in range(n)]
    for r in graph.relations:
        if not (0 <= r.head < n and 0 <= r.tail < n):
            continue
        if r.type == LOCATED_AT:
            located[r.head].append(r.tail)
        elif r.type == MODIFY:
            modified_by[r.tail].append(r.head)
            modifies[r.head].append(r.tail)
    terms: list[tuple[Term | None, list[Term]]] = [_entity_terms(lex, e.tokens) for e in ents]

    def anatomy_terms(j: int, depth: int = 0) -> list[Term]:
        """Terms of entity j (an anatomy phrase head) and the anatomy modifying it."""
        head, rest = terms[j]
        out = [t for t in rest if t.kind == ANATOMY_KIND]
        if head is not None and head.kind == ANATOMY_KIND:
            out.insert(0, head)
        if depth < 2:
            for k in modified_by[j]:
                if is_anat[k]:
                    out.extend(anatomy_terms(k, depth + 1))
        return out

    result = []
    for i, ent in enumerate(ents):
        if kinds[i][0] != OBSERVATION_KIND:
            continue
        head, rest = terms[i]
        if head is not None and head.kind != OBSERVATION_KIND:
            head = None
        is_modifier = head is not None and head.category == "modifier"
        # a modifier that qualifies an observation is not a finding of its own; one that
        # qualifies only anatomy may be ("low" located_at "lung volumes")
        if is_modifier and not include_modifiers and \
                any(kinds[h][0] == OBSERVATION_KIND for h in modifies[i]):
            continue
        anat: list[Term] = [t for t in rest if t.kind == ANATOMY_KIND]
        context: set[str] = {t.key for t in rest}
        mods: dict[str, str] = {}
        for t in rest:
            if t.category == "modifier":
                mods.setdefault(t.mod_type, t.key)
        targets = located[i]
        for h in modifies[i]:  # an adjective/modifier inherits its head's location
            if kinds[h][0] == OBSERVATION_KIND and located[h]:
                targets = targets + located[h]
        for j in targets:
            if is_anat[j]:
                anat.extend(anatomy_terms(j))
            else:  # RadGraph sometimes locates an observation at another observation
                for t in [terms[j][0], *terms[j][1]]:
                    if t is not None:
                        context.add(t.key)
        for k in modified_by[i]:
            if is_anat[k]:
                anat.extend(anatomy_terms(k))
                continue
            kh, krest = terms[k]
            for t in ([kh] if kh is not None else []) + krest:
                context.add(t.key)
                if t.category == "modifier":
                    mods.setdefault(t.mod_type, t.key)
        context.update(t.key for t in anat)
        certainty = kinds[i][1]
        if head is None:
            name, category = None, "unknown"
        else:
            name, flip = lex.refine(head.key, context)
            if flip:  # "heart size normal": cardiomegaly absent; "not normal": unsure
                certainty = ABSENT if certainty == PRESENT else UNCERTAIN
            category = lex.concept(name).category
            if category == "modifier" and not include_modifiers:
                continue
        result.append((i, ent.tokens, name, category, certainty, anat, mods))
    anatomy_terms = None  # noqa: F841 - breaks the closure's reference cycle (no GC needed)
    return result


def finding_laterality(graph: ReportGraph, finding: str, *,
                       lexicon: Lexicon | None = None) -> str | None:
    """The laterality of the present ``finding`` (a concept name) in ``graph``:
    ``left``/``right``/``bilateral``, ``None`` when not lateralised or not present."""
    lats = [f.laterality for f in findings(graph, lexicon=lexicon)
            if f.name == finding and f.certainty == PRESENT]
    if not lats:
        return None
    return _laterality(lats)


def labels_for(concept: str, schema: str = "cxr14", lexicon: Lexicon | None = None,
               ) -> tuple[str, ...]:
    """The labels a concept is positive for in ``schema`` (``concepts.tsv``)."""
    lex = lexicon or default_lexicon()
    c = lex.concepts.get(concept)
    if c is None:
        return ()
    return c.cxr14 if schema == "cxr14" else c.chexpert


def label_graph(graph: ReportGraph, schema: str = "cxr14", uncertain: str = "negative", *,
                lexicon: Lexicon | None = None) -> dict[str, int]:
    """Image-level labels of one report graph.

    Args:
        graph: any report graph (extractor output or RadGraph).
        schema: ``"cxr14"`` (:data:`CXR14_LABELS`) or ``"chexpert"`` (:data:`CHEXPERT_LABELS`).
        uncertain: what a label supported only by uncertain observations becomes:
            ``"negative"`` (0, default), ``"positive"`` (1) or ``"keep"`` (-1).

    Returns:
        ``{label: value}`` in schema order. A finding label is 1 when some observation
        mapping to it is present, the policy value when the best is uncertain, else 0.
        ``normal`` / ``No Finding`` is 1 only when no observation of an abnormal category
        (:data:`ABNORMAL_CATEGORIES`) is present *or uncertain* (the CheXpert labeler's
        convention: a possible abnormality is not "no finding"); when the only abnormal
        observations are uncertain it is -1 under ``keep`` and 0 otherwise.

    The mapping is stable API: other parts of graphclr (the synthetic benchmark,
    zero-shot prompts) build on it.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"unknown label schema {schema!r} (expected one of {', '.join(SCHEMAS)})")
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"unknown uncertainty policy {uncertain!r} "
                         f"(expected one of {', '.join(UNCERTAIN_POLICIES)})")
    names = SCHEMAS[schema]
    best: dict[str, int] = {}
    abnormal = -1
    cats = ABNORMAL_CATEGORIES[schema]
    lex = lexicon or default_lexicon()
    for _i, _tokens, name, category, certainty, _anat, _mods in _observations(graph, lex, False):
        rank = _RANK[certainty]
        for lab in (labels_for(name, schema, lex) if name else ()):
            if rank > best.get(lab, -1):
                best[lab] = rank
        if category in cats and rank > abnormal:
            abnormal = rank
    unc_value = {"negative": 0, "positive": 1, "keep": -1}[uncertain]
    out: dict[str, int] = {}
    for lab in names:
        if lab == _NORMAL_LABEL[schema]:
            if abnormal == _RANK[PRESENT]:
                out[lab] = 0
            elif abnormal == _RANK[UNCERTAIN]:
                out[lab] = -1 if uncertain == "keep" else 0
            else:
                out[lab] = 1
            continue
        r = best.get(lab, -1)
        out[lab] = 1 if r == _RANK[PRESENT] else (unc_value if r == _RANK[UNCERTAIN] else 0)
    return out


def label_graphs(graphs: Iterable[ReportGraph], schema: str = "cxr14",
                 uncertain: str = "negative", *, lexicon: Lexicon | None = None) -> pd.DataFrame:
    """:func:`label_graph` for many graphs: a DataFrame with ``id`` then the label columns
    (schema order, ``int8``)."""
    import pandas as pd

    if schema not in SCHEMAS:
        raise ValueError(f"unknown label schema {schema!r} (expected one of {', '.join(SCHEMAS)})")
    names = SCHEMAS[schema]
    ids: list[str] = []
    rows: list[list[int]] = []
    for g in graphs:
        lab = label_graph(g, schema, uncertain, lexicon=lexicon)
        ids.append(g.id)
        rows.append([lab[n] for n in names])
    frame = pd.DataFrame(rows, columns=list(names), dtype="int8") if rows else \
        pd.DataFrame({n: pd.Series(dtype="int8") for n in names})
    frame.insert(0, "id", pd.Series(ids, dtype=object))
    return frame
