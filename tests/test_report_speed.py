"""The fast paths of ``graphclr extract`` / ``graphclr label`` against their plain twins.

* ``label_graph`` reads observations without building :class:`Finding` objects; it is
  checked against labels computed from :func:`findings` (the public, slower view) by the
  rule its docstring states, on graphs of hand-written reports (synthetic text written
  for this test, no report copied) and on RadGraph-format graphs.
* Speed work must not change what is extracted: the graphs and labels of :data:`CORPUS`
  (through ``Extractor.extract``, ``Extractor.pipe`` and the two commands, which also
  write them) must equal a snapshot taken before the speed work,
  ``tests/fixtures/reports/extractor_snapshot.json``. A deliberate change of the rules
  regenerates it: ``python tests/test_report_speed.py --regenerate`` (then review the
  diff: it is the change in behaviour).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from graphclr.cli import main
from graphclr.reports.extract import Extractor
from graphclr.reports.labels import ABNORMAL_CATEGORIES, SCHEMAS, findings, label_graph
from graphclr.reports.schema import read_radgraph

FIX = Path(__file__).resolve().parent / "fixtures"
SNAPSHOT = FIX / "reports" / "extractor_snapshot.json"
#: the label settings the snapshot holds: (schema, uncertain policy)
LABEL_SETTINGS = (("cxr14", "negative"), ("chexpert", "keep"))

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


def _snapshot_now() -> dict:
    """What the snapshot holds, computed by the code as it is now."""
    ex = Extractor()
    graphs = [ex.extract(text, f"r{i}") for i, text in enumerate(CORPUS)]
    return {"graphs": {g.id: g.to_radgraph_record() for g in graphs},
            "labels": {f"{schema}/{unc}": {g.id: label_graph(g, schema, unc) for g in graphs}
                       for schema, unc in LABEL_SETTINGS}}


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_extraction_equals_the_snapshot(snapshot: dict) -> None:
    now = _snapshot_now()
    assert list(now["graphs"]) == list(snapshot["graphs"])
    for rid, record in snapshot["graphs"].items():
        assert now["graphs"][rid] == record, rid
    assert now["labels"] == snapshot["labels"]
    piped = {g.id: g.to_radgraph_record()
             for g in Extractor().pipe((f"r{i}", t) for i, t in enumerate(CORPUS))}
    assert piped == snapshot["graphs"]
    assert sum(len(r["entities"]) for r in piped.values()) > 5 * len(CORPUS)  # not empty


def test_commands_write_the_snapshot(tmp_path: Path, snapshot: dict) -> None:
    reports = tmp_path / "corpus.csv"
    with reports.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("id", "text"), *((f"r{i}", t) for i, t in enumerate(CORPUS))])
    assert main(["extract", str(reports), "--out", str(tmp_path / "g.json")]) == 0
    written = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    for rid, record in snapshot["graphs"].items():  # the CSV reader names the source
        assert written[rid] == {**record, "data_source": written[rid]["data_source"]}, rid
    assert list(written) == list(snapshot["graphs"])
    for (schema, unc), args in zip(LABEL_SETTINGS, ([], ["--schema", "chexpert", "--uncertain",
                                                          "keep"])):
        out = tmp_path / f"{schema}.csv"
        assert main(["label", str(reports), "--out", str(out), *args]) == 0
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        expected = snapshot["labels"][f"{schema}/{unc}"]
        assert [r["id"] for r in rows] == list(expected)
        for r in rows:
            assert {k: int(v) for k, v in r.items() if k != "id"} == expected[r["id"]], r["id"]


if __name__ == "__main__" and sys.argv[1:] == ["--regenerate"]:
    from graphclr.utils import atomic_write

    with atomic_write(SNAPSHOT) as fh:
        json.dump(_snapshot_now(), fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print("->", SNAPSHOT)
