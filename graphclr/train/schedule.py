r"""Learning-rate schedule: linear warm-up, then cosine decay.

.. math::

    \eta(t) = \eta_0 \cdot \begin{cases}
        (t + 1) / W & t < W \\
        m + (1 - m)\,\tfrac12\big(1 + \cos(\pi \tfrac{t - W}{T - W})\big) & t \ge W
    \end{cases}

for step :math:`t` (0-based), :math:`W` warm-up steps, :math:`T` total steps and floor
ratio :math:`m`. It is a picklable callable, so ``LambdaLR`` saves it in checkpoints.

Examples:
    >>> f = CosineWarmup(warmup_steps=2, total_steps=6)
    >>> [round(f(t), 3) for t in range(6)]
    [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
"""

from __future__ import annotations

import math

__all__ = ["CosineWarmup"]


class CosineWarmup:
    """Multiplier of the base learning rate at step ``t`` (see module doc)."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> None:
        if total_steps < 1:
            raise ValueError("total_steps must be >= 1")
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = int(total_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
