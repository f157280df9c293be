"""The benchmark runner behind ``graphclr benchmark``.

For each encoder of a spec (:mod:`graphclr.runner.spec`) the runner

1. builds the model: the spec's shared ``model`` section (image tower, shared-space size)
   merged into the encoder's config, so every encoder gets the same image backbone;
2. pretrains it with :func:`graphclr.train.train` on the same pairs, with the same
   :class:`~graphclr.train.TrainConfig` (the budget) and seed;
3. caches frozen image features of the evaluation splits;
4. runs the evaluations: linear probes at each label fraction over seeds, few-shot,
   zero-shot from prompt graphs, laterality probes, retrieval;
5. writes ``OUT/encoders/<name>/results.json`` and ``scores.npz``.

Then it writes ``OUT/results.json``, ``OUT/report.md`` and the PNG plots in ``OUT/plots``.
Every step's output is kept, so an interrupted run resumes where it stopped (pretraining
from its newest checkpoint); a step is redone only if its inputs changed, and an output
directory holding a *different* benchmark is refused rather than mixed.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from graphclr._compat import moved_names_getattr
from graphclr.runner.spec import BenchmarkSpec, deep_merge, spec_fingerprint
from graphclr.utils import atomic_write
from graphclr.constants import EVAL_LABELS

__all__ = ["run_benchmark", "DEFAULT_LABELS"]

log = logging.getLogger(__name__)
__getattr__ = moved_names_getattr(__name__)   # resolve_model_config: graphclr.models has the one

DEFAULT_LABELS = EVAL_LABELS
RESULTS_FORMAT = "graphclr-benchmark-results/1"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(_clean(obj), fh, indent=1)


def _clean(obj: Any) -> Any:
    """JSON-safe: NumPy scalars/arrays to Python, non-finite floats to ``None``."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if np.isfinite(v) else None
    return obj


# --- models --------------------------------------------------------------------------------
def _encoder_config(spec: Mapping[str, Any], enc: Mapping[str, Any]) -> dict[str, Any]:
    from graphclr.models import resolve_model_config

    cfg = deep_merge(resolve_model_config(enc["model"]), spec.get("model", {}))
    return deep_merge(cfg, enc.get("overrides", {}))


def _build_model(cfg: dict[str, Any], data: Any, seed: int) -> Any:
    from graphclr.models import create_model_for
    from graphclr.utils import seed_everything

    seed_everything(seed)
    return create_model_for(data.pretrain, cfg)


def _count(params: Any) -> int:
    return int(sum(p.numel() for p in params))


def _report_params(model: Any) -> int:
    return _count(list(model.report_tower.parameters()) + list(model.report_proj.parameters()))


# --- evaluation ----------------------------------------------------------------------------
def _probe_config(ev: Mapping[str, Any]) -> Any:
    from graphclr.eval import ProbeConfig

    return ProbeConfig(**dict(ev.get("probe", {})))


def _strip_scores(res: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split ``mean_scores`` arrays (kept in scores.npz) from the JSON-able result."""
    arrays = {}
    out = {}
    for k, v in res.items():
        if isinstance(v, dict) and "mean_scores" in v:
            arrays[k] = np.asarray(v["mean_scores"])
            v = {kk: vv for kk, vv in v.items() if kk != "mean_scores"}
        out[k] = v
    return out, arrays


def _evaluate(model: Any, feats: dict[str, Any], spec: Mapping[str, Any], labels: list[str], device: str,
              echo: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from graphclr.eval import (
        few_shot_eval,
        laterality_task,
        linear_probe_eval,
        retrieval_recall,
        zero_shot_eval,
    )

    ev = spec.get("evaluations", {})
    nb = int(ev.get("n_bootstrap", 1000))
    cfg = _probe_config(ev)
    train, val, test = feats["train"], feats.get("val"), feats["test"]
    results: dict[str, Any] = {}
    scores: dict[str, np.ndarray] = {}
    if "linear_probe" in ev:
        lp = ev["linear_probe"]
        res = linear_probe_eval(train, val, test, labels=labels, fractions=lp.get("fractions", (0.01, 0.1, 1.0)),
                                seeds=lp.get("seeds", (0, 1, 2)), config=cfg, n_bootstrap=nb, device=device,
                                on_run=echo)
        results["linear_probe"], arr = _strip_scores(res)
        scores.update({f"linear_probe/{k}": v for k, v in arr.items()})
    if "few_shot" in ev:
        fs = ev["few_shot"]
        res = few_shot_eval(train, val, test, labels=labels, ks=fs.get("ks", (1, 5, 10)),
                            seeds=fs.get("seeds", (0,)), config=cfg, n_bootstrap=nb, device=device,
                            on_run=echo)
        results["few_shot"], arr = _strip_scores(res)
        scores.update({f"few_shot/{k}": v for k, v in arr.items()})
    if "zero_shot" in ev:
        zs = ev["zero_shot"]
        zl = [lab for lab in zs.get("labels", labels) if lab in test.label_names]
        res = zero_shot_eval(model, test, zs.get("prompts", "chexpert5"), labels=zl, n_bootstrap=nb, device=device)
        scores["zero_shot"] = res.pop("mean_scores")
        results["zero_shot"] = res
        echo(f"zero-shot: mean AUROC {res['metrics']['mean']['auroc']['value']:.3f}")
    for task in ev.get("laterality", []):
        name, left, right = task["name"], task["left"], task["right"]
        tr = laterality_task(train, left, right, left)
        te = laterality_task(test, left, right, left)
        va = laterality_task(val, left, right, left) if val is not None else None
        out: dict[str, Any] = {"left": left, "right": right, "n_train": len(tr), "n_test": len(te),
                               "n_test_left": int(te.labels.sum())}
        if min(len(tr), len(te)) < 4 or len(set(te.labels[:, 0])) < 2:
            out["skipped"] = "too few one-sided cases"
            results.setdefault("laterality", {})[name] = out
            continue
        if va is not None and len(set(va.labels[:, 0])) < 2:
            va = None
        res = linear_probe_eval(tr, va, te, labels=[left], fractions=task.get("fractions", (1.0,)),
                                seeds=task.get("seeds", ev.get("linear_probe", {}).get("seeds", (0, 1, 2))),
                                config=cfg, n_bootstrap=nb, device=device)
        out["probe"], arr = _strip_scores(res)
        scores.update({f"laterality/{name}/probe/{k}": v for k, v in arr.items()})
        if task.get("prompts"):
            zres = zero_shot_eval(model, te, task["prompts"], labels=[left], n_bootstrap=nb, device=device)
            scores[f"laterality/{name}/zero_shot"] = zres.pop("mean_scores")
            out["zero_shot"] = zres
        last = next(reversed(out["probe"].values()))
        echo(f"laterality {name}: probe AUROC {last['metrics']['mean']['auroc']['value']:.3f} "
             f"({len(te)} test images)")
        results.setdefault("laterality", {})[name] = out
    if "retrieval" in ev and test.report_features is not None:
        ks = ev["retrieval"].get("ks", (1, 5, 10))
        results["retrieval"] = retrieval_recall(test.features, test.report_features, ks=ks, groups=test.groups)
        echo(f"retrieval: image->report R@{ks[0]} {results['retrieval']['image_to_report'][ks[0]]:.3f}")
    return results, scores


# --- one encoder ---------------------------------------------------------------------------
def _fingerprints(spec: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, str]:
    pre = {"dataset": spec["dataset"], "model": cfg, "budget": spec["budget"], "seed": spec.get("seed", 0)}
    ev = {"labels": spec.get("labels"), "evaluations": spec.get("evaluations", {})}
    return {"pretrain": spec_fingerprint(pre), "evaluate": spec_fingerprint([pre, ev])}


def _train_config(spec: Mapping[str, Any], device: str, progress: bool) -> Any:
    from graphclr.train import TrainConfig

    budget = dict(spec["budget"])
    budget.setdefault("checkpoint_every", max(1, int(budget.get("max_steps") or 1000) // 4))
    budget.setdefault("log_every", 5)
    return TrainConfig.from_dict({**budget, "seed": int(spec.get("seed", 0)), "device": device,
                                  "progress": progress})


class _Sets:
    """The datasets each encoder trains and is evaluated on, materialised once per image
    preprocessing (:func:`graphclr.runner.data.materialize`) and shared by encoders."""

    def __init__(self, data: Any, max_bytes: int, progress: bool) -> None:
        self.data = data
        self.max_bytes = max_bytes
        self.progress = progress
        self._cache: dict[str, dict[str, Any]] = {}

    def get(self, preprocess_cfg: Mapping[str, Any]) -> dict[str, Any]:
        from graphclr.runner.data import materialize

        key = json.dumps(dict(preprocess_cfg), sort_keys=True)
        if key not in self._cache:
            done: dict[int, Any] = {}
            sets = {}
            for name, ds in [("pretrain", self.data.pretrain), *self.data.eval_sets().items()]:
                if id(ds) not in done:
                    done[id(ds)] = materialize(ds, preprocess_cfg, max_bytes=self.max_bytes,
                                               progress=self.progress, desc=f"loading {name} images")
                sets[name] = done[id(ds)]
            self._cache = {key: sets}          # keep one preprocessing in memory at a time
        return self._cache[key]


def _run_encoder(spec: BenchmarkSpec, enc: Mapping[str, Any], sets: _Sets, out: Path, labels: list[str],
                 device: str, resume: bool, progress: bool, echo: Callable[[str], None], *,
                 pretrain_only: bool = False, is_main: bool = True) -> dict[str, Any]:
    from graphclr.eval import FeatureSet, extract_image_features
    from graphclr.models import load_model
    from graphclr.train import train

    name = enc["name"]
    edir = out / "encoders" / name
    cfg = _encoder_config(spec, enc)
    fps = _fingerprints(spec, cfg)
    old = _read_json(edir / "fingerprint.json")
    if not resume and edir.exists() and is_main:
        shutil.rmtree(edir)                   # a fresh run: this encoder starts over
    elif old is not None and old.get("pretrain") != fps["pretrain"]:
        raise ValueError(f"{edir} holds encoder {name!r} pretrained with another dataset/model/budget; "
                         "use another --out, or run without --resume to start it afresh")
    done = _read_json(edir / "results.json")
    if resume and done is not None and done.get("fingerprint") == fps["evaluate"]:
        echo(f"[{name}] already done (resumed)")
        return done
    edir.mkdir(parents=True, exist_ok=True)
    if is_main:
        _write_json(edir / "fingerprint.json", fps)
        _write_json(edir / "model_config.json", cfg)

    t0 = time.perf_counter()
    pre_dir = edir / "pretrain"
    summary = _read_json(pre_dir / "summary.json")
    model = _build_model(cfg, sets.data, int(spec.get("seed", 0)))
    n_params, n_report = _count(model.parameters()), _report_params(model)
    datasets = sets.get(model.preprocess_cfg)
    if summary is None or not (pre_dir / "model.pt").is_file():
        echo(f"[{name}] pretraining: {n_params:,} parameters ({n_report:,} on the report side)")
        summary = train(model, datasets["pretrain"], _train_config(spec, device, progress), pre_dir,
                        resume=resume)
    else:
        echo(f"[{name}] pretraining already done (resumed)")
    if pretrain_only:
        return {"name": name, "pretrain": summary}
    del model
    model = load_model(pre_dir / "model.pt").to(device).eval()
    t_pre = time.perf_counter() - t0

    t1 = time.perf_counter()
    feats: dict[str, Any] = {}
    bs = int(spec["budget"].get("batch_size", 64))
    for split in sets.data.eval_sets():
        ds = datasets[split]
        path = edir / f"features_{split}.npz"
        if path.is_file():
            feats[split] = FeatureSet.load(path)
            continue
        feats[split] = extract_image_features(
            model, ds, batch_size=bs, device=device, progress=progress, desc=f"{name} features ({split})",
            with_reports=(split == "test" and "retrieval" in spec.get("evaluations", {})
                          and getattr(ds, "paired", False)))
        feats[split].save(path)
    t_feat = time.perf_counter() - t1

    t2 = time.perf_counter()
    results, scores = _evaluate(model, feats, spec, labels, device, lambda m: echo(f"[{name}] {m}"))
    t_eval = time.perf_counter() - t2
    with atomic_write(edir / "scores.npz", "wb") as fh:
        np.savez(fh, y_test=feats["test"].labels, test_labels=np.array(feats["test"].label_names),
                 **{k.replace("/", "__"): v for k, v in scores.items()})
    curve = [(r["step"], r["loss_avg"]) for r in _jsonl(pre_dir / "metrics.jsonl")]
    out_res = {
        "name": name, "model": enc["model"], "description": enc.get("description", ""),
        "fingerprint": fps["evaluate"],
        "pretrain": {"steps": summary.get("steps"), "final_loss": summary.get("final_loss"),
                     "pairs_per_s": summary.get("pairs_per_s"), "seconds": summary.get("wall_s"),
                     "parameters": n_params, "report_parameters": n_report,
                     "device": summary.get("device"), "checkpoint": str((pre_dir / "model.pt").relative_to(out))},
        **results,
        "loss_curve": curve,
        "timing": {"pretrain_s": t_pre, "features_s": t_feat, "evaluate_s": t_eval},
    }
    _write_json(edir / "results.json", out_res)
    return _read_json(edir / "results.json")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the whole run -------------------------------------------------------------------------
def _device(spec: Mapping[str, Any]) -> str:
    dev = str(spec.get("device", "auto"))
    if dev == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return dev


def _plots(results: dict[str, Any], out: Path, labels: list[str], readers: Any) -> dict[str, str]:
    from graphclr.runner.report import plot_auroc_vs_fraction, plot_rocs, plot_training_loss

    pdir = out / "plots"
    plots: dict[str, str] = {}
    syn = " (synthetic images)" if results.get("synthetic") else ""
    if plot_auroc_vs_fraction(results, pdir / "auroc_vs_label_fraction.png"):
        plots["AUROC vs label fraction"] = "plots/auroc_vs_label_fraction.png"
    curves = {n: e.get("loss_curve", []) for n, e in results["encoders"].items()}
    if plot_training_loss(curves, pdir / "training_loss.png", synthetic=bool(syn)):
        plots["pretraining loss"] = "plots/training_loss.png"
    arrays = {n: np.load(out / "encoders" / n / "scores.npz") for n in results["encoders"]}
    if not arrays:
        return plots
    first = next(iter(arrays.values()))
    y = first["y_test"]
    names = [str(s) for s in first["test_labels"]]
    keys = set.intersection(*(set(a.files) for a in arrays.values()))
    fracs = [k for k in first.files if k.startswith("linear_probe__")]
    if fracs:
        key = fracs[-1]   # the largest fraction (insertion order)
        if key in keys:
            cols = [names.index(lab) for lab in labels]
            frac = key.split("__", 1)[1]
            plot_rocs(y[:, cols], {n: a[key] for n, a in arrays.items()}, labels,
                      pdir / "roc_linear_probe.png", title=f"ROC, linear probe on {frac} of labels{syn}",
                      readers=readers)
            plots[f"ROC curves, linear probe {frac}"] = "plots/roc_linear_probe.png"
    if "zero_shot" in keys:
        zl = results["encoders"][next(iter(results["encoders"]))]["zero_shot"]["labels"]
        cols = [names.index(lab) for lab in zl]
        plot_rocs(y[:, cols], {n: a["zero_shot"] for n, a in arrays.items()}, zl, pdir / "roc_zero_shot.png",
                  title=f"ROC, zero-shot from prompt graphs{syn}", readers=readers)
        plots["ROC curves, zero-shot"] = "plots/roc_zero_shot.png"
    return plots


def run_benchmark(spec: BenchmarkSpec, out_dir: str | Path, *, resume: bool = True, command: str | None = None,
                  progress: bool = True, echo: Callable[[str], None] = print,
                  pretrain_only: bool = False) -> tuple[dict[str, Any], Path | None]:
    """Run (or resume) a benchmark; returns ``(results, report_path)``.

    Args:
        spec: the loaded spec (:func:`graphclr.runner.load_spec`).
        out_dir: the output directory (data, checkpoints, features, results, report, plots).
        resume: continue a stopped run (finished steps are kept; pretraining continues
            from its newest checkpoint). ``False`` starts every encoder afresh; the
            synthetic data, deterministic in its seed, is reused either way.
        command: the command line to record.
        progress: tqdm bars.
        echo: where progress messages go.
        pretrain_only: pretrain every encoder and stop (no evaluation, no report). This
            is the stage to launch with ``torchrun`` on several GPUs; then evaluate in one
            process with ``resume=True``. Under ``torchrun`` it is required.
    """
    threads = spec.get("threads")
    if threads:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(int(threads))
        try:
            return _run(spec, out_dir, resume, command, progress, echo, pretrain_only)
        finally:
            torch.set_num_threads(before)
    return _run(spec, out_dir, resume, command, progress, echo, pretrain_only)


def _pretrain_all(spec: BenchmarkSpec, out: Path, resume: bool, progress: bool,
                  echo: Callable[[str], None]) -> tuple[dict[str, Any], None]:
    """Pretrain every encoder (on every ``torchrun`` rank); rank 0 alone writes files."""
    from graphclr.runner.data import prepare_data
    from graphclr.train.distributed import barrier, cleanup_distributed, init_distributed

    info = init_distributed(_device(spec))
    say = echo if info.is_main else (lambda _m: None)
    try:
        labels = list(spec.get("labels") or DEFAULT_LABELS)
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            _write_json(out / "spec.json", dict(spec))
            data = prepare_data(spec["dataset"], out, labels, progress=progress)
        barrier(info)
        if not info.is_main:
            data = prepare_data(spec["dataset"], out, labels, progress=False)
        sets = _Sets(data, int(spec.get("in_memory_mb", 2048)) * 2**20, progress and info.is_main)
        done = {}
        for enc in spec["encoders"]:
            done[enc["name"]] = _run_encoder(spec, enc, sets, out, labels, str(info.device), resume,
                                             progress and info.is_main, say, pretrain_only=True,
                                             is_main=info.is_main)
            barrier(info)
        say(f"pretraining done for {', '.join(done)}; evaluate in one process with: "
            f"graphclr benchmark {spec.source} --out {out} --resume")
        return {"encoders": done}, None
    finally:
        cleanup_distributed(info)


def _run(spec: BenchmarkSpec, out_dir: str | Path, resume: bool, command: str | None, progress: bool,
         echo: Callable[[str], None], pretrain_only: bool = False) -> tuple[dict[str, Any], Path | None]:
    import os

    if pretrain_only:
        return _pretrain_all(spec, Path(out_dir), resume, progress, echo)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("under torchrun, run the pretraining stage only (--pretrain-only); then evaluate "
                         "in one process with --resume")
    from graphclr.runner.data import prepare_data
    from graphclr.runner.report import write_report
    from graphclr.eval import read_reader_points
    from graphclr.utils import env_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    labels = list(spec.get("labels") or DEFAULT_LABELS)
    _write_json(out / "spec.json", dict(spec))
    echo(f"benchmark {spec.name!r} -> {out}")
    t0 = time.perf_counter()
    data = prepare_data(spec["dataset"], out, labels, progress=progress)
    t_data = time.perf_counter() - t0
    echo(f"data: {data.description} (train {data.info['n_train']}, val {data.info['n_val']}, "
         f"test {data.info['n_test']}; {t_data:.0f} s)")
    device = _device(spec)
    ev = spec.get("evaluations", {})
    readers = read_reader_points(ev["readers"]) if ev.get("readers") else ()

    test_pos = {}
    for lab in labels + [t["left"] for t in ev.get("laterality", [])] + [t["right"] for t in ev.get("laterality", [])]:
        if lab in data.test.pathologies:
            test_pos[lab] = int(np.nansum(data.test.labels[:, list(data.test.pathologies).index(lab)] == 1))
    results: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "name": spec.name,
        "description": spec.get("description", ""),
        "synthetic": bool(data.synthetic or spec.synthetic),
        "labels": labels,
        "n_bootstrap": int(ev.get("n_bootstrap", 1000)),
        "dataset": {"description": data.description, **data.info, "test_positives": test_pos},
        "budget": spec["budget"],
        "model": spec.get("model", {}),
        "seeds": {"pretraining": int(spec.get("seed", 0)),
                  "probe": ev.get("linear_probe", {}).get("seeds", [0, 1, 2]),
                  "few-shot": ev.get("few_shot", {}).get("seeds", [0]),
                  "bootstrap": 0},
        "command": command,
        "env": env_report(),
        "host": platform.node(),
        "started": _now(),
        "spec_source": spec.source,
        "encoders": {},
        "timing": {"data_s": t_data},
    }
    sets = _Sets(data, int(spec.get("in_memory_mb", 2048)) * 2**20, progress)
    for enc in spec["encoders"]:
        t = time.perf_counter()
        results["encoders"][enc["name"]] = _run_encoder(spec, enc, sets, out, labels, device, resume, progress, echo)
        results["timing"][f"encoder_{enc['name']}_s"] = time.perf_counter() - t
        results["wall_seconds"] = time.perf_counter() - started
        write_report(_clean(results), out)       # a partial report after every encoder
    results["plots"] = _plots(results, out, labels, readers)
    results["finished"] = _now()
    results["wall_seconds"] = time.perf_counter() - started
    results = _clean(results)
    report = write_report(results, out)
    echo(f"report: {report}")
    return results, report
