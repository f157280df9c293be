"""Shared test configuration: fixture paths, and where the optional ../shared data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DGLBACKEND", "pytorch")

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
#: ../shared exists on developer machines only; tests using it must also have a path that
#: runs without it.
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark(name)`` executes ``benchmarks/<name>.py`` afresh as module ``bench_<name>``.

    The script's folder is on ``sys.path`` while it runs (the scripts import ``common``),
    and the module is registered in ``sys.modules`` (dataclasses look their module up).
    """
    import importlib.util
    import sys

    bench = REPO_ROOT / "benchmarks"

    def load(name: str):
        sys.path.insert(0, str(bench))
        try:
            spec = importlib.util.spec_from_file_location(f"bench_{name}", bench / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return module
        finally:
            sys.path.remove(str(bench))

    return load


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def radgraph_dir() -> Path:
    return FIXTURES / "radgraph"


@pytest.fixture
def one_thread():
    """Run a test's torch ops on one thread.

    Tiny models on a shared 2-core machine are dominated by OpenMP threads spinning
    against each other; one thread is many times faster and gives the same results.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
