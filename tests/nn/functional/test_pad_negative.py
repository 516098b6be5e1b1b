"""F.pad with negative pads (cropping), including huge pads that cancel out.

torch narrows by the negative pads before padding (constant) or maps every output position back
onto the original input (reflect, replicate); either way nothing larger than the result is
allocated, and (10**12, -10**12) is answered at once, never with a 14 TiB allocation attempt.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod.nn.functional as F

PADS = [(2, -1), (-1, 3), (5, -6), (-5, 1), (-3, -3), (-2, -2), (1, -4), (-5, 6),
        (10**12, -10**12), (-10**12, 10**12)]  # fmt: skip


def _outcome(fn):
    try:
        return np.asarray(fn())
    except Exception as exc:  # the comparison is on the type and message
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("mode", ["constant", "replicate", "reflect"])
@pytest.mark.parametrize("pad", PADS)
def test_negative_and_cancelling_pads_match_torch(mode, pad):
    torch = pytest.importorskip("torch")
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    ours = _outcome(lambda: F.pad(x, pad, mode=mode))
    theirs = _outcome(lambda: torch.nn.functional.pad(torch.from_numpy(x), pad, mode=mode).numpy())
    if isinstance(theirs, tuple):
        assert ours == theirs
    else:
        assert isinstance(ours, np.ndarray), ours
        np.testing.assert_array_equal(ours, theirs)


def _replicate_reference(row: np.ndarray, lo: int, hi: int) -> np.ndarray:
    n = row.shape[-1]
    return np.stack([row[..., min(max(j - lo, 0), n - 1)] for j in range(n + lo + hi)], axis=-1)


@pytest.mark.parametrize("pad", [(10**12, -10**12), (-10**12, 10**12), (3, -2), (-2, 3)])
def test_replicate_maps_output_positions_onto_the_input(pad):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(F.pad(x, pad, mode="replicate"), _replicate_reference(x, *pad))


def test_constant_mode_refuses_cancelling_huge_pads_without_allocating():
    x = np.ones((1, 1, 4, 4), np.float32)
    with pytest.raises(RuntimeError, match="narrow"):
        F.pad(x, (10**12, -10**12))
    np.testing.assert_array_equal(F.pad(x, (0, 0, 2, -3)), np.pad(x[:, :, :1], ((0, 0), (0, 0), (2, 0), (0, 0))))
