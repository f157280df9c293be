"""One encoder of a benchmark: build, pretrain (or resume), evaluate with the protocol.

Its folder ``OUT/encoders/NAME`` holds ``fingerprint.json`` (hashes of what pretraining and
evaluation were computed from), ``model_config.json``, ``pretrain/`` (the training run) and
what :func:`graphclr.eval.evaluate_model` writes. A step is redone only if its inputs
changed; a folder pretrained from other inputs is refused rather than mixed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from graphclr.eval.config import EvalConfig
from graphclr.eval.run import evaluate_model, read_json, write_json
from graphclr.runner.models import build_model, count_params, encoder_config, report_params
from graphclr.runner.spec import BenchmarkSpec, spec_fingerprint

__all__ = ["DatasetsByPreprocess", "run_encoder", "fingerprints", "train_config"]


def fingerprints(spec: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, str]:
    """Hashes of a pretraining's inputs and of an evaluation's inputs."""
    pre = {"dataset": spec["dataset"], "model": cfg, "budget": spec["budget"], "seed": spec.get("seed", 0)}
    ev = {"labels": spec.get("labels"), "evaluations": spec.get("evaluations", {})}
    return {"pretrain": spec_fingerprint(pre), "evaluate": spec_fingerprint([pre, ev])}


def train_config(spec: Mapping[str, Any], device: str, progress: bool) -> Any:
    """The spec's ``budget`` as a :class:`~graphclr.train.TrainConfig`."""
    from graphclr.train import TrainConfig

    budget = dict(spec["budget"])
    budget.setdefault("checkpoint_every", max(1, int(budget.get("max_steps") or 1000) // 4))
    budget.setdefault("log_every", 5)
    return TrainConfig.from_dict({**budget, "seed": int(spec.get("seed", 0)), "device": device,
                                  "progress": progress}, where="budget")


class DatasetsByPreprocess:
    """The datasets each encoder trains and is evaluated on, under the model's eval
    transform, prepared once per image preprocessing (:func:`graphclr.data.cache.materialize`)
    and shared by encoders; ``pretraining=False``: the evaluation splits only."""

    def __init__(self, data: Any, max_bytes: int, progress: bool, *, pretraining: bool = True) -> None:
        self.data = data
        self.pretraining = pretraining
        self.max_bytes = max_bytes
        self.progress = progress
        self._cache: dict[str, dict[str, Any]] = {}

    def get(self, preprocess_cfg: Mapping[str, Any]) -> dict[str, Any]:
        from graphclr.data.cache import materialize
        from graphclr.models.image import image_transform

        key = json.dumps(dict(preprocess_cfg), sort_keys=True)
        if key not in self._cache:
            size, channels = int(preprocess_cfg["image_size"]), int(preprocess_cfg.get("channels", 1))
            transform = image_transform(dict(preprocess_cfg), is_train=False)
            done: dict[int, Any] = {}
            sets = {}
            todo = [("pretrain", self.data.pretrain)] if self.pretraining else []
            for name, ds in [*todo, *self.data.eval_sets().items()]:
                if id(ds) not in done:
                    done[id(ds)] = materialize(ds, transform, item_bytes=channels * size * size * 4,
                                               max_bytes=self.max_bytes, augmented=bool(preprocess_cfg.get("augment")),
                                               progress=self.progress, desc=f"loading {name} images")
                sets[name] = done[id(ds)]
            self._cache = {key: sets}          # keep one preprocessing in memory at a time
        return self._cache[key]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_encoder(spec: BenchmarkSpec, enc: Mapping[str, Any], sets: DatasetsByPreprocess, out: Path,
                eval_cfg: EvalConfig, device: str, resume: bool, progress: bool, echo: Callable[[str], None], *,
                pretrain_only: bool = False, is_main: bool = True,
                resources: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pretrain (or resume) and evaluate one encoder; returns its results entry
    (``resources``: what the data supplies to the evaluations, e.g. counterfactual pairs)."""
    from graphclr.models import load_model
    from graphclr.train import train

    name = enc["name"]
    edir = out / "encoders" / name
    cfg = encoder_config(spec, enc)
    fps = fingerprints(spec, cfg)
    old = read_json(edir / "fingerprint.json")
    if not resume and edir.exists() and is_main:
        shutil.rmtree(edir)                   # a fresh run: this encoder starts over
    elif old is not None and old.get("pretrain") != fps["pretrain"]:
        raise ValueError(f"{edir} holds encoder {name!r} pretrained with another dataset/model/budget; "
                         "use another --out, or run without --resume to start it afresh")
    done = read_json(edir / "results.json")
    if resume and done is not None and done.get("fingerprint") == fps["evaluate"]:
        echo(f"[{name}] already done (resumed)")
        return done
    edir.mkdir(parents=True, exist_ok=True)
    if is_main:
        write_json(edir / "fingerprint.json", fps)
        write_json(edir / "model_config.json", cfg)

    t0 = time.perf_counter()
    pre_dir = edir / "pretrain"
    summary = read_json(pre_dir / "summary.json")
    model = build_model(cfg, sets.data.pretrain, int(spec.get("seed", 0)))
    n_params, n_report = count_params(model.parameters()), report_params(model)
    datasets = sets.get(model.preprocess_cfg)
    if summary is None or not (pre_dir / "model.pt").is_file():
        echo(f"[{name}] pretraining: {n_params:,} parameters ({n_report:,} on the report side)")
        pairs = datasets["pretrain"]
        keep = getattr(model, "keep_pretrain_pairs", None)   # the reference drops empty graphs
        summary = train(model, keep(pairs, echo) if keep else pairs, train_config(spec, device, progress),
                        pre_dir, resume=resume)
    else:
        echo(f"[{name}] pretraining already done (resumed)")
    if pretrain_only:
        return {"name": name, "pretrain": summary}
    del model
    model = load_model(pre_dir / "model.pt").to(device).eval()
    t_pre = time.perf_counter() - t0

    evaluated = evaluate_model(model, datasets, eval_cfg, edir, name=name,
                               batch_size=int(spec["budget"].get("batch_size", 64)), device=device,
                               progress=progress, echo=echo, resources=resources)
    timing = evaluated.pop("timing")
    curve = [(r["step"], r["loss_avg"]) for r in _jsonl(pre_dir / "metrics.jsonl")]
    out_res = {
        "name": name, "model": enc["model"], "description": enc.get("description", ""),
        "fingerprint": fps["evaluate"],
        "pretrain": {"steps": summary.get("steps"), "final_loss": summary.get("final_loss"),
                     "pairs_per_s": summary.get("pairs_per_s"), "seconds": summary.get("wall_s"),
                     "parameters": n_params, "report_parameters": n_report,
                     "device": summary.get("device"), "checkpoint": str((pre_dir / "model.pt").relative_to(out))},
        **evaluated,
        "loss_curve": curve,
        "timing": {"pretrain_s": t_pre, **timing},
    }
    write_json(edir / "results.json", out_res)
    return read_json(edir / "results.json")
