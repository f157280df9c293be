"""The extractor's tokenizer: spaCy's rule-based ``Tokenizer`` with radiology-report rules.

Report text is split on whitespace, then punctuation, brackets, quotes, slashes and
hyphens become tokens of their own (``"left-sided"`` -> ``left - sided``, ``"s/p"`` ->
``s / p``, ``"effusion."`` -> ``effusion .``), as in RadGraph's tokenized text. Decimal
numbers stay whole (``2.5``), a unit glued to a number is split (``3cm`` -> ``3 cm``),
MIMIC's ``___`` masks become one token and a few abbreviations keep their period
(``vs.``, ``e.g.``, ``Dr.``). These rules are simpler than spaCy's English defaults (no
contractions or emoticons to handle), which makes the tokenizer about twice as fast.

Examples:
    >>> import spacy
    >>> nlp = spacy.blank("en")
    >>> nlp.tokenizer = make_tokenizer(nlp.vocab)
    >>> [t.text for t in nlp("Left-sided effusion (3cm), ___F vs. atelectasis; 2.5 cm nodule.")]
    ['Left', '-', 'sided', 'effusion', '(', '3', 'cm', ')', ',', '___', 'F', 'vs.', 'atelectasis', ';', '2.5', 'cm', 'nodule', '.']
"""

from __future__ import annotations

from typing import Any

__all__ = ["make_tokenizer", "SPECIAL_CASES"]

#: tokens that keep their trailing period
SPECIAL_CASES: tuple[str, ...] = ("vs.", "e.g.", "i.e.", "dr.", "approx.", "etc.", "cf.", "mr.",
                                  "mrs.", "ms.")

_PREFIXES = [r"[\(\[\{\"'`<*#~]", r"[.,;:!?]", r"_+", r"[-+=/\\|&]"]
_SUFFIXES = [r"[\)\]\}\"'`>*%]", r"[.,;:!?]", r"_+", r"(?<=\d)(?:cm|mm)", r"[-+=/\\|&]"]
_INFIXES = [r"(?<=\S)[-/\\+=&](?=\S)", r"(?<=[A-Za-z]),(?=[A-Za-z])", r"(?<=[a-z])\.(?=[A-Z])",
            r"(?<=[A-Za-z])[:;?!](?=[A-Za-z])", r"[\(\)\[\]\{\}]", r"_+"]


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
