"""Contrastive pretraining: the loop, its configuration, data order, checkpoints, torchrun.

* :func:`train` -- pretrain any graphclr model (graph or text) on image-report pairs;
* :class:`TrainConfig` -- its settings.

The small generated (synthetic) paired dataset for tests and smoke runs moved to
:mod:`graphclr.synth.pairs`; ``graphclr.train.SyntheticPairDataset`` still works, with a
DeprecationWarning, until graphclr 0.3.

Run several processes with ``torchrun --nproc_per_node N -m graphclr pretrain ...``.
"""

from typing import Any

from graphclr.train.config import TrainConfig
from graphclr.train.loop import train
from graphclr.train.state import latest_checkpoint

__all__ = ["TrainConfig", "train", "latest_checkpoint"]


def __getattr__(name: str) -> Any:
    if name in ("SyntheticPairDataset", "synthetic_reports"):
        import warnings

        from graphclr.synth import pairs

        warnings.warn(f"graphclr.train.{name} has moved to graphclr.synth.pairs.{name}; the "
                      "old name is removed in graphclr 0.3", DeprecationWarning, stacklevel=2)
        return getattr(pairs, name)
    raise AttributeError(name)
