r"""The ``counterfactual`` evaluation: every encoder scored on counterfactual report pairs.

A pair (:class:`graphclr.synth.counterfactual.CounterfactualPair`) is two versions of one
study that differ in one structural fact, in the report text, the graph re-extracted from
it and the rendered image. Per family the model gets the Winoground image, text and group
scores (chance 1/2, 1/2, 1/6; ties count as failures, so a report encoder that cannot tell
the two reports apart scores 0, not chance) and a linear probe on the fact
(:func:`graphclr.eval.winoground.score_counterfactuals`).

The pairs come from the data, as a *resource* of the evaluation context
(``ctx.resources["counterfactuals"]``, a :class:`CounterfactualSource`): the synthetic
benchmark supplies one that starts pairs only from reports of its **test** split, so neither
a probe's source report nor its edited versions are ever in pretraining
(:mod:`graphclr.synth.counterfactual_set`). ``split: "val"`` scores pairs from the
validation reports instead, to choose a recipe without looking at the test pairs. Data
without a source skips the evaluation (with a message). Building the Open-i pairs takes about a minute, so a source keeps them in
its cache folder (``OUT/counterfactuals``), keyed by everything they depend on; a resumed or
second seed's run reads them back.

Examples:
    >>> from graphclr.eval.config import EvalConfig
    >>> from graphclr.eval.evaluations import EvalContext
    >>> cfg = EvalConfig.from_dict({"counterfactual": {"families": ["binding"], "max_per_family": 10}})
    >>> cfg.get("counterfactual")
    CounterfactualCfg(families=('binding',), max_per_family=10, probe_folds=5, split='test')
    >>> run_counterfactual(EvalContext(None, {}, cfg), cfg.get("counterfactual"))   # no pair source
    (None, {})
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CounterfactualSource", "run_counterfactual"]


class CounterfactualSource:
    """Counterfactual pairs of a synthetic benchmark, built once and cached.

    Args:
        cache_dir: where the pairs are kept (a pickle per set of settings; ``None``: memory only).
        seed: the synthetic benchmark's seed (its split, patients and template choices).
        image_size: the size its images were built at (probe images are drawn the same way).
        reports: the report corpus: an Open-i archive path (``None``: torchxrayvision's) or a
            list of ``(id, text)`` pairs (tests).
        split: the benchmark split the pairs start from (``"test"``; ``None``: every report,
            for a corpus that is not a benchmark's).
    """

    def __init__(self, cache_dir: str | Path | None, *, seed: int = 0, image_size: int | None = None,
                 reports: Any = None, split: str | None = "test") -> None:
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.seed, self.image_size, self.reports, self.split = int(seed), image_size, reports, split
        self._memo: dict[str, dict[str, list[Any]]] = {}

    def with_split(self, split: str | None) -> CounterfactualSource:
        """The same corpus and cache, pairs from another split (a source over every report,
        ``split=None``, stays as it is: its corpus has no splits)."""
        if self.split is None or split == self.split:
            return self
        return CounterfactualSource(self.cache_dir, seed=self.seed, image_size=self.image_size,
                                    reports=self.reports, split=split)

    def key(self, families: Sequence[str], max_per_family: int) -> str:
        from graphclr.synth.build import SPLIT_FRACTIONS, SYNTH_VERSION

        corpus = self.reports if self.reports is None or isinstance(self.reports, (str, Path)) \
            else hashlib.sha1(repr(list(self.reports)).encode()).hexdigest()
        blob = json.dumps([list(families), int(max_per_family), self.seed, self.split, str(corpus),
                           SPLIT_FRACTIONS, SYNTH_VERSION], sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def pairs(self, families: Sequence[str], max_per_family: int) -> dict[str, list[Any]]:
        """``{family: [CounterfactualPair, ...]}`` (at most ``max_per_family`` each)."""
        from graphclr.utils import atomic_write

        key = self.key(families, max_per_family)
        if key in self._memo:
            return self._memo[key]
        path = None if self.cache_dir is None else self.cache_dir / f"pairs-{key}.pkl"
        if path is not None and path.is_file():
            with path.open("rb") as fh:
                sets = pickle.load(fh)
        else:
            sets = self._build(families, max_per_family)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(path, "wb") as fh:
                    pickle.dump(sets, fh)
        self._memo[key] = sets
        return sets

    def _build(self, families: Sequence[str], max_per_family: int) -> dict[str, list[Any]]:
        from graphclr.synth.counterfactual_set import build_counterfactuals, openi_counterfactuals

        kw = {"families": tuple(families), "seed": self.seed, "split": self.split, "max_per_family": max_per_family}
        if self.reports is None or isinstance(self.reports, (str, Path)):
            return openi_counterfactuals(self.reports, **kw)
        return build_counterfactuals(self.reports, **kw)


def run_counterfactual(ctx: Any, cfg: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Winoground scores and the fact probe per family; ``(None, {})`` without a pair source."""
    from graphclr.eval.winoground import score_counterfactuals

    source = ctx.resources.get("counterfactuals")
    if source is None:
        ctx.echo("counterfactual: skipped (the data supplies no counterfactual pairs; the synthetic benchmark does)")
        return None, {}
    source = source.with_split(cfg.split)
    pairs = source.pairs(cfg.families, cfg.max_per_family)
    res = score_counterfactuals(ctx.model, pairs, image_size=source.image_size, device=ctx.device,
                                probe_folds=cfg.probe_folds, seed=0)
    where = source.split or "all"
    for scores in res.values():
        scores["split"] = where   # where the pairs started (the report says so)
    ctx.echo(f"counterfactual group score ({where} pairs): "
             + ", ".join(f"{f} {r['group']:.2f} ({r['n_pairs']} pairs)" for f, r in res.items()))
    return res, {}
