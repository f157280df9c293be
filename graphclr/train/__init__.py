"""Contrastive pretraining: the loop, its configuration, data order, checkpoints, torchrun.

* :func:`train` -- pretrain any graphclr model (graph or text) on image-report pairs;
* :class:`TrainConfig` -- its settings;
* :class:`SyntheticPairDataset` -- a small generated (synthetic) paired dataset for tests
  and smoke runs.

Run several processes with ``torchrun --nproc_per_node N -m graphclr pretrain ...``.
"""

from graphclr.train.config import TrainConfig
from graphclr.train.loop import train
from graphclr.train.state import latest_checkpoint
from graphclr.train.synthetic_pairs import SyntheticPairDataset, synthetic_reports

__all__ = ["TrainConfig", "train", "latest_checkpoint", "SyntheticPairDataset", "synthetic_reports"]
