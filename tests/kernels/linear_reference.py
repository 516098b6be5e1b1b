"""The float64 reference for y = x W^T + b (then ReLU) and the float32 tolerance it is checked
with: shared by the Linear call-path and inner-product kernel tests."""

from __future__ import annotations

import numpy as np


def reference(x, w, b=None, relu=False):
    out = x.astype(np.float64) @ w.astype(np.float64).T
    if b is not None:
        out = out + b.astype(np.float64)
    return np.maximum(out, 0.0) if relu else out


def check(out, ref, k):
    """float32 output of the right shape, within a tolerance that grows with the sum length k."""
    assert out.dtype == np.float32
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6 * max(1.0, np.sqrt(k)) + 1e-6)
