"""The radiology lexicon behind the extractor and the labeler, loaded from data files.

The lexicon lives in ``graphclr/reports/extract/resources/*.tsv`` (written for graphclr from
radiology knowledge, not copied from another labeler), so it can be read, reviewed and
extended without touching code:

* ``anatomy.tsv``: anatomy words (ANAT-DP), with laterality and lung zone;
* ``observations.tsv``: finding, device and normal-state words -> a normalised *concept*;
* ``modifiers.tsv``: size, severity, chronicity, change and pattern words;
* ``concepts.tsv``: every concept's category and its ChestX-ray14 / CheXpert labels;
* ``refinements.tsv``: a concept in context ("effusion" located at the pericardium is a
  pericardial effusion; "normal" located at the heart means no cardiomegaly);
* ``triggers.tsv``: negation, uncertainty, pseudo-trigger, suggestion and clause words;
* ``grammar.tsv``: the function words the relation rules read;
* ``sections.tsv``: report section headers; ``inflections.tsv``: irregular plurals.

Terms are written as the extractor tokenizes them (``"left - sided"``); every word is
matched by its *key*: lower-cased, with plurals (regular ones derived automatically,
irregular ones from ``inflections.tsv``) mapped to the lexicon's form. Hyphenated terms
also match written as one word or as two words.

The lexicon needs no spaCy: :mod:`graphclr.reports.labels` uses it to normalise the entities of
any :class:`~graphclr.reports.schema.ReportGraph`, RadGraph's own included.

Examples:
    >>> lex = default_lexicon()
    >>> lex.key("Effusions"), lex.key("apices")
    ('effusion', 'apex')
    >>> [(s, e, t.kind, t.key) for s, e, t in lex.match(lex.keys(["left", "pleural", "effusions"]))]
    [(0, 1, 'anatomy', 'left'), (1, 2, 'anatomy', 'pleura'), (2, 3, 'observation', 'effusion')]
    >>> lex.refine("normal", {"heart", "size"})
    ('cardiomegaly', True)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "RESOURCE_DIR",
    "ANATOMY_KIND",
    "OBSERVATION_KIND",
    "TRIGGER_KIND",
    "CATEGORIES",
    "TRIGGER_ROLES",
    "LexiconError",
    "Term",
    "Concept",
    "Refinement",
    "Lexicon",
    "load_lexicon",
    "default_lexicon",
]

RESOURCE_DIR = Path(__file__).resolve().parent / "resources"

ANATOMY_KIND = "anatomy"
OBSERVATION_KIND = "observation"
TRIGGER_KIND = "trigger"

#: observation concept categories (see ``concepts.tsv``)
CATEGORIES: tuple[str, ...] = ("finding", "device", "surgical", "technical", "normal", "neutral",
                               "modifier")
#: trigger roles (see ``triggers.tsv``)
TRIGGER_ROLES: tuple[str, ...] = ("neg_pre", "neg_post", "unc_pre", "unc_post", "unc_both", "suggest_unc",
                                  "suggest_pos", "affirm", "pseudo", "term", "skip")
MODIFIER_TYPES: tuple[str, ...] = ("size", "severity", "chronicity", "change", "pattern")
LATERALITIES: tuple[str, ...] = ("left", "right", "bilateral")
ZONES: tuple[str, ...] = ("upper", "middle", "lower")
GRAMMAR_CLASSES: tuple[str, ...] = ("det", "prep", "cop", "conj", "or", "adv", "quant")



def longest_term(node: Any, keys: Sequence[str], start: int, limit: int) -> tuple[Term | None, int]:
    """The longest term that starts at ``keys[start]`` (whose trie node is ``node``) and ends
    by ``limit``: ``(term or None, end_exclusive)``. The one trie walk of every matcher."""
    best, end = node[0], start + 1
    children = node[1]
    j = start + 1
    while children and j < limit:
        node = children.get(keys[j])
        if node is None:
            break
        j += 1
        if node[0] is not None:
            best, end = node[0], j
        children = node[1]
    return best, end

class LexiconError(ValueError):
    """A malformed lexicon file; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry, as matched in text.

    Attributes:
        words: the entry's keys (lower-cased, plural-normalised tokens).
        kind: ``"anatomy"``, ``"observation"`` or ``"trigger"``.
        key: anatomy key (``"lung"``), observation concept (``"effusion"``) or trigger role.
        category: anatomy ``"head"``/``"mod"``; observation concept category
            (``"finding"``, ``"modifier"``, ...); trigger role.
        adjective: an observation adjective that modifies a following observation.
        laterality, zone: for anatomy words that carry them (``"bibasilar"``: bilateral, lower);
            laterality also for an observation word that spells its side ("levoscoliosis").
        mod_type: for modifiers, ``"size"``, ``"severity"``, ... (``""`` otherwise).
        scope: a scope role carried by an entity term (``"affirm"`` for "stable").
    """

    words: tuple[str, ...]
    kind: str
    key: str
    category: str
    adjective: bool = False
    laterality: str | None = None
    zone: str | None = None
    mod_type: str = ""
    scope: str = ""

    @property
    def is_entity(self) -> bool:
        return self.kind != TRIGGER_KIND


@dataclass(frozen=True, slots=True)
class Concept:
    """A normalised observation and the labels it stands for."""

    name: str
    category: str
    cxr14: tuple[str, ...] = ()
    chexpert: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refinement:
    """``concept`` in a context sharing a word with ``context`` becomes ``refined``."""

    concept: str
    context: frozenset[str]
    refined: str
    flip: bool


def _plural_forms(word: str) -> list[str]:
    """Regular English plural(s) of a lexicon word (only used to normalise, never to emit)."""
    if len(word) < 3 or not word.isalpha():
        return []
    if word.endswith("is"):
        return [word[:-2] + "es"]
    if word.endswith("y") and word[-2] not in "aeiou":
        return [word[:-1] + "ies"]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return [word + "es"]
    return [word + "s"]


def _read_tsv(path: Path, ncols: tuple[int, int]) -> list[tuple[int, list[str]]]:
    """Rows of a tab-separated resource: ``(line number, fields)``, comments skipped."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [f.strip() for f in line.split("\t")]
            while len(fields) > ncols[0] and fields[-1] == "":
                fields.pop()
            if not ncols[0] <= len(fields) <= ncols[1]:
                raise LexiconError(f"{path}: line {lineno}: expected {ncols[0]}-{ncols[1]} "
                                   f"tab-separated fields, got {len(fields)}: {line!r}")
            fields += [""] * (ncols[1] - len(fields))
            rows.append((lineno, fields))
    return rows


@dataclass
class Lexicon:
    """Terms, concepts, refinements, triggers, grammar and sections, ready to match.

    Build one with :func:`load_lexicon` (or :func:`default_lexicon` for the packaged one).
    Treat it as read-only after loading.
    """

    terms: dict[tuple[str, ...], Term] = field(default_factory=dict)
    concepts: dict[str, Concept] = field(default_factory=dict)
    refinements: list[Refinement] = field(default_factory=list)
    grammar: dict[str, str] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    lemmas: dict[str, str] = field(default_factory=dict)
    source: str = ""
    #: a trie over keys: ``{key: (term ending here or None, {next key: ...})}``
    _trie: dict[str, tuple[Term | None, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _key_cache: dict[str, str] = field(default_factory=dict, repr=False)
    _refine_index: dict[str, list[Refinement]] = field(default_factory=dict, repr=False)
    #: token class per key, filled by the rules (a memo, not state)
    _class_cache: dict[str, str] = field(default_factory=dict, repr=False)
    #: per-term flags the rules read, by ``id(term)`` (terms live as long as the lexicon)
    _flag_cache: dict[int, Any] = field(default_factory=dict, repr=False)
    #: entity text -> (head term, other terms), filled by graphclr.reports.labels (a memo)
    _entity_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- normalisation ------------------------------------------------------------
    def key(self, word: str) -> str:
        """The matching key of a token: lower-cased, plural -> lexicon form."""
        k = self._key_cache.get(word)
        if k is None:
            low = word.lower()
            k = self.lemmas.get(low, low)
            if len(self._key_cache) < 200_000:  # bounded: a long corpus cannot grow it forever
                self._key_cache[word] = k
        return k

    def keys(self, words: Iterable[str]) -> list[str]:
        return [self.key(w) for w in words]

    # --- matching -----------------------------------------------------------------
    def match(self, keys: Sequence[str]) -> list[tuple[int, int, Term]]:
        """Greedy longest-first matches ``(start, end_exclusive, term)``, left to right,
        over token *keys* (:meth:`keys`), not raw words."""
        out: list[tuple[int, int, Term]] = []
        trie = self._trie
        n = len(keys)
        i = 0
        while i < n:
            node = trie.get(keys[i])
            if node is None:
                i += 1
                continue
            best, end = longest_term(node, keys, i, n)
            if best is None:
                i += 1
                continue
            out.append((i, end, best))
            i = end
        return out

    def lookup(self, text: str) -> Term | None:
        """The term written exactly as ``text`` (tokens separated by spaces), if any."""
        return self.terms.get(tuple(self.key(w) for w in text.split()))

    # --- concepts -------------------------------------------------------------------
    def concept(self, name: str) -> Concept:
        """A concept by name; modifier values are concepts of category ``modifier``."""
        c = self.concepts.get(name)
        if c is None:
            return Concept(name, "modifier")
        return c

    def refine(self, concept: str, context: set[str] | frozenset[str]) -> tuple[str, bool]:
        """``(refined concept, flip)`` for ``concept`` given context words (anatomy keys,
        modifier values, concepts of modifying observations); ``flip`` inverts certainty."""
        for rule in self._refine_index.get(concept, ()):
            if not rule.context.isdisjoint(context):
                return rule.refined, rule.flip
        return concept, False

    # --- building -------------------------------------------------------------------
    def _add(self, term: Term, where: str) -> None:
        old = self.terms.get(term.words)
        if old is not None and old != term:
            raise LexiconError(f"{where}: {' '.join(term.words)!r} is already defined as "
                               f"{old.kind} {old.key!r}")
        self.terms[term.words] = term

    def _index(self) -> None:
        trie: dict[str, Any] = {}
        for words, term in self.terms.items():
            level = trie
            for k, w in enumerate(words):
                node = level.get(w)
                if node is None:
                    node = level[w] = [None, {}]
                if k == len(words) - 1:
                    node[0] = term
                level = node[1]

        def freeze(level: dict[str, Any]) -> dict[str, Any]:
            return {w: (node[0], freeze(node[1])) for w, node in level.items()}

        self._trie = freeze(trie)
        index: dict[str, list[Refinement]] = {}
        for rule in self.refinements:
            index.setdefault(rule.concept, []).append(rule)
        self._refine_index = index


def _variants(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A hyphenated term also as one word and as two words: "air - space" -> "airspace",
    "air space"."""
    if "-" not in words or words[0] == "-" or words[-1] == "-":
        return []
    joined: list[str] = []
    spaced: list[str] = []
    i = 0
    while i < len(words):
        if words[i] == "-" and joined and i + 1 < len(words):
            joined[-1] = joined[-1] + words[i + 1]
            spaced.append(words[i + 1])
            i += 2
            continue
        joined.append(words[i])
        spaced.append(words[i])
        i += 1
    return [tuple(joined), tuple(spaced)]


def load_lexicon(directory: str | os.PathLike[str] | None = None) -> Lexicon:
    """Read and check a lexicon directory (default: the packaged ``resources``).

    Raises:
        LexiconError: a row with the wrong number of fields, an unknown category, role,
            laterality or concept, or a term defined twice with different meanings; the
            message names the file and line.
    """
    root = Path(directory) if directory is not None else RESOURCE_DIR
    lex = Lexicon(source=str(root))

    def path(name: str) -> Path:
        p = root / name
        if not p.is_file():
            raise LexiconError(f"{root}: missing lexicon file {name}")
        return p

    # lemmas first: terms are stored by key
    raw_words: set[str] = set()
    staged: list[tuple[str, int, list[str], str]] = []  # (file, line, fields, kind)
    for name, kind, ncols in (("anatomy.tsv", ANATOMY_KIND, (3, 5)),
                              ("observations.tsv", OBSERVATION_KIND, (2, 4)),
                              ("modifiers.tsv", "modifier", (3, 3)),
                              ("triggers.tsv", TRIGGER_KIND, (2, 2))):
        p = path(name)
        for lineno, fields in _read_tsv(p, ncols):
            staged.append((str(p), lineno, fields, kind))
            if kind != TRIGGER_KIND:
                raw_words.update(fields[0].lower().split())
    p = path("inflections.tsv")
    irregular = {}
    for lineno, (surface, lemma) in _read_tsv(p, (2, 2)):
        irregular[surface.lower()] = lemma.lower()
    lemmas: dict[str, str] = {}
    for w in sorted(raw_words):
        for pl in _plural_forms(w):
            if pl != w:
                lemmas.setdefault(pl, w)
    lemmas.update(irregular)
    lex.lemmas = lemmas

    p = path("concepts.tsv")
    for lineno, (name, category, cxr14, chexpert) in _read_tsv(p, (4, 4)):
        if category not in CATEGORIES:
            raise LexiconError(f"{p}: line {lineno}: unknown category {category!r} "
                               f"(expected one of {', '.join(CATEGORIES)})")
        if name in lex.concepts:
            raise LexiconError(f"{p}: line {lineno}: concept {name!r} defined twice")
        labels = [tuple(x for x in col.split("|") if x and x != "-") for col in (cxr14, chexpert)]
        lex.concepts[name] = Concept(name, category, labels[0], labels[1])

    affirm: list[tuple[str, int, tuple[str, ...]]] = []
    for fname, lineno, fields, kind in staged:
        where = f"{fname}: line {lineno}"
        words = tuple(lex.key(w) for w in fields[0].split())
        if not words:
            raise LexiconError(f"{where}: empty term")
        if kind == ANATOMY_KIND:
            key, role, lat, zone = fields[1], fields[2], fields[3] or None, fields[4] or None
            if role not in ("head", "mod"):
                raise LexiconError(f"{where}: role must be head or mod, got {role!r}")
            if lat is not None and lat not in LATERALITIES:
                raise LexiconError(f"{where}: unknown laterality {lat!r}")
            if zone is not None and zone not in ZONES:
                raise LexiconError(f"{where}: unknown zone {zone!r}")
            term = Term(words, ANATOMY_KIND, key, role, laterality=lat, zone=zone)
        elif kind == OBSERVATION_KIND:
            concept, form, lat = fields[1], fields[2], fields[3] or None
            if concept not in lex.concepts:
                raise LexiconError(f"{where}: concept {concept!r} is not in concepts.tsv")
            if form not in ("", "noun", "adj"):
                raise LexiconError(f"{where}: form must be noun or adj, got {form!r}")
            if lat is not None and lat not in LATERALITIES:
                raise LexiconError(f"{where}: unknown laterality {lat!r}")
            term = Term(words, OBSERVATION_KIND, concept, lex.concepts[concept].category,
                        adjective=form == "adj", laterality=lat)
        elif kind == "modifier":
            value, mtype = fields[1], fields[2]
            if mtype not in MODIFIER_TYPES:
                raise LexiconError(f"{where}: unknown modifier type {mtype!r}")
            if value in lex.concepts:
                raise LexiconError(f"{where}: modifier value {value!r} clashes with a concept")
            term = Term(words, OBSERVATION_KIND, value, "modifier", mod_type=mtype)
        else:
            role = fields[1]
            if role not in TRIGGER_ROLES:
                raise LexiconError(f"{where}: unknown trigger role {role!r}")
            if role == "affirm":
                affirm.append((where, lineno, words))
                continue
            term = Term(words, TRIGGER_KIND, role, role)
        lex._add(term, where)
    # "stable", "unchanged" are modifiers AND end a negation scope; other affirm words
    # ("again seen", "there is") are plain triggers.
    for where, _lineno, words in affirm:
        old = lex.terms.get(words)
        if old is None:
            lex._add(Term(words, TRIGGER_KIND, "affirm", "affirm"), where)
        elif old.kind == TRIGGER_KIND:
            raise LexiconError(f"{where}: {' '.join(words)!r} is already a {old.key} trigger")
        else:
            lex.terms[words] = Term(old.words, old.kind, old.key, old.category, old.adjective,
                                    old.laterality, old.zone, old.mod_type, scope="affirm")
    # hyphen variants ("airspace", "air space"), never overriding an explicit term
    for words, term in list(lex.terms.items()):
        for var in _variants(words):
            if var not in lex.terms:
                lex.terms[var] = Term(var, term.kind, term.key, term.category, term.adjective,
                                      term.laterality, term.zone, term.mod_type, term.scope)

    p = path("refinements.tsv")
    known = set(lex.concepts) | {t.key for t in lex.terms.values() if t.category == "modifier"}
    for lineno, (concept, context, refined, polarity) in _read_tsv(p, (4, 4)):
        where = f"{p}: line {lineno}"
        if concept not in known:
            raise LexiconError(f"{where}: unknown concept {concept!r}")
        if refined not in lex.concepts:
            raise LexiconError(f"{where}: refined concept {refined!r} is not in concepts.tsv")
        if polarity not in ("+", "-"):
            raise LexiconError(f"{where}: polarity must be + or -, got {polarity!r}")
        ctx = frozenset(c.strip() for c in context.split(",") if c.strip())
        if not ctx:
            raise LexiconError(f"{where}: empty context")
        lex.refinements.append(Refinement(concept, ctx, refined, polarity == "-"))

    p = path("grammar.tsv")
    for lineno, (word, cls) in _read_tsv(p, (2, 2)):
        if cls not in GRAMMAR_CLASSES:
            raise LexiconError(f"{p}: line {lineno}: unknown class {cls!r} "
                               f"(allowed: {', '.join(GRAMMAR_CLASSES)})")
        lex.grammar[word.lower()] = cls
    p = path("sections.tsv")
    for lineno, (header, section) in _read_tsv(p, (2, 2)):
        lex.sections[" ".join(header.lower().split())] = section
    lex._index()
    return lex


@functools.lru_cache(maxsize=4)
def _cached(directory: str) -> Lexicon:
    return load_lexicon(directory)


def default_lexicon(directory: str | os.PathLike[str] | None = None) -> Lexicon:
    """The packaged lexicon (or the one in ``directory``), loaded once per process."""
    return _cached(str(Path(directory).resolve()) if directory is not None else str(RESOURCE_DIR))
