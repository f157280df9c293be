"""Render a synthetic frontal chest radiograph whose findings follow a report graph.

Two steps, so that labels never depend on pixels:

1. :func:`plan_case` turns a graph into a :class:`SyntheticCase`: the patient's anatomy
   (seeded variation of size, position, exposure, noise) and the findings to draw with their
   resolved side, zone, size and position. Absent findings are never drawn; uncertain ones
   are drawn with probability ``uncertain_prob``; unstated sides/zones are drawn at random
   (seeded). The case's :meth:`~SyntheticCase.labels` are what is drawn.
2. :func:`render_case` (or a reusable :class:`Renderer`) paints the case into a
   ``uint8 [size, size]`` array with vectorised NumPy (a few milliseconds at 224 px).

Randomness comes from ``numpy.random.SeedSequence([seed, crc32(item_id)])`` split into
independent streams for anatomy, finding decisions and texture/noise, so the same seed and
id always give the same image, and adding a finding to a graph does not move the patient's
anatomy or noise.

Conventions: image x grows to the right, y downwards, both in ``[0, 1]``; the patient's
*right* is on the image's *left* (PA display), so a left effusion shades the image's right
base. Brighter = denser (bone, fluid, heart); darker = air.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphclr.reports.schema import ReportGraph
from graphclr.synth.findings import Finding, findings_from_graph, merge_findings
from graphclr.constants import EVAL_LABELS

__all__ = ["Patient", "DrawnFinding", "SyntheticCase", "Renderer", "plan_case", "render_case",
           "LABEL_COLUMNS", "EVAL_LABEL_COLUMNS", "LATERALITY_COLUMNS", "DEFAULT_UNCERTAIN_PROB"]

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


_SIZE_SCALE = {"small": 0.7, None: 1.0, "moderate": 1.0, "large": 1.45}


def _resolve(f: Finding, p: Patient, rng: np.random.Generator) -> list[DrawnFinding]:
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
        scale = _SIZE_SCALE.get(f.size, 1.0)
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
              findings: Sequence[Finding] | None = None,
              backgrounds: Sequence[str] = ()) -> SyntheticCase:
    """Decide what to draw for one item.

    Args:
        graph: the report graph (``None`` with ``findings`` given, or for a normal study).
        item_id: the item's id; with ``seed`` it fixes every random choice.
        seed: the benchmark seed.
        uncertain_prob: probability of drawing a finding the graph marks uncertain.
        findings: findings to use instead of reading them from ``graph``.
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


# ----------------------------------------------------------------------------------------
# painting
# ----------------------------------------------------------------------------------------
def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (d < 1), 0 outside, linear ramp of width ``edge`` (in d units) at the border."""
    out = (1.0 - d) * (1.0 / edge)
    return np.clip(out, 0.0, 1.0, out=out)


class Renderer:
    """Paints :class:`SyntheticCase` objects; keeps coordinate grids and backgrounds per size.

    One renderer per process (it is cheap); it holds no global state.
    """

    #: seed of the renderer's fixed noise and texture banks (part of the benchmark version)
    BANK_SEED = 20240229

    def __init__(self, size: int = 224) -> None:
        if size < 32:
            raise ValueError(f"size must be >= 32 pixels, got {size}")
        self.size = size
        c = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x = c[None, :]
        self.y = c[:, None]
        self._bg: dict[str, np.ndarray] = {}
        # Fixed banks of noise and smooth texture, twice the image size; each case takes a
        # seeded crop. Drawing fresh Gaussian fields per image would cost most of the budget.
        bank = np.random.default_rng(self.BANK_SEED)
        self._noise = bank.standard_normal((2 * size, 2 * size), dtype=np.float32)
        self._texture = self._lowpass(bank, max(8, size // 8) * 2, 2 * size)
        self._patches = self._lowpass(bank, 20, 2 * size)

    def _crop(self, bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        oy, ox = (int(v) for v in rng.integers(0, bank.shape[0] - self.size + 1, size=2))
        out = bank[oy:oy + self.size, ox:ox + self.size]
        return out[:, ::-1] if rng.random() < 0.5 else out

    # --- helpers ----------------------------------------------------------------------
    def _ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> np.ndarray:
        dx, dy = self.x - cx, self.y - cy
        if angle:
            ca, sa = math.cos(angle), math.sin(angle)
            dx, dy = dx * ca + dy * sa, -dx * sa + dy * ca
        return (dx / rx) ** 2 + (dy / ry) ** 2

    @staticmethod
    def _lowpass(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
        """Smooth noise in about [-1, 1] (bicubic upsampling of a coarse random grid)."""
        from PIL import Image

        g = rng.standard_normal((cells, cells)).astype(np.float32)
        img = Image.fromarray(g, mode="F").resize((size, size), Image.BICUBIC)
        return np.asarray(img, dtype=np.float32) / 1.5

    def _window(self, cx: float, cy: float, rx: float, ry: float) -> tuple[slice, slice]:
        """Pixel rows/columns covering the box ``cx +- rx, cy +- ry`` (clipped to the image)."""
        s = self.size
        r0, r1 = max(0, int((cy - ry) * s) - 1), min(s, int((cy + ry) * s) + 2)
        c0, c1 = max(0, int((cx - rx) * s) - 1), min(s, int((cx + rx) * s) + 2)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def _local_ellipse(self, win: tuple[slice, slice], cx: float, cy: float, rx: float, ry: float,
                       angle: float = 0.0) -> np.ndarray:
        dx, dy = self.x[:, win[1]] - cx, self.y[win[0], :] - cy
        if angle:
            ca, sa = math.cos(angle), math.sin(angle)
            dx, dy = dx * ca + dy * sa, -dx * sa + dy * ca
        return (dx / rx) ** 2 + (dy / ry) ** 2

    def _lung(self, p: Patient, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Soft lung mask and the normalised elliptic radius (2 outside its box), for one side."""
        lx, ly, la, lb = p.lung_center(side)
        win = self._window(lx, ly, la * 1.05, lb * 1.05)
        xs = self.x[:, win[1]]
        d = self._local_ellipse(win, lx, ly, la, lb)
        dome = p.dome(side)
        ydome = dome - 0.05 * np.clip(1 - ((xs - lx) / la) ** 2, 0, 1)
        below = np.clip((ydome - self.y[win[0], :]) * (1 / 0.012), 0, 1)
        # medial border straighter than lateral: cut by the mediastinum
        sign = 1.0 if side == "left" else -1.0
        medial = np.clip((sign * (xs - p.cx) - 0.055) * (1 / 0.02), 0, 1)
        mask = np.zeros((self.size, self.size), np.float32)
        rad = np.full((self.size, self.size), 2.0, np.float32)
        mask[win] = _soft(d, 0.12) * below * medial
        rad[win] = np.sqrt(d)
        return mask, rad

    def background(self, path: str) -> np.ndarray:
        if path not in self._bg:
            from graphclr.data.images import load_image, resize_square

            img = resize_square(load_image(path, decode_size=self.size), self.size)
            self._bg[path] = np.asarray(img, dtype=np.float32) / 255.0
        return self._bg[path]

    # --- the painting -------------------------------------------------------------------
    def render(self, case: SyntheticCase) -> np.ndarray:
        """The case as a ``uint8 [size, size]`` image."""
        p = case.patient
        x, y = self.x, self.y
        rng = np.random.default_rng(case.texture_seed)
        tex = self._crop(self._texture, rng)
        patch = self._crop(self._patches, rng)
        noise = self._crop(self._noise, rng)
        lung_r, rad_r = self._lung(p, "right")
        lung_l, rad_l = self._lung(p, "left")
        lungs = np.maximum(lung_r, lung_l)
        half = p.thorax_w / 2

        if case.background is None:
            img = _soft(self._ellipse(p.cx, 0.62, half + 0.09, 0.62), 0.06)
            img *= p.body - 0.04
            img += 0.04
            u2 = ((x - p.cx) * (1.0 / half)) ** 2
            rib = np.cos((y + p.rib_curve * u2) * (2 * math.pi / p.rib_spacing) + 2 * math.pi * p.rib_phase)
            ribs = np.clip((rib - 0.44) * 2.0, 0, 1, out=rib)
            ribs *= u2 < 1.0
            img -= lungs * (p.body - p.lung - 0.07 * ribs)
            col = np.abs(x - p.cx)
            img += _soft(col * (1 / 0.035), 0.5) * 0.05  # spine
            # mediastinum (tapering upwards) and trachea
            med_w = 0.045 + 0.03 * np.clip((y - p.top) / (p.heart_cy - p.top), 0, 1)
            med = _soft(np.abs(x - p.cx - 0.008) / med_w, 0.3) * (y < p.heart_cy)
            np.maximum(img, med * (p.dense - 0.06), out=img)
            img -= _soft(col * (1 / 0.011), 0.5) * ((y < p.top + 0.16) * 0.14)
            for sign in (-1.0, 1.0):  # clavicles
                x0, x1 = p.cx + sign * 0.05, p.cx + sign * half * 0.92
                win = self._window((x0 + x1) / 2, p.top, abs(x1 - x0) / 2, 0.06)
                xs, ys = x[:, win[1]], y[win[0], :]
                yc = p.top + 0.025 - 0.05 * (xs - x0) / (x1 - x0)
                img[win] += _soft(np.abs(ys - yc) * (1 / 0.013), 0.6) * 0.12
        else:
            img = self.background(case.background).copy()
        ptx = np.zeros_like(lungs)  # pneumothorax: lung markings removed there

        normal = (p.cx + p.heart_shift, p.heart_cy, p.heart_ctr * half, p.heart_ry)
        heart_geo = normal
        for f in case.findings:
            if f.drawn and f.name == "cardiomegaly":
                heart_geo = (p.cx + p.heart_shift + 0.015, p.heart_cy + 0.01, f.extra["ctr"] * half,
                             p.heart_ry * 1.12)
        win = self._window(heart_geo[0], heart_geo[1], heart_geo[2] * 1.2, heart_geo[3] * 1.2)
        heart = _soft(self._local_ellipse(win, *heart_geo), 0.15)
        if case.background is None:
            np.maximum(img[win], heart * p.dense, out=img[win])
        elif heart_geo is not normal:  # on a real radiograph: add the enlargement only
            img[win] += np.clip(heart - _soft(self._local_ellipse(win, *normal), 0.15), 0, 1) * 0.3

        fluid_to = p.body + 0.12

        def fill(win: tuple[slice, slice], weight: np.ndarray, target: float) -> None:
            """Raise pixels towards ``target`` (never past it): densities do not stack to white."""
            region = img[win]
            region += weight * np.clip(target - region, 0, None)
        for f in case.findings:
            if not f.drawn or f.name in ("cardiomegaly", "device"):
                continue
            side = f.side if f.side in ("left", "right") else "right"
            lung = lung_l if side == "left" else lung_r
            scale = _SIZE_SCALE.get(f.size, 1.0)
            if f.name == "effusion":
                lx, ly, la, lb = p.lung_center(side)
                dome = p.dome(side)
                height = {"small": 0.13, "moderate": 0.24, "large": 0.4}.get(f.size or "", 0.2)
                win = self._window(lx, (dome + ly) / 2, la * 1.1, (dome - ly) / 2 + 0.06)
                xs, ys = x[:, win[1]], y[win[0], :]
                lateral = np.clip((xs - lx) * ((1 if side == "left" else -1) / la), -1, 1)
                surface = dome - height * (dome - p.top) - 0.07 * np.clip(lateral + 0.3, 0, None) ** 2
                fluid = np.clip((ys - surface) * (1 / 0.015), 0, 1)
                region = _soft(self._local_ellipse(win, lx, ly, la * 1.02, lb * 1.06), 0.12)
                region = np.maximum(region, lung[win])
                fill(win, fluid * region, fluid_to)
            elif f.name == "pneumothorax":
                rad = rad_l if side == "left" else rad_r
                depth = {"small": 0.12, "moderate": 0.2, "large": 0.32}.get(f.size or "", 0.18)
                lx, ly, la, lb = p.lung_center(side)
                apical = np.clip((ly + 0.05 - y) * (1 / 0.05), 0, 1)
                inner = rad - (1 - depth)
                region = np.clip(inner * (1 / 0.01), 0, 1) * apical * lung
                line = _soft(np.abs(inner) * (1 / 0.012), 0.5) * apical * (lung > 0.2)
                np.maximum(ptx, region, out=ptx)
                img += line * 0.13 - region * 0.06
            elif f.name in ("consolidation", "opacity", "pneumonia"):
                dens, edge = {"consolidation": (0.85, 0.35), "opacity": (0.5, 0.8),
                              "pneumonia": (0.75, 0.5)}[f.name]
                win = self._window(f.x, f.y, f.r * 1.7, f.r * 1.6)
                if f.name == "pneumonia":
                    blob = np.zeros(img[win].shape, np.float32)
                    sub = np.random.default_rng(int(f.extra["phase"] * 1e6))
                    for _ in range(5):
                        bx = f.x + sub.uniform(-1, 1) * f.r * 0.7
                        by = f.y + sub.uniform(-1, 1) * f.r * 0.7
                        np.maximum(blob, _soft(self._local_ellipse(win, bx, by, f.r * 0.45, f.r * 0.4), 0.6),
                                   out=blob)
                else:
                    blob = _soft(self._local_ellipse(win, f.x, f.y, f.r * 1.15, f.r, f.extra["angle"]), edge)
                fill(win, blob * (0.75 + 0.25 * patch[win]) * dens * np.clip(lung[win] * 1.5, 0, 1),
                     p.body + 0.1)
            elif f.name == "atelectasis":
                win = self._window(f.x, f.y, f.r * 1.3, f.r * 0.5)
                band = _soft(self._local_ellipse(win, f.x, f.y, f.r * 1.2, 0.018 * scale,
                                                 f.extra["angle"] * 0.5), 0.5)
                fill(win, band * 0.9 * np.clip(lung[win] * 1.5, 0, 1), p.body + 0.12)
            elif f.name == "nodule":
                win = self._window(f.x, f.y, f.r * 1.2, f.r * 1.2)
                fill(win, _soft(self._local_ellipse(win, f.x, f.y, f.r, f.r), 0.25) * 0.8, p.body + 0.15)
            elif f.name == "mass":
                win = self._window(f.x, f.y, f.r * 1.3, f.r * 1.3)
                dx, dy = x[:, win[1]] - f.x, y[win[0], :] - f.y
                r2 = dx ** 2 + dy ** 2
                sin_t = dy / np.sqrt(r2 + 1e-12)
                cos_t = dx / np.sqrt(r2 + 1e-12)
                ph = f.extra["phase"]
                sin3 = 3 * sin_t - 4 * sin_t ** 3  # sin(3t); cos(3t) = 4cos^3 - 3cos
                cos3 = 4 * cos_t ** 3 - 3 * cos_t
                rr = f.r * (1 + 0.12 * (sin3 * math.cos(ph) + cos3 * math.sin(ph)))
                fill(win, _soft(r2 / rr ** 2, 0.2) * 0.85, p.body + 0.15)
            elif f.name == "edema":
                dens = {"small": 0.3, "moderate": 0.45, "large": 0.6}.get(f.size or "", 0.4)
                for s_name, lung_s in (("right", lung_r), ("left", lung_l)):
                    sign = 1.0 if s_name == "left" else -1.0
                    hx = p.cx + sign * 0.13
                    hy = p.top + 0.5 * (p.dome(s_name) - p.top)
                    win = self._window(hx, hy, 0.25, 0.35)
                    d = self._local_ellipse(win, hx, hy, 0.1, 0.14)
                    fill(win, np.exp(-d) * lung_s[win] * (dens * (0.8 + 0.3 * tex[win])), p.body)
        img += tex * (0.05 * lungs * (1 - ptx))  # lung markings
        img = self._devices(case, img)

        img += noise * p.noise
        out = np.clip(img, 0, 1, out=img)
        out *= 255.0
        lut = (np.linspace(0, 1, 256) ** p.gamma * 255 + 0.5).astype(np.uint8)  # exposure
        return lut[out.astype(np.uint8)]

    def _devices(self, case: SyntheticCase, img: np.ndarray) -> np.ndarray:
        devices = [f for f in case.findings if f.drawn and f.name == "device"]
        if not devices:
            return img
        from PIL import Image, ImageDraw

        s = self.size
        p = case.patient
        layer = Image.new("L", (s, s), 0)
        draw = ImageDraw.Draw(layer)
        w = max(1, round(s / 150))

        def px(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
            return [(a * s, b * s) for a, b in pts]

        half = p.thorax_w / 2
        for f in devices:
            sign = 1.0 if f.side == "left" else -1.0
            if f.kind == "ett":
                for dx in (-0.006, 0.006):
                    draw.line(px([(p.cx + dx, 0.0), (p.cx + dx, p.top + 0.13)]), fill=255, width=w)
            elif f.kind == "ng_tube":
                pts = [(p.cx - 0.01, 0.0), (p.cx - 0.008, p.top + 0.3), (p.cx + 0.01, p.dome_l),
                       (p.cx + 0.1, p.dome_l + 0.07), (p.cx + 0.16, p.dome_l + 0.05)]
                draw.line(px(pts), fill=230, width=w)
            elif f.kind == "pacemaker":
                bx, by = p.cx + sign * half * 0.62, p.top + 0.05
                draw.rectangle(px([(bx - 0.035, by - 0.022), (bx + 0.035, by + 0.022)]), fill=255)
                pts = [(bx, by), (p.cx + sign * 0.06, p.top + 0.12), (p.cx + 0.01, p.heart_cy - 0.05),
                       (p.cx + p.heart_shift + 0.05, p.heart_cy + 0.04)]
                draw.line(px(pts), fill=240, width=w)
            elif f.kind == "chest_tube":
                lx, ly, la, lb = p.lung_center(f.side or "right")
                pts = [(lx + sign * la * 1.1, p.dome(f.side or "right") - 0.02),
                       (lx + sign * la * 0.6, ly), (lx, p.top + 0.06)]
                draw.line(px(pts), fill=235, width=w + 1)
            else:  # central line / PICC
                pts = [(p.cx + sign * half * 0.95, p.top - 0.02), (p.cx + sign * half * 0.5, p.top + 0.03),
                       (p.cx + sign * 0.03, p.top + 0.08), (p.cx - 0.02, p.top + 0.22)]
                draw.line(px(pts), fill=230, width=w)
        return img + np.asarray(layer, dtype=np.float32) / 255.0 * 0.45


def render_case(case: SyntheticCase, size: int = 224, renderer: Renderer | None = None) -> np.ndarray:
    """Render one case (see :class:`Renderer`; pass one to reuse its grids)."""
    if renderer is None or renderer.size != size:
        renderer = Renderer(size)
    return renderer.render(case)


def case_metadata(case: SyntheticCase) -> dict[str, Any]:
    """JSON-ready record of what was drawn (for the manifest's ``meta_findings``)."""
    return {"item_id": case.item_id, "seed": case.seed, "background": case.background and os.path.basename(case.background),
            "findings": [f.to_dict() for f in case.findings]}


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """An 8-bit greyscale PNG of ``array`` (no row filters: the noisy images gain nothing
    from them, and skipping them makes encoding about as fast as zlib itself).

    Examples:
        >>> import io
        >>> from PIL import Image
        >>> a = np.arange(12, dtype=np.uint8).reshape(3, 4)
        >>> np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(a)))), a)
        True
    """
    import struct
    import zlib

    if array.dtype != np.uint8 or array.ndim != 2:
        raise ValueError(f"expected a uint8 [H, W] array, got {array.dtype} {array.shape}")
    h, w = array.shape
    raw = np.empty((h, w + 1), np.uint8)
    raw[:, 0] = 0  # filter type 0 (none) on every row
    raw[:, 1:] = array

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + chunk(b"IEND", b""))


def save_png(array: np.ndarray, path: str | os.PathLike[str], compress_level: int = 1) -> None:
    """Write a greyscale PNG atomically (temporary file + rename), so parallel or
    interrupted builds never leave a half-written image under the final name."""
    from graphclr.utils import atomic_path

    data = encode_png(array, compress_level)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
