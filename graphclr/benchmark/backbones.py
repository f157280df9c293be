"""A CPU-sized image backbone for the built-in benchmark, registered on demand.

The built-in synthetic benchmark must pretrain three encoders in minutes on two CPU cores.
torchvision's smallest registered backbone (ResNet-18) costs seconds per 64-image step
there, and the test backbone ``tiny-cnn`` ends in global average pooling, which throws away
*where* a finding is, so no encoder could learn a left from a right effusion through it.
``cpu-cnn`` is four strided 3x3 convolutions (16-32-64-64 channels, BatchNorm, ReLU) whose
final 4x4 map is flattened (keeping the layout) into a 256-d feature: about 3.5 M
multiply-adds per 64-px image.

It is registered into :mod:`graphclr.models.backbones` by :func:`register_benchmark_backbones`,
which the benchmark runner calls; call it yourself before loading a checkpoint that uses it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CPUCNN", "register_benchmark_backbones", "CPU_CNN"]

CPU_CNN = "cpu-cnn"


def _cpu_cnn_class() -> Any:
    import torch
    from torch import nn

    class CPUCNN(nn.Module):
        r"""Four stride-2 conv blocks, then a flattened (position-keeping) projection.

        .. math::
            h_k = \mathrm{ReLU}(\mathrm{BN}(\mathrm{Conv}_{3\times3, s=2}(h_{k-1}))),\quad
            f = \mathrm{ReLU}(W\, \mathrm{vec}(\mathrm{AdaptiveAvgPool}_{4\times4}(h_4)))

        Examples:
            >>> import torch
            >>> CPUCNN()(torch.rand(2, 1, 64, 64)).shape
            torch.Size([2, 256])
        """

        def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (16, 32, 64, 64),
                     out_dim: int = 256) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c = in_channels
            for i, w in enumerate(widths):
                conv = nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False)
                if i == 0:
                    self.conv1 = conv
                layers += [conv if i else nn.Identity(), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c = w
            self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                                      nn.Linear(c * 16, out_dim), nn.ReLU(inplace=True))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(self.conv1(x))

    return CPUCNN


def __getattr__(name: str) -> Any:  # CPUCNN without importing torch at module import
    if name == "CPUCNN":
        return _cpu_cnn_class()
    raise AttributeError(name)


def register_benchmark_backbones() -> None:
    """Register ``cpu-cnn`` with graphclr's backbone registry (idempotent)."""
    from graphclr.models.backbones import list_backbones, register_backbone

    if CPU_CNN in list_backbones():
        return
    cls = _cpu_cnn_class()
    register_backbone(CPU_CNN, lambda size: cls(in_channels=3), num_features=256, stem="conv1")
