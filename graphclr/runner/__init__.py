"""Benchmarks: one JSON spec -> pretrain every encoder under one budget, evaluate, report.

* :func:`load_spec` / :func:`default_spec_path` -- specs (``graphclr-benchmark/1``);
* :func:`run_benchmark` -- the runner behind ``graphclr benchmark``: data
  (:mod:`graphclr.runner.data`), each encoder's model, pretraining and resume
  (:mod:`graphclr.runner.encoder`, :mod:`graphclr.runner.models`); the evaluation protocol,
  results, report and plots are :mod:`graphclr.eval`'s;
* :func:`evaluate_checkpoint` -- the same evaluation of a saved checkpoint (``graphclr eval``).

See ``docs/evaluation.md`` and ``docs/tutorials/own_data.md``.
"""

from typing import Any

from graphclr.runner.spec import (
    SPEC_FORMAT,
    BenchmarkSpec,
    default_spec_path,
    load_spec,
    parse_set,
)

__all__ = ["SPEC_FORMAT", "BenchmarkSpec", "default_spec_path", "evaluate_checkpoint", "load_spec", "parse_set",
           "run_benchmark"]


def __getattr__(name: str) -> Any:  # the runner imports torch: load it on first use
    if name in ("run_benchmark", "evaluate_checkpoint"):
        from graphclr.runner import run

        return getattr(run, name)
    raise AttributeError(name)
