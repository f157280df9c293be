"""Plan a synthetic case: the patient and the findings to draw, with the labels they give.

:func:`plan_case` turns a graph into a :class:`SyntheticCase`: the patient's anatomy
(seeded variation of size, position, exposure, noise) and the findings to draw with their
resolved side, zone, size and position. Absent findings are never drawn; uncertain ones
are drawn with probability ``uncertain_prob``; unstated sides/zones are drawn at random
(seeded). The case's :meth:`~SyntheticCase.labels` are what is drawn, so labels never
depend on pixels. :mod:`graphclr.synth.paint` paints a case.

Randomness comes from ``numpy.random.SeedSequence([seed, crc32(item_id)])`` split into
independent streams for anatomy, finding decisions and texture/noise, so the same seed and
id always give the same image, and adding a finding to a graph does not move the patient's
anatomy or noise.

Conventions: image x grows to the right, y downwards, both in ``[0, 1]``; the patient's
*right* is on the image's *left* (PA display).

Examples:
    >>> from graphclr.synth.findings import finding
    >>> case = plan_case(None, "case-1", 0, findings=[finding("effusion", side="left")])
    >>> [(f.name, f.side, f.zone) for f in case.findings], case.labels()["Effusion_Left"]
    ([('effusion', 'left', 'lower')], 1)
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from graphclr.constants import EVAL_LABELS
from graphclr.reports.labels import Finding
from graphclr.reports.schema import ReportGraph
from graphclr.synth.findings import Drawable, findings_from_graph, merge_findings

__all__ = ["Patient", "DrawnFinding", "SyntheticCase", "plan_case", "case_metadata", "LABEL_COLUMNS",
           "EVAL_LABEL_COLUMNS", "LATERALITY_COLUMNS", "DEFAULT_UNCERTAIN_PROB", "SIZE_SCALE"]

#: probability that a finding the graph marks uncertain is drawn
DEFAULT_UNCERTAIN_PROB = 0.5
#: the 6 labels of the CheXpert evaluation, in the IGCL order
EVAL_LABEL_COLUMNS: tuple[str, ...] = EVAL_LABELS
#: side-specific labels (the patient's side)
LATERALITY_COLUMNS: tuple[str, ...] = ("Effusion_Left", "Effusion_Right", "Pneumothorax_Left",
                                       "Pneumothorax_Right", "Opacity_Left", "Opacity_Right")
#: every ground-truth column of a synthetic item (all 0/1, never missing)
LABEL_COLUMNS: tuple[str, ...] = EVAL_LABEL_COLUMNS + (
    "Pneumothorax", "Pneumonia", "Lung Opacity", "Lung Lesion", "Nodule", "Mass",
    "Support Devices") + LATERALITY_COLUMNS

_ZONE_Y = {"upper": 0.24, "middle": 0.5, "lower": 0.76}  # fraction of lung height from apex
_PARENCHYMA = ("consolidation", "opacity", "pneumonia", "atelectasis", "nodule", "mass")


@dataclass
class Patient:
    """Seeded anatomy and acquisition of one synthetic patient (all in image fractions)."""

    cx: float  # midline
    thorax_w: float  # rib-cage width
    top: float  # lung apices
    dome_r: float  # right hemidiaphragm (image left)
    dome_l: float  # left hemidiaphragm (image right), usually lower
    lung_a: float  # half-width of one lung
    heart_ctr: float  # cardiothoracic ratio (heart width / thorax width)
    heart_cy: float
    heart_ry: float
    heart_shift: float  # heart centre right of midline on the image (patient's left)
    body: float  # soft-tissue brightness
    lung: float  # aerated-lung brightness
    dense: float  # mediastinum/heart brightness
    rib_spacing: float
    rib_phase: float
    rib_curve: float
    gamma: float  # exposure
    noise: float  # quantum-noise sigma

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Patient:
        u = rng.uniform
        thorax_w = u(0.74, 0.86)
        dome_r = u(0.68, 0.74)
        return cls(cx=0.5 + rng.normal(0, 0.012), thorax_w=thorax_w, top=u(0.10, 0.16),
                   dome_r=dome_r, dome_l=dome_r + u(0.01, 0.035), lung_a=thorax_w / 2 * u(0.40, 0.46),
                   heart_ctr=u(0.40, 0.47), heart_cy=0.0, heart_ry=u(0.105, 0.13),
                   heart_shift=u(0.025, 0.05), body=u(0.50, 0.60), lung=u(0.14, 0.22),
                   dense=u(0.72, 0.82), rib_spacing=u(0.065, 0.08), rib_phase=u(0, 1),
                   rib_curve=u(0.05, 0.09), gamma=u(0.85, 1.2), noise=u(0.01, 0.03))

    def lung_center(self, side: str) -> tuple[float, float, float, float]:
        """``(x, y, half_width, half_height)`` of the patient's ``side`` lung."""
        dome = self.dome_l if side == "left" else self.dome_r
        sign = 1.0 if side == "left" else -1.0
        x = self.cx + sign * self.thorax_w / 2 * 0.5
        half_h = (dome - self.top) / 2 + 0.04
        return x, self.top + half_h - 0.02, self.lung_a, half_h

    def dome(self, side: str) -> float:
        return self.dome_l if side == "left" else self.dome_r


@dataclass
class DrawnFinding:
    """A finding resolved for drawing (or decided not to be drawn)."""

    name: str
    certainty: str
    drawn: bool
    side: str | None = None  # left/right (bilateral findings become two entries)
    zone: str | None = None
    size: str | None = None
    kind: str | None = None
    x: float = 0.0
    y: float = 0.0
    r: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("x", "y", "r"):
            d[k] = round(d[k], 4)
        d["extra"] = {k: round(v, 4) for k, v in self.extra.items()}
        return d


@dataclass
class SyntheticCase:
    """Everything needed to render one synthetic image, and its ground truth."""

    item_id: str
    seed: int
    patient: Patient
    findings: list[DrawnFinding]
    texture_seed: int
    background: str | None = None

    def drawn(self, name: str, side: str | None = None) -> bool:
        return any(f.drawn and f.name == name and (side is None or f.side == side) for f in self.findings)

    def labels(self) -> dict[str, int]:
        """Ground truth = what is drawn (0/1 for every :data:`LABEL_COLUMNS` entry)."""
        d = self.drawn
        lab = {
            "Atelectasis": d("atelectasis"), "Cardiomegaly": d("cardiomegaly"),
            "Consolidation": d("consolidation"), "Edema": d("edema"), "Pleural Effusion": d("effusion"),
            "Pneumothorax": d("pneumothorax"), "Pneumonia": d("pneumonia"),
            "Lung Opacity": any(d(n) for n in ("opacity", "consolidation", "pneumonia", "atelectasis", "edema")),
            "Lung Lesion": d("nodule") or d("mass"), "Nodule": d("nodule"), "Mass": d("mass"),
            "Support Devices": d("device"),
            "Effusion_Left": d("effusion", "left"), "Effusion_Right": d("effusion", "right"),
            "Pneumothorax_Left": d("pneumothorax", "left"), "Pneumothorax_Right": d("pneumothorax", "right"),
            "Opacity_Left": any(d(n, "left") for n in _PARENCHYMA),
            "Opacity_Right": any(d(n, "right") for n in _PARENCHYMA),
        }
        pathology = [k for k in lab if k not in ("Support Devices",) and k not in LATERALITY_COLUMNS]
        lab["No Finding"] = not any(lab[k] for k in pathology)
        return {k: int(bool(lab[k])) for k in LABEL_COLUMNS}


def _streams(seed: int, item_id: str) -> list[np.random.Generator]:
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(item_id.encode("utf-8"))])
    return [np.random.default_rng(s) for s in ss.spawn(3)]


#: radius scale of a finding by its size
SIZE_SCALE = {"small": 0.7, None: 1.0, "moderate": 1.0, "large": 1.45}


def _resolve(f: Drawable, p: Patient, rng: np.random.Generator) -> list[DrawnFinding]:
    """Side/zone/size/position for a finding that will be drawn (bilateral -> two)."""
    name = f.name
    if name == "cardiomegaly":
        return [DrawnFinding(name, f.certainty, True, size=f.size,
                             extra={"ctr": float(rng.uniform(0.56, 0.62) + (0.05 if f.size == "large" else 0.0))})]
    if name == "edema":
        return [DrawnFinding(name, f.certainty, True, side="bilateral", size=f.size)]
    if name == "device":
        # unstated sides follow common practice: pacemakers on the left, central lines on the right
        usual = {"pacemaker": "left", "central_line": "right"}.get(f.kind or "central_line", "right")
        other = "right" if usual == "left" else "left"
        side = f.side if f.side in ("left", "right") else (usual if rng.random() < 0.8 else other)
        return [DrawnFinding(name, f.certainty, True, side=side, kind=f.kind or "central_line")]
    if f.side == "bilateral" or (f.side is None and f.plural and name in ("effusion", "pneumothorax", "opacity",
                                                                           "nodule", "atelectasis")):
        sides = ["right", "left"]
    elif f.side in ("left", "right"):
        sides = [f.side]
    else:
        sides = ["right" if rng.random() < 0.5 else "left"]
    out = []
    for side in sides:
        lx, ly, la, lb = p.lung_center(side)
        zone = f.zone
        if name in ("effusion",):
            zone = "lower"
        elif name == "pneumothorax":
            zone = "upper"
        elif zone is None:
            zone = ("lower" if name == "atelectasis" and rng.random() < 0.7
                    else ["upper", "middle", "lower"][int(rng.integers(3))])
        top, dome = p.top, p.dome(side)
        y = top + _ZONE_Y[zone] * (dome - top) + rng.normal(0, 0.015)
        lateral = 1.0 if side == "left" else -1.0
        x = lx + lateral * rng.uniform(-0.1, 0.35) * la
        scale = SIZE_SCALE.get(f.size, 1.0)
        r = {"consolidation": 0.085, "opacity": 0.09, "pneumonia": 0.09, "atelectasis": 0.11,
             "nodule": 0.018, "mass": 0.06, "effusion": 0.22, "pneumothorax": 0.2}[name] * scale
        if name == "nodule":
            r = float(rng.uniform(0.012, 0.022)) * (1.25 if f.size == "large" else 1.0)
        elif name == "mass":
            r = float(rng.uniform(0.05, 0.075)) * (1.2 if f.size == "large" else 1.0)
        n_nodules = 1
        if name == "nodule" and f.plural:
            n_nodules = int(rng.integers(2, 5))
        for k in range(n_nodules):
            xx = x if k == 0 else lx + rng.uniform(-0.6, 0.6) * la
            yy = y if k == 0 else ly + rng.uniform(-0.6, 0.6) * lb
            out.append(DrawnFinding(name, f.certainty, True, side=side, zone=zone, size=f.size,
                                    x=float(xx), y=float(yy), r=float(r),
                                    extra={"angle": float(rng.uniform(-0.35, 0.35)),
                                           "phase": float(rng.uniform(0, 2 * math.pi))}))
    return out


def plan_case(graph: ReportGraph | None, item_id: str, seed: int = 0, *,
              uncertain_prob: float = DEFAULT_UNCERTAIN_PROB,
              findings: Sequence[Finding | Drawable] | None = None,
              backgrounds: Sequence[str] = ()) -> SyntheticCase:
    """Decide what to draw for one item.

    Args:
        graph: the report graph (``None`` with ``findings`` given, or for a normal study).
        item_id: the item's id; with ``seed`` it fixes every random choice.
        seed: the benchmark seed.
        uncertain_prob: probability of drawing a finding the graph marks uncertain.
        findings: findings to use instead of reading them from ``graph``
            (:func:`graphclr.synth.findings.finding` builds them).
        backgrounds: background image files to choose from (empty: synthetic anatomy).
    """
    if not 0.0 <= uncertain_prob <= 1.0:
        raise ValueError(f"uncertain_prob must be in [0, 1], got {uncertain_prob}")
    rng_anat, rng_find, rng_tex = _streams(seed, item_id)
    patient = Patient.sample(rng_anat)
    patient.heart_cy = patient.dome_l - rng_anat.uniform(0.11, 0.14)
    background = backgrounds[int(rng_anat.integers(len(backgrounds)))] if backgrounds else None
    if findings is None:
        findings = findings_from_graph(graph) if graph is not None else []
    drawn: list[DrawnFinding] = []
    for f in merge_findings(findings):
        # one draw per finding whatever its certainty, so decisions do not shift each other
        u = rng_find.random()
        if f.certainty == "absent":
            drawn.append(DrawnFinding(f.name, f.certainty, False, side=f.side, zone=f.zone, size=f.size,
                                      kind=f.kind))
            continue
        if f.certainty == "uncertain" and u >= uncertain_prob:
            drawn.append(DrawnFinding(f.name, f.certainty, False, side=f.side, zone=f.zone, size=f.size,
                                      kind=f.kind))
            continue
        drawn.extend(_resolve(f, patient, rng_find))
    return SyntheticCase(item_id=item_id, seed=int(seed), patient=patient, findings=drawn,
                         texture_seed=int(rng_tex.integers(2**31)), background=background)



def case_metadata(case: SyntheticCase) -> dict[str, Any]:
    """JSON-ready record of what was drawn (for the manifest's ``meta_findings``)."""
    return {"item_id": case.item_id, "seed": case.seed, "background": case.background and os.path.basename(case.background),
            "findings": [f.to_dict() for f in case.findings]}

