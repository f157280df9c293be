"""Report sections: find the headers, keep FINDINGS and IMPRESSION, drop the rest.

A header is a known section name (``resources/sections.tsv``, e.g. ``FINDINGS``,
``IMPRESSION``, ``INDICATION``, ``CLINICAL HISTORY``) followed by a colon, either at the
start of a line (any case: ``Findings:``) or anywhere in capitals (``... None. FINDINGS:``).
Unknown headers (``PA AND LATERAL VIEWS:``) are part of the text around them.

Which text is kept:

* the sections named in ``keep`` (default FINDINGS and IMPRESSION, in report order);
* if the report has headers but none of those, the text that is not under an excluded
  header (INDICATION, HISTORY, COMPARISON, TECHNIQUE, ...), unless ``fallback="none"``;
  an excluded section ends at its first blank line (MIMIC-CXR reports without a FINDINGS
  header continue with the findings after "HISTORY: ..." and a blank line);
* if it has no header at all, all of it (a CSV cell with one impression, a prompt).

Examples:
    >>> from graphclr.reports.extract.lexicon import default_lexicon
    >>> secs = split_sections("INDICATION: cough.\\nFINDINGS: No effusion.\\nIMPRESSION: Normal.",
    ...                       default_lexicon().sections)
    >>> [(s.name, s.body) for s in secs]
    [('indication', 'cough.'), ('findings', 'No effusion.'), ('impression', 'Normal.')]
    >>> [(s.name, s.body) for s in select_sections(secs)]
    [('findings', 'No effusion.'), ('impression', 'Normal.')]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_KEEP", "DEFAULT_EXCLUDE", "Section", "split_sections", "select_sections"]

DEFAULT_KEEP: tuple[str, ...] = ("findings", "impression")
DEFAULT_EXCLUDE: tuple[str, ...] = ("indication", "history", "comparison", "technique",
                                    "examination", "notification", "recommendation", "wet read",
                                    "addendum")
FALLBACKS: tuple[str, ...] = ("unexcluded", "all", "none")


@dataclass(frozen=True, slots=True)
class Section:
    """One section: canonical ``name`` (``None`` for text before the first header), the
    ``header`` as written (``None`` likewise) and its ``body``; ``start`` is the character
    offset of the header (or body) in the report."""

    name: str | None
    header: str | None
    body: str
    start: int


_MAX_HEADER_WORDS = 4
_PARAGRAPH = re.compile(r"\n[ \t]*\n")


def _key(written: str) -> str:
    return " ".join(written.lower().replace("/", " / ").split()).replace(" / ", "/")


def _header_before(text: str, colon: int, headers: Mapping[str, str]) -> tuple[int, str] | None:
    """``(start, header)`` if a known header ends right before the colon at ``colon``."""
    end = colon
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    # up to 4 words back, longest known header first
    starts: list[int] = []
    pos = end
    for _ in range(_MAX_HEADER_WORDS):
        j = pos
        while j > 0 and (text[j - 1].isalpha() or text[j - 1] == "/"):
            j -= 1
        if j == pos:
            break
        starts.append(j)
        pos = j
        while pos > 0 and text[pos - 1] in " \t":
            pos -= 1
        if pos == j:
            break
    for start in reversed(starts):
        written = text[start:end]
        if _key(written) not in headers:
            continue
        line_start = text.rfind("\n", 0, start) + 1
        if not text[line_start:start].strip():
            return start, written
        if written.isupper() and text[start - 1] in " \t.;":
            return start, written
    return None


def split_sections(text: str, headers: Mapping[str, str]) -> list[Section]:
    """Split ``text`` at its section headers (``headers``: written name -> section name).

    Headers are found from the colons (a report has few), so this is linear in the text
    and does not depend on the number of known headers.
    """
    out: list[Section] = []
    pos = 0
    name: str | None = None
    header: str | None = None
    start = 0
    colon = text.find(":")
    while colon != -1:
        found = _header_before(text, colon, headers)
        if found is not None and found[0] >= pos:
            h_start, written = found
            body = text[pos:h_start].strip()
            if body or header is not None:
                out.append(Section(name, header, body, start))
            header = written
            name = headers[_key(written)]
            pos = colon + 1
            start = h_start
        colon = text.find(":", colon + 1)
    body = text[pos:].strip()
    if body or header is not None:
        out.append(Section(name, header, body, start))
    return out


def select_sections(sections: Sequence[Section], keep: Sequence[str] = DEFAULT_KEEP,
                    exclude: Sequence[str] = DEFAULT_EXCLUDE,
                    fallback: str = "unexcluded") -> list[Section]:
    """The sections an extractor reads; see the module docstring for the rules."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    if all(s.name is None for s in sections):
        return [s for s in sections if s.body]
    kept = [s for s in sections if s.name in keep and s.body]
    if kept or any(s.name in keep for s in sections):
        return kept
    if fallback == "none":
        return []
    if fallback == "all":
        return [s for s in sections if s.body]
    out = []
    for s in sections:
        if s.name in exclude:
            # an administrative section is one paragraph: MIMIC-CXR reports without a
            # FINDINGS header continue after "HISTORY: ...\n\n" with the findings
            rest = _PARAGRAPH.split(s.body, maxsplit=1)
            if len(rest) == 2 and rest[1].strip():
                out.append(Section(None, None, rest[1].strip(), s.start))
            continue
        if s.body:
            out.append(s)
    return out
