"""Typed settings of the evaluation protocol: which evaluations run, and how.

An :class:`EvalConfig` is read from a JSON object (a benchmark spec's ``evaluations``
section, or ``graphclr eval --config``) by :meth:`EvalConfig.from_dict`, strictly: an
unknown or mistyped field is an error that names it. The evaluations that run are the keys
present, in the protocol's order (:data:`EVALUATIONS`); their settings are small frozen
dataclasses. The other keys (``labels``, ``n_bootstrap``, ``probe``, ``readers``) are shared
by every evaluation.

Adding an evaluation is one :class:`Evaluation` entry in :data:`EVALUATIONS`: its name (the
JSON key and the results key), its config dataclass and the function that runs it
(``"module:function"``, imported on use; see :mod:`graphclr.eval.evaluations` for the
signature).

Examples:
    >>> cfg = EvalConfig.from_dict({"linear_probe": {"fractions": [0.1, 1.0]}, "zero_shot": {},
    ...                             "n_bootstrap": 200})
    >>> cfg.names(), cfg.get("linear_probe").fractions, cfg.get("linear_probe").seeds
    (['linear_probe', 'zero_shot'], (0.1, 1.0), (0, 1, 2))
    >>> cfg.get("few_shot") is None
    True
    >>> EvalConfig.from_dict({"few_shot": {"k": [1]}})
    Traceback (most recent call last):
    ValueError: evaluations.few_shot: unknown field(s) ['k']; known: ['ks', 'seeds']
    >>> EvalConfig.from_dict({"linear_probe": {"fractions": [0, 1]}})
    Traceback (most recent call last):
    ValueError: evaluations.linear_probe.fractions: each fraction must be in (0, 1]; got 0
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphclr.constants import EVAL_LABELS
from graphclr.eval.igcl_preset import IGCLPresetCfg
from graphclr.eval.probe import ProbeConfig
from graphclr.nn._config import dataclass_from_dict

__all__ = ["EvalConfig", "Evaluation", "EVALUATIONS", "DEFAULT_EVALUATIONS", "LinearProbeCfg", "FewShotCfg",
           "ZeroShotCfg", "LateralityTask", "LateralityCfg", "RetrievalCfg", "CounterfactualCfg", "SHARED_FIELDS"]


def _ints(values: Any, where: str, *, minimum: int | None = None) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{where}: expected a non-empty list of integers; got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
            bound = f" >= {minimum}" if minimum is not None else ""
            raise ValueError(f"{where}: each value must be an integer{bound}; got {v!r}")
        out.append(int(v))
    return tuple(out)


def _fractions(values: Any, where: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{where}: expected a non-empty list of fractions; got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ValueError(f"{where}: each fraction must be in (0, 1]; got {v!r}")
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class LinearProbeCfg:
    """Linear probes at each label fraction, repeated over seeds (:func:`linear_probe_eval`)."""

    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)

    def validate(self, where: str) -> LinearProbeCfg:
        return LinearProbeCfg(_fractions(self.fractions, f"{where}.fractions"), _ints(self.seeds, f"{where}.seeds"))


@dataclass(frozen=True)
class FewShotCfg:
    """K-shot probes: K positives per label (:func:`few_shot_eval`)."""

    ks: tuple[int, ...] = (1, 5, 10)
    seeds: tuple[int, ...] = (0,)

    def validate(self, where: str) -> FewShotCfg:
        return FewShotCfg(_ints(self.ks, f"{where}.ks", minimum=1), _ints(self.seeds, f"{where}.seeds"))


@dataclass(frozen=True)
class ZeroShotCfg:
    """Zero-shot from prompts: a shipped prompt set name or a prompt JSON path; ``labels``
    defaults to the protocol's labels (those the test set has)."""

    prompts: str = "chexpert5"
    labels: tuple[str, ...] | None = None

    def validate(self, where: str) -> ZeroShotCfg:
        if not isinstance(self.prompts, str):
            raise ValueError(f"{where}.prompts: expected a prompt set name or path; got {self.prompts!r}")
        labels = None if self.labels is None else tuple(_strings(self.labels, f"{where}.labels"))
        return ZeroShotCfg(self.prompts, labels)


@dataclass(frozen=True)
class LateralityTask:
    """One left-vs-right task (:func:`laterality_task`): a probe, and zero-shot when
    ``prompts`` is given. ``seeds`` defaults to the linear probe's seeds."""

    name: str
    left: str
    right: str
    fractions: tuple[float, ...] = (1.0,)
    seeds: tuple[int, ...] | None = None
    prompts: str | None = None

    def validate(self, where: str) -> LateralityTask:
        for key in ("name", "left", "right"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"{where}.{key}: expected a non-empty string; got {getattr(self, key)!r}")
        seeds = None if self.seeds is None else _ints(self.seeds, f"{where}.seeds")
        return LateralityTask(self.name, self.left, self.right, _fractions(self.fractions, f"{where}.fractions"),
                              seeds, self.prompts or None)


@dataclass(frozen=True)
class LateralityCfg:
    """Laterality tasks; in JSON a list of :class:`LateralityTask` objects."""

    tasks: tuple[LateralityTask, ...] = ()

    @classmethod
    def from_json(cls, value: Any, where: str) -> LateralityCfg:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list of tasks ({{'name', 'left', 'right', ...}}); got {value!r}")
        tasks = [dataclass_from_dict(LateralityTask, t, f"{where}[{i}]").validate(f"{where}[{i}]")
                 for i, t in enumerate(value)]
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: task names must be unique; got {names}")
        return cls(tuple(tasks))


@dataclass(frozen=True)
class RetrievalCfg:
    """Image <-> report Recall@K on the paired test items (:func:`retrieval_recall`)."""

    ks: tuple[int, ...] = (1, 5, 10)

    def validate(self, where: str) -> RetrievalCfg:
        return RetrievalCfg(_ints(self.ks, f"{where}.ks", minimum=1))


@dataclass(frozen=True)
class CounterfactualCfg:
    """Counterfactual report pairs scored the Winoground way, per family
    (:mod:`graphclr.eval.counterfactuals`; pairs from :mod:`graphclr.synth.counterfactual_set`).

    ``families``: which of binding, laterality, negation, zone, size; ``max_per_family``:
    pairs per family (the first ones met in the benchmark's test-split reports);
    ``probe_folds``: cross-validation folds of the linear probe on the fact; ``split``: the
    benchmark split the pairs start from, ``"test"`` (the scores reported) or ``"val"`` (to
    choose a recipe, such as the pretraining budget, without looking at the test pairs). Runs
    where the data can supply pairs (the synthetic benchmark); elsewhere it is reported as skipped.
    """

    families: tuple[str, ...] = ("binding", "laterality", "negation", "zone", "size")
    max_per_family: int = 250
    probe_folds: int = 5
    split: str = "test"

    def validate(self, where: str) -> CounterfactualCfg:
        from graphclr.synth.counterfactual import FAMILIES

        fams = list(self.families) if isinstance(self.families, (list, tuple)) else [self.families]
        if not fams or any(f not in FAMILIES for f in fams) or len(set(fams)) != len(fams):
            raise ValueError(f"{where}.families: expected distinct names among {list(FAMILIES)}; got {fams}")
        (n,), (k,) = _ints([self.max_per_family], f"{where}.max_per_family", minimum=2), \
            _ints([self.probe_folds], f"{where}.probe_folds", minimum=2)
        if self.split not in ("val", "test"):
            raise ValueError(f"{where}.split: expected 'val' or 'test' (pairs never start from training "
                             f"reports, which pretraining sees); got {self.split!r}")
        return CounterfactualCfg(tuple(fams), n, k, self.split)


def _strings(values: Any, where: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values \
            or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{where}: expected a non-empty list of label names; got {values!r}")
    return list(values)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the protocol.

    Attributes:
        name: the JSON key that enables it and the key of its results.
        config: its settings dataclass; read with ``config.from_json(value, where)`` when it
            has one, else strictly from a JSON object (then ``validate(where)`` if defined).
        run: ``"module:function"``; called as ``function(ctx, cfg)`` with an
            :class:`graphclr.eval.evaluations.EvalContext`, returning ``(result, scores)``:
            the JSON-able result (``None``: nothing to report) and named score arrays.
        needs_reports: it needs report embeddings of the paired test items.
    """

    name: str
    config: type
    run: str
    needs_reports: bool = False

    def read(self, value: Any, where: str) -> Any:
        reader = getattr(self.config, "from_json", None)
        if reader is not None:
            return reader(value, where)
        cfg = dataclass_from_dict(self.config, {} if value is None else value, where)
        return cfg.validate(where) if hasattr(cfg, "validate") else cfg

    def runner(self) -> Any:
        module, func = self.run.split(":")
        return getattr(importlib.import_module(module), func)


#: the protocol's evaluations, in the order they run and are reported
EVALUATIONS: dict[str, Evaluation] = {e.name: e for e in (
    Evaluation("linear_probe", LinearProbeCfg, "graphclr.eval.evaluations:run_linear_probe"),
    Evaluation("few_shot", FewShotCfg, "graphclr.eval.evaluations:run_few_shot"),
    Evaluation("zero_shot", ZeroShotCfg, "graphclr.eval.evaluations:run_zero_shot"),
    Evaluation("laterality", LateralityCfg, "graphclr.eval.evaluations:run_laterality"),
    Evaluation("retrieval", RetrievalCfg, "graphclr.eval.evaluations:run_retrieval", needs_reports=True),
    Evaluation("counterfactual", CounterfactualCfg, "graphclr.eval.counterfactuals:run_counterfactual"),
    Evaluation("igcl", IGCLPresetCfg, "graphclr.eval.igcl_preset:run_igcl"),   # the reference protocol
)}

#: what runs when nothing says otherwise (``graphclr eval`` without --config or --spec)
DEFAULT_EVALUATIONS: dict[str, Any] = {"linear_probe": {}, "few_shot": {}, "zero_shot": {}, "retrieval": {}}

#: keys of an ``evaluations`` object that are shared settings, not evaluations
SHARED_FIELDS = ("n_bootstrap", "probe", "readers")


@dataclass(frozen=True)
class EvalConfig:
    """The whole protocol.

    Attributes:
        labels: the evaluation labels (default: CheXpert's 5 competition labels + No Finding).
        n_bootstrap: bootstrap resamples of the test set for the 95% CIs.
        probe: the linear-probe hyper-parameters (in JSON, :class:`~graphclr.eval.ProbeConfig` fields).
        readers: a CSV of radiologists' operating points drawn on the ROC plots, or ``None``.
        evaluations: name -> settings of the evaluations that run (in :data:`EVALUATIONS` order).
    """

    labels: tuple[str, ...] = EVAL_LABELS
    n_bootstrap: int = 1000
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    readers: str | None = None
    evaluations: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, labels: Sequence[str] | None = None,
                  where: str = "evaluations") -> EvalConfig:
        """Read an ``evaluations`` object; ``labels`` (``None``: the default labels)."""
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected a JSON object; got {type(data).__name__}")
        unknown = sorted(set(data) - set(EVALUATIONS) - set(SHARED_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: "
                             f"{sorted([*EVALUATIONS, *SHARED_FIELDS])}")
        nb = data.get("n_bootstrap", 1000)
        if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0:
            raise ValueError(f"{where}.n_bootstrap: expected an integer >= 0; got {nb!r}")
        probe = dataclass_from_dict(ProbeConfig, dict(data.get("probe") or {}), f"{where}.probe")
        readers = data.get("readers") or None
        if readers is not None and not isinstance(readers, str):
            raise ValueError(f"{where}.readers: expected a CSV path; got {readers!r}")
        evals = {name: ev.read(data[name], f"{where}.{name}") for name, ev in EVALUATIONS.items() if name in data}
        labs = tuple(_strings(labels, "labels")) if labels else EVAL_LABELS
        return cls(labs, int(nb), probe, readers, evals)

    def names(self) -> list[str]:
        """The evaluations that run, in order."""
        return list(self.evaluations)

    def get(self, name: str) -> Any:
        """The settings of evaluation ``name``, or ``None`` when it does not run."""
        if name not in EVALUATIONS:
            raise KeyError(f"no evaluation {name!r}; known: {list(EVALUATIONS)}")
        return self.evaluations.get(name)

    @classmethod
    def default(cls, labels: Sequence[str] | None = None) -> EvalConfig:
        """:data:`DEFAULT_EVALUATIONS` with their default settings."""
        return cls.from_dict(DEFAULT_EVALUATIONS, labels=labels)

    def needs_reports(self) -> bool:
        return any(EVALUATIONS[n].needs_reports for n in self.evaluations)

    def probe_seeds(self) -> tuple[int, ...]:
        """The linear probe's seeds (also the laterality probes' default)."""
        return (self.get("linear_probe") or LinearProbeCfg()).seeds

    def seeds(self) -> dict[str, Any]:
        """The seeds the protocol uses, for the results file."""
        return {"probe": list(self.probe_seeds()),
                "few-shot": list((self.get("few_shot") or FewShotCfg()).seeds), "bootstrap": 0}

    def test_labels(self) -> list[str]:
        """Every label column the test set must provide (laterality sides included)."""
        out = list(self.labels)
        lat = self.get("laterality")
        for side in ("left", "right"):
            out += [getattr(t, side) for t in (lat.tasks if lat else ())]
        return out
