"""A small *synthetic* image-report-graph dataset, generated from a seed, for tests and smoke runs.

Nothing here is real data. Each item is a short made-up chest X-ray report written from a
catalogue of template sentences, its RadGraph-style graph (entities, spans, relations
built with the sentence, so the graph is exact by construction), and a small grayscale
picture drawn by the synthetic renderer (:mod:`graphclr.synth.case` plans, :mod:`graphclr.synth.paint`
paints) from the findings the sentences assert, at the place the report names (an effusion
shades the named base, cardiomegaly widens the heart, ...). Absent findings draw nothing;
uncertain ones are drawn with probability 1/2 (seeded). Sides follow the radiographic
convention: the patient's left is on the image's right.

The reports are sized like real ones (about 15-25 entities in 4-7 disconnected pieces)
so the same generator feeds the encoder speed benchmark. It is no substitute for the
synthetic benchmark rendered from real reports (``graphclr.synth``) or for real data.

Items follow the dataset contract of :mod:`graphclr.data`: ``idx``, ``image``,
``graph``, ``text``, ``labels``, ``id``, ``path``; the dataset has ``.csv``,
``.pathologies`` and ``.labels``.

Examples:
    >>> ds = SyntheticPairDataset(4, image_size=32, seed=0)
    >>> item = ds[0]
    >>> sorted(item)
    ['graph', 'id', 'idx', 'image', 'labels', 'path', 'text']
    >>> item["image"].size, item["graph"].id == item["id"]
    ((32, 32), True)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphclr.reports.schema import Entity, Relation, ReportGraph

__all__ = ["SyntheticPairDataset", "synthetic_report", "synthetic_reports", "PATHOLOGIES"]

PATHOLOGIES: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                                "Pleural Effusion", "Pneumothorax", "Nodule", "Support Devices")


@dataclass
class _Sentence:
    """Words, entities ``(word index, label)``, relations ``(type, head, tail)`` over them."""

    words: list[str]
    entities: list[tuple[int, str]] = field(default_factory=list)
    relations: list[tuple[str, int, int]] = field(default_factory=list)
    finding: str | None = None       # pathology it asserts
    certainty: str = "present"       # present | absent | uncertain
    where: dict[str, Any] = field(default_factory=dict)


def _sent(text: str, ents: dict[str, str], rels: Sequence[tuple[str, str, str]],
          finding: str | None = None, certainty: str = "present", **where: Any) -> _Sentence:
    """Build a sentence; ``ents`` maps a word (first occurrence) to its label."""
    words = text.split()
    index = {w: words.index(w) for w in ents}
    order = sorted(ents, key=lambda w: index[w])
    pos = {w: i for i, w in enumerate(order)}
    return _Sentence(words, [(index[w], ents[w]) for w in order],
                     [(t, pos[h], pos[d]) for t, h, d in rels], finding, certainty, where)


_SIDES = ("left", "right")
_ZONES = ("upper", "lower")
_SEVERITY = ("small", "moderate", "large")


def _finding_sentences(rng: random.Random) -> list[_Sentence]:
    side, other = rng.sample(_SIDES, 2)
    zone = rng.choice(_ZONES)
    sev = rng.choice(_SEVERITY)
    return [
        _sent(f"{sev} {side} pleural effusion .",
              {sev: "OBS-DP", side: "ANAT-DP", "pleural": "ANAT-DP", "effusion": "OBS-DP"},
              [("modify", sev, "effusion"), ("modify", side, "pleural"),
               ("located_at", "effusion", "pleural")], "Pleural Effusion", side=side, size=sev),
        _sent(f"possible {side} pleural effusion .",
              {"possible": "OBS-U", side: "ANAT-DP", "pleural": "ANAT-DP", "effusion": "OBS-U"},
              [("modify", side, "pleural"), ("located_at", "effusion", "pleural")],
              "Pleural Effusion", "uncertain", side=side, size="small"),
        _sent("no pleural effusion .", {"pleural": "ANAT-DP", "effusion": "OBS-DA"},
              [("located_at", "effusion", "pleural")], "Pleural Effusion", "absent"),
        _sent("the heart is enlarged .", {"heart": "ANAT-DP", "enlarged": "OBS-DP"},
              [("located_at", "enlarged", "heart")], "Cardiomegaly"),
        _sent(f"{rng.choice(('mild', 'moderate'))} cardiomegaly .",
              {"cardiomegaly": "OBS-DP"}, [], "Cardiomegaly"),
        _sent("heart size is normal .", {"heart": "ANAT-DP", "size": "ANAT-DP", "normal": "OBS-DP"},
              [("modify", "size", "heart"), ("located_at", "normal", "heart")],
              "Cardiomegaly", "absent"),
        _sent(f"{side} {zone} lobe consolidation concerning for pneumonia .",
              {side: "ANAT-DP", zone: "ANAT-DP", "lobe": "ANAT-DP", "consolidation": "OBS-DP",
               "pneumonia": "OBS-U"},
              [("modify", side, "lobe"), ("modify", zone, "lobe"),
               ("located_at", "consolidation", "lobe"),
               ("suggestive_of", "consolidation", "pneumonia")],
              "Consolidation", side=side, zone=zone),
        _sent(f"{side} {zone} lobe opacity .",
              {side: "ANAT-DP", zone: "ANAT-DP", "lobe": "ANAT-DP", "opacity": "OBS-DP"},
              [("modify", side, "lobe"), ("modify", zone, "lobe"),
               ("located_at", "opacity", "lobe")], "Consolidation", side=side, zone=zone),
        _sent("no focal consolidation .", {"focal": "OBS-DA", "consolidation": "OBS-DA"},
              [("modify", "focal", "consolidation")], "Consolidation", "absent"),
        _sent(f"{side} apical pneumothorax .",
              {side: "ANAT-DP", "apical": "ANAT-DP", "pneumothorax": "OBS-DP"},
              [("modify", side, "apical"), ("located_at", "pneumothorax", "apical")],
              "Pneumothorax", side=side),
        _sent("no pneumothorax .", {"pneumothorax": "OBS-DA"}, [], "Pneumothorax", "absent"),
        _sent(f"{rng.choice(('mild', 'moderate', 'severe'))} pulmonary edema .",
              {"pulmonary": "ANAT-DP", "edema": "OBS-DP"},
              [("located_at", "edema", "pulmonary")], "Edema"),
        _sent("no pulmonary edema .", {"pulmonary": "ANAT-DP", "edema": "OBS-DA"},
              [("located_at", "edema", "pulmonary")], "Edema", "absent"),
        _sent(f"{side} basilar atelectasis .",
              {side: "ANAT-DP", "basilar": "ANAT-DP", "atelectasis": "OBS-DP"},
              [("modify", side, "basilar"), ("located_at", "atelectasis", "basilar")],
              "Atelectasis", side=side),
        _sent(f"{rng.choice(('small', 'large'))} nodule in the {side} {zone} lung .",
              {"nodule": "OBS-DP", side: "ANAT-DP", zone: "ANAT-DP", "lung": "ANAT-DP"},
              [("located_at", "nodule", "lung"), ("modify", side, "lung"),
               ("modify", zone, "lung")], "Nodule", side=side, zone=zone),
        _sent("endotracheal tube in standard position .",
              {"endotracheal": "OBS-DP", "tube": "OBS-DP", "standard": "OBS-DP"},
              [("modify", "endotracheal", "tube"), ("modify", "standard", "tube")],
              "Support Devices"),
        _sent(f"{other} lung is clear .", {other: "ANAT-DP", "lung": "ANAT-DP", "clear": "OBS-DP"},
              [("modify", other, "lung"), ("located_at", "clear", "lung")]),
    ]


_NORMAL = [
    _sent("no acute cardiopulmonary process .",
          {"acute": "OBS-DA", "cardiopulmonary": "ANAT-DP", "process": "OBS-DA"},
          [("modify", "acute", "process"), ("located_at", "process", "cardiopulmonary")]),
    _sent("osseous structures are intact .",
          {"osseous": "ANAT-DP", "structures": "ANAT-DP", "intact": "OBS-DP"},
          [("modify", "osseous", "structures"), ("located_at", "intact", "structures")]),
    _sent("mediastinal contours are within normal limits .",
          {"mediastinal": "ANAT-DP", "contours": "ANAT-DP", "normal": "OBS-DP"},
          [("modify", "mediastinal", "contours"), ("located_at", "normal", "contours")]),
    _sent("the lungs are clear .", {"lungs": "ANAT-DP", "clear": "OBS-DP"},
          [("located_at", "clear", "lungs")]),
    _sent("stable appearance of the chest .", {"stable": "OBS-DP", "chest": "ANAT-DP"},
          [("located_at", "stable", "chest")]),
]


def synthetic_report(rng: random.Random, report_id: str, *,
                     sentences: tuple[int, int] = (4, 7)) -> tuple[ReportGraph, list[_Sentence]]:
    """One made-up report and its exact graph, plus the sentences it was built from."""
    n = rng.randint(*sentences)
    chosen: list[_Sentence] = []
    used: set[str] = set()
    pool = _finding_sentences(rng)
    for _ in range(n):
        if rng.random() < 0.7:
            s = rng.choice(pool)
            if s.finding in used:      # one statement per finding keeps reports coherent
                continue
            if s.finding:
                used.add(s.finding)
        else:
            s = rng.choice(_NORMAL)
        chosen.append(s)
    words: list[str] = []
    entities: list[Entity] = []
    relations: list[Relation] = []
    for s in chosen:
        base_word, base_ent = len(words), len(entities)
        words.extend(s.words)
        for wi, label in s.entities:
            entities.append(Entity(s.words[wi], label, base_word + wi, base_word + wi))
        relations.extend(Relation(t, base_ent + h, base_ent + d) for t, h, d in s.relations)
    graph = ReportGraph(report_id, " ".join(words), entities, relations,
                        metadata={"data_source": "graphclr synthetic generator"})
    return graph, chosen


def synthetic_reports(n: int, seed: int = 0, *, sentences: tuple[int, int] = (4, 7)) -> list[ReportGraph]:
    """``n`` synthetic report graphs (deterministic in ``seed``)."""
    rng = random.Random(seed)
    return [synthetic_report(rng, f"synthetic-{i:06d}", sentences=sentences)[0] for i in range(n)]


#: pathology of a template sentence -> drawable finding of :mod:`graphclr.synth.findings`
_DRAWN_AS = {"Pleural Effusion": "effusion", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
             "Pneumothorax": "pneumothorax", "Edema": "edema", "Atelectasis": "atelectasis",
             "Nodule": "nodule", "Support Devices": "device"}


def _findings(sentences: Sequence[_Sentence]) -> list[Any]:
    """The findings the sentences assert (exact by construction, no graph reading)."""
    from graphclr.synth.findings import finding

    return [finding(_DRAWN_AS[x.finding], x.certainty, x.where.get("side"), x.where.get("zone"),
                    x.where.get("size"), kind="ett" if x.finding == "Support Devices" else None)
            for x in sentences if x.finding]


class SyntheticPairDataset:
    """``n`` synthetic (image, report graph) pairs; see the module doc.

    Args:
        n: number of pairs.
        image_size: side of the square images.
        seed: everything (reports, images, noise) follows from it.
        transform: applied to the PIL image (e.g. a model's transform); ``None`` keeps PIL.
        sentences: report length range, in sentences.
    """

    def __init__(self, n: int, *, image_size: int = 64, seed: int = 0,
                 transform: Callable[[Any], Any] | None = None,
                 sentences: tuple[int, int] = (4, 7)) -> None:
        import pandas as pd

        if n < 1:
            raise ValueError("n must be >= 1")
        if image_size < 32:
            raise ValueError(f"image_size must be >= 32 pixels (the renderer's minimum), got {image_size}")
        self.image_size = image_size
        self.seed = seed
        self.transform = transform
        self._renderer: Any = None     # built on first use (per process)
        self.pathologies = list(PATHOLOGIES)
        rng = random.Random(seed)
        self.graphs: list[ReportGraph] = []
        self._sentences: list[list[_Sentence]] = []
        labels = np.zeros((n, len(PATHOLOGIES)), dtype=np.float32)
        for i in range(n):
            g, sents = synthetic_report(rng, f"synthetic-{seed}-{i:06d}", sentences=sentences)
            self.graphs.append(g)
            self._sentences.append(sents)
            for x in sents:
                if x.finding:
                    j = PATHOLOGIES.index(x.finding)
                    labels[i, j] = {"present": 1.0, "absent": 0.0, "uncertain": np.nan}[x.certainty]
        self.labels = labels
        self.csv = pd.DataFrame({"id": [g.id for g in self.graphs],
                                 "text": [g.text for g in self.graphs],
                                 "path": [f"synthetic:{g.id}" for g in self.graphs],
                                 "patient_id": [f"synthetic-patient-{i}" for i in range(n)]})

    def __len__(self) -> int:
        return len(self.graphs)

    def __repr__(self) -> str:
        return (f"SyntheticPairDataset(n={len(self)}, image_size={self.image_size}, "
                f"seed={self.seed}) -- synthetic data, not real radiographs")

    def image(self, idx: int) -> Any:
        """The PIL image of item ``idx`` (deterministic in ``seed`` and ``idx``)."""
        from PIL import Image

        from graphclr.synth.case import plan_case
        from graphclr.synth.paint import Renderer

        if self._renderer is None:
            self._renderer = Renderer(self.image_size)
        case = plan_case(None, self.graphs[idx].id, self.seed, findings=_findings(self._sentences[idx]))
        return Image.fromarray(self._renderer.render(case), mode="L")

    def report(self, idx: int) -> tuple[ReportGraph, str]:
        """``(graph, text)`` of item ``idx`` without rendering its image (the dataset contract)."""
        g = self.graphs[idx]
        return g, g.text

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        img = self.image(idx)
        g = self.graphs[idx]
        return {"idx": idx, "image": self.transform(img) if self.transform else img,
                "graph": g, "text": g.text, "labels": self.labels[idx], "id": g.id,
                "path": self.csv["path"].iat[idx]}
