"""The evaluations of the protocol, each a function ``run(ctx, cfg) -> (result, scores)``.

``ctx`` (:class:`EvalContext`) holds the model, the frozen features of the splits and the
shared settings; ``cfg`` is the evaluation's own settings (:mod:`graphclr.eval.config`).
``result`` is JSON-able (``None``: nothing to report, the key is left out); ``scores`` maps
names to ``[N, L]`` test score arrays, kept in ``scores.npz`` for the ROC plots (keys are
prefixed with the evaluation's name by :func:`graphclr.eval.run.evaluate_features`).

Examples:
    >>> import numpy as np
    >>> from graphclr.eval import FeatureSet
    >>> from graphclr.eval.config import EvalConfig
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(80, 4)).astype(np.float32)
    >>> fs = FeatureSet(x, (x[:, :1] > 0).astype(np.float32), ["Edema"], [str(i) for i in range(80)],
    ...                 [""] * 80, report_features=x / np.linalg.norm(x, axis=1, keepdims=True))
    >>> cfg = EvalConfig.from_dict({"retrieval": {"ks": [1]}}, labels=["Edema"])
    >>> ctx = EvalContext(None, {"train": fs, "test": fs}, cfg)
    >>> result, scores = run_retrieval(ctx, cfg.get("retrieval"))
    >>> result["image_to_report"][1], scores
    (1.0, {})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphclr.eval.config import EvalConfig, FewShotCfg, LateralityCfg, LinearProbeCfg, RetrievalCfg, ZeroShotCfg
from graphclr.eval.features import FeatureSet

__all__ = ["EvalContext", "run_linear_probe", "run_few_shot", "run_zero_shot", "run_laterality",
           "run_retrieval", "split_scores"]

Output = tuple[Any, dict[str, np.ndarray]]


@dataclass
class EvalContext:
    """What every evaluation reads: the model (zero-shot), features per split
    (``train``, ``test``, optional ``val``), the protocol's settings, device and messages,
    and ``resources`` the data supplies beyond its splits (by name)."""

    model: Any
    features: dict[str, FeatureSet]
    cfg: EvalConfig
    device: str = "cpu"
    echo: Callable[[str], None] = field(default=lambda _m: None)
    resources: dict[str, Any] = field(default_factory=dict)   # e.g. "counterfactuals": a pair source

    @property
    def train(self) -> FeatureSet:
        return self.features["train"]

    @property
    def val(self) -> FeatureSet | None:
        return self.features.get("val")

    @property
    def test(self) -> FeatureSet:
        return self.features["test"]

    @property
    def labels(self) -> list[str]:
        return list(self.cfg.labels)

    def probe_kwargs(self) -> dict[str, Any]:
        return {"config": self.cfg.probe, "n_bootstrap": self.cfg.n_bootstrap, "device": self.device}


def split_scores(res: dict[str, Any]) -> Output:
    """Split ``mean_scores`` arrays (kept in scores.npz) from the JSON-able entries."""
    arrays, out = {}, {}
    for k, v in res.items():
        if isinstance(v, dict) and "mean_scores" in v:
            arrays[k] = np.asarray(v["mean_scores"])
            v = {kk: vv for kk, vv in v.items() if kk != "mean_scores"}
        out[k] = v
    return out, arrays


def run_linear_probe(ctx: EvalContext, cfg: LinearProbeCfg) -> Output:
    from graphclr.eval.protocol import linear_probe_eval

    return split_scores(linear_probe_eval(ctx.train, ctx.val, ctx.test, labels=ctx.labels, fractions=cfg.fractions,
                                          seeds=cfg.seeds, on_run=ctx.echo, **ctx.probe_kwargs()))


def run_few_shot(ctx: EvalContext, cfg: FewShotCfg) -> Output:
    from graphclr.eval.protocol import few_shot_eval

    return split_scores(few_shot_eval(ctx.train, ctx.val, ctx.test, labels=ctx.labels, ks=cfg.ks, seeds=cfg.seeds,
                                      on_run=ctx.echo, **ctx.probe_kwargs()))


def run_zero_shot(ctx: EvalContext, cfg: ZeroShotCfg) -> Output:
    from graphclr.eval.protocol import zero_shot_eval

    labels = [lab for lab in (cfg.labels or ctx.labels) if lab in ctx.test.label_names]
    res = zero_shot_eval(ctx.model, ctx.test, cfg.prompts, labels=labels, n_bootstrap=ctx.cfg.n_bootstrap,
                         device=ctx.device)
    scores = {"": res.pop("mean_scores")}
    ctx.echo(f"zero-shot: mean AUROC {res['metrics']['mean']['auroc']['value']:.3f}")
    return res, scores


def run_laterality(ctx: EvalContext, cfg: LateralityCfg) -> Output:
    """Per task: a probe on the one-sided images (and zero-shot with ``prompts``)."""
    from graphclr.eval.protocol import laterality_task, linear_probe_eval, zero_shot_eval

    if not cfg.tasks:
        return None, {}
    results: dict[str, Any] = {}
    scores: dict[str, np.ndarray] = {}
    for task in cfg.tasks:
        left, right = task.left, task.right
        tr = laterality_task(ctx.train, left, right, left)
        te = laterality_task(ctx.test, left, right, left)
        va = laterality_task(ctx.val, left, right, left) if ctx.val is not None else None
        out: dict[str, Any] = {"left": left, "right": right, "n_train": len(tr), "n_test": len(te),
                               "n_test_left": int(te.labels.sum())}
        if min(len(tr), len(te)) < 4 or len(set(te.labels[:, 0])) < 2:
            out["skipped"] = "too few one-sided cases"
            results[task.name] = out
            continue
        if va is not None and len(set(va.labels[:, 0])) < 2:
            va = None
        res = linear_probe_eval(tr, va, te, labels=[left], fractions=task.fractions,
                                seeds=task.seeds if task.seeds is not None else ctx.cfg.probe_seeds(),
                                **ctx.probe_kwargs())
        out["probe"], arr = split_scores(res)
        scores.update({f"{task.name}/probe/{k}": v for k, v in arr.items()})
        if task.prompts:
            zres = zero_shot_eval(ctx.model, te, task.prompts, labels=[left], n_bootstrap=ctx.cfg.n_bootstrap,
                                  device=ctx.device)
            scores[f"{task.name}/zero_shot"] = zres.pop("mean_scores")
            out["zero_shot"] = zres
        last = next(reversed(out["probe"].values()))
        ctx.echo(f"laterality {task.name}: probe AUROC {last['metrics']['mean']['auroc']['value']:.3f} "
                 f"({len(te)} test images)")
        results[task.name] = out
    return results, scores


def run_retrieval(ctx: EvalContext, cfg: RetrievalCfg) -> Output:
    """Recall@K; ``None`` when the test items have no report embeddings (unpaired data)."""
    from graphclr.eval.retrieval import retrieval_recall

    test = ctx.test
    if test.report_features is None:
        return None, {}
    res = retrieval_recall(test.features, test.report_features, ks=cfg.ks, groups=test.groups)
    ctx.echo(f"retrieval: image->report R@{cfg.ks[0]} {res['image_to_report'][cfg.ks[0]]:.3f}")
    return res, {}
