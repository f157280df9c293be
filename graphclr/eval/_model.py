"""Small helpers for driving any model that follows the contrastive-model contract."""

from __future__ import annotations

from typing import Any

__all__ = ["to_device", "report_input"]


def to_device(obj: Any, device: Any) -> Any:
    """Move a report batch (a tensor, a DGL graph, or dicts/lists/tuples of them) to ``device``."""
    if hasattr(obj, "to") and callable(obj.to):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def report_input(model: Any) -> str:
    """``"text"`` when the model's ``report_processor`` wants report text, else ``"graph"``.

    Models name the dataset field they take in ``report_key`` (``GraphCLIP``: ``"graph"``,
    :class:`graphclr.text.TextCLIP`: ``"text"``); a model without one takes graphs.
    """
    return str(getattr(model, "report_key", "graph"))
