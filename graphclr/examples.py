"""Small example data bundled with graphclr, for docs, tutorials and smoke tests."""

from __future__ import annotations

from pathlib import Path

__all__ = ["example_radgraph_path"]


def example_radgraph_path() -> Path:
    """A RadGraph v1 JSON file of four hand-written reports (not patient data).

    They cover an empty report, a one-entity report, a report with four components and
    every relation type, a multi-token entity and uncertain findings.
    """
    from graphclr.shipped import shipped_dir

    return shipped_dir("data_files") / "example_radgraph.json"
