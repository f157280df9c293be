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
