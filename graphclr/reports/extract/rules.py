"""Certainty and relation rules: tokens + lexicon matches -> entities and relations.

This is the extractor's core, in plain Python over token lists (the spaCy pipeline feeds
it; tests can call :func:`graph_parts` directly). The rules, in order, per sentence:

**Sentences and clauses.** A sentence ends after ``.``, ``!``, ``?``, ``;`` or ``:`` and at
a paragraph break. A ``term`` trigger ("but", "however", "which", "except") ends a clause:
no negation or uncertainty scope crosses it.

**Entities.** Every lexicon match that is anatomy or an observation is an entity
(triggers are not). Anatomy is ``ANAT-DP``; observations are ``OBS-DP``, ``OBS-DA`` or
``OBS-U`` by certainty.

**Certainty** (NegEx-style, with clause scope):

1. ``neg_pre`` ("no", "without", "negative for") makes the observations after it, to the
   end of the clause, absent; ``unc_pre`` ("possible", "may", "cannot exclude") makes them
   uncertain. The nearest trigger wins ("no effusion, possible atelectasis"), except that
   an uncertainty word right after a negation that has not yet applied to anything keeps
   the negation ("no definite", "no suspicious" are negations).
2. ``affirm`` ("there is", "stable", "again seen") ends a scope: what follows is present.
3. ``neg_post`` ("is not seen", "has resolved") and ``unc_post`` ("cannot be excluded",
   ``?``) act backwards over the phrase before them: across anatomy, articles,
   prepositions and list words, stopping at a comma, a verb or another trigger, and at a
   normal-state word behind a conjunction ("heart is normal and effusion is not seen").
4. ``pseudo`` triggers ("no change", "not only", "no increase in") consume their words
   and do nothing.
5. Alternatives are uncertain: two present findings joined by "or"/"versus"/"and/or"
   ("atelectasis or pneumonia") both become uncertain.
6. A modifier takes the certainty of the observation it modifies ("no large effusion":
   both absent).

**Relations.**

* *Anatomy phrases*: consecutive anatomy words form a phrase; its head is its last
  structure word (``head`` in ``anatomy.tsv``) and every other word ``modify`` -> head
  ("right lower lobe": right, lower -modify-> lobe; "left pleural": left -modify->
  pleural). A phrase of only qualifiers continues over "and"/"," ("right and left lower
  lobes").
* *modify* (observation -> observation): an adjective observation directly before an
  observation noun modifies it ("calcified granuloma", "degenerative changes"); a
  modifier (size, severity, chronicity, change, pattern) modifies the next observation
  in its clause across anatomy and other modifiers ("small left pleural effusion",
  "small to moderate effusion"), else the previous one across a linking verb ("the
  effusion is small").
* *located_at* (observation -> anatomy phrase head), first rule that applies:
  R1 the anatomy phrase right before it ("left pleural effusion", "heart size normal");
  R2 the anatomy phrase after it, adjacent or after a location preposition ("opacity in
  the right lower lobe", "enlarged heart", "effusions bilaterally"), and phrases listed
  after that one; observations coordinated before it share the location
  ("atelectasis or consolidation in the left base");
  R3 (when R1 did not apply) the subject phrase before a linking verb ("heart size is
  normal", "the lungs are hyperinflated"), and subjects coordinated with it.
  A modifier that modifies nothing is located like an observation ("low lung volumes",
  "stable cardiomediastinal silhouette").
* *suggestive_of*: a ``suggest_unc``/``suggest_pos`` trigger ("may represent",
  "consistent with") links the nearest observation before it in the sentence to the
  first observation after it in its clause and those listed with it; so does an
  uncertainty word right after a comma ("opacity, likely atelectasis").

**Laterality convention.** Laterality and zone words are anatomy entities that modify the
head of their phrase; an observation is located_at the head. With no structure word
("left effusion") the phrase is just the laterality word and the observation is
located_at it, so laterality is always found among the located_at targets and the words
modifying them (see :func:`graphclr.reports.labels.findings`).

Examples:
    >>> from graphclr.reports.extract.lexicon import default_lexicon
    >>> words = "No pleural effusion . Opacity in the right lower lobe may represent pneumonia .".split()
    >>> ents, rels = graph_parts(words, [], default_lexicon())
    >>> [(words[s], label) for s, e, label in ents]
    [('pleural', 'ANAT-DP'), ('effusion', 'OBS-DA'), ('Opacity', 'OBS-DP'), ('right', 'ANAT-DP'), ('lower', 'ANAT-DP'), ('lobe', 'ANAT-DP'), ('pneumonia', 'OBS-U')]
    >>> [(t, words[ents[h][0]], words[ents[d][0]]) for t, h, d in rels]
    [('modify', 'right', 'lobe'), ('modify', 'lower', 'lobe'), ('located_at', 'effusion', 'pleural'), ('located_at', 'Opacity', 'lobe'), ('suggestive_of', 'Opacity', 'pneumonia')]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from graphclr.constants import LOCATED_AT, MODIFY, SUGGESTIVE_OF
from graphclr.reports.extract.lexicon import ANATOMY_KIND, TRIGGER_KIND, Lexicon, Term, longest_term

__all__ = ["graph_parts", "SENTENCE_END", "MAX_GAP"]

#: tokens after which a sentence ends
SENTENCE_END = frozenset({".", "!", "?", ";", ":"})
#: the longest gap (in tokens) a relation rule bridges
MAX_GAP = 8

PRESENT, ABSENT, UNCERTAIN = "present", "absent", "uncertain"
_LABEL = {PRESENT: "OBS-DP", ABSENT: "OBS-DA", UNCERTAIN: "OBS-U"}
_UNITS = frozenset({"cm", "mm", "m", "x", "th", "st", "nd", "rd"})
_GRAMMAR_CHAR = {"det": "d", "prep": "p", "cop": "c", "conj": "j", "or": "o", "adv": "v"}

# Gap tests. Every token gets one character; a rule bridges a gap when all the gap's
# characters are in its allowed set (and the gap is at most MAX_GAP tokens):
# A anatomy, M modifier (or an adjective that modifies), O other observation, T trigger,
# d article/mask/number, p preposition, c linking verb, j list word, o or-word,
# v adverb, "," comma, x anything else.
_ADJ_GAP = "d"
_MOD_NEXT_GAP = "MAdv"
_MOD_PREV_GAP = "cdvM,"
_R1_GAP = "Mdv"
_R2_GAP = "pdcMv"
_R3_GAP = "cdvMp"
_COORD_GAP = "jod,M"
_POST_GAP = "dpjov"
_SUGGEST_FIRST_GAP = "dMAvp"
_SUGGEST_NEXT_GAP = "jodMA,"
_GROUP_GAP = "d"
_GROUP_LIST_GAP = "jod,"
_PHRASE_LIST_GAP = "jd,"
_ALT_GAP = "odMA,j"


class _Mention:
    __slots__ = ("start", "end", "term", "ent", "cert", "kind", "role", "modifier", "adj",
                 "attached", "adj_target", "located", "normal", "clause", "sent")

    def __init__(self, start: int, end: int, term: Term,
                 flags: tuple[str, str, bool, bool, bool]) -> None:
        self.start = start
        self.end = end  # exclusive
        self.term = term
        self.kind, self.role, self.modifier, self.adj, self.normal = flags
        self.ent = -1
        self.cert = PRESENT
        self.attached = False  # modifies another observation
        self.adj_target: _Mention | None = None
        self.located = False
        self.clause = -1  # -1 for clause-ending triggers
        self.sent = 0


def _flags(term: Term) -> tuple[str, str, bool, bool, bool]:
    """What a mention needs from its term: kind, scope role, modifier?, adjective?, normal?"""
    return (term.kind, term.key if term.kind == TRIGGER_KIND else term.scope,
            term.category == "modifier", term.adjective, term.category == "normal")


def _token_class(key: str, grammar: dict[str, str], cache: dict[str, str]) -> str:
    g = grammar.get(key)
    if g is not None:
        c = "," if key == "," else _GRAMMAR_CHAR[g]
    elif key[:1].isdigit() or key in _UNITS:
        c = "d"  # "5th rib", "2.5 cm nodule": numbers are transparent
    else:
        c = "x"
    if len(cache) < 200_000:  # a memo bounded for very long corpora
        cache[key] = c
    return c


def graph_parts(words: Sequence[str], breaks: Sequence[int], lexicon: Lexicon,
                keys: Sequence[str] | None = None, *, alternatives_uncertain: bool = False,
                ) -> tuple[list[tuple[int, int, str]], list[tuple[str, int, int]]]:
    """Entities ``(start, end_inclusive, label)`` and relations ``(type, head, tail)``.

    Args:
        words: the tokens (no whitespace tokens).
        breaks: token indices that start a new paragraph (sentence boundaries).
        lexicon: the lexicon to match.
        keys: ``lexicon.keys(words)`` if already computed.
        alternatives_uncertain: make "A or B" / "A versus B" uncertain (RadGraph's
            annotation habit) instead of present (default; see docs/extractor.md).
    """
    if keys is None:
        kc = lexicon._key_cache
        keys = [kc.get(w) or lexicon.key(w) for w in words]
    n = len(keys)
    if not n:
        return [], []
    cache = lexicon._class_cache
    grammar = lexicon.grammar
    cls = [cache.get(k) or _token_class(k, grammar, cache) for k in keys]
    # sentences: a sentence starts after an end token and at a paragraph break; matching
    # runs per paragraph so that no term spans a break
    starts = sorted({i + 1 for i, k in enumerate(keys) if k in SENTENCE_END} | set(breaks))
    mentions: list[_Mention] = []
    # greedy longest-first lexicon matches (as Lexicon.match, but no term spans a paragraph
    # break)
    trie = lexicon._trie
    flag_cache = lexicon._flag_cache
    nodes = [trie.get(k) for k in keys]
    para_end = sorted(b for b in set(breaks) if 0 < b < n)
    para_end.append(n)
    p = 0
    free = 0
    for i in [i for i, node in enumerate(nodes) if node is not None]:
        if i < free:
            continue
        while i >= para_end[p]:
            p += 1
        limit = para_end[p]
        best, end = longest_term(nodes[i], keys, i, limit)
        if best is None:
            continue
        free = end
        if best.kind != TRIGGER_KIND or best.key != "skip":
            flags = flag_cache.get(id(best))
            if flags is None:
                flags = flag_cache[id(best)] = _flags(best)
            mentions.append(_Mention(i, end, best, flags))
    if not mentions:
        return [], []
    # sentences, clauses, adjectives, and the token-class string every gap test reads
    clause = 0
    prev_sent = bisect_right(starts, mentions[0].start)
    for m in mentions:
        m.sent = sent = bisect_right(starts, m.start)
        if sent != prev_sent:
            clause += 1
            prev_sent = sent
        if m.kind == TRIGGER_KIND:
            if m.role == "term":
                clause += 1
                continue
            ch = "T"
        elif m.kind == ANATOMY_KIND:
            ch = "A"
        else:
            ch = "M" if m.modifier else "O"
        m.clause = clause
        if m.end - m.start == 1:
            cls[m.start] = ch
        else:
            cls[m.start:m.end] = ch * (m.end - m.start)
    # an adjective right before an observation noun modifies it ("calcified granuloma")
    obs = [m for m in mentions if m.kind != TRIGGER_KIND and m.kind != ANATOMY_KIND]
    for m, nxt in zip(obs, obs[1:]):
        if m.adj and not nxt.modifier and m.clause == nxt.clause:
            gap = "".join(cls[m.end:nxt.start])
            if not gap.strip(_ADJ_GAP):
                m.attached = True
                m.adj_target = nxt
                cls[m.start:m.end] = "M" * (m.end - m.start)
    cstr = "".join(cls)
    # certainty, clause by clause
    first = 0
    for k in range(1, len(mentions) + 1):
        if k == len(mentions) or mentions[k].clause != mentions[first].clause:
            if mentions[first].clause >= 0:
                _certainty(mentions[first:k], cstr)
            first = k
    relations: list[tuple[str, _Mention, _Mention]] = []
    groups = _anatomy_groups(mentions, cstr, relations)
    if obs:
        _relations(mentions, obs, groups, cstr, keys, relations, alternatives_uncertain)
    entities: list[tuple[int, int, str]] = []
    for m in mentions:
        if m.kind == TRIGGER_KIND:
            continue
        m.ent = len(entities)
        entities.append((m.start, m.end - 1, "ANAT-DP" if m.kind == ANATOMY_KIND else _LABEL[m.cert]))
    seen = set()
    rels = []
    for typ, h, t in relations:
        key = (typ, h.ent, t.ent)
        if key not in seen and h.ent != t.ent:
            seen.add(key)
            rels.append(key)
    return entities, rels


def _ok(gap: str, allowed: str) -> bool:
    return len(gap) <= MAX_GAP and not gap.strip(allowed)


def _relations(mentions: list[_Mention], obs: list[_Mention], groups: list[list[_Mention]],
               cstr: str, keys: Sequence[str], relations: list[tuple[str, _Mention, _Mention]],
               alternatives: bool) -> None:
    """modify, located_at and suggestive_of for the whole report (rules are limited to a
    clause or sentence by the mentions' ``clause``/``sent`` ids)."""
    for m in obs:
        if m.adj_target is not None:
            relations.append((MODIFY, m, m.adj_target))
    heads = [m for m in obs if not m.modifier and not m.attached]
    head_starts = [m.start for m in heads]
    # modifiers: the next observation, else the previous one across a linking verb
    for m in obs:
        if not m.modifier:
            continue
        target = None
        j = bisect_left(head_starts, m.end)
        if j < len(heads):
            nxt = heads[j]
            if nxt.clause == m.clause and _ok(_mod_gap(cstr, keys, m.end, nxt.start), _MOD_NEXT_GAP):
                target = nxt
        if target is None:
            j = bisect_right(head_starts, m.start) - 1
            if j >= 0:
                prv = heads[j]
                if prv.end <= m.start and prv.clause == m.clause \
                        and _ok(cstr[prv.end:m.start], _MOD_PREV_GAP):
                    target = prv
        if target is not None:
            relations.append((MODIFY, m, target))
            m.attached = True
    # locations
    g_starts = [g[0].start for g in groups]
    g_ends = [g[-1].end for g in groups]
    located_by_r2: list[tuple[_Mention, list[list[_Mention]]]] = []
    for m in obs:
        if m.attached:
            continue
        before = bisect_right(g_ends, m.start) - 1  # last phrase ending before m
        if before >= 0:
            g = groups[before]
            if g[-1].clause == m.clause and _ok(cstr[g[-1].end:m.start], _R1_GAP):
                relations.append((LOCATED_AT, m, _head(g)))  # R1
                m.located = True
                continue
        after = bisect_left(g_starts, m.end)  # first phrase starting after m
        if after < len(groups):
            g = groups[after]
            gap = cstr[m.end:g[0].start]
            if g[0].clause == m.clause and _ok(gap, _R2_GAP) \
                    and (not gap or "p" in gap or not gap.strip("dv")):
                targets = [g]  # R2
                for g2 in groups[after + 1:]:
                    if g2[0].clause != m.clause or not _ok(cstr[targets[-1][-1].end:g2[0].start],
                                                           _PHRASE_LIST_GAP):
                        break
                    targets.append(g2)
                for t in targets:
                    relations.append((LOCATED_AT, m, _head(t)))
                m.located = True
                located_by_r2.append((m, targets))
        if before >= 0:
            g = groups[before]
            gap = cstr[g[-1].end:m.start]
            if g[-1].clause == m.clause and "c" in gap and _ok(gap, _R3_GAP):
                subjects = [g]  # R3
                for g0 in reversed(groups[:before]):
                    if g0[-1].clause != m.clause or not _ok(cstr[g0[-1].end:subjects[-1][0].start],
                                                            _PHRASE_LIST_GAP):
                        break
                    subjects.append(g0)
                for t in reversed(subjects):
                    relations.append((LOCATED_AT, m, _head(t)))
                m.located = True
    # observations listed before an R2-located one share its location
    for m, targets in located_by_r2:
        prev = m
        j = bisect_left(head_starts, m.start) - 1
        while j >= 0:
            o = heads[j]
            j -= 1
            if o.end > prev.start:
                continue
            if o.located or o.clause != m.clause or not _ok(cstr[o.end:prev.start], _COORD_GAP):
                break
            for t in targets:
                relations.append((LOCATED_AT, o, _head(t)))
            o.located = True
            prev = o
    _suggestive(mentions, heads, head_starts, cstr, relations)
    if alternatives:
        for a, b in zip(heads, heads[1:]):
            gap = cstr[a.end:b.start]
            if a.clause == b.clause and "o" in gap and _ok(gap, _ALT_GAP) \
                    and a.cert == PRESENT and b.cert == PRESENT:
                a.cert = b.cert = UNCERTAIN
    # modifiers share the certainty of what they modify
    for typ, h, t in relations:
        if typ == MODIFY and h.kind != ANATOMY_KIND and t.kind != ANATOMY_KIND:
            h.cert = t.cert


def _mod_gap(cstr: str, keys: Sequence[str], a: int, b: int) -> str:
    """Gap for modifier -> next observation: "to"/"and"/"," between modifiers allowed
    ("small to moderate effusion")."""
    gap = cstr[a:b]
    if "p" in gap or "j" in gap or "," in gap:
        return "".join("d" if c in "pj," and keys[a + i] in ("to", "and", ",") else c
                       for i, c in enumerate(gap))
    return gap


def _head(group: list[_Mention]) -> _Mention:
    for m in reversed(group):
        if m.term.category == "head":
            return m
    return group[-1]


def _anatomy_groups(ments: list[_Mention], cstr: str,
                    relations: list[tuple[str, _Mention, _Mention]]) -> list[list[_Mention]]:
    groups: list[list[_Mention]] = []
    cur: list[_Mention] = []
    for m in ments:
        if m.kind != ANATOMY_KIND:
            if cur:
                groups.append(cur)
                cur = []
            continue
        if cur and cur[-1].sent != m.sent:
            groups.append(cur)
            cur = []
        if cur:
            gap = cstr[cur[-1].end:m.start]
            joined = len(gap) <= 1 and not gap.strip(_GROUP_GAP)
            if not joined and gap and len(gap) <= 2 and not gap.strip(_GROUP_LIST_GAP) \
                    and all(x.term.category == "mod" for x in cur):
                joined = True  # "right and left lower lobes"
            if not joined:
                groups.append(cur)
                cur = []
        cur.append(m)
    if cur:
        groups.append(cur)
    for g in groups:
        if len(g) > 1:
            head = _head(g)
            for m in g:
                if m is not head:
                    relations.append((MODIFY, m, head))
    return groups


def _certainty(clause: list[_Mention], cstr: str) -> None:
    state: str | None = None
    consumed = False
    posts = []
    for k, m in enumerate(clause):
        if m.kind == TRIGGER_KIND:
            role = m.role
            if role == "neg_pre":
                state, consumed = ABSENT, False
            elif role == "unc_pre" or role == "unc_both":
                if not (state == ABSENT and not consumed):
                    state = UNCERTAIN
            elif role == "suggest_unc":
                if state != ABSENT:
                    state = UNCERTAIN
            elif role == "affirm":
                state = None
            if role == "neg_post" or role == "unc_post" or role == "unc_both":
                posts.append(k)
            continue
        if m.role == "affirm":
            state = None
        if m.kind != ANATOMY_KIND:
            m.cert = state or PRESENT
            consumed = True
    # post triggers act backwards over the phrase before them
    for k in posts:
        t = clause[k]
        value = ABSENT if t.role == "neg_post" else UNCERTAIN
        right = t.start
        crossed_conj = False
        for j in range(k - 1, -1, -1):
            m = clause[j]
            gap = cstr[m.end:right]
            if not _ok(gap, _POST_GAP):
                break
            if "j" in gap or "o" in gap:
                crossed_conj = True
            if m.kind == TRIGGER_KIND:
                break
            if m.kind != ANATOMY_KIND:
                if m.normal and crossed_conj:
                    break
                m.cert = value
            right = m.start


def _suggestive(mentions: list[_Mention], heads: list[_Mention], head_starts: list[int],
                cstr: str, relations: list[tuple[str, _Mention, _Mention]]) -> None:
    last_trigger = -1  # start of the latest trigger seen, for the hedge rule
    for t in mentions:
        if t.kind != TRIGGER_KIND:
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
        targets: list[_Mention] = []
        for n in heads[j + 1:]:
            if n.start < t.end:
                continue
            if n.clause != t.clause:
                break
            if targets:
                if not _ok(cstr[targets[-1].end:n.start], _SUGGEST_NEXT_GAP):
                    break
            elif not _ok(cstr[t.end:n.start], _SUGGEST_FIRST_GAP):
                break
            targets.append(n)
        for n in targets:
            relations.append((SUGGESTIVE_OF, source, n))
