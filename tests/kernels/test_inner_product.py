"""The inner-product GEMM path (csrc/kernels/gemm/inner_product*.cpp): Linear's layout, y = x W^T
(+ bias) (ReLU), for small M (use_inner_product: M <= 32, or M <= 64 with N <= 128), on every
ISA path, against a float64 numpy reference
and torch.

What is special about the path and tested here: register tiles of R x-rows by NW weight rows with
ragged edges in both (every M of 1..17 and around 32/64, N tails), K tails and K shorter than a
vector, a first partial step that aligns the weight loads (weights at every float offset, and row
strides that are not a multiple of the vector width), the bias / ReLU epilogue, the split of N
over threads, and the claim that each output is one fixed sequence of operations (bitwise the same
whatever M, the thread count or the tile that computed it).
"""

from __future__ import annotations

import numpy as np
import pytest

from minimod import _core

from linear_reference import check, reference

T = _core._testing
M_VALUES = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65]
NK = [(1, 1), (2, 5), (3, 16), (5, 17), (10, 512), (6, 31), (7, 33), (13, 8), (24, 784),
      (37, 100), (130, 47)]


def operands(seed, m, n, k):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    b = rng.uniform(-1, 1, n).astype(np.float32)
    return x, w, b


def at_offset(values, offset):
    """A C-contiguous float32 copy of `values` whose data starts `offset` floats past a 64-byte
    boundary."""
    raw = np.zeros(values.size + 32, np.float32)
    start = (-(raw.ctypes.data // 4)) % 16 + offset
    view = raw[start : start + values.size].reshape(values.shape)
    view[...] = values
    assert view.ctypes.data % 64 == offset * 4
    return view


def test_thresholds_reported():
    cfg = T.gemm_config()
    assert (cfg["inner_product_m"], cfg["inner_product_narrow_m"], cfg["inner_product_narrow_n"]) == (
        32, 64, 128)


@pytest.mark.parametrize(("m", "n"), [(32, 129), (33, 128), (33, 129), (64, 128), (64, 129),
                                      (65, 128), (65, 10)])
def test_routing_boundaries(isa, m, n):
    # Both sides of each boundary of use_inner_product (the packed path beyond it).
    x, w, b = operands(m * n, m, n, 70)
    check(_core.linear(x, w, b, relu=True), reference(x, w, b, relu=True), 70)


@pytest.mark.parametrize("m", M_VALUES)
def test_shapes(isa, m):
    for n, k in NK:
        x, w, b = operands(m * 1000 + n * 7 + k, m, n, k)
        check(_core.linear(x, w, b), reference(x, w, b), k)
        check(_core.linear(x, w), reference(x, w), k)


@pytest.mark.parametrize("m", [1, 2, 3, 4, 6, 64])
def test_relu_epilogue(isa, m):
    for n, k in [(1, 3), (10, 512), (24, 784), (13, 17)]:
        x, w, b = operands(m + n + k, m, n, k)
        check(_core.linear(x, w, b, relu=True), reference(x, w, b, relu=True), k)
        check(_core.linear(x, w, relu=True), reference(x, w, relu=True), k)


@pytest.mark.parametrize("m", [1, 2, 5, 64])
def test_weight_and_input_alignment(isa, m):
    # The kernels peel a first partial step so weight loads are aligned: every offset of W and of
    # x within a cache line, K a multiple of 16 (all rows share the offset) or not.
    for k in (16, 40, 784):
        x, w, b = operands(k + m, m, 11, k)
        ref = reference(x, w, b)
        for w_off in range(16):
            x_off = (3 * w_off) % 16
            out = _core.linear(at_offset(x, x_off), at_offset(w, w_off), b)
            check(out, ref, k)


@pytest.mark.parametrize("m", [1, 3, 4, 9, 64])
def test_strided_rows_in_place(isa, m):
    # The raw GEMM reads W^T and x in place with row strides that are not multiples of a vector.
    rng = np.random.default_rng(m)
    k, n = 37, 19
    xw = rng.uniform(-1, 1, (m, k + 3)).astype(np.float32)
    ww = rng.uniform(-1, 1, (n, k + 5)).astype(np.float32)
    x, w = xw[:, 2 : k + 2], ww[:, 1 : k + 1]
    bias = rng.uniform(-1, 1, m).astype(np.float32)
    out = T.sgemm(x, w.T)
    check(out, reference(x, w), k)
    out = T.sgemm(x, w.T, bias, bias_per_row=True, relu=True)
    check(out, np.maximum(reference(x, w) + bias.astype(np.float64)[:, None], 0.0), k)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_result_independent_of_rows_and_threads(isa, threads):
    # Each output is one fixed sequence of operations: row i of a batch equals the same row run
    # alone, bitwise, and equals what one thread computes.
    # K = 300: rows at assorted alignments (no aligning step); K = 512 with W 5 floats past a
    # cache line: every row takes the aligning step.
    for k, w_off in ((300, 0), (512, 5)):
        x, w, b = operands(k, 32, 520, k)
        w = at_offset(w, w_off)
        full = _core.linear(x, w, b)
        for i in (0, 3, 17, 30, 31):
            np.testing.assert_array_equal(full[i : i + 1], _core.linear(x[i : i + 1], w, b))
        np.testing.assert_array_equal(full[:7], _core.linear(x[:7], w, b))
        np.testing.assert_array_equal(full[:, 6:], _core.linear(x, w[6:], b[6:]))
        before = _core.get_num_threads()
        _core.set_num_threads(1)
        try:
            np.testing.assert_array_equal(full, _core.linear(x, w, b))
        finally:
            _core.set_num_threads(before)
        check(full, reference(x, w, b), k)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("m", [16, 61, 64])
def test_narrow_layer_rows_split_between_threads(isa, threads, m):
    # A classifier head (N = 10: one chunk of columns) at batch >= 16 is cut between the threads
    # by rows: every output still equals what one thread computes and the row run alone, bitwise.
    x, w, b = operands(11, m, 10, 512)
    full = T.sgemm(x, w.T, b, relu=True)
    check(full, np.maximum(reference(x, w, b), 0.0), 512)
    for i in (0, 7, 8, m // 2, m - 1):
        np.testing.assert_array_equal(full[i : i + 1], T.sgemm(x[i : i + 1], w.T, b, relu=True))
    before = _core.get_num_threads()
    _core.set_num_threads(1)
    try:
        np.testing.assert_array_equal(full, T.sgemm(x, w.T, b, relu=True))
    finally:
        _core.set_num_threads(before)


def test_special_values(isa):
    x, w, b = operands(9, 5, 7, 20)
    x[1, 3] = np.inf
    x[2, 4] = np.nan
    w[4, 19] = -np.inf
    with np.errstate(invalid="ignore"):
        ref = reference(x, w, b)
        out = _core.linear(x, w, b)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(out[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
    check(np.where(finite, out, 0), np.where(finite, ref, 0), 20)


@pytest.mark.parametrize("m", [1, 4, 17, 64])
def test_torch_parity(isa, m):
    torch = pytest.importorskip("torch")
    x, w, b = operands(m, m, 10, 784)
    want = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(_core.linear(x, w, b), want.numpy(), rtol=1e-5, atol=1e-4)
    want = torch.relu(want)
    np.testing.assert_allclose(_core.linear(x, w, b, relu=True), want.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("c_out", "c_in", "hw"), [(5, 16, (7, 9)), (8, 37, (3, 1)), (20, 64, (1, 1)),
                                                  (64, 100, (1, 1)), (3, 8, (1, 1))])
def test_scale_epilogue_of_the_unpacked_paths(isa, c_out, c_in, hw):
    # Conv's BatchNorm affine (a per-output-row scale before the per-row shift) on the GEMMs that
    # read B in place: a 1x1 convolution with at most 8 output channels (small M, row-major B),
    # and one over a 1x1 image (B = one column with unit row stride: the inner-product path).
    rng = np.random.default_rng(c_out * 100 + c_in)
    x = rng.uniform(-1, 1, (2, c_in) + hw).astype(np.float32)
    w = rng.uniform(-1, 1, (c_out, c_in, 1, 1)).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, c_out).astype(np.float32)
    shift = rng.uniform(-1, 1, c_out).astype(np.float32)
    conv = np.einsum("oc,nchw->nohw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
    affine = conv * scale.astype(np.float64)[None, :, None, None]
    want = np.maximum(affine + shift.astype(np.float64)[None, :, None, None], 0.0)
    out = T.conv_affine(x, w, scale, shift, 1, 0, 1, 1, relu=True, path="gemm_1x1")
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.sqrt(c_in))
    out = T.conv_affine(x, w, scale, None, 1, 0, 1, 1, relu=False, path="gemm_1x1")
    np.testing.assert_allclose(out, affine, rtol=1e-5, atol=1e-5 * np.sqrt(c_in))
