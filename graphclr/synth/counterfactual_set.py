"""Counterfactual probe sets from a report collection (Open-i, or any ``(id, text)`` pairs).

Which reports a probe may start from: only those of the synthetic benchmark's **test**
split (:func:`graphclr.synth.build.report_split` with the benchmark's seed), by default.
Pretraining reads the train split only, so neither a probe's source report nor its edited
versions are ever seen in pretraining (the stricter of the two choices the issue allows).
``split=None`` uses every report (for corpora that are not a benchmark's, such as tests').

Open-i report text is licensed CC BY-NC-ND: :func:`openi_counterfactuals` reads it in place
from torchxrayvision's archive at run time; nothing here stores it.

Examples:
    >>> reports = [("r1", "FINDINGS: Small left pleural effusion. No pneumothorax."),
    ...            ("r2", "IMPRESSION: Right upper lobe opacity.")]
    >>> sets = build_counterfactuals(reports, split=None)
    >>> {k: len(v) for k, v in sets.items()}
    {'binding': 1, 'laterality': 2, 'negation': 2, 'zone': 2, 'size': 2}
    >>> [p.source_id for p in sets["binding"]]   # r1 states an effusion and a pneumothorax: no two groups left
    ['r2']
    >>> [p.edit for p in sets["laterality"]], [p.edit for p in sets["negation"]]
    (['in_place', 'in_place'], ['template', 'template'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from graphclr.synth.build import SPLIT_FRACTIONS, report_split
from graphclr.synth.case import DEFAULT_UNCERTAIN_PROB
from graphclr.synth.counterfactual import FAMILIES, CounterfactualPair, make_pair

__all__ = ["build_counterfactuals", "openi_counterfactuals", "pair_counts", "training_pairs"]


def _id_text(item: Any, index: int) -> tuple[str, str]:
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return str(item[0]), str(item[1])
    if hasattr(item, "id") and hasattr(item, "text"):
        return str(item.id), str(item.text)
    raise TypeError(f"report {index}: expected an (id, text) pair or an object with .id and .text, "
                    f"got {type(item).__name__}")


def build_counterfactuals(reports: Iterable[Any], families: Sequence[str] = FAMILIES, *, seed: int = 0,
                          split: str | None = "test", fractions: dict[str, float] | None = None,
                          uncertain_prob: float = DEFAULT_UNCERTAIN_PROB, extractor: Any = None,
                          max_per_family: int | None = None) -> dict[str, list[CounterfactualPair]]:
    """Counterfactual pairs per family, at most one per report and family.

    Args:
        reports: ``(id, text)`` pairs or report objects (``.id``, ``.text``), raw report text
            (the extractor selects FINDINGS and IMPRESSION).
        families: which of :data:`~graphclr.synth.counterfactual.FAMILIES` to build.
        seed: the synthetic benchmark's seed (split, patients, template choices).
        split: keep reports of this benchmark split only (``None``: all).
        fractions: the benchmark's split fractions (default ``SPLIT_FRACTIONS``).
        uncertain_prob: as for the benchmark build.
        extractor: a :class:`graphclr.reports.extract.Extractor` (default: a new one).
        max_per_family: stop a family once it has this many pairs.
    """
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise ValueError(f"unknown counterfactual families {bad} (expected some of {', '.join(FAMILIES)})")
    if split is not None and split not in SPLIT_FRACTIONS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_FRACTIONS)} or None, got {split!r}")
    if extractor is None:
        from graphclr.reports.extract import Extractor

        extractor = Extractor()
    fr = dict(fractions or SPLIT_FRACTIONS)
    out: dict[str, list[CounterfactualPair]] = {f: [] for f in families}
    for index, item in enumerate(reports):
        rid, raw = _id_text(item, index)
        if split is not None and report_split(rid, seed, fr) != split:
            continue
        todo = [f for f in families if max_per_family is None or len(out[f]) < max_per_family]
        if not todo:
            break
        text = extractor.extract(raw, rid).text
        if not text.strip():
            continue
        base = extractor.extract(text, rid)   # the pair's graphs all come from their own texts
        for family in todo:
            pair = make_pair(family, rid, text, seed=seed, extract=extractor.extract,
                             uncertain_prob=uncertain_prob, graph=base)
            if pair is not None:
                out[family].append(pair)
    return out


def openi_counterfactuals(path: str | os.PathLike[str] | None = None, **kwargs: Any,
                          ) -> dict[str, list[CounterfactualPair]]:
    """:func:`build_counterfactuals` on the Open-i reports, read in place (``path``: the
    archive, default torchxrayvision's ``NLMCXR_reports.tgz``)."""
    from graphclr.reports.readers import read_openi

    return build_counterfactuals(read_openi(path), **kwargs)


def pair_counts(sets: dict[str, list[CounterfactualPair]]) -> dict[str, dict[str, int]]:
    """Pairs per family, in all and by how they were made (``in_place`` / ``template``)."""
    return {f: {"pairs": len(ps), "in_place": sum(p.edit == "in_place" for p in ps),
                "template": sum(p.edit == "template" for p in ps)} for f, ps in sets.items()}


def training_pairs(graphs: Iterable[Any], families: Sequence[str] = FAMILIES, *, seed: int = 0,
                   uncertain_prob: float = DEFAULT_UNCERTAIN_PROB, extractor: Any = None
                   ) -> list[CounterfactualPair]:
    """At most one counterfactual pair per report, the families taken in turn, for pretraining.

    Report ``k`` (in the given order) tries ``families[k % F]`` first, then the next ones,
    and gives the first pair it can. The caller passes *training* reports only: the
    evaluation's pairs start from test reports, so no probe pair or edit of one is ever
    trained on. The pairs are made exactly like the probes' (:func:`make_pair`, same
    templates), so training on them is *in-distribution* hard-negative training.

    Args:
        graphs: the reports' graphs (``.id``, ``.text``: the extractor's text).
        families, seed, uncertain_prob, extractor: as for :func:`build_counterfactuals`.
    """
    bad = [f for f in families if f not in FAMILIES]
    if bad or not families:
        raise ValueError(f"unknown counterfactual families {bad or list(families)} "
                         f"(expected some of {', '.join(FAMILIES)})")
    if extractor is None:
        from graphclr.reports.extract import Extractor

        extractor = Extractor()
    out = []
    for k, g in enumerate(graphs):
        if not g.text.strip():
            continue
        base = extractor.extract(g.text, g.id)
        for j in range(len(families)):
            family = families[(k + j) % len(families)]
            pair = make_pair(family, g.id, g.text, seed=seed, extract=extractor.extract,
                             uncertain_prob=uncertain_prob, graph=base)
            if pair is not None:
                out.append(pair)
                break
    return out
