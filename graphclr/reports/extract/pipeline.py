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
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from graphclr.reports.extract.lexicon import Lexicon, default_lexicon, load_lexicon
from graphclr.reports.extract.rules import graph_parts
from graphclr.reports.extract.sections import (
    DEFAULT_EXCLUDE,
    DEFAULT_KEEP,
    FALLBACKS,
    Section,
    select_sections,
    split_sections,
)
from graphclr.reports.schema import Entity, Relation, ReportGraph

__all__ = ["Extractor", "ExtractionError", "ExtractorConfig", "GraphComponent", "build_pipeline",
           "spacy_without_torch", "extract_report", "extract_reports",
           "COMPONENT", "EXTRACTOR_NAME"]

log = logging.getLogger(__name__)

COMPONENT = "graphclr_graph"
#: recorded in each graph's metadata
EXTRACTOR_NAME = "graphclr.reports.extract/1"
_USER_KEY = "graphclr"

_SPACE = re.compile(r"[^\S\n]+")
_ODD_SPACE = re.compile(r"[^\S\n ]|  ")
_NEWLINES = re.compile(r" ?\n[\s]*")
_MASK = re.compile(r"_{2,}")


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
    """

    sections: tuple[str, ...] = DEFAULT_KEEP
    exclude_sections: tuple[str, ...] = DEFAULT_EXCLUDE
    fallback: str = "unexcluded"
    lexicon_dir: str | None = None
    include_headers: bool = True
    alternatives_uncertain: bool = False


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
        words = [strings[h] for h in doc.to_array(ORTH).tolist()]  # no Token objects: faster
        breaks: list[int] = []
        sections: list[int] = [0]
        if any(w.isspace() for w in words):
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

    from graphclr.reports.extract.tokenizer import make_tokenizer

    if not Language.has_factory(COMPONENT):
        Language.factory(COMPONENT, func=lambda nlp, name: GraphComponent())
    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp.vocab)
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
                 alternatives_uncertain: bool = False, lexicon: Lexicon | None = None) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        self.config = ExtractorConfig(tuple(s.lower() for s in sections),
                                      tuple(s.lower() for s in exclude_sections), fallback,
                                      str(lexicon_dir) if lexicon_dir is not None else None,
                                      include_headers, alternatives_uncertain)
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

    @classmethod
    def from_config(cls, config: ExtractorConfig) -> Extractor:
        return cls(sections=config.sections, exclude_sections=config.exclude_sections,
                   fallback=config.fallback, lexicon_dir=config.lexicon_dir,
                   include_headers=config.include_headers,
                   alternatives_uncertain=config.alternatives_uncertain)

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
        if not isinstance(text, str):
            raise TypeError(f"report text must be a string, got {type(text).__name__}")
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
        return "\n\n\n".join(parts), names

    # --- extraction -------------------------------------------------------------------
    def extract(self, text: str, report_id: str = "", *, source: str | None = None) -> ReportGraph:
        """One report's graph; raises :class:`ExtractionError` naming ``report_id``."""
        try:
            prepared, names = self.prepare(text)
            doc = self.nlp(prepared)
        except Exception as err:  # noqa: BLE001
            raise ExtractionError(report_id, err) from err
        return self._graph(doc, report_id, names, source)

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
        rows = (_as_row(x, i) for i, x in enumerate(items))
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
        with ctx.Pool(n_process, initializer=_worker_init, initargs=(self.config,)) as pool:
            for results in pool.imap(_worker_run, _chunks(rows, batch_size)):
                for item in results:
                    yield _assemble(item) if len(item) == 7 else item

    def _pipe_local(self, rows: Iterable[tuple[str, str, str | None]], batch_size: int,
                    *, compact: bool = False) -> Iterator[Any]:
        """Graphs (or, with ``compact``, the picklable tuples :func:`_assemble` turns into
        graphs), and ``(report_id, error)`` for reports that failed, in input order."""
        for chunk in _chunks(rows, batch_size):
            prepared: list[Any] = []
            for rid, text, source in chunk:
                try:
                    prepared.append((rid, source, *self.prepare(text)))
                except Exception as err:  # noqa: BLE001
                    prepared.append((rid, err))
            docs = iter(self.nlp.pipe([p[2] for p in prepared if len(p) == 4],
                                      batch_size=batch_size))
            for p in prepared:
                if len(p) == 2:
                    yield p
                    continue
                rid, source, _text, names = p
                words, starts, ents, rels, err = next(docs).user_data[_USER_KEY]
                if err is not None:
                    yield (rid, err)
                    continue
                if compact:  # one string pickles far faster than a list of tokens
                    yield (rid, " ".join(words), starts, names, ents, rels, source)
                else:
                    yield _assemble((rid, words, starts, names, ents, rels, source))

    def _graph(self, doc: Any, report_id: str, names: list[str],
               source: str | None) -> ReportGraph:
        words, starts, ents, rels, err = doc.user_data[_USER_KEY]
        if err is not None:
            raise ExtractionError(report_id, err)
        return _assemble((report_id, words, starts, names, ents, rels, source))


#: Relations are frozen, so equal ones can be shared between graphs; building a frozen
#: dataclass costs more than the rules that found it. A bounded memo, not state.
_RELATIONS: dict[tuple[str, int, int], Relation] = {}


def _new_relation(key: tuple[str, int, int]) -> Relation:
    rel = Relation(*key)
    if len(_RELATIONS) < 100_000:
        _RELATIONS[key] = rel
    return rel


def _assemble(parts: tuple[Any, ...]) -> ReportGraph:
    """A :class:`ReportGraph` from the component's output. Workers send these tuples
    instead of graphs: pickling slotted dataclasses costs far more than extracting."""
    report_id, words, starts, names, ents, rels, source = parts
    if isinstance(words, str):  # from a worker
        text, words = words, words.split()
    else:
        text = " ".join(words)
    entities = [Entity(words[s] if s == e else " ".join(words[s:e + 1]), label, s, e, str(i + 1), {})
                for i, (s, e, label) in enumerate(ents)]
    cache = _RELATIONS
    relations = [cache.get(r) or _new_relation(r) for r in rels]
    sections = []
    if names and len(starts) == len(names):
        for k, name in enumerate(names):
            last = (starts[k + 1] if k + 1 < len(starts) else len(words)) - 1
            if last >= starts[k]:
                sections.append([name, starts[k], last])
    metadata: dict[str, Any] = {"data_source": source or "text", "sections": sections,
                                "extractor": EXTRACTOR_NAME}
    return ReportGraph(id=str(report_id), text=text, entities=entities,
                       relations=relations, metadata=metadata)


def _as_row(item: Any, index: int) -> tuple[str, str, str | None]:
    if isinstance(item, tuple) and len(item) == 2:
        rid, text = item
        return str(rid), text, None
    if hasattr(item, "id") and hasattr(item, "text"):
        return str(item.id), item.text, getattr(item, "source", None)
    if isinstance(item, str):
        return str(index), item, None
    raise TypeError(f"item {index}: expected a (report_id, text) pair or a Report, "
                    f"got {type(item).__name__}")


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk


@contextlib.contextmanager
def spacy_without_torch() -> Iterator[None]:
    """Import spaCy without letting its backend (thinc) import torch.

    thinc imports torch when it can, which takes seconds and is useless to a blank
    pipeline. Only for processes graphclr owns (extraction workers, ``graphclr extract``
    and ``graphclr label``): thinc then believes torch is absent for the life of the
    process. Does nothing when torch or spaCy is already imported.
    """
    if "torch" in sys.modules or "spacy" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes "import torch" fail
    try:
        import spacy  # noqa: F401

        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


_WORKER: dict[str, Extractor] = {}


def _worker_init(config: ExtractorConfig) -> None:
    with spacy_without_torch():
        _WORKER["extractor"] = Extractor.from_config(config)


def _worker_run(chunk: list[tuple[str, str, str | None]]) -> list[Any]:
    out = _WORKER["extractor"]._pipe_local(chunk, len(chunk), compact=True)
    return [x if len(x) == 7 else (x[0], _picklable(x[1])) for x in out]


def _picklable(err: BaseException) -> BaseException:
    try:
        import pickle

        pickle.dumps(err)
        return err
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(err).__name__}: {err}")


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
