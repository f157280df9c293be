"""ClipLoss against a hand-computed 3x3 case, and its limits."""

from __future__ import annotations

import math

import pytest
import torch

from graphclr.loss import ClipLoss


def test_three_by_three_by_hand() -> None:
    r = 1 / math.sqrt(2)
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0], [r, r]])
    report = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    # logits = 2 * image @ report.T:
    #   [2, 1.2, 0], [0, 1.6, 2], [2r, 2.8r, 2r]
    # image->report rows:  -2 + log(e^2 + e^1.2 + 1)           = 0.460373
    #                      -1.6 + log(1 + e^1.6 + e^2)          = 0.990924
    #                      -2r + log(2 e^(2r) + e^(2.8r))       = 1.324593
    # report->image columns: -2 + log(e^2 + 1 + e^(2r))         = 0.525913
    #                        -1.6 + log(e^1.2 + e^1.6 + e^(2.8r)) = 1.141818
    #                        -2r + log(1 + e^2 + e^(2r))         = 1.111700
    expected = ((0.460373 + 0.990924 + 1.324593) / 3 + (0.525913 + 1.141818 + 1.111700) / 3) / 2
    loss = ClipLoss()(image, report, torch.tensor(2.0))
    assert abs(float(loss) - expected) < 1e-5
    assert abs(expected - 0.925887) < 1e-5


def test_loss_is_symmetric_in_its_towers() -> None:
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 4), dim=1)
    b = torch.nn.functional.normalize(torch.randn(5, 4), dim=1)
    loss = ClipLoss()
    assert torch.allclose(loss(a, b, 3.0), loss(b, a, 3.0))


def test_matching_pairs_drive_the_loss_to_zero() -> None:
    feats = torch.eye(4)
    assert float(ClipLoss()(feats, feats, torch.tensor(100.0))) < 1e-6
    assert abs(float(ClipLoss()(feats, feats.roll(1, 0), torch.tensor(100.0))) - 100.0) < 1e-3


def test_gradients_reach_both_towers_and_the_temperature() -> None:
    torch.manual_seed(0)
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, 4, requires_grad=True)
    s = torch.tensor(2.0, requires_grad=True)
    ClipLoss()(torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1), s).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (a, b, s))


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        ClipLoss()(torch.zeros(3, 4), torch.zeros(2, 4), 1.0)
