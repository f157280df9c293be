"""The record every report reader yields, and the readers' one error path.

Examples:
    >>> skipped = []
    >>> fail("r.csv: line 3: empty 'id'", strict=False, skipped=skipped)
    >>> skipped
    ["r.csv: line 3: empty 'id'"]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Report", "ReportFormatError", "fail"]

log = logging.getLogger("graphclr.reports.readers")


@dataclass(slots=True)
class Report:
    """One report.

    Args:
        id: the report id (``CXR123``, ``p10/p10000032/s50414267.txt``, a CSV id, ...).
        text: the report text, section headers included.
        source: where it came from: ``"openi"``, ``"mimic"``, ``"csv"`` or ``"text"``.
        metadata: reader-specific fields (Open-i: ``sections``, ``images``, ``mesh_major``,
            ``mesh_automatic``, ``file``; MIMIC: ``subject_id``, ``study_id``, ``file``).
    """

    id: str
    text: str
    source: str = "text"
    metadata: dict[str, Any] = field(default_factory=dict)


class ReportFormatError(ValueError):
    """A report file or record that cannot be read; the message names where."""


def fail(message: str, strict: bool, skipped: list[str] | None) -> None:
    """Raise :class:`ReportFormatError` (``strict``), else append ``message`` to
    ``skipped`` (or log it as a warning when there is no list): the one way every reader
    reports a record it cannot read."""
    if strict:
        raise ReportFormatError(message)
    if skipped is None:
        log.warning("skipped: %s", message)
    else:
        skipped.append(message)
