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
