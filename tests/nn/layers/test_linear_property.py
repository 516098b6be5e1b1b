"""nn.Linear over random shapes (hypothesis): batch 0..256, input rank 1..4, bias on and off,
against a float64 numpy matmul, and against torch when it is importable."""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import minimod.nn as nn  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


@settings(max_examples=40, deadline=None)
@given(
    fin=st.integers(1, 70),
    fout=st.integers(1, 70),
    lead=st.lists(st.integers(0, 6), min_size=0, max_size=2),
    batch=st.integers(0, 256),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_random_shapes(fin, fout, lead, batch, bias, seed):
    shape = (batch, *lead, fin) if lead else ((batch, fin) if batch % 2 else (fin,))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    m = nn.Linear(fin, fout, bias=bias)
    y = m(x)
    w = np.asarray(m.weight, np.float64)
    want = x.astype(np.float64) @ w.T + (np.asarray(m.bias, np.float64) if bias else 0.0)
    assert y.shape == shape[:-1] + (fout,) and y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5 * max(1.0, np.sqrt(fin)))
    if torch is not None:
        t = torch.nn.Linear(fin, fout, bias=bias)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(np.asarray(m.weight)))
            if bias:
                t.bias.copy_(torch.from_numpy(np.asarray(m.bias)))
            np.testing.assert_allclose(y, t(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5 * max(1.0, np.sqrt(fin)))
