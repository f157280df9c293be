"""The synthetic paired benchmark: chest-radiograph-like images rendered from report graphs.

Real image-report pairs are credentialed and cannot reach every machine; this benchmark
runs anywhere and tests what graphclr claims: that an image encoder learns what the report
*graph* says (which finding, which side, which zone, how big). The reports are the real
Open-i reports, their graphs come from :mod:`graphclr.reports.extract`, and each image is drawn
from its graph (:mod:`graphclr.synth.render`) so the ground truth is known exactly,
including laterality. Everything it writes says "synthetic". See ``docs/synthetic.md``.
"""

from typing import Any

from graphclr.synth.build import (
    SPLIT_FRACTIONS,
    SYNTH_VERSION,
    build_synthetic_benchmark,
    load_synthetic,
    report_split,
    synthetic_item_id,
)
from graphclr.synth.counterfactual import FAMILIES as COUNTERFACTUAL_FAMILIES
from graphclr.synth.counterfactual import CounterfactualPair, make_pair
from graphclr.synth.counterfactual_set import build_counterfactuals, openi_counterfactuals
from graphclr.synth.findings import DEVICE_KINDS, FINDINGS, finding, findings_from_graph, merge_findings
from graphclr.synth.pairs import SyntheticPairDataset, synthetic_reports
from graphclr.synth.render import (
    DEFAULT_UNCERTAIN_PROB,
    EVAL_LABEL_COLUMNS,
    LABEL_COLUMNS,
    LATERALITY_COLUMNS,
    DrawnFinding,
    Patient,
    Renderer,
    SyntheticCase,
    plan_case,
    render_case,
)

__all__ = [
    "COUNTERFACTUAL_FAMILIES", "CounterfactualPair", "build_counterfactuals", "make_pair", "openi_counterfactuals",
    "DEFAULT_UNCERTAIN_PROB", "DEVICE_KINDS", "DrawnFinding", "EVAL_LABEL_COLUMNS", "FINDINGS",
    "finding", "LABEL_COLUMNS", "LATERALITY_COLUMNS", "Patient", "Renderer", "SPLIT_FRACTIONS",
    "SYNTH_VERSION", "SyntheticCase", "SyntheticPairDataset", "synthetic_reports", "build_synthetic_benchmark", "findings_from_graph",
    "load_synthetic", "merge_findings", "plan_case", "render_case", "report_split",
    "synthetic_item_id",
]


def __getattr__(name: str) -> Any:
    if name == "Finding":   # deprecated: the one Finding class is graphclr.reports.labels.Finding
        from graphclr.synth import findings

        return findings.__getattr__(name)
    raise AttributeError(f"module 'graphclr.synth' has no attribute {name!r}")
