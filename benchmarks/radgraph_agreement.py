"""Agreement between two RadGraph JSON files: entity and relation micro-F1.

Issue 9's RadGraph-XL goal (relation micro-F1 >= 0.70, entity micro-F1 >= 0.85 against a
RadGraph-XL model on real MIMIC-CXR impressions) cannot be measured in this repository:
MIMIC-CXR is credentialed and no model is downloaded. This script is what a user who has
both runs: ``REFERENCE`` is, for example, the ``radgraph`` package's output on MIMIC-CXR
impressions, ``PREDICTED`` the built-in extractor's graphs of the same reports (or, with
``--extract``, the script extracts them itself from the reference texts).

Matching. Reports are paired by id. Entities are compared as ``(character span, v1
label)`` and relations as ``(head span, tail span, type)``, where a span is the
entity's characters in its report text with all whitespace removed: the two files may
tokenize differently ("x-ray" vs "x - ray") and still agree. A report whose texts differ
beyond whitespace is counted in ``text_mismatch`` and not scored. Labels are read in any
released layout (RadGraph-XL ``Observation::definitely present`` is v1 ``OBS-DP``).
Micro-F1 sums true positives, predictions and references over all paired reports.

Run from the repository root::

    .venv/bin/python benchmarks/radgraph_agreement.py radgraph_xl.json graphs.json
    .venv/bin/python benchmarks/radgraph_agreement.py radgraph_xl.json --extract --out agreement.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _char_spans(text: str) -> list[tuple[int, int]]:
    """Per token of ``text.split()``: its [start, end) in ``text`` without whitespace."""
    spans, pos = [], 0
    for tok in text.split():
        spans.append((pos, pos + len(tok)))
        pos += len(tok)
    return spans


def graph_items(graph: Any) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """``(entities, relations)`` of a graph as comparable tuples (see the module doc)."""
    from graphclr.reports.schema import normalise_label

    spans = _char_spans(graph.text)
    keys = []
    for e in graph.entities:
        keys.append((spans[e.start_ix][0], spans[e.end_ix][1]))
    ents = {(k, normalise_label(e.label)[0]) for k, e in zip(keys, graph.entities)}
    rels = {(keys[r.head], keys[r.tail], r.type) for r in graph.relations
            if 0 <= r.head < len(keys) and 0 <= r.tail < len(keys)}
    return ents, rels


def _prf(tp: int, n_pred: int, n_ref: int) -> dict[str, float | int]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_ref if n_ref else 0.0
    f = 2 * tp / (n_pred + n_ref) if n_pred + n_ref else 0.0
    return {"tp": tp, "predicted": n_pred, "reference": n_ref, "precision": round(p, 4),
            "recall": round(r, 4), "f1": round(f, 4)}


def agreement(reference: Iterable[Any], predicted: Iterable[Any]) -> dict[str, Any]:
    """Entity and relation micro-P/R/F1 of ``predicted`` against ``reference`` graphs."""
    pred = {g.id: g for g in predicted}
    counts = {"entity": [0, 0, 0], "relation": [0, 0, 0]}
    paired = missing = mismatch = 0
    for ref in reference:
        g = pred.get(ref.id)
        if g is None:
            missing += 1
            continue
        if "".join(ref.text.split()) != "".join(g.text.split()):
            mismatch += 1
            continue
        paired += 1
        for name, a, b in zip(("entity", "relation"), graph_items(ref), graph_items(g)):
            c = counts[name]
            c[0] += len(a & b)
            c[1] += len(b)
            c[2] += len(a)
    return {"reports_scored": paired, "missing_in_predicted": missing, "text_mismatch": mismatch,
            "entity": _prf(*counts["entity"]), "relation": _prf(*counts["relation"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference", type=Path, help="RadGraph JSON (e.g. a RadGraph-XL model's output)")
    ap.add_argument("predicted", type=Path, nargs="?", help="RadGraph JSON to score")
    ap.add_argument("--extract", action="store_true",
                    help="score the built-in extractor on the reference texts instead")
    ap.add_argument("--labeler", default=None, help="labeler of a nested (test-set) reference file")
    ap.add_argument("--out", type=Path, default=None, help="also write the result as JSON")
    args = ap.parse_args(argv)
    from graphclr.reports.schema import read_radgraph

    if (args.predicted is None) == (not args.extract):
        print("radgraph_agreement: give PREDICTED or --extract (one of them)", file=sys.stderr)
        return 2
    for path in (args.reference, args.predicted):
        if path is not None and not path.is_file():
            print(f"radgraph_agreement: {path}: no such file", file=sys.stderr)
            return 2
    reference = list(read_radgraph(args.reference, labeler=args.labeler))
    if args.extract:
        from graphclr.reports.extract import Extractor

        ex = Extractor(sections=(), fallback="all", include_headers=False)
        predicted = [ex.extract(g.text, g.id) for g in reference]
    else:
        predicted = list(read_radgraph(args.predicted))
    result = agreement(reference, predicted)
    print(f"reports {result['reports_scored']} (missing {result['missing_in_predicted']}, "
          f"text mismatch {result['text_mismatch']}); entity micro-F1 {result['entity']['f1']:.3f}, "
          f"relation micro-F1 {result['relation']['f1']:.3f}")
    if args.out is not None:
        from graphclr.utils import atomic_write

        with atomic_write(args.out) as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
