"""The benchmark runner behind ``graphclr benchmark``.

For each encoder of a spec (:mod:`graphclr.runner.spec`) the runner
(:func:`graphclr.runner.encoder.run_encoder`)

1. builds the model (:func:`graphclr.runner.models.build_model`): the spec's shared ``model``
   section (image tower, shared-space size) merged into the encoder's config, so every
   encoder gets the same image backbone;
2. pretrains it with :func:`graphclr.train.train` on the same pairs, with the same
   :class:`~graphclr.train.TrainConfig` (the budget) and seed;
3. evaluates the frozen image tower with the protocol of :mod:`graphclr.eval`
   (:func:`graphclr.eval.evaluate_model`: cached features, then linear probes at each label
   fraction over seeds, few-shot, zero-shot from prompt graphs, laterality, retrieval, as
   the spec's ``evaluations`` (an :class:`~graphclr.eval.EvalConfig`) says), counterfactual
   pairs included (the synthetic benchmark supplies them from its test-split reports);
4. writes ``OUT/encoders/<name>/results.json`` and ``scores.npz``.

With several pretraining ``seeds`` it does all of that once per seed (the first seed in
``OUT``, the others in ``OUT/seeds/seed-S``, each resumable on its own) on the same data, and
``results.json`` gains ``multi_seed`` (:func:`graphclr.eval.multiseed.aggregate`: mean ± sd
and paired per-seed differences); ``encoders`` stays the first seed's entries.

Then it writes ``OUT/results.json``, ``OUT/report.md`` and the PNG plots in ``OUT/plots``
(:func:`graphclr.eval.write_outputs`, shared with ``graphclr eval``). Every step's output is
kept, so an interrupted run resumes where it stopped (pretraining from its newest
checkpoint); a step is redone only if its inputs changed, and an output directory holding a
*different* benchmark is refused rather than mixed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from graphclr._compat import moved_names_getattr
from graphclr.constants import EVAL_LABELS
from graphclr.eval.config import EvalConfig
from graphclr.eval.multiseed import aggregate
from graphclr.eval.run import RESULTS_FORMAT, json_clean, results_header, write_json, write_outputs
from graphclr.runner.encoder import DatasetsByPreprocess, run_encoder
from graphclr.runner.spec import BenchmarkSpec

__all__ = ["run_benchmark", "evaluate_checkpoint", "resolve_device", "DEFAULT_LABELS", "RESULTS_FORMAT",
           "eval_config"]

log = logging.getLogger(__name__)
__getattr__ = moved_names_getattr(__name__)   # resolve_model_config: graphclr.models has the one

DEFAULT_LABELS = EVAL_LABELS


def eval_config(spec: Mapping[str, Any]) -> EvalConfig:
    """The spec's ``labels`` and ``evaluations`` as an :class:`EvalConfig`."""
    return EvalConfig.from_dict(spec.get("evaluations", {}), labels=spec.get("labels") or None)


def resolve_device(device: str | None) -> str:
    """``"auto"`` (or ``None``): CUDA when available, else the CPU; see
    :func:`graphclr.device.resolve_device` (one device choice for the whole package)."""
    from graphclr.device import resolve_device as resolve

    return str(resolve(device or "auto"))


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

    info = init_distributed(resolve_device(spec.get("device")))
    say = echo if info.is_main else (lambda _m: None)
    try:
        cfg = eval_config(spec)
        labels = list(cfg.labels)
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            write_json(out / "spec.json", dict(spec))
            data = prepare_data(spec["dataset"], out, labels, progress=progress)
        barrier(info)
        if not info.is_main:
            data = prepare_data(spec["dataset"], out, labels, progress=False)
        sets = DatasetsByPreprocess(data, int(spec.get("in_memory_mb", 2048)) * 2**20, progress and info.is_main)
        done = {}
        for seed in spec.seeds():
            sdir, sspec, ssay = _seed_run(spec, seed, out, say)
            for enc in spec["encoders"]:
                done[f"{enc['name']}@{seed}"] = run_encoder(sspec, enc, sets, sdir, cfg, str(info.device), resume,
                                                            progress and info.is_main, ssay, pretrain_only=True,
                                                            is_main=info.is_main)
                barrier(info)
        say(f"pretraining done for {', '.join(done)} (encoder@seed); evaluate in one process with: "
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
    from graphclr.eval.report import write_report
    from graphclr.runner.data import prepare_data

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cfg = eval_config(spec)
    labels = list(cfg.labels)
    write_json(out / "spec.json", dict(spec))
    echo(f"benchmark {spec.name!r} -> {out}")
    t0 = time.perf_counter()
    data = prepare_data(spec["dataset"], out, labels, progress=progress)
    t_data = time.perf_counter() - t0
    echo(f"data: {data.description} (train {data.info['n_train']}, val {data.info['n_val']}, "
         f"test {data.info['n_test']}; {t_data:.0f} s)")
    device = resolve_device(spec.get("device"))
    results = results_header(cfg, data.test, name=spec.name, description=spec.get("description", ""),
                             synthetic=bool(data.synthetic or spec.synthetic),
                             dataset={"description": data.description, **data.info}, command=command,
                             pretrain_seed=spec.seeds()[0])
    seeds = spec.seeds()
    results["seeds"]["pretraining"] = seeds if len(seeds) > 1 else seeds[0]
    results.update({"budget": spec["budget"], "model": spec.get("model", {}), "spec_source": spec.source,
                    "encoders": {}, "timing": {"data_s": t_data}})
    sets = DatasetsByPreprocess(data, int(spec.get("in_memory_mb", 2048)) * 2**20, progress)
    resources = _resources(spec["dataset"], out, cfg)
    per_seed: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        sdir, sspec, say = _seed_run(spec, seed, out, echo)
        per_seed[seed] = results["encoders"] if seed == seeds[0] else {}
        for enc in spec["encoders"]:
            t = time.perf_counter()
            per_seed[seed][enc["name"]] = run_encoder(sspec, enc, sets, sdir, cfg, device, resume, progress, say,
                                                      resources=resources)
            results["timing"][_timing_key(seed, seeds, enc["name"])] = time.perf_counter() - t
            results["wall_seconds"] = time.perf_counter() - started
            if len(seeds) > 1:
                results["multi_seed"] = aggregate(per_seed)
            write_report(json_clean(results), out)       # a partial report after every encoder
    results, report = write_outputs(results, out, cfg, started=started)
    echo(f"report: {report}")
    return results, report


def _seed_run(spec: BenchmarkSpec, seed: int, out: Path,
              echo: Callable[[str], None]) -> tuple[Path, BenchmarkSpec, Callable[[str], None]]:
    """Where one pretraining seed's encoders live (:meth:`BenchmarkSpec.seed_dir`), its spec
    and messages."""
    say = echo if seed == spec.seeds()[0] else (lambda m: echo(f"(seed {seed}) {m}"))
    return spec.seed_dir(out, seed), spec.for_seed(seed), say


def _timing_key(seed: int, seeds: list[int], name: str) -> str:
    return f"encoder_{name}_s" if seed == seeds[0] else f"seed-{seed}/encoder_{name}_s"


def _resources(section: Mapping[str, Any], out: Path, cfg: EvalConfig) -> dict[str, Any]:
    """What the data supplies to the evaluations: the synthetic benchmark's counterfactual
    pairs (cached in ``OUT/counterfactuals``; from its test-split reports only)."""
    if cfg.get("counterfactual") is None or section.get("kind") != "synthetic":
        return {}
    from graphclr.eval.counterfactuals import CounterfactualSource

    return {"counterfactuals": CounterfactualSource(out / "counterfactuals", seed=int(section.get("seed", 0)),
                                                    image_size=int(section.get("size", 64)))}


def evaluate_checkpoint(checkpoint: str | Path, dataset: Mapping[str, Any], cfg: EvalConfig, out_dir: str | Path, *,
                        name: str = "model", device: str | None = "auto", batch_size: int = 64,
                        in_memory_mb: int = 2048, command: str | None = None, progress: bool = True,
                        overwrite: bool = False, echo: Callable[[str], None] = print) -> tuple[dict[str, Any], Path]:
    """The benchmark's evaluation of one saved checkpoint (``graphclr eval``).

    ``dataset`` is a spec's ``dataset`` section (:func:`graphclr.runner.data.prepare_data`;
    no pretraining set needed). The splits get the checkpoint's eval transform exactly as in
    a benchmark, then :func:`graphclr.eval.run_protocol` writes ``results.json``,
    ``report.md`` and ``plots/`` into ``out_dir``. Features cached there by an earlier run
    of the same checkpoint, data and settings are reused; an ``out_dir`` holding another
    evaluation under ``name`` is refused unless ``overwrite``.
    """
    import shutil

    from graphclr.eval.run import read_json, write_json
    from graphclr.runner.spec import spec_fingerprint

    from graphclr.eval.run import run_protocol
    from graphclr.models import load_model
    from graphclr.runner.data import prepare_data
    from graphclr.runner.models import count_params

    dev = resolve_device(device)
    model = load_model(checkpoint).to(dev).eval()
    out = Path(out_dir)
    edir = out / "encoders" / name
    fp = {"checkpoint": _file_hash(Path(checkpoint)), "dataset": spec_fingerprint(dict(dataset)),
          "evaluations": spec_fingerprint(repr(cfg))}
    prev = read_json(out / "results.json")
    if prev is not None and not overwrite and (prev.get("kind") != "eval" or list(prev.get("encoders", {})) != [name]):
        raise ValueError(f"{out} holds the results of another run ({prev.get('kind', 'benchmark')} "
                         f"{prev.get('name', '')!r}); use another --out, or --overwrite to replace its results.json")
    old = read_json(edir / "fingerprint.json")
    if old is not None and old != fp:
        if not overwrite:
            raise ValueError(f"{edir} holds an evaluation of another checkpoint, dataset or settings; "
                             "use another --out or --name, or --overwrite to replace it")
        shutil.rmtree(edir)
    edir.mkdir(parents=True, exist_ok=True)
    write_json(edir / "fingerprint.json", fp)
    data = prepare_data(dataset, out, list(cfg.labels), progress=progress, pretraining=False)
    echo(f"data: {data.description} (train {data.info['n_train']}, val {data.info['n_val']}, "
         f"test {data.info['n_test']})")
    sets = DatasetsByPreprocess(data, int(in_memory_mb) * 2**20, progress, pretraining=False)
    info = {k: v for k, v in data.info.items() if k != "n_pretrain"}
    return run_protocol(model, sets.get(model.preprocess_cfg), cfg, out, name=name, synthetic=data.synthetic,
                        dataset={"description": data.description, **info}, command=command,
                        batch_size=batch_size, device=dev, progress=progress, echo=echo,
                        extra={"checkpoint": str(checkpoint), "parameters": count_params(model.parameters())},
                        resources=_resources(dataset, out, cfg))


def _file_hash(path: Path) -> str:
    import hashlib

    h = hashlib.sha1()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
