"""The fast paths of ``graphclr extract`` / ``graphclr label`` against their plain twins.

``label_graph`` reads observations without building :class:`Finding` objects; here it is
checked against labels computed from :func:`findings` (the public, slower view) by the
rule its docstring states, on graphs of hand-written reports (synthetic text written
for this test, no report copied) and on RadGraph-format graphs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graphclr.reports.extract import Extractor
from graphclr.reports.labels import ABNORMAL_CATEGORIES, SCHEMAS, findings, label_graph
from graphclr.reports.schema import read_radgraph

FIX = Path(__file__).resolve().parent / "fixtures"

#: hand-written (synthetic) reports covering negation, uncertainty, sides, locations,
#: devices, refinements ("heart size normal") and modifiers
CORPUS: tuple[str, ...] = (
    "FINDINGS: Small left pleural effusion. No pneumothorax. IMPRESSION: Mild cardiomegaly.",
    "FINDINGS: Heart size is normal. Lungs are clear. No focal consolidation.",
    "FINDINGS: Patchy opacity in the right lower lobe may represent pneumonia or atelectasis.",
    "IMPRESSION: Endotracheal tube tip 4 cm above the carina. Nasogastric tube in the stomach.",
    "FINDINGS: Low lung volumes. Calcified granuloma in the left upper lobe. Stable "
    "hyperexpanded lungs compatible with emphysema.",
    "FINDINGS: Opacities bilaterally, most prominent in the lung bases, concerning for edema.",
    "FINDINGS: Nodules in the right midlung and left upper lung. Old fracture, right mid "
    "clavicle. Hiatal hernia.",
    "IMPRESSION: No acute cardiopulmonary abnormality. Possible small right apical "
    "pneumothorax cannot be excluded.",
    "FINDINGS: Interstitial markings are increased, likely fibrosis. Bibasilar atelectasis. "
    "Left-sided pleural thickening. Mass in the RLL.",
    "FINDINGS: ___ No effusion.\n\nThe cardiomediastinal silhouette is within normal limits.",
)


def _labels_from_findings(graph, schema: str, uncertain: str) -> dict[str, int]:
    """label_graph's rule, read off findings(): the reference for the fast path."""
    rank = {"absent": 0, "uncertain": 1, "present": 2}
    unc = {"negative": 0, "positive": 1, "keep": -1}[uncertain]
    fs = findings(graph, schema=schema)
    out: dict[str, int] = {}
    for lab in SCHEMAS[schema]:
        if lab in ("normal", "No Finding"):
            worst = max((rank[f.certainty] for f in fs
                         if f.category in ABNORMAL_CATEGORIES[schema]), default=-1)
            out[lab] = 0 if worst == 2 else ((-1 if uncertain == "keep" else 0)
                                             if worst == 1 else 1)
            continue
        best = max((rank[f.certainty] for f in fs if lab in f.labels), default=-1)
        out[lab] = 1 if best == 2 else (unc if best == 1 else 0)
    return out


def _graphs() -> list:
    ex = Extractor()
    graphs = [ex.extract(text, f"r{i}") for i, text in enumerate(CORPUS)]
    for path in sorted((FIX / "radgraph").glob("*.json")):
        try:
            graphs.extend(read_radgraph(path, strict=False))
        except Exception:  # noqa: BLE001 - fixtures of bad input are not graphs to label
            continue
    return graphs


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
@pytest.mark.parametrize("uncertain", ["negative", "positive", "keep"])
def test_label_graph_matches_labels_read_off_findings(schema: str, uncertain: str) -> None:
    graphs = _graphs()
    assert len(graphs) > len(CORPUS)  # the RadGraph fixtures were read too
    assert any(v == 1 for g in graphs for v in label_graph(g, schema, uncertain).values())
    for g in graphs:
        assert label_graph(g, schema, uncertain) == _labels_from_findings(g, schema, uncertain), g.id
