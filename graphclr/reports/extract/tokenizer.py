"""The extractor's tokenizer: spaCy's rule-based ``Tokenizer`` with radiology-report rules.

Report text is split on whitespace, then punctuation, brackets, quotes, slashes and
hyphens become tokens of their own (``"left-sided"`` -> ``left - sided``, ``"s/p"`` ->
``s / p``, ``"effusion."`` -> ``effusion .``), as in RadGraph's tokenized text. Decimal
numbers stay whole (``2.5``), a unit glued to a number is split (``3cm`` -> ``3 cm``),
MIMIC's ``___`` masks become one token and a few abbreviations keep their period
(``vs.``, ``e.g.``, ``Dr.``). These rules are simpler than spaCy's English defaults (no
contractions or emoticons to handle), which makes the tokenizer about twice as fast.

Linear time. spaCy strips one prefix or suffix at a time and copies the rest of the
token each time, so a token of ``n`` affix characters (``"((((...("``, ``"...."``,
``"%%%%"``) costs ``O(n**2)``. :func:`pretokenize` runs first, in one regex pass: every run
of :data:`PUNCT_RUN` or more affix characters is split into single characters (the
tokens spaCy makes of it anyway), and a whitespace-free run longer than
:data:`MAX_PIECE` characters is cut every :data:`MAX_PIECE` characters. Each piece spaCy
then sees has at most ``PUNCT_RUN - 1`` affix characters at either end and at most
``MAX_PIECE`` characters, so its cost is bounded and a text of ``n`` characters costs
``O(n)``. No report word is ``MAX_PIECE`` characters long, so real text is unchanged::

    >>> pretokenize("((((a")
    '( ( ( (a'
    >>> pretokenize("Effusion (3cm)... See note.")
    'Effusion (3cm)... See note.'
    >>> max(map(len, pretokenize("x" * 1000).split())) == MAX_PIECE
    True

Examples:
    >>> import spacy
    >>> nlp = spacy.blank("en")
    >>> nlp.tokenizer = make_tokenizer(nlp.vocab)
    >>> [t.text for t in nlp("Left-sided effusion (3cm), ___F vs. atelectasis; 2.5 cm nodule.")]
    ['Left', '-', 'sided', 'effusion', '(', '3', 'cm', ')', ',', '___', 'F', 'vs.', 'atelectasis', ';', '2.5', 'cm', 'nodule', '.']
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["make_tokenizer", "register_tokenizer", "TOKENIZER", "pretokenize", "SPECIAL_CASES", "AFFIX_CHARS", "PUNCT_RUN",
           "MAX_PIECE"]

#: tokens that keep their trailing period
SPECIAL_CASES: tuple[str, ...] = ("vs.", "e.g.", "i.e.", "dr.", "approx.", "etc.", "cf.", "mr.",
                                  "mrs.", "ms.")

_PREFIXES = [r"[\(\[\{\"'`<*#~]", r"[.,;:!?]", r"_+", r"[-+=/\\|&]"]
_SUFFIXES = [r"[\)\]\}\"'`>*%]", r"[.,;:!?]", r"_+", r"(?<=\d)(?:cm|mm)", r"[-+=/\\|&]"]
_INFIXES = [r"(?<=\S)[-/\\+=&](?=\S)", r"(?<=[A-Za-z]),(?=[A-Za-z])", r"(?<=[a-z])\.(?=[A-Z])",
            r"(?<=[A-Za-z])[:;?!](?=[A-Za-z])", r"[\(\)\[\]\{\}]", r"_+"]

#: every character a prefix or suffix rule above strips on its own
AFFIX_CHARS = "()[]{}\"'`<>*#~%.,;:!?_-+=/\\|&"
#: runs of this many affix characters or more are split before spaCy sees them
PUNCT_RUN = 4
#: the longest whitespace-free piece handed to spaCy
MAX_PIECE = 200
_AFFIX_CLASS = "[" + re.escape(AFFIX_CHARS) + "]"
_HOSTILE = re.compile(f"{_AFFIX_CLASS}{{{PUNCT_RUN},}}|\\S{{{MAX_PIECE + 1},}}")
_AFFIX_RUN = re.compile(f"{_AFFIX_CLASS}{{{PUNCT_RUN},}}")
_PIECE = re.compile(f"\\S{{{MAX_PIECE}}}(?=\\S)")


def _split_run(m: re.Match[str]) -> str:
    return " ".join(m.group())


def pretokenize(text: str) -> str:
    """``text`` with long affix runs split into characters and long pieces cut (see the
    module docstring); text without either is returned as it is, after one regex scan."""
    if _HOSTILE.search(text) is None:
        return text
    text = _AFFIX_RUN.sub(_split_run, text)
    return _PIECE.sub(lambda m: m.group() + " ", text)


def make_tokenizer(vocab: Any) -> Any:
    """A spaCy ``Tokenizer`` with the rules above, for ``nlp.tokenizer``."""
    from spacy.attrs import ORTH
    from spacy.tokenizer import Tokenizer
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    rules: dict[str, list[dict[int, str]]] = {}
    for word in SPECIAL_CASES:
        for form in {word, word.capitalize(), word.upper()}:
            rules[form] = [{ORTH: form}]
    return Tokenizer(vocab, rules=rules,
                     prefix_search=compile_prefix_regex(_PREFIXES).search,
                     suffix_search=compile_suffix_regex(_SUFFIXES).search,
                     infix_finditer=compile_infix_regex(_INFIXES).finditer)


#: the name :func:`register_tokenizer` gives this tokenizer in spaCy's registry
TOKENIZER = "graphclr.report_tokenizer.v1"


def register_tokenizer() -> dict[str, str]:
    """Register this tokenizer with spaCy; returns the ``nlp.tokenizer`` config block that
    names it (``spacy.blank("en", config={"nlp": {"tokenizer": ...}})``). spaCy then never
    builds the English tokenizer that ``nlp.tokenizer = make_tokenizer(...)`` would
    replace (its ~1,400 exceptions cost more to set up than the rest of the pipeline)."""
    from spacy.util import registry

    if TOKENIZER not in registry.tokenizers:
        registry.tokenizers.register(TOKENIZER, func=lambda: lambda nlp: make_tokenizer(nlp.vocab))
    return {"@tokenizers": TOKENIZER}
