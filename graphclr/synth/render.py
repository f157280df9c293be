"""Render a synthetic frontal chest radiograph whose findings follow a report graph.

Two steps, so that labels never depend on pixels:

1. :func:`plan_case` (:mod:`graphclr.synth.case`) turns a graph into a
   :class:`SyntheticCase`: the patient's seeded anatomy and the findings to draw, with
   resolved side, zone, size and position; its :meth:`~SyntheticCase.labels` are what is
   drawn.
2. :func:`render_case` or a reusable :class:`Renderer` (:mod:`graphclr.synth.paint`) paints
   the case into a ``uint8 [size, size]`` array; :func:`save_png`
   (:mod:`graphclr.synth.png`) writes it.

This module gathers the three steps under one name (the path graphclr 0.1 used).

Examples:
    >>> from graphclr.synth.findings import finding
    >>> case = plan_case(None, "case-1", 0, findings=[finding("pneumothorax", side="right")])
    >>> render_case(case, 64).shape, case.labels()["Pneumothorax_Right"]
    ((64, 64), 1)
"""

from __future__ import annotations

from graphclr.synth.case import (
    DEFAULT_UNCERTAIN_PROB,
    EVAL_LABEL_COLUMNS,
    LABEL_COLUMNS,
    LATERALITY_COLUMNS,
    DrawnFinding,
    Patient,
    SyntheticCase,
    case_metadata,
    plan_case,
)
from graphclr.synth.paint import Renderer, render_case
from graphclr.synth.png import encode_png, save_png

__all__ = ["Patient", "DrawnFinding", "SyntheticCase", "Renderer", "plan_case", "render_case",
           "case_metadata", "encode_png", "save_png", "LABEL_COLUMNS", "EVAL_LABEL_COLUMNS",
           "LATERALITY_COLUMNS", "DEFAULT_UNCERTAIN_PROB"]
