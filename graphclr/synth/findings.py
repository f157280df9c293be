"""What a report graph says should be drawn: findings with certainty, side, zone and size.

The synthetic benchmark draws what the *graph* says, so this module reads graphs only
(never the report text). Two readers give the same :class:`Finding` records:

* ``method="labels"`` (the default when available): graphclr's graph labeller,
  :func:`graphclr.reports.labels.findings`, which normalises each observation with the extractor's
  lexicon (so "heart size normal" is cardiomegaly *absent*, "bibasilar" is bilateral lower)
  and whose concepts are mapped onto the drawable findings by :data:`LABELS_CONCEPTS`;
* ``method="rules"``: a small self-contained reader. An observation entity names a finding
  through its tokens (``effusion``, ``opacities``, ``cardiomegaly``, ...); its side, zone
  and size come from the tokens of entities connected to it by ``modify`` and
  ``located_at`` (up to three hops, without crossing into another finding): ``small``
  -modify-> ``effusion`` -located_at-> ``pleural`` <-modify- ``left`` gives a small left
  pleural effusion.

Sides are the *patient's* (``left`` = the patient's left, drawn on the image's right, as a
PA radiograph is displayed).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphclr.reports.schema import ReportGraph

__all__ = ["Finding", "FINDINGS", "DEVICE_KINDS", "LABELS_CONCEPTS", "findings_from_graph",
           "merge_findings"]

#: the findings the renderer can draw
FINDINGS: tuple[str, ...] = ("cardiomegaly", "effusion", "pneumothorax", "consolidation", "opacity",
                             "atelectasis", "pneumonia", "edema", "nodule", "mass", "device")
DEVICE_KINDS: tuple[str, ...] = ("ett", "ng_tube", "central_line", "pacemaker", "chest_tube")

# token (lower-case, stem match) -> finding; checked in order
_FINDING_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^cardiomegal", "cardiomegaly"),
    (r"^effusion", "effusion"),
    (r"^pneumothora", "pneumothorax"),
    (r"^consolidat", "consolidation"),
    (r"^atelecta", "atelectasis"),
    (r"^collapse", "atelectasis"),
    (r"^pneumoni", "pneumonia"),
    (r"^(o)?edema", "edema"),
    (r"^congesti", "edema"),
    (r"^nodul", "nodule"),
    (r"^granulom", "nodule"),
    (r"^mass(es)?$", "mass"),
    (r"^(opacit|opacif|densit|infiltrat|airspace)", "opacity"),
    (r"^(tube|catheter|picc|pacemaker|pacer|icd|port|cath)$", "device"),
)
_ENLARGED = re.compile(r"^(enlarg|large|prominen|increased|big|cardiomegal)")
_HEART = re.compile(r"^(heart|cardiac|cardiomediastin|cardio)")
_SIDE = {"left": "left", "right": "right", "bilateral": "bilateral", "both": "bilateral",
         "bibasilar": "bilateral", "bibasal": "bilateral", "retrocardiac": "left"}
_ZONE = (
    (re.compile(r"^(upper|apex|apical|apices|apic)"), "upper"),
    (re.compile(r"^(mid|middle|lingula|perihilar|hilar|hila)"), "middle"),
    (re.compile(r"^(lower|base|bases|basal|basilar|bibasilar|bibasal|retrocardiac|costophrenic)"), "lower"),
)
_SIZE = (
    (re.compile(r"^(small|tiny|minimal|trace|mild|minor|subtle|slight)"), "small"),
    (re.compile(r"^(moderate|moderately)"), "moderate"),
    (re.compile(r"^(large|massive|extensive|severe|marked|big|huge)"), "large"),
)
_DEVICE = (
    (re.compile(r"^(endotracheal|et|ett|tracheostomy)$"), "ett"),
    (re.compile(r"^(nasogastric|ng|enteric|feeding|orogastric|og|dobhoff)$"), "ng_tube"),
    (re.compile(r"^(pacemaker|pacer|icd|defibrillator|leads?)$"), "pacemaker"),
    (re.compile(r"^(chest|pleural|pigtail|thoracostomy)$"), "chest_tube"),
    (re.compile(r"^(picc|central|venous|catheter|line|port|jugular|subclavian|cath)$"), "central_line"),
)
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
_SEVERITY_SIZE = {"mild": "small", "minimal": "small", "moderate": "moderate", "severe": "large",
                  "marked": "large", "extensive": "large"}


@dataclass
class Finding:
    """One finding as the graph states it.

    Attributes:
        name: one of :data:`FINDINGS`.
        certainty: ``"present"``, ``"uncertain"`` or ``"absent"``.
        side: ``"left"``, ``"right"``, ``"bilateral"`` or ``None`` (not stated).
        zone: ``"upper"``, ``"middle"``, ``"lower"`` or ``None``.
        size: ``"small"``, ``"moderate"``, ``"large"`` or ``None``.
        kind: the device kind for ``name == "device"`` (one of :data:`DEVICE_KINDS`).
        plural: the mention is plural (``effusions``, ``nodules``).
        entities: indices of the graph entities that gave this finding.
    """

    name: str
    certainty: str
    side: str | None = None
    zone: str | None = None
    size: str | None = None
    kind: str | None = None
    plural: bool = False
    entities: list[int] = field(default_factory=list)


def _finding_of(token: str) -> str | None:
    for pat, name in _FINDING_PATTERNS:
        if re.match(pat, token):
            return name
    return None


def _neighbours(graph: ReportGraph) -> dict[int, list[tuple[int, str]]]:
    adj: dict[int, list[tuple[int, str]]] = {i: [] for i in range(len(graph.entities))}
    for r in graph.relations:
        if r.type in ("modify", "located_at"):
            adj[r.head].append((r.tail, r.type))
            adj[r.tail].append((r.head, r.type))
    return adj


def findings_from_graph(graph: ReportGraph, method: str = "auto") -> list[Finding]:
    """Every drawable finding mention in ``graph``, one :class:`Finding` per observation entity.

    Args:
        graph: the report graph.
        method: ``"labels"`` (graphclr.reports.labels), ``"rules"`` (this module's reader) or
            ``"auto"`` (labels when importable, else rules).
    """
    if method not in ("auto", "labels", "rules"):
        raise ValueError(f"method must be 'auto', 'labels' or 'rules', got {method!r}")
    if method != "rules":
        try:
            from graphclr.reports.labels import findings as label_findings
        except ImportError:
            if method == "labels":
                raise
        else:
            return _from_labels(graph, label_findings(graph, schema="chexpert"))
    return _from_rules(graph)


def _from_labels(graph: ReportGraph, found: Iterable[Any]) -> list[Finding]:
    out = []
    for f in found:
        target = LABELS_CONCEPTS.get(f.name or "")
        if target is None:
            continue
        name, kind = target
        size = f.size if f.size in ("small", "moderate", "large") else _SEVERITY_SIZE.get(f.severity or "")
        toks = f.tokens.lower().split()
        plural = any(t.endswith("s") and not t.endswith(("sis", "ss", "us")) and _finding_of(t) == name
                     for t in toks)
        out.append(Finding(name, f.certainty, f.laterality, f.zone, size, kind, plural, [f.entity]))
    return out


def _from_rules(graph: ReportGraph) -> list[Finding]:
    """The self-contained reader (``method="rules"``).

    Examples:
        >>> from graphclr.reports.schema import Entity, Relation, ReportGraph
        >>> g = ReportGraph("r", "small left pleural effusion no pneumothorax", [
        ...     Entity("small", "OBS-DP", 0, 0), Entity("left", "ANAT-DP", 1, 1),
        ...     Entity("pleural", "ANAT-DP", 2, 2), Entity("effusion", "OBS-DP", 3, 3),
        ...     Entity("pneumothorax", "OBS-DA", 5, 5)],
        ...     [Relation("modify", 0, 3), Relation("located_at", 3, 2), Relation("modify", 1, 2)])
        >>> [(f.name, f.certainty, f.side, f.size) for f in findings_from_graph(g, "rules")]
        [('effusion', 'present', 'left', 'small'), ('pneumothorax', 'absent', None, None)]
    """
    adj = _neighbours(graph)
    tokens = [e.tokens.lower().split() for e in graph.entities]
    named: dict[int, str] = {}
    for i, ent in enumerate(graph.entities):
        if not ent.is_observation:
            continue
        for tok in tokens[i]:
            name = _finding_of(tok)
            if name:
                named[i] = name
                break
        if i not in named and any(_ENLARGED.match(t) for t in tokens[i]):
            named[i] = "enlarged?"  # cardiomegaly if it reaches the heart, below
    out: list[Finding] = []
    for i, name in named.items():
        # context: entities within 3 hops, not passing through another finding
        seen = {i}
        ctx: list[str] = []
        queue = deque([(i, 0)])
        while queue:
            node, depth = queue.popleft()
            if depth >= 3:
                continue
            for nxt, _ in adj[node]:
                if nxt in seen or (nxt in named and named[nxt] != "enlarged?"):
                    continue
                seen.add(nxt)
                ctx.extend(tokens[nxt])
                queue.append((nxt, depth + 1))
        own = tokens[i]
        words = own + ctx
        if name == "enlarged?":
            if not any(_HEART.match(t) for t in words):
                continue
            name = "cardiomegaly"
        elif name in ("opacity", "mass") and any(_HEART.match(t) for t in own):
            continue
        sides = {_SIDE[t] for t in words if t in _SIDE}
        side = "bilateral" if "bilateral" in sides or {"left", "right"} <= sides else (
            next(iter(sides)) if sides else None)
        zone = next((z for t in words for pat, z in _ZONE if pat.match(t)), None)
        size = next((s for t in own + ctx for pat, s in _SIZE if pat.match(t)), None)
        kind = None
        if name == "device":
            kind = next((k for t in words for pat, k in _DEVICE if pat.match(t)), "central_line")
        plural = any(t.endswith("s") and not t.endswith(("sis", "ss", "us")) and _finding_of(t) == name
                     for t in own)
        out.append(Finding(name, graph.entities[i].certainty, side, zone, size, kind, plural, [i]))
    return out


def merge_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (name, side, zone, kind): the most certain mention wins.

    A report often repeats a finding (findings and impression); drawing it twice would
    double its density.
    """
    best: dict[tuple, Finding] = {}
    for f in findings:
        key = (f.name, f.side, f.zone, f.kind) if f.name != "cardiomegaly" else (f.name,)
        old = best.get(key)
        if old is None or _PRIORITY[f.certainty] > _PRIORITY[old.certainty]:
            best[key] = f
        elif old is not None and f.size and not old.size:
            old.size = f.size
    # an unlocalised mention adds nothing when a localised one of the same finding exists
    out = []
    for key, f in best.items():
        if f.side is None and f.zone is None and f.name not in ("cardiomegaly", "edema", "device") and any(
                g.name == f.name and (g.side or g.zone) and _PRIORITY[g.certainty] >= _PRIORITY[f.certainty]
                for g in best.values()):
            continue
        out.append(f)
    return out
