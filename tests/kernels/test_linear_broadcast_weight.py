"""The broadcast-weight GEMM path (csrc/kernels/gemm/broadcast_weight*.{h,cpp}): Linear's layout,
y = x W^T (+ bias) (ReLU), for 32 < M <= 64 with N > 128 on the AVX2 and AVX-512 paths (the
generic path takes these shapes through the packed GEMM; the same tests check it there), against
a float64 numpy reference and torch.

What is special about the path and tested here: x is transposed once per call (gathers of whole
vectors of rows, then a scalar tail, padding to the vector width), tiles of weight rows by vectors
of batch rows with ragged edges in both, K cut into blocks sized by the padded batch (running sums
kept between blocks), a scalar epilogue after an in-register transpose, row strides and offsets
that are not multiples of a vector, the split of N over threads, and the claim that every output
is one fixed chain of multiply-adds (bitwise the same whatever M in the path's range, the thread
count or the N slice).
"""

from __future__ import annotations

import numpy as np
import pytest

from minimod import _core

from linear_reference import check, reference

T = _core._testing
M_VALUES = [33, 40, 47, 48, 49, 56, 63, 64]
# K around the block lengths (96 and 128 floats for 64 and 48 padded rows on AVX-512, 1024 and
# 1365 on AVX2), K = 1 and K shorter than a cache line; N just past 128 and tails of every tile
# height.
NK = [(129, 1), (130, 7), (131, 63), (132, 64), (133, 65), (134, 95), (135, 96), (141, 97),
      (200, 128), (257, 193), (512, 784), (136, 1023), (137, 1024), (138, 1025), (139, 1366),
      (140, 2100)]


def operands(seed, m, n, k):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    b = rng.uniform(-1, 1, n).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("m", M_VALUES)
def test_shapes(isa, m):
    for n, k in NK:
        x, w, b = operands(m * 1000 + n * 7 + k, m, n, k)
        check(_core.linear(x, w, b), reference(x, w, b), k)
        check(_core.linear(x, w), reference(x, w), k)
        check(_core.linear(x, w, b, relu=True), reference(x, w, b, relu=True), k)


@pytest.mark.parametrize(("m", "n"), [(32, 129), (33, 129), (64, 129), (65, 129), (64, 128)])
def test_routing_boundaries(isa, m, n):
    # Both sides of the path's M range (inner-product below, packed above) and of its N limit.
    x, w, b = operands(m + n, m, n, 300)
    check(_core.linear(x, w, b, relu=True), reference(x, w, b, relu=True), 300)


@pytest.mark.parametrize("m", [33, 50, 64])
def test_strided_rows_and_row_bias(isa, m):
    # The raw GEMM reads x and W^T in place with row strides that are not multiples of a vector
    # and rows that start anywhere in a cache line; a per-row bias (conv's epilogue) as well.
    rng = np.random.default_rng(m)
    k, n = 211, 150
    xw = rng.uniform(-1, 1, (m, k + 3)).astype(np.float32)
    ww = rng.uniform(-1, 1, (n, k + 5)).astype(np.float32)
    x, w = xw[:, 2 : k + 2], ww[:, 1 : k + 1]
    bias = rng.uniform(-1, 1, m).astype(np.float32)
    check(T.sgemm(x, w.T), reference(x, w), k)
    out = T.sgemm(x, w.T, bias, bias_per_row=True, relu=True)
    check(out, np.maximum(reference(x, w) + bias.astype(np.float64)[:, None], 0.0), k)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_result_independent_of_rows_n_slice_and_threads(isa, threads):
    # Each output is one fixed chain of multiply-adds: the first rows of a batch equal the same
    # rows run as a smaller batch in the path's range (another padding, so other K blocks),
    # bitwise; columns equal those of a layer with the first weight rows removed (other tiles,
    # other slices); and one thread computes the same as two.
    for k in (96, 300, 784, 2100):
        x, w, b = operands(k, 64, 520, k)
        full = _core.linear(x, w, b, relu=True)
        np.testing.assert_array_equal(full[:33], _core.linear(x[:33], w, b, relu=True))
        np.testing.assert_array_equal(full[:50], _core.linear(x[:50], w, b, relu=True))
        np.testing.assert_array_equal(full[:, 7:], _core.linear(x, w[7:], b[7:], relu=True))
        before = _core.get_num_threads()
        _core.set_num_threads(3 - before if before in (1, 2) else 1)
        try:
            np.testing.assert_array_equal(full, _core.linear(x, w, b, relu=True))
        finally:
            _core.set_num_threads(before)
        check(full, reference(x, w, b, relu=True), k)


def test_special_values(isa):
    x, w, b = operands(9, 40, 140, 100)
    x[1, 3] = np.inf
    x[2, 4] = np.nan
    w[4, 99] = -np.inf
    with np.errstate(invalid="ignore"):
        ref = reference(x, w, b)
        out = _core.linear(x, w, b)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    inf = ~np.isfinite(ref) & ~np.isnan(ref)
    np.testing.assert_array_equal(out[inf], ref[inf])
    finite = np.isfinite(ref)
    check(np.where(finite, out, 0), np.where(finite, ref, 0), 100)
    # The ReLU epilogue keeps NaN (it is applied on vectors before the transpose).
    with np.errstate(invalid="ignore"):
        ref = reference(x, w, b, relu=True)
        out = _core.linear(x, w, b, relu=True)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    finite = np.isfinite(ref)
    check(np.where(finite, out, 0), np.where(finite, ref, 0), 100)


@pytest.mark.parametrize("m", [33, 64])
def test_torch_parity(isa, m):
    torch = pytest.importorskip("torch")
    x, w, b = operands(m, m, 512, 784)
    want = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(_core.linear(x, w, b), want.numpy(), rtol=1e-5, atol=1e-4)
    want = torch.relu(want)
    np.testing.assert_allclose(_core.linear(x, w, b, relu=True), want.numpy(), rtol=1e-5, atol=1e-4)
