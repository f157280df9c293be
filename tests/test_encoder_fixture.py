"""Encoder outputs are bit-equal to the stored ones (``tests/encoder_fixture.py``).

The fixture was written before the report batch was reworked; any change in how graphs
are batched, featurized, convolved or read out that changes a single bit fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from encoder_fixture import CASES, FIXTURE, compute


@pytest.fixture(scope="module")
def stored() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", list(CASES))
def test_encoder_outputs_are_bit_equal_to_the_fixture(name, stored, one_thread) -> None:
    got = compute(name)
    assert set(got) == {k.split("/", 1)[1] for k in stored if k.startswith(name + "/")}
    for part, out in got.items():
        want = torch.from_numpy(stored[f"{name}/{part}"])
        assert out.shape == want.shape and out.dtype == want.dtype, (name, part)
        assert torch.isfinite(out).all()
        assert torch.equal(out, want), (name, part, float((out - want).abs().max()))


def test_fixture_batches_are_consistent(stored) -> None:
    # independent of the code under test: the stored batch and its reversal hold the same
    # rows (a graph's embedding does not depend on its batch), the empty report included
    for name in CASES:
        full, rev, empty = (stored[f"{name}/{p}"] for p in ("all", "reversed", "empty"))
        np.testing.assert_allclose(full, rev[::-1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(full[1:2], empty, rtol=1e-5, atol=1e-6)
