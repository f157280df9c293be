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

**Relations.** *Anatomy phrases*: consecutive anatomy words form a phrase; its head is
its last structure word (``head`` in ``anatomy.tsv``) and every other word ``modify`` ->
head ("right lower lobe": right, lower -modify-> lobe; "left pleural": left -modify->
pleural). A phrase of only qualifiers continues over "and"/"," ("right and left lower
lobes"). ``modify`` between observations, ``located_at`` and ``suggestive_of`` are the
rules of :mod:`graphclr.reports.extract.relations`.

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
    [('modify', 'right', 'lobe'), ('modify', 'lower', 'lobe'), ('located_at', 'effusion', 'pleural'), ('located_at', 'Opacity', 'lobe'), ('located_at', 'pneumonia', 'lobe'), ('suggestive_of', 'Opacity', 'pneumonia')]
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from graphclr.constants import MODIFY
from graphclr.reports.extract.lexicon import ANATOMY_KIND, TRIGGER_KIND, Lexicon, Term, longest_term
from graphclr.reports.extract.relations import (
    ABSENT,
    MAX_GAP,
    PRESENT,
    UNCERTAIN,
    add_relations,
    gap_ok,
    phrase_head,
)

__all__ = ["graph_parts", "SENTENCE_END", "MAX_GAP"]

#: tokens after which a sentence ends
SENTENCE_END = frozenset({".", "!", "?", ";", ":"})
_LABEL = {PRESENT: "OBS-DP", ABSENT: "OBS-DA", UNCERTAIN: "OBS-U"}
_UNITS = frozenset({"cm", "mm", "m", "x", "th", "st", "nd", "rd"})
_GRAMMAR_CHAR = {"det": "d", "prep": "p", "cop": "c", "conj": "j", "or": "o", "adv": "v", "quant": "q"}

# Gap tests. Every token gets one character; a rule bridges a gap when all the gap's
# characters are in its allowed set (and the gap is at most MAX_GAP tokens):
# A anatomy, M modifier (or an adjective that modifies), O other observation, T trigger,
# d article/mask/number (and a quantity noun with its "of": "areas of"), p preposition,
# c linking verb, j list word, o or-word, v adverb, "," comma, x anything else.
_ADJ_GAP = "dA"
_POST_GAP = "dpjov"
_GROUP_GAP = "d"
_GROUP_LIST_GAP = "jod,"


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
    if "q" in cls:  # a quantity noun and its "of" are transparent: "apical areas of scarring"
        for i, c in enumerate(cls):
            if c == "q":
                cls[i] = "d"
                if i + 1 < n and keys[i + 1] == "of":
                    cls[i + 1] = "d"
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
        add_relations(mentions, obs, groups, cstr, keys, relations, alternatives_uncertain)
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
            if not joined and len(gap) == 1 and not gap.strip(_GROUP_LIST_GAP) \
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
            head = phrase_head(g)
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
            if not gap_ok(gap, _POST_GAP):
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
