"""Relation rules between observations: ``modify`` (a modifier -> the observation it
modifies) and ``suggestive_of`` (an observation -> the one a hedge or link word says it
suggests), plus the gap test every relation rule uses.

A *gap* is the token classes between two mentions, one character per token (A anatomy,
M modifier, O other observation, T trigger, d article/mask/number, p preposition,
c linking verb, j list word, o or-word, v adverb, ``,`` comma, x anything else); a rule
with allowed characters S bridges gap g when ``len(g) <= MAX_GAP`` and every character of g
is in S. Each rule looks only at the nearest candidates found by bisection, so both passes
are linear in the number of mentions.

**modify** (observation -> observation): an adjective right before an observation noun
("calcified granuloma"); a size/severity/chronicity/change/pattern modifier to the next
observation in its clause across anatomy, adverbs and other modifiers ("small to
moderate left pleural effusion": both modify ``effusion``), else to the previous one
across a linking verb, a comma or its anatomy ("the effusion is small", "opacities
bilaterally, most prominent in the bases"); an intensifier written as an adverb
modifies the modifier right after it, making a chain ("moderately -modify-> severe
-modify-> changes", "mildly -modify-> enlarged").

**suggestive_of**: a ``suggest_unc``/``suggest_pos`` trigger ("may represent",
"compatible with", "concerning for") links the nearest observation before it in the
sentence to the first observation after it in its clause and those listed with it; so
does an uncertainty word right after a comma ("opacity, likely atelectasis").

**link words**: :func:`after_link_word` tells whether an observation follows "with" or
"from" ("effusion with atelectasis", "clips from previous mastectomy"); the
located_at rules then locate it where the finding before it is.

Examples:
    >>> gap_ok("dM", "MAdv"), gap_ok("dx", "MAdv"), gap_ok("d" * 9, "d")
    (True, False, False)
    >>> from graphclr.reports.extract.lexicon import default_lexicon
    >>> from graphclr.reports.extract.rules import graph_parts
    >>> words = "Moderately severe changes , likely degenerative disease .".split()
    >>> ents, rels = graph_parts(words, [], default_lexicon())
    >>> sorted((t, words[ents[h][0]], words[ents[d][0]]) for t, h, d in rels)
    [('modify', 'Moderately', 'severe'), ('modify', 'degenerative', 'disease'), ('modify', 'severe', 'changes'), ('suggestive_of', 'changes', 'disease')]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from graphclr.constants import MODIFY

__all__ = ["MAX_GAP", "PRESENT", "ABSENT", "UNCERTAIN", "gap_ok", "add_modifiers", "suggested_pairs",
           "LINK_WORDS", "after_link_word"]

#: the longest gap (in tokens) a relation rule bridges
MAX_GAP = 8
PRESENT, ABSENT, UNCERTAIN = "present", "absent", "uncertain"

_MOD_NEXT_GAP = "MAdv"
_MOD_PREV_GAP = "cdvM,A"
_SUGGEST_FIRST_GAP = "dMAvp"
_SUGGEST_NEXT_GAP = "jodMA,"
#: words after which a finding is associated with the one before ("effusion WITH
#: atelectasis", "clips FROM previous mastectomy"), and what may stand between
LINK_WORDS = frozenset({"with", "from"})
_LINK_WALK = "dMTAoj"


def gap_ok(gap: str, allowed: str) -> bool:
    """Whether a rule with the ``allowed`` gap characters bridges ``gap``."""
    return len(gap) <= MAX_GAP and not gap.strip(allowed)


def add_modifiers(obs: list[Any], heads: list[Any], head_starts: list[int], cstr: str,
               keys: Sequence[str], relations: list[tuple[str, Any, Any]]) -> None:
    """A modifier modifies the next observation in its clause, else the previous one
    across a linking verb."""
    for k, m in enumerate(obs):
        if not m.modifier:
            continue
        target = None
        nxt_mod = obs[k + 1] if k + 1 < len(obs) else None
        if nxt_mod is not None and nxt_mod.modifier and nxt_mod.start == m.end \
                and keys[m.end - 1].endswith("ly"):
            target = nxt_mod  # an intensifier: "moderately -modify-> severe"
        j = bisect_left(head_starts, m.end)
        if target is not None:
            j = len(heads)
        if j < len(heads):
            nxt = heads[j]
            if nxt.clause == m.clause and gap_ok(_mod_gap(cstr, keys, m.end, nxt.start), _MOD_NEXT_GAP):
                target = nxt
        if target is None:
            j = bisect_right(head_starts, m.start) - 1
            if j >= 0:
                prv = heads[j]
                if prv.end <= m.start and prv.clause == m.clause \
                        and gap_ok(cstr[prv.end:m.start], _MOD_PREV_GAP):
                    target = prv
        if target is not None:
            relations.append((MODIFY, m, target))
            m.attached = True


def _mod_gap(cstr: str, keys: Sequence[str], a: int, b: int) -> str:
    """Gap for modifier -> next observation: "to"/"and"/"," between modifiers allowed
    ("small to moderate effusion")."""
    gap = cstr[a:b]
    if "p" in gap or "j" in gap or "," in gap:
        return "".join("d" if c in "pj," and keys[a + i] in ("to", "and", ",") else c
                       for i, c in enumerate(gap))
    return gap


def after_link_word(m: Any, cstr: str, keys: Sequence[str]) -> bool:
    """Observation ``m`` follows "with" or "from" across articles, modifiers, hedges,
    list words and its own anatomy only ("with a small effusion", "with probable
    airspace disease", "from previous mastectomy"): :mod:`relations` locates it where
    the finding before it is."""
    i = m.start - 1
    while i >= 0 and cstr[i] in _LINK_WALK and keys[i] not in LINK_WORDS:
        i -= 1
    return i >= 0 and keys[i] in LINK_WORDS


def suggested_pairs(mentions: list[Any], heads: list[Any], head_starts: list[int],
                cstr: str) -> list[tuple[Any, Any]]:
    """The (source, target) pairs of suggestive_of."""
    pairs: list[tuple[Any, Any]] = []
    last_trigger = -1  # start of the latest trigger seen, for the hedge rule
    for t in mentions:
        if t.kind != "trigger":
            continue
        prev_trigger, last_trigger = last_trigger, t.start
        role = t.role
        if role != "suggest_unc" and role != "suggest_pos":
            # "opacity, likely atelectasis": a hedge right after a comma
            if role != "unc_pre" or t.start == 0 or cstr[t.start - 1] != ",":
                continue
        j = bisect_right(head_starts, t.start) - 1
        if j < 0 or heads[j].end > t.start or heads[j].sent != t.sent:
            continue
        source = heads[j]
        if source.cert == ABSENT:  # "no opacity to suggest pneumonia": nothing suggests
            continue
        if role == "unc_pre" and (source.normal or prev_trigger >= source.end):
            continue  # only when no other trigger lies between
        targets: list[Any] = []
        for nxt in heads[j + 1:]:
            if nxt.start < t.end:
                continue
            if nxt.clause != t.clause:
                break
            if targets:
                if not gap_ok(cstr[targets[-1].end:nxt.start], _SUGGEST_NEXT_GAP):
                    break
            elif not gap_ok(cstr[t.end:nxt.start], _SUGGEST_FIRST_GAP):
                break
            targets.append(nxt)
        pairs.extend((source, nxt) for nxt in targets)
    return pairs
