"""float32 views at an odd byte offset (e.g. into a bytes buffer) give the same answers as aligned
arrays. Reading floats through a misaligned pointer is undefined behaviour in C++ (UBSan flags
it), so the native side copies such inputs; this checks the results, and the sanitizer CI run
checks the reads."""

from __future__ import annotations

import numpy as np
import pytest

import minimod.nn.functional as F


def _misaligned(a: np.ndarray) -> np.ndarray:
    raw = np.zeros(a.nbytes + 1, np.uint8)
    view = raw[1:].view(np.float32).reshape(a.shape)
    view[...] = a
    assert view.ctypes.data % 4 != 0 and view.flags.c_contiguous
    return view


rng = np.random.default_rng(0)
X4 = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
W4 = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
WLIN = rng.standard_normal((5, 81)).astype(np.float32)
MEAN, VAR = rng.standard_normal(4).astype(np.float32), rng.random(4).astype(np.float32) + 0.5

CASES = {
    "conv2d-input": lambda m: F.conv2d(m(X4), W4, padding=1),
    "conv2d-weight": lambda m: F.conv2d(X4, m(W4), padding=1),
    "depthwise": lambda m: F.conv2d(m(X4), m(W4[:4, :1]), padding=1, groups=4),
    "batch_norm": lambda m: F.batch_norm(m(X4), m(MEAN), m(VAR), training=False),
    "max_pool2d": lambda m: F.max_pool2d(m(X4), 2),
    "avg_pool2d": lambda m: F.avg_pool2d(m(X4), 3, 2, 1),
    "adaptive_avg_pool2d": lambda m: F.adaptive_avg_pool2d(m(X4), 1),
    "relu": lambda m: F.relu(m(X4)),
    "gelu": lambda m: F.gelu(m(X4)),
    "softmax": lambda m: F.softmax(m(X4), dim=1),
    "linear": lambda m: F.linear(m(X4.reshape(4, 81)), m(WLIN)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_misaligned_float32_views_match_aligned_arrays(case):
    fn = CASES[case]
    np.testing.assert_array_equal(fn(_misaligned), fn(lambda a: a))
