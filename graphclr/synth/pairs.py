"""A small *synthetic* image-report-graph dataset, generated from a seed, for tests and smoke runs.

Nothing here is real data. Each item is a short made-up chest X-ray report written from a
catalogue of template sentences, its RadGraph-style graph (entities, spans, relations
built with the sentence, so the graph is exact by construction), and a small grayscale
picture in which each *present* finding draws a simple shape at the place the report
names (an effusion shades the named base, cardiomegaly widens the heart, ...). Absent
findings draw nothing; uncertain ones draw faintly. Sides follow the radiographic
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


def _render(sentences: Sequence[_Sentence], size: int, rng: np.random.Generator) -> Any:
    """A toy frontal 'radiograph' whose shapes follow the present findings."""
    from PIL import Image, ImageDraw, ImageFilter

    s = size
    img = Image.new("L", (s, s), 20)
    d = ImageDraw.Draw(img)
    jitter = lambda v: v + rng.uniform(-0.02, 0.02) * s  # noqa: E731 - patient variation
    d.ellipse([jitter(0.08 * s), jitter(0.05 * s), jitter(0.92 * s), jitter(0.98 * s)], fill=70)
    lungs = {"right": (0.14, 0.52), "left": (0.56, 0.86)}   # image x-range per patient side
    for x0, x1 in lungs.values():
        d.ellipse([jitter(x0 * s), jitter(0.15 * s), jitter(x1 * s), jitter(0.85 * s)], fill=40)
    present = {x.finding: x for x in sentences if x.finding and x.certainty != "absent"}
    heart_w = 0.22
    if "Cardiomegaly" in present:
        heart_w = 0.34 if present["Cardiomegaly"].certainty == "present" else 0.28
    d.ellipse([(0.5 - heart_w) * s, 0.5 * s, (0.5 + heart_w * 0.8) * s, 0.82 * s], fill=150)

    def level(x: _Sentence, value: int) -> int:
        return value if x.certainty == "present" else (value + 40) // 2

    def zone_box(side: str, zone: str) -> list[float]:
        x0, x1 = lungs[side]
        y0, y1 = (0.2, 0.45) if zone == "upper" else (0.5, 0.75)
        return [x0 * s + 0.05 * s, y0 * s, x1 * s - 0.05 * s, y1 * s]

    for name, x in present.items():
        side = x.where.get("side", "right")
        zone = x.where.get("zone", "lower")
        x0, x1 = lungs[side]
        if name == "Pleural Effusion":
            h = {"small": 0.12, "moderate": 0.2, "large": 0.3}[x.where.get("size", "small")]
            d.rectangle([x0 * s, (0.86 - h) * s, x1 * s, 0.86 * s], fill=level(x, 190))
        elif name == "Consolidation":
            d.ellipse(zone_box(side, zone), fill=level(x, 170))
        elif name == "Pneumothorax":
            d.ellipse([x0 * s, 0.12 * s, x1 * s, 0.35 * s], fill=level(x, 5))
        elif name == "Edema":
            d.ellipse([0.3 * s, 0.3 * s, 0.7 * s, 0.6 * s], fill=level(x, 120))
        elif name == "Atelectasis":
            d.line([x0 * s, 0.72 * s, x1 * s, 0.76 * s], fill=level(x, 200), width=max(1, s // 32))
        elif name == "Nodule":
            bx = zone_box(side, zone)
            cx, cy, r = (bx[0] + bx[2]) / 2, (bx[1] + bx[3]) / 2, 0.05 * s
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=level(x, 230))
        elif name == "Support Devices":
            d.line([0.5 * s, 0, 0.5 * s, 0.45 * s], fill=level(x, 250), width=max(1, s // 32))
    img = img.filter(ImageFilter.GaussianBlur(radius=max(0.5, s / 96)))
    arr = np.asarray(img, dtype=np.float32) * rng.uniform(0.85, 1.15) + rng.normal(0, 6, (s, s))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")


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
        self.image_size = image_size
        self.seed = seed
        self.transform = transform
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
        rng = np.random.default_rng([self.seed, idx])
        return _render(self._sentences[idx], self.image_size, rng)

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
