"""The package layering written in ``docs/architecture.md`` holds in the code.

The page's table "Who may import whom" lists, for each part of ``graphclr``, the parts it
may import. This test reads every module's imports (module level and inside functions,
``import graphclr.x`` and ``from graphclr.x import ...``) with :mod:`ast` and checks them
against that table; it also checks that the table itself has no cycle, so no two packages
import each other, however hidden the import.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "graphclr"
PAGE = ROOT / "docs" / "architecture.md"


@functools.lru_cache(maxsize=1)
def allowed_table() -> dict[str, set[str]]:
    """``{part: {parts it may import}}`` from the page's table."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## Who may import whom", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`graphclr\.([\w]+)`\s*\|(.*)\|\s*$", line)
        if m:
            table[m.group(1)] = set(re.findall(r"`([\w]+)`", m.group(2))) - {"graphclr"}
    return table


def part_of(path: Path) -> str:
    """The part a file belongs to: its subpackage, or its module for top-level files."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _is_part(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def imported_parts(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "graphclr":   # submodules, or names of graphclr/__init__.py
                names = [f"graphclr.{a.name}" if _is_part(a.name) else "graphclr.__init__"
                         for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "graphclr" and len(parts) > 1:
                out.add(parts[1])
    return out


@functools.lru_cache(maxsize=1)
def actual_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        part = part_of(path)
        found.setdefault(part, set()).update(imported_parts(path) - {part})
    return found


def test_every_part_is_in_the_table() -> None:
    table = allowed_table()
    parts = {part_of(p) for p in PACKAGE.rglob("*.py")}
    assert parts <= set(table), f"parts missing from docs/architecture.md: {sorted(parts - set(table))}"
    assert set(table) <= parts, f"table rows for parts that do not exist: {sorted(set(table) - parts)}"


@pytest.mark.parametrize("part", sorted(allowed_table()))
def test_imports_follow_the_table(part) -> None:
    table = allowed_table()
    got = actual_imports().get(part, set())
    extra = sorted(got - table[part])
    assert not extra, f"graphclr.{part} imports {extra}, which docs/architecture.md does not allow"


def test_the_table_has_no_cycle() -> None:
    table = allowed_table()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError("import cycle allowed by the table: " + " -> ".join(path + [node]))
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(table.get(node, ())):
            if nxt != "cli":      # nothing imports the CLI
                visit(nxt, path + [node])
        state[node] = 2

    for part in sorted(table):
        if part != "cli":
            visit(part, [])


def test_the_checker_sees_function_level_imports(tmp_path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from graphclr.models import x\n    import graphclr.text.tokenize\n"
                 "from graphclr import eval as ev\nfrom graphclr import __version__\n")
    assert imported_parts(f) == {"models", "text", "eval", "__init__"}
