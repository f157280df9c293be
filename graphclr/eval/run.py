"""Run the whole evaluation protocol on one model and write its results, report and plots.

:func:`run_protocol` is what ``graphclr eval CHECKPOINT`` calls; the benchmark runner
(``graphclr benchmark``) calls the same :func:`evaluate_model` for each pretrained encoder and
the same :func:`write_outputs` at the end, so both write one layout::

    OUT/results.json   every number (format graphclr-benchmark-results/1), machine, versions, seeds
    OUT/report.md      the tables (graphclr.eval.report)
    OUT/plots/*.png    AUROC vs label fraction, ROC curves
    OUT/encoders/NAME/ features_{train,val,test}.npz (frozen features, reused when present),
                       scores.npz (test scores for the ROC curves), results.json

For a model and its evaluation splits (``train`` for probe training, optional ``val`` for
epoch selection, ``test`` for the scores) the protocol extracts frozen image features once
per split (:func:`graphclr.eval.extract_image_features`), then runs each evaluation of the
:class:`~graphclr.eval.config.EvalConfig` in order (:mod:`graphclr.eval.evaluations`).

Examples:
    >>> json_clean({"a": np.float32(0.5), "b": [np.int64(2), float("nan")], "c": np.arange(2)})
    {'a': 0.5, 'b': [2, None], 'c': [0, 1]}
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from graphclr.eval.config import EVALUATIONS, EvalConfig
from graphclr.eval.features import FeatureSet
from graphclr.utils import atomic_write

__all__ = ["RESULTS_FORMAT", "run_protocol", "evaluate_model", "evaluate_features", "extract_split_features",
           "results_header", "write_outputs", "json_clean", "read_json", "write_json", "now"]

log = logging.getLogger(__name__)

RESULTS_FORMAT = "graphclr-benchmark-results/1"
_SPLITS = ("train", "test", "val")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(json_clean(obj), fh, indent=1)


def json_clean(obj: Any) -> Any:
    """JSON-safe: NumPy scalars/arrays to Python, non-finite floats to ``None``."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if np.isfinite(v) else None
    return obj


def _splits(datasets: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(datasets) - set(_SPLITS) - {"pretrain"})
    if unknown or "train" not in datasets or "test" not in datasets:
        raise ValueError(f"the evaluation datasets are 'train', 'test' and optionally 'val'; got {sorted(datasets)}")
    return {s: datasets[s] for s in _SPLITS if datasets.get(s) is not None}


def _has_reports(ds: Any) -> bool:
    """Paired items, or items with report text (a text-only manifest: graphs are extracted)."""
    csv = getattr(ds, "csv", None)
    has_text = csv is not None and "text" in csv.columns and bool(csv["text"].notna().any())
    return bool(getattr(ds, "paired", False)) or has_text


def extract_split_features(model: Any, datasets: Mapping[str, Any], cfg: EvalConfig, out_dir: str | Path, *,
                           batch_size: int = 64, device: str = "cpu", progress: bool = True,
                           desc: str = "features") -> dict[str, FeatureSet]:
    """Frozen features of each split, cached in ``out_dir/features_{split}.npz`` (a value of
    ``datasets`` that is already a :class:`FeatureSet` is used as it is)."""
    from graphclr.eval.features import extract_image_features

    feats: dict[str, FeatureSet] = {}
    for split, ds in _splits(datasets).items():
        path = Path(out_dir) / f"features_{split}.npz"
        if isinstance(ds, FeatureSet):
            feats[split] = ds
        elif path.is_file():
            feats[split] = FeatureSet.load(path)
        else:
            feats[split] = extract_image_features(
                model, ds, batch_size=batch_size, device=device, progress=progress, desc=f"{desc} ({split})",
                with_reports=split == "test" and cfg.needs_reports() and _has_reports(ds))
            feats[split].save(path)
    return feats


def evaluate_features(model: Any, feats: dict[str, FeatureSet], cfg: EvalConfig, *, device: str = "cpu",
                      echo: Callable[[str], None] = lambda _m: None, resources: Mapping[str, Any] | None = None
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run every evaluation of ``cfg`` on cached features: ``(results, scores)``."""
    from graphclr.eval.evaluations import EvalContext

    ctx = EvalContext(model, feats, cfg, device, echo, dict(resources or {}))
    results: dict[str, Any] = {}
    scores: dict[str, np.ndarray] = {}
    for name, sub in cfg.evaluations.items():
        res, arr = EVALUATIONS[name].runner()(ctx, sub)
        if res is not None:
            results[name] = res
        scores.update({f"{name}/{k}" if k else name: v for k, v in arr.items()})
    return results, scores


def evaluate_model(model: Any, datasets: Mapping[str, Any], cfg: EvalConfig, out_dir: str | Path, *,
                   name: str = "model", batch_size: int = 64, device: str = "cpu", progress: bool = True,
                   echo: Callable[[str], None] = print, resources: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Features, evaluations and ``scores.npz`` of one model in ``out_dir`` (its encoder folder);
    ``resources``: what the data supplies beyond its splits (:class:`~graphclr.eval.evaluations.EvalContext`).

    Returns the evaluations' results plus ``timing`` (``features_s``, ``evaluate_s``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    feats = extract_split_features(model, datasets, cfg, out, batch_size=batch_size, device=device,
                                   progress=progress, desc=f"{name} features")
    t_feat = time.perf_counter() - t1
    t2 = time.perf_counter()
    results, scores = evaluate_features(model, feats, cfg, device=device, echo=lambda m: echo(f"[{name}] {m}"),
                                        resources=resources)
    t_eval = time.perf_counter() - t2
    with atomic_write(out / "scores.npz", "wb") as fh:
        np.savez(fh, y_test=feats["test"].labels, test_labels=np.array(feats["test"].label_names),
                 **{k.replace("/", "__"): v for k, v in scores.items()})
    return {**results, "timing": {"features_s": t_feat, "evaluate_s": t_eval}}


def results_header(cfg: EvalConfig, test: Any, *, name: str, kind: str = "benchmark", description: str = "",
                   synthetic: bool = False, dataset: Mapping[str, Any] | None = None,
                   command: str | None = None, pretrain_seed: int | None = None) -> dict[str, Any]:
    """The top of ``results.json``: what was evaluated, on what, with which seeds, where."""
    from graphclr.utils import env_report

    test_pos = {}
    names = list(getattr(test, "pathologies", getattr(test, "label_names", [])))
    for lab in cfg.test_labels():
        if lab in names:
            test_pos[lab] = int(np.nansum(np.asarray(test.labels)[:, names.index(lab)] == 1))
    seeds = cfg.seeds()
    if pretrain_seed is not None:
        seeds = {"pretraining": int(pretrain_seed), **seeds}
    return {"format": RESULTS_FORMAT, "kind": kind, "name": name, "description": description,
            "synthetic": bool(synthetic), "labels": list(cfg.labels), "n_bootstrap": cfg.n_bootstrap,
            "dataset": {**dict(dataset or {}), "test_positives": test_pos}, "seeds": seeds, "command": command,
            "env": env_report(), "host": platform.node(), "started": now()}


def write_outputs(results: dict[str, Any], out_dir: str | Path, cfg: EvalConfig, *,
                  started: float | None = None) -> tuple[dict[str, Any], Path]:
    """Plots, then ``results.json`` and ``report.md`` (the final write of a run)."""
    from graphclr.eval.metrics import read_reader_points
    from graphclr.eval.report import write_plots, write_report

    readers = read_reader_points(cfg.readers) if cfg.readers else ()
    results["plots"] = write_plots(results, out_dir, readers)
    results["finished"] = now()
    if started is not None:
        results["wall_seconds"] = time.perf_counter() - started
    results = json_clean(results)
    return results, write_report(results, out_dir)


def run_protocol(model: Any, datasets: Mapping[str, Any], cfg: EvalConfig | Mapping[str, Any] | None,
                 out_dir: str | Path, *, name: str = "model", description: str = "", synthetic: bool = False,
                 dataset: Mapping[str, Any] | None = None, command: str | None = None, batch_size: int = 64,
                 device: str = "cpu", progress: bool = True, echo: Callable[[str], None] = print,
                 extra: Mapping[str, Any] | None = None, resources: Mapping[str, Any] | None = None
                 ) -> tuple[dict[str, Any], Path]:
    """Evaluate one model with the whole protocol; returns ``(results, report_path)``.

    Args:
        model: any contrastive model (``encode_image``; ``encode_report`` and
            ``report_processor`` for zero-shot and retrieval), in eval mode on ``device``.
        datasets: ``{"train": ..., "test": ..., "val": ...}`` (``val`` optional): graphclr
            datasets whose transform is the model's eval transform, or :class:`FeatureSet`.
        cfg: an :class:`EvalConfig`, an ``evaluations`` JSON object, or ``None``
            (:meth:`EvalConfig.default`: linear probe, few-shot, zero-shot, retrieval).
        out_dir: where ``results.json``, ``report.md``, ``plots/`` and ``encoders/NAME/`` go.
        name: the model's name in the tables.
        description, synthetic, command: recorded in the results.
        dataset: recorded with the split sizes (``{"description": ...}``).
        batch_size, device, progress: feature extraction.
        echo: where progress messages go.
        extra: more fields of the model's entry (e.g. ``{"checkpoint": ...}``).
        resources: what the data supplies beyond its splits (e.g. counterfactual pairs).
    """
    if cfg is None:
        cfg = EvalConfig.default()
    elif not isinstance(cfg, EvalConfig):
        cfg = EvalConfig.from_dict(cfg)
    started = time.perf_counter()
    out = Path(out_dir)
    splits = _splits(datasets)
    missing = [lab for lab in cfg.labels if lab not in _label_names(splits["test"])]
    if missing:
        raise ValueError(f"the test set has no label column(s) {missing}; it has {_label_names(splits['test'])}")
    info = {"description": "", **dict(dataset or {}),
            **{f"n_{s}": len(splits[s]) if s in splits else 0 for s in ("train", "val", "test")}}
    results = results_header(cfg, splits["test"], name=name, kind="eval", synthetic=synthetic, dataset=info,
                             command=command)
    edir = out / "encoders" / name
    entry = evaluate_model(model, splits, cfg, edir, name=name, batch_size=batch_size, device=device,
                           progress=progress, echo=echo, resources=resources)
    entry = {"name": name, "description": description, **dict(extra or {}), **entry}
    write_json(edir / "results.json", entry)
    results["encoders"] = {name: read_json(edir / "results.json")}
    results, report = write_outputs(results, out, cfg, started=started)
    echo(f"report: {report}")
    return results, report


def _label_names(ds: Any) -> list[str]:
    return list(getattr(ds, "pathologies", None) or getattr(ds, "label_names", []))
