"""Built-in report -> knowledge-graph extractor (rule-based, spaCy tokenizer, CPU only).

``Extractor`` turns report text into :class:`graphclr.reports.schema.ReportGraph` objects in the
RadGraph schema: anatomy (ANAT-DP) and observations that are present (OBS-DP), absent
(OBS-DA) or uncertain (OBS-U), with ``modify``, ``located_at`` and ``suggestive_of``
relations. It reads the FINDINGS and IMPRESSION sections by default. See
``docs/extractor.md`` for the rules, the label mapping and measured quality and speed.

The lexicon (:mod:`graphclr.reports.extract.lexicon`) is importable without spaCy; the pipeline
(and spaCy) load on first use of :class:`Extractor` or the functions below.

Examples:
    >>> from graphclr.reports.extract import extract_report
    >>> g = extract_report("FINDINGS: Heart size normal. Possible right lower lobe pneumonia.")
    >>> [(e.tokens, e.label) for e in g.entities]
    [('Heart', 'ANAT-DP'), ('size', 'ANAT-DP'), ('normal', 'OBS-DP'), ('right', 'ANAT-DP'), ('lower', 'ANAT-DP'), ('lobe', 'ANAT-DP'), ('pneumonia', 'OBS-U')]
"""

from __future__ import annotations

from typing import Any

from graphclr.reports.extract.lexicon import Lexicon, LexiconError, default_lexicon, load_lexicon
from graphclr.reports.extract.sections import DEFAULT_EXCLUDE, DEFAULT_KEEP, select_sections, split_sections

__all__ = [
    "Extractor",
    "ExtractorConfig",
    "ExtractionError",
    "extract_report",
    "extract_reports",
    "Lexicon",
    "LexiconError",
    "load_lexicon",
    "default_lexicon",
    "split_sections",
    "select_sections",
    "DEFAULT_KEEP",
    "DEFAULT_EXCLUDE",
]

_LAZY = {"Extractor", "ExtractorConfig", "ExtractionError", "extract_report", "extract_reports"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from graphclr.reports.extract import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'graphclr.reports.extract' has no attribute {name!r}")
