"""What a report graph says should be drawn, as :class:`graphclr.reports.labels.Finding` records.

The synthetic benchmark draws what the *graph* says, so it reads graphs only (never the
report text), through graphclr's one graph reader, :func:`graphclr.reports.labels.findings`:
each observation is normalised with the extractor's lexicon (so "heart size normal" is
cardiomegaly *absent*, "bibasilar" is bilateral lower). This module only says how a
normalised concept is *drawn*:

* :data:`LABELS_CONCEPTS` maps a concept onto one of the drawable :data:`FINDINGS` (and a
  device kind); concepts not listed are not drawn;
* :func:`drawable` gives the renderer's view of a finding: ``(name, certainty, side, zone,
  size, kind, plural)``; ``size`` falls back to the severity ("mild" -> small), ``plural``
  means a plural mention ("effusions": both sides when no side is stated);
* :func:`finding` builds a :class:`~graphclr.reports.labels.Finding` from those drawable
  terms, for hand-made cases (``finding("effusion", side="left", size="small")``).

Sides are the *patient's* (``left`` = the patient's left, drawn on the image's right, as a
PA radiograph is displayed).

Examples:
    >>> f = finding("nodule", side="left", zone="upper", plural=True)
    >>> f.name, f.laterality, f.tokens
    ('nodule', 'left', 'nodules')
    >>> drawable(finding("device", kind="ett"))
    Drawable(name='device', certainty='present', side=None, zone=None, size=None, kind='ett', plural=False)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any, NamedTuple

from graphclr.reports.labels import Finding, findings, labels_for
from graphclr.reports.schema import ReportGraph

__all__ = ["FINDINGS", "DEVICE_KINDS", "LABELS_CONCEPTS", "Drawable", "drawable", "finding",
           "findings_from_graph", "merge_findings"]

#: the findings the renderer can draw
FINDINGS: tuple[str, ...] = ("cardiomegaly", "effusion", "pneumothorax", "consolidation", "opacity",
                             "atelectasis", "pneumonia", "edema", "nodule", "mass", "device")
DEVICE_KINDS: tuple[str, ...] = ("ett", "ng_tube", "central_line", "pacemaker", "chest_tube")
_PRIORITY = {"present": 2, "uncertain": 1, "absent": 0}

#: graphclr.reports.labels concept -> (drawable finding, device kind); concepts not listed are not drawn
LABELS_CONCEPTS: dict[str, tuple[str, str | None]] = {
    "cardiomegaly": ("cardiomegaly", None),
    "effusion": ("effusion", None), "blunting": ("effusion", None),
    "blunted_costophrenic_angle": ("effusion", None),
    "pneumothorax": ("pneumothorax", None),
    "consolidation": ("consolidation", None),
    "opacity": ("opacity", None), "density": ("opacity", None), "airspace_disease": ("opacity", None),
    "ground_glass": ("opacity", None), "infiltrate": ("opacity", None),
    "pneumonia": ("pneumonia", None), "infection": ("pneumonia", None), "aspiration": ("pneumonia", None),
    "atelectasis": ("atelectasis", None), "volume_loss": ("atelectasis", None),
    "edema": ("edema", None), "congestion": ("edema", None),
    "nodule": ("nodule", None), "granuloma": ("nodule", None), "lesion": ("nodule", None),
    "mass": ("mass", None), "tumor": ("mass", None),
    "endotracheal_tube": ("device", "ett"), "tracheostomy_tube": ("device", "ett"),
    "enteric_tube": ("device", "ng_tube"), "tube": ("device", "ng_tube"),
    "chest_tube": ("device", "chest_tube"), "drain": ("device", "chest_tube"),
    "central_line": ("device", "central_line"), "catheter": ("device", "central_line"),
    "port": ("device", "central_line"),
    "pacemaker": ("device", "pacemaker"), "cardiac_leads": ("device", "pacemaker"),
}
#: the concept :func:`finding` uses for a drawable name (devices: by kind)
_CONCEPT_OF = {"cardiomegaly": "cardiomegaly", "effusion": "effusion", "pneumothorax": "pneumothorax",
               "consolidation": "consolidation", "opacity": "opacity", "atelectasis": "atelectasis",
               "pneumonia": "pneumonia", "edema": "edema", "nodule": "nodule", "mass": "mass",
               "ett": "endotracheal_tube", "ng_tube": "enteric_tube", "central_line": "central_line",
               "pacemaker": "pacemaker", "chest_tube": "chest_tube"}
_SEVERITY_SIZE = {"mild": "small", "minimal": "small", "moderate": "moderate", "severe": "large",
                  "marked": "large", "extensive": "large"}
_PLURAL_STEMS: dict[str, tuple[str, ...]] = {   # word stems of a plural mention per drawable name
    "cardiomegaly": ("cardiomegal",), "effusion": ("effusion",), "pneumothorax": ("pneumothora",),
    "consolidation": ("consolidat",), "atelectasis": ("atelecta", "collapse"), "pneumonia": ("pneumoni",),
    "edema": ("edema", "oedema", "congesti"), "nodule": ("nodul", "granulom"), "mass": ("mass",),
    "opacity": ("opacit", "opacif", "densit", "infiltrat", "airspace"), "device": (),
}


class Drawable(NamedTuple):
    """The renderer's view of one :class:`~graphclr.reports.labels.Finding`."""

    name: str
    certainty: str
    side: str | None
    zone: str | None
    size: str | None
    kind: str | None
    plural: bool


def _is_plural(token: str, name: str) -> bool:
    if not token.endswith("s") or token.endswith(("sis", "ss", "us")):
        return False
    if name == "mass":
        return token in ("mass", "masses")
    return token.startswith(_PLURAL_STEMS[name])


def drawable(f: Finding) -> Drawable | None:
    """How ``f`` is drawn (``None``: its concept is not drawable)."""
    target = LABELS_CONCEPTS.get(f.name or "")
    if target is None:
        return None
    name, kind = target
    size = f.size if f.size in ("small", "moderate", "large") else _SEVERITY_SIZE.get(f.severity or "")
    plural = any(_is_plural(t, name) for t in f.tokens.lower().split())
    return Drawable(name, f.certainty, f.laterality, f.zone, size, kind, plural)


def finding(name: str, certainty: str = "present", side: str | None = None, zone: str | None = None,
            size: str | None = None, kind: str | None = None, plural: bool = False,
            entities: Iterable[int] = ()) -> Finding:
    """A :class:`~graphclr.reports.labels.Finding` that draws as the given drawable finding.

    Args:
        name: one of :data:`FINDINGS`.
        certainty: ``"present"``, ``"uncertain"`` or ``"absent"``.
        side: ``"left"``, ``"right"``, ``"bilateral"`` or ``None``; zone: ``"upper"``,
            ``"middle"``, ``"lower"`` or ``None``; size: ``"small"``, ``"moderate"``,
            ``"large"`` or ``None``.
        kind: the device kind for ``name == "device"`` (one of :data:`DEVICE_KINDS`;
            default ``central_line``).
        plural: a plural mention (``nodules``).
        entities: the graph entity it came from (the first one is kept).
    """
    if name not in FINDINGS:
        raise ValueError(f"unknown drawable finding {name!r} (expected one of {', '.join(FINDINGS)})")
    if certainty not in _PRIORITY:
        raise ValueError(f"certainty must be present, uncertain or absent, got {certainty!r}")
    if name == "device":
        kind = kind or "central_line"
        if kind not in DEVICE_KINDS:
            raise ValueError(f"unknown device kind {kind!r} (expected one of {', '.join(DEVICE_KINDS)})")
    concept = _CONCEPT_OF[kind if name == "device" else name]
    words = concept.replace("_", " ")
    if plural:
        words += "es" if words.endswith("s") else "s"
    ents = list(entities)
    category = "device" if name == "device" else "finding"
    return Finding(name=concept, category=category, certainty=certainty, laterality=side, zone=zone,
                   zones=(zone,) if zone else (), size=size, severity=None, chronicity=None, change=None,
                   anatomy=(), entity=ents[0] if ents else -1, tokens=words,
                   labels=labels_for(concept, "chexpert"))


def findings_from_graph(graph: ReportGraph, method: str = "labels") -> list[Finding]:
    """Every drawable finding mention in ``graph`` (:func:`graphclr.reports.labels.findings`
    in the CheXpert schema, keeping the concepts of :data:`LABELS_CONCEPTS`).

    ``method`` is kept for old callers: ``"labels"``/``"auto"``; ``"rules"`` (a second,
    regex reader of graphclr 0.1) is deprecated and reads with the labeller too.
    """
    if method not in ("auto", "labels", "rules"):
        raise ValueError(f"method must be 'auto', 'labels' or 'rules', got {method!r}")
    if method == "rules":
        warnings.warn("findings_from_graph(method='rules') is deprecated: graphs are read by "
                      "graphclr.reports.labels.findings", DeprecationWarning, stacklevel=2)
    return [f for f in findings(graph, schema="chexpert") if f.name in LABELS_CONCEPTS]


def merge_findings(found: Iterable[Finding | Drawable]) -> list[Drawable]:
    """One drawable finding per (name, side, zone, kind): the most certain mention wins.

    A report often repeats a finding (findings and impression); drawing it twice would
    double its density.
    """
    best: dict[tuple, Drawable] = {}
    for f in found:
        d = f if isinstance(f, Drawable) else drawable(f)
        if d is None:
            continue
        key = (d.name, d.side, d.zone, d.kind) if d.name != "cardiomegaly" else (d.name,)
        old = best.get(key)
        if old is None or _PRIORITY[d.certainty] > _PRIORITY[old.certainty]:
            best[key] = d
        elif d.size and not old.size:
            best[key] = old._replace(size=d.size)
    # an unlocalised mention adds nothing when a localised one of the same finding exists
    out = []
    for d in best.values():
        if d.side is None and d.zone is None and d.name not in ("cardiomegaly", "edema", "device") and any(
                g.name == d.name and (g.side or g.zone) and _PRIORITY[g.certainty] >= _PRIORITY[d.certainty]
                for g in best.values()):
            continue
        out.append(d)
    return out


def _deprecated_finding(*args: Any, **kwargs: Any) -> Finding:
    warnings.warn("graphclr.synth.Finding is deprecated: findings are graphclr.reports.labels.Finding; "
                  "build one to draw with graphclr.synth.finding(...)", DeprecationWarning, stacklevel=2)
    return finding(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "Finding":  # graphclr 0.1's second Finding class, now a builder of the one class
        return _deprecated_finding
    raise AttributeError(f"module 'graphclr.synth.findings' has no attribute {name!r}")

