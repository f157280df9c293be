"""Relation rules: ``located_at`` (and, through :mod:`graphclr.reports.extract.links`,
``modify`` and ``suggestive_of``) between the mentions that
:mod:`graphclr.reports.extract.rules` matched and scoped.

Every rule reads one *gap*: the token classes between two mentions, one character per
token (A anatomy, M modifier or an adjective that modifies, O other observation,
T trigger, d article/mask/number, p preposition, c linking verb, j list word, o or-word,
v adverb, ``,`` comma, x anything else). A rule bridges a gap when it is at most
:data:`MAX_GAP` tokens and all its characters are in the rule's allowed set. All rules
stay inside a clause (located_at, modify) or a sentence (suggestive_of), and each one
looks only at the nearest candidates found by bisection, so the pass is linear in the
number of mentions.

**located_at** (observation -> anatomy phrase head). An observation collects *every*
anatomy phrase the following patterns give it:

* *before* (L1): the phrase right before it ("left pleural effusion"), and the phrases
  before that one across modifiers and lists ("bibasilar streaky airspace opacities":
  ``bibasilar`` and ``airspace``; "left 5th and 6th rib fractures"; "heart, mediastinum
  and hila are normal"); a normal-state word also across a preposition ("heart size within
  normal limits");
* *after* (L2): the phrase after it, adjacent or after a location preposition
  ("opacity in the right lower lobe", "effusions bilaterally", "nodules seen bilaterally"),
  and then every further
  phrase chained to it by lists, prepositions, commas, adverbs and modifiers ("in the
  right midlung and left upper lung", "bilaterally, most prominent in the lung bases",
  "airspace opacity in the right lung base": both ``airspace`` and ``base``), also after a
  comma and a degree phrase ("fibrosis, most notably in the right lower lobe"). A phrase
  that is itself the phrase before a later observation belongs to that one
  ("opacity in the left base and right pleural effusion");
* *appositive* (L3): ``observation , phrase`` with no further observation in the
  sentence ("old fracture, right mid clavicle"; "small effusions, right larger than
  left": both sides), across modifiers when the phrase is only a side ("pneumothorax,
  small left-sided");
* *with* (L6, when L1 gave nothing): the phrase right before "with" and modifiers
  ("right lower lobe with patchy opacities", "tortuous aorta with calcification");
* *subject* (L4, when L1 and L6 gave nothing): the subject phrase before a linking verb
  ("heart size is normal", "the lungs are hyperinflated", "the right hemidiaphragm is
  again elevated") and subjects listed with it;
  or (L5) a location fronted at the start of the sentence ("in the left lower lobe
  there is airspace disease").

Then locations spread: observations listed before one located *after* share that
location ("atelectasis or consolidation in the left base", "atelectasis and airspace
disease in the left base"), or, when they have only phrases before them and no side, its
side ("old rib fractures and pleural thickening on the right"); an observation coordinated
*after* a located one, with the same certainty and no side or region of its own,
shares all of it after an alternative ("aortic ectasia / tortuosity", "left basilar
atelectasis and/or airspace disease": ``disease`` at ``airspace`` and ``basilar``), and,
when it has no location at all, after "and" or an appositive comma the phrases that name a side, a
zone or a structure ("the aorta is dilated and tortuous", "left basilar opacity,
atelectasis"; not "right pleural effusion and atelectasis"); the second noun of a noun
compound shares the phrases before the first ("right-sided port catheter"); an observation
suggested by another ("density in the left base compatible with atelectasis") is
located where the suggesting one is when it has no location of its own, and takes its
side when its own location names none ("left apical density may represent pleural
thickening": ``pleural`` and ``apical``); so is an associated finding, or one after "with"
or "from" ("left lower lobe pneumonia with airspace consolidation": ``airspace`` and
``lobe``; "axillary clips from previous mastectomy"). A modifier that modifies nothing is
located like an observation ("low lung volumes").

Examples:
    >>> from graphclr.reports.extract.lexicon import default_lexicon
    >>> from graphclr.reports.extract.rules import graph_parts
    >>> words = "Airspace opacities bilaterally , most prominent in the lung bases .".split()
    >>> ents, rels = graph_parts(words, [], default_lexicon())
    >>> sorted((t, words[ents[h][0]], words[ents[d][0]]) for t, h, d in rels)
    [('located_at', 'opacities', 'Airspace'), ('located_at', 'opacities', 'bases'), ('located_at', 'opacities', 'bilaterally'), ('modify', 'lung', 'bases'), ('modify', 'most', 'opacities')]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from graphclr.constants import LOCATED_AT, MODIFY, SUGGESTIVE_OF
from graphclr.reports.extract.links import (
    ABSENT,
    LINK_WORDS,
    MAX_GAP,
    PRESENT,
    UNCERTAIN,
    add_modifiers,
    after_link_word,
    gap_ok,
    suggested_pairs,
)

__all__ = ["MAX_GAP", "PRESENT", "ABSENT", "UNCERTAIN", "gap_ok", "phrase_head", "add_relations"]


_BEFORE_GAP = "Mdv"
_BEFORE_NORMAL_GAP = "Mdvp"
_BEFORE_LIST_GAP = "Mdj,"
_AFTER_GAP = "pdcMv"
_CHAIN_GAP = "pdjv,M"
_SUBJECT_GAP = "cdvMpT"
_LIST_BEFORE_GAP = "jod,MA"
_LIST_AFTER_GAP = "jodM,"
_FRONTED_GAP = "T,cdvM"
_WITH_GAP = "dM"
_SENTENCE_END = frozenset({".", "!", "?", ";", ":"})
_ANAPHORA = frozenset({"this", "it", "these", "they", "which"})
_ANAPHORA_REACH = 12
_PHRASE_LIST_GAP = "jd,"
_ALT_GAP = "odMA,j"


def phrase_head(group: list[Any]) -> Any:
    """An anatomy phrase's head: its last structure word, else its last word."""
    for m in reversed(group):
        if m.term.category == "head":
            return m
    return group[-1]


def _sided(group: list[Any]) -> bool:
    """A phrase that names a side ("right", "left lower lobe", "bibasilar")."""
    return any(m.term.laterality for m in group)


def _side_only(group: list[Any]) -> bool:
    """A phrase of side words only ("right sided", "left")."""
    return all(m.term.laterality for m in group)


def _shareable(group: list[Any]) -> bool:
    """A phrase whose location a coordinated observation may share: it names a zone or a
    structure ("left basilar airspace", "right lung"), not only a side and an organ
    adjective ("right pleural": the effusion's, not the atelectasis's)."""
    head = phrase_head(group)
    return head.term.category == "head" or bool(head.term.laterality) \
        or any(m.term.zone for m in group)


def add_relations(mentions: list[Any], obs: list[Any], groups: list[list[Any]], cstr: str,
                  keys: Sequence[str], relations: list[tuple[str, Any, Any]],
                  alternatives: bool) -> None:
    """modify, located_at and suggestive_of for the whole report, appended to
    ``relations`` as ``(type, head mention, tail mention)``."""
    for m in obs:
        if m.adj_target is not None:
            relations.append((MODIFY, m, m.adj_target))
    heads = [m for m in obs if not m.modifier and not m.attached]
    head_starts = [m.start for m in heads]
    add_modifiers(obs, heads, head_starts, cstr, keys, relations)
    located = _locate(obs, heads, head_starts, groups, cstr, keys)
    suggested = suggested_pairs(mentions, heads, head_starts, cstr)
    for source, target in suggested:
        if source in located:
            own = located.get(target)
            if own is None:
                located[target] = located[source]
            elif not any(_sided(g) for g in own):  # "... may represent pleural thickening"
                located[target] = own + [g for g in located[source] if _sided(g) and g not in own]
    for m, targets in located.items():
        for g in targets:
            relations.append((LOCATED_AT, m, phrase_head(g)))
    relations.extend((SUGGESTIVE_OF, source, target) for source, target in suggested)
    if alternatives:
        for a, b in zip(heads, heads[1:]):
            gap = cstr[a.end:b.start]
            if a.clause == b.clause and "o" in gap and gap_ok(gap, _ALT_GAP) \
                    and a.cert == PRESENT and b.cert == PRESENT:
                a.cert = b.cert = UNCERTAIN
    # modifiers share the certainty of what they modify
    for typ, h, t in relations:
        if typ == MODIFY and h.kind == t.kind == "observation":
            h.cert = t.cert


def _locate(obs: list[Any], heads: list[Any], head_starts: list[int], groups: list[list[Any]],
            cstr: str, keys: Sequence[str]) -> dict[Any, list[list[Any]]]:
    """The anatomy phrases each observation is located at (see the module docstring)."""
    g_starts = [g[0].start for g in groups]
    g_ends = [g[-1].end for g in groups]

    owner: dict[int, bool] = {}

    def before_owner(k: int) -> bool:
        """Phrase k is the phrase right before a later observation of its clause."""
        got = owner.get(k)
        if got is None:
            g = groups[k]
            j = bisect_left(head_starts, g[-1].end)
            got = owner[k] = j < len(heads) and heads[j].clause == g[-1].clause \
                and gap_ok(cstr[g[-1].end:heads[j].start], _BEFORE_GAP)
        return got

    located: dict[Any, list[list[Any]]] = {}
    before_of: dict[Any, list[list[Any]]] = {}  # the phrases before an observation (L1, L6)
    after_located: list[Any] = []
    associated = {m.adj_target or _next_head(heads, head_starts, m) for m in obs
                  if m.modifier and m.term.key == "associated"}
    if not LINK_WORDS.isdisjoint(keys):
        associated.update(m for m in heads if after_link_word(m, cstr, keys))
    for m in obs:
        if m.attached:
            continue
        found: list[list[Any]] = []
        before = bisect_right(g_ends, m.start) - 1  # last phrase ending before m
        by_before = False
        if before >= 0:
            g = groups[before]
            gap = cstr[g[-1].end:m.start]
            if g[-1].clause == m.clause and (gap_ok(gap, _BEFORE_GAP)
                                             or (m.normal and gap_ok(gap, _BEFORE_NORMAL_GAP))):
                found.append(g)  # L1, and the phrases before it across modifiers
                by_before = True
                for k in range(before - 1, -1, -1):
                    g0 = groups[k]
                    if g0[-1].clause != m.clause \
                            or not gap_ok(cstr[g0[-1].end:found[-1][0].start], _BEFORE_LIST_GAP):
                        break
                    found.append(g0)
        after = bisect_left(g_starts, m.end)  # first phrase starting after m
        if after < len(groups):
            g = groups[after]
            gap = cstr[m.end:g[0].start]
            if g[0].clause == m.clause and (gap_ok(gap, _AFTER_GAP) or _degree_comma(gap)) \
                    and (("p" in gap) or (not gap.strip("dvc") and not before_owner(after))):
                found.append(g)  # L2, then the phrases chained to it
                for k in range(after + 1, len(groups)):
                    g2 = groups[k]
                    if g2[0].clause != m.clause or before_owner(k) \
                            or not gap_ok(cstr[found[-1][-1].end:g2[0].start], _CHAIN_GAP):
                        break
                    found.append(g2)
                after_located.append(m)
            elif g[0].clause == m.clause and gap.lstrip("d")[:1] == "," \
                    and (gap.strip("d") == "," or (gap.strip("dM") == "," and _side_only(g))) \
                    and not before_owner(after) \
                    and not _head_follows(heads, head_starts, g[-1].end, m.sent):
                found.append(g)  # L3 appositive, and the phrases chained to it
                for k in range(after + 1, len(groups)):
                    g2 = groups[k]
                    if g2[0].clause != m.clause \
                            or not gap_ok(cstr[found[-1][-1].end:g2[0].start], _CHAIN_GAP):
                        break
                    found.append(g2)
        if not by_before and before >= 0 and _with_phrase(groups[before], m, cstr, keys):
            found.append(groups[before])  # L6 "right lower lobe with patchy opacities"
            by_before = True
        k = before - len(found) if by_before else before  # the phrase before m's own ones
        if k >= 0 and groups[k][0].start > 0 and cstr[groups[k][0].start - 1] in "pd" \
                and _fronted(groups[k], found[-1][0].start if by_before else m.start, m, cstr, keys):
            found.append(groups[k])  # L5 "in the left lower lobe there is opacity"
        elif not by_before and before >= 0:
            g = groups[before]
            gap = cstr[g[-1].end:m.start]
            if g[-1].clause == m.clause and "c" in gap and gap_ok(gap, _SUBJECT_GAP):
                subjects = [g]  # L4
                for g0 in reversed(groups[:before]):
                    if g0[-1].clause != m.clause or not gap_ok(cstr[g0[-1].end:subjects[-1][0].start],
                                                               _PHRASE_LIST_GAP):
                        break
                    subjects.append(g0)
                found.extend(reversed(subjects))
        if found:
            located[m] = found
            if by_before:
                before_of[m] = [g for g in found if g[-1].end <= m.start]
    # observations listed before one located after them share that location
    for m in after_located:
        prev = m
        targets = [g for g in located[m] if g[0].start >= m.end]
        j = bisect_left(head_starts, m.start) - 1
        while j >= 0:
            o = heads[j]
            j -= 1
            if o.end > prev.start:
                continue
            if o.clause != m.clause or not gap_ok(cstr[o.end:prev.start], _LIST_BEFORE_GAP):
                break
            own = located.get(o)
            if own is not None:  # "old rib fractures and thickening on the right": only
                if any(g[0].start >= o.end or _sided(g) for g in own):  # a side o lacks
                    break
                located[o] = own + [g for g in targets if _sided(g)]
            else:
                located[o] = targets
            prev = o
    # "effusion with associated atelectasis", "consolidation with residual pneumonia": an
    # associated finding, or one after "with", is located where the finding before it is;
    # one with a location but no side of its own takes that finding's side
    prev: Any = None
    for m in heads:
        if m in associated and prev is not None and prev.clause == m.clause \
                and m.cert != ABSENT and prev.cert != ABSENT:
            own = located.get(m)
            if own is None:
                located[m] = located[prev]
            elif not any(_sided(g) for g in own):
                located[m] = own + [g for g in located[prev] if _sided(g) and g not in own]
        if m in located:
            prev = m
    # an observation coordinated after a located one shares its location: all of it
    # after an alternative ("ectasia / tortuosity", "atelectasis or scarring"), the side,
    # zone or structure after "and" or an appositive comma ("left basilar opacity,
    # atelectasis")
    for a, b in zip(heads, heads[1:]):
        if a not in located or a.clause != b.clause or a.cert != b.cert \
                or a.normal != b.normal or a.cert == ABSENT:
            continue
        own = located.get(b, [])
        if any(_shareable(g) for g in own):
            continue  # b names its own side or region
        # from the end of a's phrases after it to the start of b's phrases before it
        start = max([a.end] + [g[-1].end for g in located[a] if a.end <= g[-1].end <= b.start])
        end = min([b.start] + [g[0].start for g in own if start <= g[0].start < b.start])
        gap = cstr[start:end]
        if not gap_ok(gap, _LIST_AFTER_GAP):
            continue
        if "o" in gap or "/" in keys[start:end]:
            located[b] = own + [g for g in located[a] if g not in own]
        elif own:
            continue
        elif "j" in gap or gap.lstrip("dM")[:1] == ",":
            shared = [g for g in located[a] if _shareable(g)]
            if shared:
                located[b] = shared
    # a noun compound ("right-sided Mediport catheter", "left ICD device"): the second
    # noun shares the phrases before the first
    for a, b in zip(heads, heads[1:]):
        if a.end == b.start and a.clause == b.clause and b not in located and a in before_of:
            located[b] = before_of[a]
    # "There is a right pneumothorax. It is largest at the apex.": a sentence that opens
    # with a pronoun and names no finding locates the last finding of the sentence before
    used = {id(g) for targets in located.values() for g in targets}
    for g in groups:
        if id(g) in used or _head_follows(heads, head_starts, g[0].start, g[0].sent):
            continue
        i = g[0].start  # the sentence start, at most _ANAPHORA_REACH tokens back
        while i > 0 and keys[i - 1] not in _SENTENCE_END and g[0].start - i < _ANAPHORA_REACH:
            i -= 1
        if keys[i] not in _ANAPHORA or _head_follows(heads, head_starts, i, g[0].sent):
            continue
        j = bisect_left(head_starts, i) - 1
        if j >= 0 and heads[j].sent == g[0].sent - 1 and heads[j].cert != ABSENT:
            located.setdefault(heads[j], []).append(g)
            used.add(id(g))
    return located


def _with_phrase(g: list[Any], m: Any, cstr: str, keys: Sequence[str]) -> bool:
    """Observation ``m`` follows anatomy phrase ``g`` across "with" and modifiers only
    ("aorta with calcification", "right lower lobe with patchy opacities")."""
    end = g[-1].end
    return g[-1].clause == m.clause and end < m.start and keys[end] == "with" \
        and not cstr[end + 1:m.start].strip(_WITH_GAP)


def _fronted(g: list[Any], stop: int, m: Any, cstr: str, keys: Sequence[str]) -> bool:
    """Phrase ``g`` is a location fronted at the start of ``m``'s sentence: only
    prepositions and articles before it, only triggers ("there is", "no"), commas,
    verbs, articles, adverbs and modifiers between it and ``stop`` (``m`` or the phrase
    right before ``m``)."""
    if g[0].sent != m.sent or not gap_ok(cstr[g[-1].end:stop], _FRONTED_GAP):
        return False
    i = g[0].start
    seen_prep = False
    while i > 0 and keys[i - 1] not in _SENTENCE_END and cstr[i - 1] in "pd":
        seen_prep = seen_prep or cstr[i - 1] == "p"
        i -= 1
    return seen_prep and (i == 0 or keys[i - 1] in _SENTENCE_END)


def _degree_comma(gap: str) -> bool:
    """A comma, then a degree phrase and a preposition: "scarring, most notably in the
    apices", "opacities, worst at the bases"."""
    return gap[:1] == "," and gap[1:2] in ("M", "v") and gap_ok(gap[1:], _AFTER_GAP)


def _next_head(heads: list[Any], head_starts: list[int], m: Any) -> Any:
    j = bisect_left(head_starts, m.end)
    return heads[j] if j < len(heads) else None


def _head_follows(heads: list[Any], head_starts: list[int], start: int, sent: int) -> bool:
    """Whether an observation (not a modifier) follows ``start`` in sentence ``sent``."""
    j = bisect_left(head_starts, start)
    return j < len(heads) and heads[j].sent == sent
