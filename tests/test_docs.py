"""Every code example in docs/ runs.

```python blocks of a page run in order in one namespace, in a temporary working
directory. ```bash blocks run too when the page carries the marker
``<!-- docs-test: run-bash -->``, with .venv/bin first on PATH. See CONTRIBUTING.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
RUN_BASH = "<!-- docs-test: run-bash -->"


def pages() -> list[Path]:
    # the README's python example is documentation too (its bash blocks are the setup
    # commands, which CI runs anyway)
    return sorted(DOCS.rglob("*.md")) + [DOCS.parent / "README.md"]


def blocks(page: Path, lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(page.read_text(encoding="utf-8")) if kind == lang]


def test_docs_exist() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert {"index.md", "architecture.md", "schema.md"} <= names
    # every page is in the mkdocs navigation
    nav = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    assert [n for n in sorted(names) if n not in nav] == []


def runnable(page: Path) -> bool:
    return bool(blocks(page, "python")) or RUN_BASH in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", [p for p in pages() if runnable(p)],
                         ids=lambda p: p.relative_to(DOCS.parent).as_posix())
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks(page, "python")):
        try:
            exec(compile(code, f"{page.name} [block {i + 1}]", "exec"), namespace)
        except Exception as err:  # re-raise with the block for a readable failure
            raise AssertionError(f"{page.name}: python block {i + 1} failed: {err!r}\n{code}") from err
    if RUN_BASH not in page.read_text(encoding="utf-8"):
        return
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["GRAPHCLR_DOCS_TEST"] = "1"
    for i, code in enumerate(blocks(page, "bash")):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, (f"{page.name}: bash block {i + 1} failed ({proc.returncode})\n"
                                      f"{code}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n"
                                      f"{proc.stderr[-3000:]}")
