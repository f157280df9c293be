"""The spaCy pipeline and :class:`Extractor`: report text -> :class:`ReportGraph`.

``spacy.blank("en")`` (no downloaded model) with graphclr's tokenizer
(:mod:`graphclr.reports.extract.tokenizer`) and one component, ``graphclr_graph``, that matches
the lexicon and applies the certainty and relation rules (:mod:`graphclr.reports.extract.rules`).
Section selection (:mod:`graphclr.reports.extract.sections`) runs on the raw text before spaCy,
so the excluded sections are never tokenized.

Whitespace is normalised before tokenizing: a blank line is a paragraph break (a
sentence boundary), any other run of whitespace (line wraps included) is one space, and
MIMIC's ``___`` masks are separate tokens. The graph's ``text`` is the kept sections'
tokens joined by single spaces, headers included (``"FINDINGS : No effusion ."``), so
entity spans index ``text.split()`` as RadGraph's do.

Bad input costs only its own report. A report over ``max_chars`` characters (spaCy's own
limit, 1,000,000, by default) is skipped, with the limit in the message; text with a lone
surrogate (not valid Unicode, so spaCy cannot store it) is skipped naming the character;
long punctuation runs are split in linear time first
(:func:`graphclr.reports.extract.tokenizer.pretokenize`). :meth:`Extractor.pipe` handles
everything :meth:`Extractor.extract` handles: if spaCy fails on a batch, the batch is
redone one report at a time, so that only the failing reports are reported.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from graphclr.reports.extract.lexicon import Lexicon, default_lexicon, load_lexicon
from graphclr.reports.extract.rules import graph_parts
from graphclr.reports.extract.tokenizer import pretokenize
from graphclr.reports.extract.sections import (
    DEFAULT_EXCLUDE,
    DEFAULT_KEEP,
    FALLBACKS,
    Section,
    select_sections,
    split_sections,
)
from graphclr.reports.extract.batch import (
    EXTRACTOR_NAME,
    as_row,
    assemble,
    chunks,
    spacy_without_torch,
    worker_init,
    worker_run,
)
from graphclr.reports.schema import ReportGraph

__all__ = ["Extractor", "ExtractionError", "ExtractorConfig", "GraphComponent", "build_pipeline",
           "ReportTooLong", "MAX_CHARS",
           "spacy_without_torch", "extract_report", "extract_reports",
           "COMPONENT", "EXTRACTOR_NAME"]

log = logging.getLogger(__name__)

COMPONENT = "graphclr_graph"
_USER_KEY = "graphclr"

_SPACE = re.compile(r"[^\S\n]+")
_ODD_SPACE = re.compile(r"[^\S\n ]|  ")
_NEWLINES = re.compile(r" ?\n[\s]*")
_MASK = re.compile(r"_{2,}")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: spaCy's default ``nlp.max_length``
MAX_CHARS = 1_000_000


class ExtractionError(RuntimeError):
    """A report the extractor could not process; ``report_id`` names it."""

    def __init__(self, report_id: str, cause: BaseException) -> None:
        self.report_id = report_id
        self.cause = cause
        super().__init__(f"report {report_id!r}: {type(cause).__name__}: {cause}")


@dataclass(frozen=True)
class ExtractorConfig:
    """What an :class:`Extractor` is built from (picklable, for worker processes).

    Args:
        sections: section names to keep (canonical names from ``sections.tsv``).
        exclude_sections: sections never read when the kept ones are absent.
        fallback: ``"unexcluded"`` (default), ``"all"`` or ``"none"``: what to read when a
            report has headers but none of ``sections`` (see
            :func:`graphclr.reports.extract.sections.select_sections`).
        lexicon_dir: a lexicon directory (default: the packaged one).
        include_headers: keep section headers in the graph text ("FINDINGS :").
        alternatives_uncertain: label the findings of an alternative ("atelectasis or
            pneumonia", "A versus B") uncertain, as RadGraph annotators tend to, instead of
            present (the default, which matches how the NegBio/Open-i gold labels count
            them; see docs/extractor.md).
        max_chars: the longest report read; longer ones are skipped with an error naming
            the limit (default 1,000,000, spaCy's own limit).
    """

    sections: tuple[str, ...] = DEFAULT_KEEP
    exclude_sections: tuple[str, ...] = DEFAULT_EXCLUDE
    fallback: str = "unexcluded"
    lexicon_dir: str | None = None
    include_headers: bool = True
    alternatives_uncertain: bool = False
    max_chars: int = MAX_CHARS


class ReportTooLong(ValueError):
    """A report over :attr:`ExtractorConfig.max_chars` characters (skipped, not truncated)."""


def _check_text(text: Any, max_chars: int) -> None:
    if not isinstance(text, str):
        raise TypeError(f"report text must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ReportTooLong(f"report is {len(text):,} characters long, over the limit of "
                            f"{max_chars:,} (max_chars)")
    if not text.isascii():
        bad = _SURROGATE.search(text)
        if bad is not None:
            raise UnicodeError(f"lone surrogate U+{ord(bad.group()):04X} at character "
                               f"{bad.start()} (not valid Unicode)")


def _normalise(body: str) -> str:
    """Blank lines -> paragraph break, other whitespace -> one space, ``___`` -> a token."""
    if "\n" in body:
        body = _NEWLINES.sub(lambda m: "\n\n" if m.group().count("\n") > 1 else " ", body)
    if "__" in body:
        body = _MASK.sub(" ___ ", body)
    return body.strip()


class GraphComponent:
    """The ``graphclr_graph`` pipeline component: lexicon matches, certainty and relations.

    It stores ``(words, section start tokens, entities, relations, error)`` in
    ``doc.user_data["graphclr"]``; an exception is stored, not raised, so that one bad
    report does not end a batch.
    """

    def __init__(self, lexicon: Lexicon | None = None, alternatives_uncertain: bool = False) -> None:
        self.lexicon = lexicon
        self.alternatives_uncertain = alternatives_uncertain

    def __call__(self, doc: Any) -> Any:
        from spacy.attrs import ORTH

        strings = doc.vocab.strings
        words = list(map(strings.__getitem__, doc.to_array(ORTH).tolist()))  # no Token objects
        breaks: list[int] = []
        sections: list[int] = [0]
        if any(map(str.isspace, words)):
            kept: list[str] = []
            for w in words:
                if w.isspace():
                    n = w.count("\n")
                    if n and kept:
                        breaks.append(len(kept))
                        if n >= 3:  # the separator between sections (see Extractor.prepare)
                            sections.append(len(kept))
                    continue
                kept.append(w)
            words = kept
        try:
            if self.lexicon is None:
                raise RuntimeError("graphclr_graph component has no lexicon")
            ents, rels = graph_parts(words, breaks, self.lexicon,
                                     alternatives_uncertain=self.alternatives_uncertain)
            doc.user_data[_USER_KEY] = (words, sections, ents, rels, None)
        except Exception as err:  # noqa: BLE001 - reported per report by the Extractor
            doc.user_data[_USER_KEY] = (words, sections, [], [], err)
        return doc


def build_pipeline(lexicon: Lexicon, *, alternatives_uncertain: bool = False) -> Any:
    """``spacy.blank("en")`` + graphclr's tokenizer + the ``graphclr_graph`` component."""
    import spacy
    from spacy.language import Language

    from graphclr.reports.extract.tokenizer import register_tokenizer

    if not Language.has_factory(COMPONENT):
        Language.factory(COMPONENT, func=lambda nlp, name: GraphComponent())
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": register_tokenizer()}})
    nlp.add_pipe(COMPONENT)
    component = nlp.get_pipe(COMPONENT)
    component.lexicon = lexicon
    component.alternatives_uncertain = alternatives_uncertain
    return nlp


class Extractor:
    """Rule-based report -> RadGraph-schema graph extractor (CPU, no model download).

    Args:
        sections, exclude_sections, fallback, lexicon_dir, include_headers,
            alternatives_uncertain: see :class:`ExtractorConfig`.
        lexicon: a loaded :class:`~graphclr.reports.extract.lexicon.Lexicon` (overrides
            ``lexicon_dir``; not carried to worker processes, pass ``lexicon_dir`` there).

    Examples:
        >>> ex = Extractor()
        >>> g = ex.extract("INDICATION: cough. FINDINGS: Small left effusion. No pneumothorax.", "r1")
        >>> g.text
        'FINDINGS : Small left effusion . No pneumothorax .'
        >>> [(e.tokens, e.label) for e in g.entities]
        [('Small', 'OBS-DP'), ('left', 'ANAT-DP'), ('effusion', 'OBS-DP'), ('pneumothorax', 'OBS-DA')]
        >>> [(r.type, g.entities[r.head].tokens, g.entities[r.tail].tokens) for r in g.relations]
        [('modify', 'Small', 'effusion'), ('located_at', 'effusion', 'left')]
    """

    def __init__(self, *, sections: Sequence[str] = DEFAULT_KEEP,
                 exclude_sections: Sequence[str] = DEFAULT_EXCLUDE, fallback: str = "unexcluded",
                 lexicon_dir: str | os.PathLike[str] | None = None, include_headers: bool = True,
                 alternatives_uncertain: bool = False, lexicon: Lexicon | None = None,
                 max_chars: int = MAX_CHARS) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars must be a positive integer, got {max_chars!r}")
        self.config = ExtractorConfig(tuple(s.lower() for s in sections),
                                      tuple(s.lower() for s in exclude_sections), fallback,
                                      str(lexicon_dir) if lexicon_dir is not None else None,
                                      include_headers, alternatives_uncertain, max_chars)
        if lexicon is not None:
            self.lexicon = lexicon
        elif lexicon_dir is not None:
            self.lexicon = load_lexicon(lexicon_dir)
        else:
            self.lexicon = default_lexicon()
        known = set(self.lexicon.sections.values())
        for s in (*self.config.sections, *self.config.exclude_sections):
            if s not in known:
                raise ValueError(f"unknown section {s!r} (known: {', '.join(sorted(known))})")
        self.nlp = build_pipeline(self.lexicon, alternatives_uncertain=alternatives_uncertain)
        # pretokenize may add a space per character; the length check is ours (above)
        self.nlp.max_length = 2 * max_chars + 16

    @classmethod
    def from_config(cls, config: ExtractorConfig) -> Extractor:
        return cls(sections=config.sections, exclude_sections=config.exclude_sections,
                   fallback=config.fallback, lexicon_dir=config.lexicon_dir,
                   include_headers=config.include_headers,
                   alternatives_uncertain=config.alternatives_uncertain,
                   max_chars=config.max_chars)

    # --- text preparation -------------------------------------------------------------
    def sections_of(self, text: str) -> list[Section]:
        """The sections the extractor reads from ``text`` (in report order)."""
        if _ODD_SPACE.search(text):  # tabs, CRs, NBSPs, runs of spaces -> one space
            text = _SPACE.sub(" ", text)
        secs = split_sections(text, self.lexicon.sections)
        return select_sections(secs, self.config.sections, self.config.exclude_sections,
                               self.config.fallback)

    def prepare(self, text: str) -> tuple[str, list[str]]:
        """The text spaCy reads, and the names of the sections in it.

        Sections are joined by a blank line plus one more newline (``"\\n\\n\\n"``),
        which the component reads as a section boundary; a blank line inside a section is
        a paragraph break.
        """
        _check_text(text, self.config.max_chars)
        parts: list[str] = []
        names: list[str] = []
        for sec in self.sections_of(text):
            body = _normalise(sec.body)
            if self.config.include_headers and sec.header is not None:
                header = " ".join(sec.header.split())
                body = f"{header}: {body}" if body else f"{header}:"
            if not body:
                continue
            names.append(sec.name or "text")
            parts.append(body)
        return pretokenize("\n\n\n".join(parts)), names

    # --- extraction -------------------------------------------------------------------
    def extract(self, text: str, report_id: str = "", *, source: str | None = None) -> ReportGraph:
        """One report's graph; raises :class:`ExtractionError` naming ``report_id``."""
        try:
            prepared, names = self.prepare(text)
            doc = self.nlp(prepared)
        except Exception as err:  # noqa: BLE001
            raise ExtractionError(report_id, err) from err
        return self._report_graph(doc, report_id, names, source)

    def pipe(self, items: Iterable[Any], batch_size: int = 256, n_process: int = 1, *,
             on_error: Callable[[str, BaseException], None] | None = None,
             mp_context: str = "spawn") -> Iterator[ReportGraph]:
        """Graphs for many reports, in input order.

        Args:
            items: ``(report_id, text)`` pairs or :class:`graphclr.reports.readers.Report` objects.
            batch_size: reports per ``nlp.pipe`` batch (per worker chunk when
                ``n_process > 1``).
            n_process: worker processes; ``1`` runs here. Workers are started with
                ``mp_context`` (``"spawn"`` by default: safe after torch was imported).
            on_error: called with ``(report_id, error)`` for a report that fails, which
                is then skipped; without it the first failure raises
                :class:`ExtractionError`.
        """
        if n_process < 1:
            raise ValueError(f"n_process must be >= 1, got {n_process}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        rows = (as_row(x, i) for i, x in enumerate(items))
        if n_process == 1:
            results: Iterable[Any] = self._pipe_local(rows, batch_size)
        else:
            results = self._pipe_pool(rows, batch_size, n_process, mp_context)
        for item in results:
            if isinstance(item, ReportGraph):
                yield item
                continue
            rid, err = item
            if on_error is None:
                raise ExtractionError(rid, err)
            on_error(rid, err)

    def _pipe_pool(self, rows: Iterable[tuple[str, str, str | None]], batch_size: int,
                   n_process: int, mp_context: str) -> Iterator[Any]:
        ctx = multiprocessing.get_context(mp_context)
        with ctx.Pool(n_process, initializer=worker_init, initargs=(self.config,)) as pool:
            for results in pool.imap(worker_run, chunks(rows, batch_size)):
                for item in results:
                    yield assemble(item) if len(item) == 7 else item

    def _pipe_local(self, rows: Iterable[tuple[str, str, str | None]], batch_size: int,
                    *, compact: bool = False) -> Iterator[Any]:
        """Graphs (or, with ``compact``, the picklable tuples :func:`assemble` turns into
        graphs), and ``(report_id, error)`` for reports that failed, in input order."""
        for chunk in chunks(rows, batch_size):
            prepared: list[Any] = []
            for rid, text, source in chunk:
                try:
                    prepared.append((rid, source, *self.prepare(text)))
                except Exception as err:  # noqa: BLE001
                    prepared.append((rid, err))
            docs = iter(self._docs([p[2] for p in prepared if len(p) == 4], batch_size))
            for p in prepared:
                if len(p) == 2:
                    yield p
                    continue
                rid, source, _text, names = p
                doc = next(docs)
                if isinstance(doc, BaseException):
                    yield (rid, doc)
                    continue
                words, starts, ents, rels, err = doc.user_data[_USER_KEY]
                if err is not None:
                    yield (rid, err)
                    continue
                if compact:  # one string pickles far faster than a list of tokens
                    yield (rid, " ".join(words), starts, names, ents, rels, source)
                else:
                    yield assemble((rid, words, starts, names, ents, rels, source))

    def _docs(self, texts: list[str], batch_size: int) -> list[Any]:
        """``nlp.pipe`` over ``texts``; if spaCy fails on the batch, each text alone, with
        the exception in place of the doc of each text that fails."""
        try:
            return list(self.nlp.pipe(texts, batch_size=batch_size))
        except Exception:  # noqa: BLE001 - found again below, per report
            out: list[Any] = []
            for text in texts:
                try:
                    out.append(self.nlp(text))
                except Exception as err:  # noqa: BLE001
                    out.append(err)
            return out

    def _report_graph(self, doc: Any, report_id: str, names: list[str],
               source: str | None) -> ReportGraph:
        words, starts, ents, rels, err = doc.user_data[_USER_KEY]
        if err is not None:
            raise ExtractionError(report_id, err)
        return assemble((report_id, words, starts, names, ents, rels, source))


_DEFAULT: dict[str, Extractor] = {}


def _default_extractor() -> Extractor:
    ex = _DEFAULT.get("x")
    if ex is None:
        ex = _DEFAULT["x"] = Extractor()
    return ex


def extract_report(text: str, report_id: str = "") -> ReportGraph:
    """One report's graph with the default :class:`Extractor` (built once per process)."""
    return _default_extractor().extract(text, report_id)


def extract_reports(items: Iterable[Any], n_process: int = 1, batch_size: int = 256,
                    on_error: Callable[[str, BaseException], None] | None = None,
                    ) -> Iterator[ReportGraph]:
    """Graphs for many reports (``(id, text)`` pairs or ``Report`` objects) with the
    default :class:`Extractor`; see :meth:`Extractor.pipe`."""
    return _default_extractor().pipe(items, batch_size=batch_size, n_process=n_process,
                                     on_error=on_error)
