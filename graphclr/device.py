"""Choosing a device and moving a batch to it: the one helper for training and evaluation.

* :func:`resolve_device` turns a name (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
  ``"mps"``, a :class:`torch.device`) into a :class:`torch.device`; ``"auto"`` is the GPU
  when CUDA is available, else the CPU. Nothing is chosen at import.
* :func:`move_batch` moves what a data loader yields -- tensors, a
  :class:`~graphclr.graphs.ReportBatch`, token dicts, and lists/tuples/dicts of them --
  to a device. DGL graphs stay where they are: DGL's PyPI builds are CPU-only, and the
  graph encoder moves the tensors it reads from a DGL graph itself. A ``ReportBatch``
  moves as one object.

Examples:
    >>> import torch
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> move_batch({"ids": torch.zeros(2), "n": 3}, "cpu")["n"]
    3
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device 'gpu': not a device name (use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["resolve_device", "move_batch"]


def resolve_device(name: Any = "auto", local_rank: int | None = None) -> torch.device:
    """The device called ``name`` (see the module doc).

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device``.
        local_rank: this process's GPU under ``torchrun``: ``"auto"`` and a bare ``"cuda"``
            then mean ``cuda:<local_rank>``.

    Raises:
        ValueError: an unknown name, or a CUDA device asked for where CUDA is not available.
    """
    import torch

    if isinstance(name, str) and name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda" if local_rank is None else f"cuda:{local_rank}")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r}: not a device name (use 'auto', 'cpu', 'cuda', "
                         "'cuda:N' or 'mps')") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available here (use 'auto' or 'cpu')")
        if dev.index is None and local_rank is not None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def move_batch(batch: Any, device: Any, *, non_blocking: bool = True) -> Any:
    """``batch`` with its tensors on ``device`` (DGL graphs stay on the CPU; see module doc)."""
    import torch

    if type(batch).__module__.startswith("dgl"):
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: move_batch(v, device, non_blocking=non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [move_batch(v, device, non_blocking=non_blocking) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    to = getattr(batch, "to", None)
    if callable(to):
        try:
            return to(device, non_blocking=non_blocking)
        except TypeError:   # a .to(device) without non_blocking (e.g. a tokenizer's BatchEncoding)
            return to(device)
    return batch
