"""The extractor's batch plumbing: input rows, chunks, worker processes, graph assembly.

Workers send compact tuples, not graphs (pickling slotted dataclasses costs more than the
extraction), and :func:`assemble` turns them into :class:`ReportGraph` objects here.

Examples:
    >>> g = assemble(("r1", ["No", "effusion", "."], [0], ["text"], [(1, 1, "OBS-DA")], [], None))
    >>> g.text, [(e.tokens, e.label) for e in g.entities], g.metadata["sections"]
    ('No effusion .', [('effusion', 'OBS-DA')], [['text', 0, 2]])
    >>> [len(c) for c in chunks(range(5), 2)]
    [2, 2, 1]
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from graphclr.reports.schema import Entity, Relation, ReportGraph

__all__ = ["assemble", "as_row", "chunks", "spacy_without_torch", "worker_init", "worker_run",
           "EXTRACTOR_NAME"]

#: recorded in each graph's metadata; the number changes whenever the extractor's output
#: does (2: relations v2 and RadGraph v1 entity conventions, issue 9; 3: side and location
#: reach: quantity nouns, "with"/"from" findings, degree phrases, more anatomy)
EXTRACTOR_NAME = "graphclr.reports.extract/3"


#: Relations are frozen, so equal ones can be shared between graphs; building a frozen
#: dataclass costs more than the rules that found it. A bounded memo, not state.
_RELATIONS: dict[tuple[str, int, int], Relation] = {}


def _new_relation(key: tuple[str, int, int]) -> Relation:
    rel = Relation(*key)
    if len(_RELATIONS) < 100_000:
        _RELATIONS[key] = rel
    return rel


def assemble(parts: tuple[Any, ...]) -> ReportGraph:
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


def as_row(item: Any, index: int) -> tuple[str, str, str | None]:
    if isinstance(item, tuple) and len(item) == 2:
        rid, text = item
        return str(rid), text, None
    if hasattr(item, "id") and hasattr(item, "text"):
        return str(item.id), item.text, getattr(item, "source", None)
    if isinstance(item, str):
        return str(index), item, None
    raise TypeError(f"item {index}: expected a (report_id, text) pair or a Report, "
                    f"got {type(item).__name__}")


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
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


_WORKER: dict[str, Any] = {}


def worker_init(config: Any) -> None:
    """Build this worker process's :class:`~graphclr.reports.extract.pipeline.Extractor`."""
    with spacy_without_torch():
        from graphclr.reports.extract.pipeline import Extractor

        _WORKER["extractor"] = Extractor.from_config(config)


def worker_run(chunk: list[tuple[str, str, str | None]]) -> list[Any]:
    """One chunk's results, in the picklable form :func:`assemble` reads."""
    out = _WORKER["extractor"]._pipe_local(chunk, len(chunk), compact=True)
    return [x if len(x) == 7 else (x[0], _picklable(x[1])) for x in out]


def _picklable(err: BaseException) -> BaseException:
    try:
        import pickle

        pickle.dumps(err)
        return err
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(err).__name__}: {err}")
