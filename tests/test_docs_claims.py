"""Claims that several places repeat must agree: the default benchmark's run time is stated
once in its spec's description and quoted by the README, docs/evaluation.md and
``graphclr benchmark --help``."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from graphclr.cli import main
from graphclr.runner.spec import load_spec

REPO = Path(__file__).resolve().parent.parent
ESTIMATE = re.compile(r"about (\w+) minutes? on 2 idle CPU cores.{0,120}?--quick`?: about (a|\w+) minute",
                      re.I)


def _estimate(text: str) -> tuple[str, str]:
    m = ESTIMATE.search(" ".join(text.split()))
    assert m, text[:300]
    return m.group(1), m.group(2)


def _help() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    return out.getvalue()


def test_benchmark_time_is_the_same_everywhere() -> None:
    stated = _estimate(load_spec(None)["description"])
    assert stated == ("8", "a")
    assert _estimate((REPO / "README.md").read_text()) == stated
    assert _estimate((REPO / "docs" / "evaluation.md").read_text()) == stated
    assert _estimate(_help()) == stated
