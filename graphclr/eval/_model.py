"""Small helpers for driving any model that follows the contrastive-model contract."""

from __future__ import annotations

from typing import Any

from graphclr.data.base import report_key_of

__all__ = ["to_device", "report_input"]


def to_device(obj: Any, device: Any) -> Any:
    """Move a report batch to ``device``: :func:`graphclr.device.move_batch` (DGL graphs stay
    on the CPU, a ``ReportBatch`` moves as one object)."""
    from graphclr.device import move_batch

    return move_batch(obj, device)


#: the item field a model reads (graphclr.data.base.report_key_of, the one lookup)
report_input = report_key_of
