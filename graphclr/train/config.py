"""``TrainConfig``: every knob of a pretraining run, saved with each checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from graphclr.nn._config import dataclass_from_dict

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Settings of :func:`graphclr.train.train`.

    The run length is ``max_steps`` optimiser steps if set, else ``epochs`` passes over
    the data. One optimiser step consumes ``accum_steps`` micro-batches of ``batch_size``
    pairs on each rank (so the global batch is ``batch_size x accum_steps x world``).
    Defaults follow the reference implementation where it says (AdamW, lr 1e-3, image
    tower frozen for the first 20 steps) and CLIP practice elsewhere.
    """

    epochs: int = 10
    max_steps: int | None = None          #: overrides epochs when set
    batch_size: int = 250                 #: pairs per micro-batch per rank (reference: 250)
    accum_steps: int = 1                  #: micro-batches per optimiser step (features cached)
    lr: float = 1e-3
    weight_decay: float = 0.01            #: AdamW default (the reference kept it)
    decay_all_params: bool = False        #: decay biases, norms and the temperature too (the reference)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0             #: cosine decays to lr * min_lr_ratio
    freeze_image_steps: int = 0           #: LiT-style: image backbone frozen for the first N steps
    lock_image: bool = False              #: keep the image backbone frozen for the whole run (LiT)
    grad_clip: float | None = None        #: clip the global gradient norm
    amp: str = "auto"                     #: "auto" (bf16 on GPU, off on CPU) | "bf16" | "fp16" | "none"
    device: str = "auto"                  #: "auto" | "cpu" | "cuda" | "cuda:N"
    seed: int = 0
    num_workers: int = 0
    drop_last: bool = True                #: every step sees full batches
    batch_groups: str | None = None       #: dataset column: items sharing a value share a micro-batch
    log_every: int = 10                   #: steps between JSONL metric records
    checkpoint_every: int = 500           #: steps between checkpoints (0: only at the end)
    keep_checkpoints: int = 2             #: numbered checkpoints kept (the newest)
    progress: bool = True                 #: rank 0: a tqdm bar on a terminal, else plain lines
    progress_every: int = 0               #: steps between plain progress lines (0: log_every)
    tensorboard: bool = False             #: also write metrics as TensorBoard scalars

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.accum_steps < 1:
            raise ValueError("batch_size and accum_steps must be >= 1")
        if self.max_steps is None and self.epochs < 1:
            raise ValueError("give epochs >= 1 or max_steps")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        if self.batch_groups is not None and not self.drop_last:
            raise ValueError("batch_groups needs drop_last=True (every micro-batch full)")
        if self.amp not in ("auto", "bf16", "fp16", "none"):
            raise ValueError(f"amp must be auto, bf16, fp16 or none, got {self.amp!r}")
        self.betas = tuple(self.betas)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "train config") -> TrainConfig:
        return dataclass_from_dict(cls, data, where)
