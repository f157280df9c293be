"""Benchmarks: one JSON spec -> pretrain every encoder under one budget, evaluate, report.

* :func:`load_spec` / :func:`default_spec_path` -- specs (``graphclr-benchmark/1``);
* :func:`run_benchmark` -- the runner behind ``graphclr benchmark``;
* :mod:`graphclr.runner.report` -- the Markdown table and PNG plots.

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

__all__ = ["SPEC_FORMAT", "BenchmarkSpec", "default_spec_path", "load_spec", "parse_set", "run_benchmark"]


def __getattr__(name: str) -> Any:  # the runner imports torch: load it on first use
    if name == "run_benchmark":
        from graphclr.runner.run import run_benchmark

        return run_benchmark
    raise AttributeError(name)
