"""Small helpers for driving any model that follows the contrastive-model contract."""

from __future__ import annotations

from typing import Any

from graphclr.data.base import report_key_of

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


#: the item field a model reads (graphclr.data.base.report_key_of, the one lookup)
report_input = report_key_of
