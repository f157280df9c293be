"""Report knowledge graphs in the RadGraph schema, and exact RadGraph JSON I/O.

A :class:`ReportGraph` is one report's text plus its entities and relations. Entity spans
are inclusive token indices into ``text.split()``, as in RadGraph. Relations are stored
as ``(type, head, tail)`` with ``head``/``tail`` indexing :attr:`ReportGraph.entities`;
the RadGraph entity ids (``"1"``, ``"2"``, ...) are kept on each entity so that writing a
graph back gives the file it came from.

Readers accept every released layout:

* RadGraph 1.0 ``train.json`` / ``dev.json``: ``{id: {text, entities, data_source, data_split}}``;
* RadGraph 1.0 ``test.json``: ``{id: {text, labeler_1: {entities, ...}, labeler_2: {...}, ...}}``;
* ``MIMIC-CXR_graphs.json`` / ``CheXpert_graphs.json`` (the inference sets, same record layout
  as train, keys such as ``p18/p18004941/s58821758.txt``);
* RadGraph-XL / ``radgraph`` package output (labels such as ``"Observation::definitely absent"``,
  ``"Anatomy::measurement::definitely present"``, ``"Anatomy::uncertain"``).

Every relation of an entity is kept (the reference implementation kept only the first),
relations between node types the schema does not pair (``anatomy -located_at-> anatomy``)
included: :meth:`ReportGraph.off_schema_relations` lists them for the graph builders.

Labels. :attr:`Entity.label` is always the RadGraph v1 label (``ANAT-DP``, ``OBS-DP``,
``OBS-U``, ``OBS-DA``), so that graphs from every source compare; a RadGraph-XL label is
kept verbatim in :attr:`Entity.source_label` (``kind``/``certainty`` read it, so XL's
uncertain or absent anatomy keeps its certainty) and written back as read.

Strictness. Besides malformed fields, a record whose entity ``tokens`` differ from its
span of the text, a relation from an entity to itself, or a repeated relation is an
error with ``strict=True``; with ``strict=False`` it is kept as read and counted in
``warnings``. The JSON readers (:mod:`graphclr.reports.radgraph_io`) also reject a
repeated report key.

Examples:
    >>> g = ReportGraph.from_radgraph_record("r1", {
    ...     "text": "small left effusion",
    ...     "entities": {
    ...         "1": {"tokens": "small", "label": "OBS-DP", "start_ix": 0, "end_ix": 0,
    ...               "relations": [["modify", "3"]]},
    ...         "2": {"tokens": "left", "label": "ANAT-DP", "start_ix": 1, "end_ix": 1,
    ...               "relations": []},
    ...         "3": {"tokens": "effusion", "label": "OBS-DP", "start_ix": 2, "end_ix": 2,
    ...               "relations": [["located_at", "2"]]}}})
    >>> [(r.type, g.entities[r.head].tokens, g.entities[r.tail].tokens) for r in g.relations]
    [('modify', 'small', 'effusion'), ('located_at', 'effusion', 'left')]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from sys import intern
from dataclasses import dataclass, field
from typing import Any

from graphclr.constants import (
    ANATOMY,
    LABEL_TO_KIND_CERTAINTY,
    LOCATED_AT,
    MODIFY,
    OBSERVATION,
    RELATIONS,
    SUGGESTIVE_OF,
    v1_label,
)

__all__ = [
    "Entity",
    "Relation",
    "ReportGraph",
    "RadGraphFormatError",
    "RadGraphCollection",
    "LABELERS",
    "SCHEMA_PAIRS",
    "normalise_label",
    "read_radgraph",
    "iter_radgraph",
    "parse_radgraph",
    "to_radgraph_dict",
    "write_radgraph",
]

LABELERS: tuple[str, str] = ("labeler_1", "labeler_2")
_ENTITY_KEYS = ("tokens", "label", "start_ix", "end_ix", "relations")
#: ``(head kind, relation, tail kind)`` triples the RadGraph schema defines; RadGraph's
#: human annotations hold about 1% others, which graphclr keeps (see ``off_schema_relations``)
SCHEMA_PAIRS: frozenset[tuple[str, str, str]] = frozenset({
    (OBSERVATION, LOCATED_AT, ANATOMY), (ANATOMY, MODIFY, ANATOMY),
    (OBSERVATION, MODIFY, OBSERVATION), (OBSERVATION, SUGGESTIVE_OF, OBSERVATION)})


def normalise_label(label: str) -> tuple[str, str | None]:
    """``(v1 label, label as read or None)`` for any accepted entity label.

    Examples:
        >>> normalise_label("OBS-DA")
        ('OBS-DA', None)
        >>> normalise_label("Anatomy::measurement::definitely present")
        ('ANAT-DP', 'Anatomy::measurement::definitely present')

    Raises:
        KeyError: not a RadGraph v1 or RadGraph-XL label.
    """
    v1 = v1_label(*LABEL_TO_KIND_CERTAINTY[label])
    return v1, (None if v1 == label else label)


class RadGraphFormatError(ValueError):
    """A RadGraph record that does not follow the schema.

    Attributes:
        report_id: the record's key in the file (``None`` when the file itself is wrong).
        field: a path to the offending field, e.g. ``entities['3'].relations[0]``.
        source: the file (or other source) the record came from, when known.
    """

    def __init__(self, problem: str, *, report_id: str | None = None, field: str | None = None,
                 source: str | os.PathLike[str] | None = None) -> None:
        self.problem = problem
        self.report_id = report_id
        self.field = field
        self.source = str(source) if source is not None else None
        where = []
        if self.source:
            where.append(self.source)
        if report_id is not None:
            where.append(f"report {report_id!r}")
        if field:
            where.append(field)
        super().__init__(": ".join(where + [problem]))

    def with_source(self, source: str | os.PathLike[str]) -> RadGraphFormatError:
        return RadGraphFormatError(self.problem, report_id=self.report_id, field=self.field,
                                   source=source)


@dataclass(slots=True)
class Entity:
    """One entity: a token span with a RadGraph label.

    Args:
        tokens: the entity's text, tokens joined by single spaces (RadGraph's ``tokens``).
        label: the RadGraph v1 label (``ANAT-DP``, ``OBS-DP``, ``OBS-U``, ``OBS-DA``);
            readers normalise RadGraph-XL labels to it (see :func:`normalise_label`).
        start_ix: first token index into ``text.split()``.
        end_ix: last token index, inclusive.
        id: the RadGraph entity key (``"1"``, ``"2"``, ...); ``None`` lets writers number it.
        extra: any further keys the record carried, kept for a lossless round trip.
        source_label: the label as read when it is not the v1 label (RadGraph-XL's
            ``"Anatomy::measurement::definitely present"``, ...); writers write it back.
    """

    tokens: str
    label: str
    start_ix: int
    end_ix: int
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    source_label: str | None = None

    def __reduce__(self):
        # plain constructor arguments: several times faster than the generic slots
        # pickling, which matters when data-loader workers send graphs
        return (Entity, (self.tokens, self.label, self.start_ix, self.end_ix, self.id, self.extra,
                         self.source_label))

    @property
    def kind(self) -> str:
        """``"anatomy"`` or ``"observation"``."""
        return LABEL_TO_KIND_CERTAINTY[self.source_label or self.label][0]

    @property
    def certainty(self) -> str:
        """``"present"``, ``"absent"`` or ``"uncertain"`` (RadGraph-XL's, when read from XL)."""
        return LABEL_TO_KIND_CERTAINTY[self.source_label or self.label][1]

    @property
    def is_anatomy(self) -> bool:
        return self.kind == ANATOMY

    @property
    def is_observation(self) -> bool:
        return self.kind == OBSERVATION


@dataclass(frozen=True, slots=True)
class Relation:
    """A directed relation ``head --type--> tail`` between two entity indices."""

    type: str
    head: int
    tail: int

    def __reduce__(self):
        return (Relation, (self.type, self.head, self.tail))


@dataclass(slots=True)
class ReportGraph:
    """A report and its knowledge graph.

    Args:
        id: the report id (a RadGraph key, an Open-i ``CXR123``, a MIMIC path, ...).
        text: the report text that spans index into (``text.split()``).
        entities: the nodes.
        relations: the edges, ``head``/``tail`` indexing ``entities``.
        metadata: record-level fields besides text and entities (``data_source``,
            ``data_split``, ...), kept in order.
        annotator: ``"labeler_1"``/``"labeler_2"`` for the RadGraph test set, else ``None``.
        annotator_metadata: fields stored beside ``entities`` inside the labeler object.
    """

    id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    annotator: str | None = None
    annotator_metadata: dict[str, Any] = field(default_factory=dict)

    def __reduce__(self):
        return (ReportGraph, (self.id, self.text, self.entities, self.relations, self.metadata,
                              self.annotator, self.annotator_metadata))

    @property
    def tokens(self) -> list[str]:
        """The report's tokens, as RadGraph spans index them."""
        return self.text.split()

    def relations_of(self, head: int) -> list[Relation]:
        """Every relation whose head is entity ``head``, in stored order."""
        return [r for r in self.relations if r.head == head]

    def validate(self) -> None:
        """Raise :class:`RadGraphFormatError` if any label, span or relation is invalid."""
        n_tokens = len(self.text.split()) if isinstance(self.text, str) else 0
        if not isinstance(self.text, str):
            raise RadGraphFormatError("must be a string", report_id=self.id, field="text")
        for i, ent in enumerate(self.entities):
            name = f"entities[{ent.id!r}]" if ent.id is not None else f"entities[{i}]"
            _check_entity(self.id, name, ent.source_label or ent.label, ent.start_ix, ent.end_ix,
                          n_tokens)
        for j, rel in enumerate(self.relations):
            fld = f"relations[{j}]"
            if rel.type not in RELATIONS:
                raise RadGraphFormatError(
                    f"unknown relation type {rel.type!r} (expected one of {', '.join(RELATIONS)})",
                    report_id=self.id, field=fld)
            for end in (rel.head, rel.tail):
                if not (isinstance(end, int) and 0 <= end < len(self.entities)):
                    raise RadGraphFormatError(
                        f"entity index {end!r} out of range (report has {len(self.entities)} entities)",
                        report_id=self.id, field=fld)
        for problem in self.problems():
            raise problem

    def problems(self, prefix: str = "") -> list[RadGraphFormatError]:
        """What a strict reader rejects in a well-formed graph: entity ``tokens`` that are
        not their span of the text, relations from an entity to itself, repeated relations.
        ``prefix`` goes before each field name (``"labeler_1."``)."""
        words = self.text.split()
        out: list[RadGraphFormatError] = []
        names = [f"{prefix}entities[{e.id!r}]" if e.id is not None else f"{prefix}entities[{i}]"
                 for i, e in enumerate(self.entities)]
        for name, ent in zip(names, self.entities):
            span = words[ent.start_ix:ent.end_ix + 1]
            if ent.tokens.split() != span:
                out.append(RadGraphFormatError(
                    f"tokens {ent.tokens!r} are not the text's tokens {' '.join(span)!r} at "
                    f"[{ent.start_ix}, {ent.end_ix}]", report_id=self.id, field=f"{name}.tokens"))
        seen: dict[Relation, int] = {}
        per_head: dict[int, int] = {}
        for rel in self.relations:
            j = per_head[rel.head] = per_head.get(rel.head, -1) + 1
            fld = f"{names[rel.head]}.relations[{j}]"
            tail = self.entities[rel.tail].id or str(rel.tail)
            if rel.head == rel.tail:
                out.append(RadGraphFormatError(f"{rel.type} relation from the entity to itself",
                                               report_id=self.id, field=fld))
            elif rel in seen:
                out.append(RadGraphFormatError(
                    f"repeats relations[{seen[rel]}] ([{rel.type!r}, {tail!r}])",
                    report_id=self.id, field=fld))
            seen.setdefault(rel, j)
        return out

    def off_schema_relations(self) -> list[Relation]:
        """Relations whose ``(head kind, type, tail kind)`` is not in :data:`SCHEMA_PAIRS`
        (kept as read; graph builders give them edge types of their own)."""
        ents = self.entities
        return [r for r in self.relations
                if (ents[r.head].kind, r.type, ents[r.tail].kind) not in SCHEMA_PAIRS]

    # --- RadGraph records ------------------------------------------------------------
    @classmethod
    def from_radgraph_record(cls, report_id: str, record: Mapping[str, Any], *,
                             labeler: str | None = None, strict: bool = True,
                             warnings: list[RadGraphFormatError] | None = None) -> ReportGraph:
        """Parse one RadGraph record (the value stored under ``report_id``).

        For test-set records (``labeler_1``/``labeler_2``) pass ``labeler``; if it is
        ``None`` the first labeler is used, as the reference implementation did. Records
        that do not nest labelers ignore ``labeler``, so one setting reads a mix of
        ``train.json`` and ``test.json``.

        ``strict`` (default) raises on the :meth:`problems` of the parsed graph; with
        ``strict=False`` they are appended to ``warnings`` and the graph is kept as read.
        """
        if not isinstance(record, Mapping):
            raise RadGraphFormatError(f"record must be an object, got {type(record).__name__}",
                                      report_id=report_id)
        if "text" not in record:
            raise RadGraphFormatError("missing key", report_id=report_id, field="text")
        text = record["text"]
        if not isinstance(text, str):
            raise RadGraphFormatError("must be a string", report_id=report_id, field="text")
        metadata = {k: v for k, v in record.items() if k != "text" and k != "entities"
                    and k not in LABELERS}
        annotator = None
        annotator_metadata: dict[str, Any] = {}
        prefix = ""
        if any(k in record for k in LABELERS):
            annotator = labeler or LABELERS[0]
            if annotator not in record:
                raise RadGraphFormatError("missing key", report_id=report_id, field=annotator)
            holder = record[annotator]
            if not isinstance(holder, Mapping):
                raise RadGraphFormatError("must be an object", report_id=report_id, field=annotator)
            annotator_metadata = {k: v for k, v in holder.items() if k != "entities"}
            prefix = f"{annotator}."
        else:
            holder = record
        if "entities" not in holder:
            raise RadGraphFormatError("missing key", report_id=report_id, field=prefix + "entities")
        raw_entities = holder["entities"]
        if not isinstance(raw_entities, Mapping):
            raise RadGraphFormatError("must be an object keyed by entity id",
                                      report_id=report_id, field=prefix + "entities")
        entities, relations = _parse_entities(report_id, text, raw_entities, prefix)
        graph = cls(id=str(report_id), text=text, entities=entities, relations=relations,
                    metadata=metadata, annotator=annotator, annotator_metadata=annotator_metadata)
        problems = graph.problems(prefix)
        if problems:
            if strict:
                raise problems[0]
            if warnings is not None:
                warnings.extend(problems)
        return graph

    def entities_to_radgraph(self) -> dict[str, Any]:
        """The ``entities`` object of a RadGraph record, every relation included."""
        ids = [e.id if e.id is not None else str(i + 1) for i, e in enumerate(self.entities)]
        if len(set(ids)) != len(ids):
            raise RadGraphFormatError("duplicate entity ids", report_id=self.id, field="entities")
        by_head: dict[int, list[list[str]]] = {i: [] for i in range(len(self.entities))}
        for rel in self.relations:
            by_head[rel.head].append([rel.type, ids[rel.tail]])
        out: dict[str, Any] = {}
        for i, ent in enumerate(self.entities):
            item: dict[str, Any] = {"tokens": ent.tokens, "label": ent.source_label or ent.label,
                                    "start_ix": ent.start_ix, "end_ix": ent.end_ix,
                                    "relations": by_head[i]}
            item.update(ent.extra)
            out[ids[i]] = item
        return out

    def to_radgraph_record(self) -> dict[str, Any]:
        """This graph as a train/inference-style RadGraph record (no labeler nesting)."""
        return {"text": self.text, "entities": self.entities_to_radgraph(), **self.metadata}


def _check_entity(report_id: str, name: str, label: Any, start: Any, end: Any,
                  n_tokens: int) -> None:
    if label not in LABEL_TO_KIND_CERTAINTY:
        raise RadGraphFormatError(
            f"unknown label {label!r} (expected a RadGraph v1 or RadGraph-XL entity label)",
            report_id=report_id, field=f"{name}.label")
    for key, value in (("start_ix", start), ("end_ix", end)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RadGraphFormatError(f"must be an integer, got {value!r}",
                                      report_id=report_id, field=f"{name}.{key}")
    if not 0 <= start <= end < n_tokens:
        raise RadGraphFormatError(
            f"span [{start}, {end}] is outside the text ({n_tokens} tokens) or reversed",
            report_id=report_id, field=f"{name}.start_ix")


#: equal relations are shared between graphs (they are frozen): a bounded memo, not state
_RELATIONS: dict[tuple[str, int, int], Relation] = {}


def _parse_entities(report_id: str, text: str, raw: Mapping[str, Any],
                    prefix: str) -> tuple[list[Entity], list[Relation]]:
    n_tokens = len(text.split())
    index = {str(k): i for i, k in enumerate(raw)}
    entities: list[Entity] = []
    relations: list[Relation] = []
    for i, (key, item) in enumerate(raw.items()):
        name = f"{prefix}entities[{str(key)!r}]"
        if not isinstance(item, Mapping):
            raise RadGraphFormatError("must be an object", report_id=report_id, field=name)
        for k in _ENTITY_KEYS:
            if k not in item:
                raise RadGraphFormatError("missing key", report_id=report_id, field=f"{name}.{k}")
        _check_entity(report_id, name, item["label"], item["start_ix"], item["end_ix"], n_tokens)
        if not isinstance(item["tokens"], str):
            raise RadGraphFormatError("must be a string", report_id=report_id,
                                      field=f"{name}.tokens")
        rels = item["relations"]
        if not isinstance(rels, list):
            raise RadGraphFormatError("must be a list of [type, target_id]",
                                      report_id=report_id, field=f"{name}.relations")
        for j, rel in enumerate(rels):
            fld = f"{name}.relations[{j}]"
            if not (isinstance(rel, (list, tuple)) and len(rel) == 2):
                raise RadGraphFormatError(f"must be [type, target_id], got {rel!r}",
                                          report_id=report_id, field=fld)
            rtype, target = rel
            if rtype not in RELATIONS:
                raise RadGraphFormatError(
                    f"unknown relation type {rtype!r} (expected one of {', '.join(RELATIONS)})",
                    report_id=report_id, field=fld)
            if str(target) not in index:
                raise RadGraphFormatError(f"target {target!r} is not an entity of this report",
                                          report_id=report_id, field=fld)
            key3 = (rtype, i, index[str(target)])
            rel = _RELATIONS.get(key3)
            if rel is None:
                rel = Relation(*key3)
                if len(_RELATIONS) < 100_000:
                    _RELATIONS[key3] = rel
            relations.append(rel)
        extra = {k: v for k, v in item.items() if k not in _ENTITY_KEYS}
        label, source_label = normalise_label(item["label"])
        entities.append(Entity(tokens=intern(item["tokens"]), label=label,
                               start_ix=item["start_ix"], end_ix=item["end_ix"],
                               id=intern(str(key)), extra=extra, source_label=source_label))
    return entities, relations


# the JSON file readers and writers live in radgraph_io; imported here for the public API
from graphclr.reports.radgraph_io import (  # noqa: E402
    RadGraphCollection,
    iter_radgraph,
    parse_radgraph,
    read_radgraph,
    to_radgraph_dict,
    write_radgraph,
)
