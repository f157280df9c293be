"""torch.distributed set-up for runs launched by ``torchrun`` (no process management here).

``torchrun --nproc_per_node N ...`` starts the processes and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; :func:`init_distributed`
reads them and joins the process group (NCCL on GPUs, gloo on CPUs). Started without
``torchrun`` (no ``WORLD_SIZE``, or 1), everything runs in this one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "init_distributed", "resolve_device", "barrier", "cleanup_distributed", "agreed_stop"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank, the world size, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> this rank's GPU when CUDA is available, else the CPU
    (:func:`graphclr.device.resolve_device` with this rank's ``local_rank``)."""
    from graphclr.device import resolve_device as resolve

    return resolve(device, local_rank)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if there is one; pick this process's device."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistInfo(0, 1, 0, dev)
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, initialized_here=True)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        dist.barrier()


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group if :func:`init_distributed` created it."""
    if info.initialized_here:
        import torch.distributed as dist

        dist.destroy_process_group()



def agreed_stop(received: str | None, info: DistInfo) -> str | None:
    """The stop signal, once any rank has one (all ranks stop at the same step)."""
    if not info.distributed:
        return received
    import torch.distributed as dist

    flag = torch.tensor([1 if received else 0], device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return (received or "SIGTERM") if int(flag) else None
