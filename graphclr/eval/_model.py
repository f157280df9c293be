"""Small helpers for driving any model that follows the contrastive-model contract."""

from __future__ import annotations

from typing import Any

__all__ = ["to_device", "report_input"]


def to_device(obj: Any, device: Any) -> Any:
    """Move a report batch to ``device``: :func:`graphclr.device.move_batch` (DGL graphs stay
    on the CPU, a ``ReportBatch`` moves as one object)."""
    from graphclr.device import move_batch

    return move_batch(obj, device)


def report_input(model: Any) -> str:
    """``"text"`` when the model's ``report_processor`` wants report text, else ``"graph"``.

    Models name the dataset field they take in ``report_key`` (``GraphCLIP``: ``"graph"``,
    :class:`graphclr.text.TextCLIP`: ``"text"``); a model without one takes graphs.
    """
    return str(getattr(model, "report_key", "graph"))
