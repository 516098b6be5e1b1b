"""SGEMM kernels (csrc/kernels/gemm) against a float64 numpy reference, on every ISA path.

The raw entry point ``_core._testing.sgemm(a, b, ...)`` reads a and b with whatever strides they
have, so transposed, sliced and negative-stride views exercise every packing routine; M <= 8 with
a unit-stride operand takes the small-M (unpacked) path, larger M the packed, blocked path.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from minimod import _core

T = _core._testing
SIZES = [1, 2, 3, 7, 8, 15, 17, 31, 63, 64, 65, 257]


def reference(a, b, bias=None, bias_per_row=False, relu=False):
    out = a.astype(np.float64) @ b.astype(np.float64)
    if bias is not None:
        bias = bias.astype(np.float64)
        out = out + (bias[:, None] if bias_per_row else bias[None, :])
    if relu:
        out = np.maximum(out, 0.0)
    return out


def check(out, ref, k):
    assert out.dtype == np.float32
    assert out.shape == ref.shape
    # float32 accumulation over k terms of magnitude <= 1: error grows like sqrt(k) * eps.
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6 * max(1.0, np.sqrt(k)) + 1e-6)


def operands(rng, m, n, k, layout):
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    if layout == "nn":  # B row-major
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    elif layout == "nt":  # B = W^T with W (n, k) row-major: Linear's layout
        b = rng.uniform(-1, 1, (n, k)).astype(np.float32).T
    elif layout == "strided":  # neither stride is 1: the general packers
        b = rng.uniform(-1, 1, (2 * k, 3 * n)).astype(np.float32)[::2, ::3]
    elif layout == "nn_view":  # row-major B inside a wider array: rows not cache-line aligned
        b = rng.uniform(-1, 1, (k, n + 7)).astype(np.float32)[:, 3 : n + 3]
    elif layout == "nn_rev":  # row-major B with a negative row stride (unit column stride)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)[::-1]
    elif layout == "nt_view":  # W^T with W a column slice of a wider array
        b = rng.uniform(-1, 1, (n, k + 5)).astype(np.float32)[:, 1 : k + 1].T
    elif layout == "a_t":  # A column-major: A packing with a non-unit column stride
        a = np.asfortranarray(a)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    elif layout == "negative":
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)[::-1]
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)[:, ::-1]
    else:
        raise AssertionError(layout)
    return a, b


def grid():
    # Every M and N of SIZES, with K cycling through SIZES too (144 shapes per path).
    for i, (m, n) in enumerate(itertools.product(SIZES, SIZES)):
        yield m, n, SIZES[(i * 5) % len(SIZES)]


@pytest.mark.parametrize("layout", ["nn", "nt"])
def test_sizes(isa, layout):
    rng = np.random.default_rng(0)
    for m, n, k in grid():
        a, b = operands(rng, m, n, k, layout)
        check(T.sgemm(a, b), reference(a, b), k)


@pytest.mark.parametrize("layout", ["strided", "a_t", "negative", "nn_view", "nt_view", "nn_rev"])
def test_layouts(isa, layout):
    rng = np.random.default_rng(1)
    for m, n, k in [(1, 17, 31), (3, 64, 7), (8, 65, 257), (9, 33, 300), (31, 63, 64), (65, 17, 2)]:
        a, b = operands(rng, m, n, k, layout)
        check(T.sgemm(a, b), reference(a, b), k)


@pytest.mark.parametrize("bias_per_row", [False, True])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("layout", ["nn", "nt"])
def test_epilogue(isa, bias_per_row, relu, layout):
    rng = np.random.default_rng(2)
    for m, n, k in [(1, 1, 1), (2, 31, 17), (7, 65, 3), (8, 257, 64), (15, 33, 257), (65, 17, 300),
                    (257, 63, 15)]:
        a, b = operands(rng, m, n, k, layout)
        bias = rng.uniform(-1, 1, m if bias_per_row else n).astype(np.float32)
        out = T.sgemm(a, b, bias, bias_per_row=bias_per_row, relu=relu)
        check(out, reference(a, b, bias, bias_per_row, relu), k)
        # relu only: still exact zeros where the sum is negative
        out = T.sgemm(a, b, relu=relu)
        check(out, reference(a, b, relu=relu), k)


@pytest.mark.parametrize("threads", [1, 2, 3], indirect=True)
def test_thread_slices(isa, threads):
    # Shapes large enough to be split: along N (many column panels) and along M (few columns).
    rng = np.random.default_rng(3)
    for m, n, k, layout in [(64, 1000, 129, "nn"), (300, 20, 257, "nt"), (4, 3000, 100, "nt"),
                            (5, 999, 70, "nn"), (200, 200, 200, "nt")]:
        a, b = operands(rng, m, n, k, layout)
        bias = rng.uniform(-1, 1, n).astype(np.float32)
        check(T.sgemm(a, b, bias, relu=True), reference(a, b, bias, relu=True), k)
        check(T.sgemm(a, b, parallel=False), reference(a, b), k)


def test_cache_blocks(isa):
    # Exceed every cache block of the active table at once: several jc, pc and ic blocks.
    cfg = T.gemm_config()
    assert cfg["isa"] == isa
    rng = np.random.default_rng(4)
    m, n, k = cfg["mc"] + cfg["mr"] + 3, cfg["nc"] + cfg["nr"] + 5, 2 * cfg["kc"] + 7
    for layout in ["nn", "nt", "nn_view", "nt_view"]:
        a, b = operands(rng, m, n, k, layout)
        bias = rng.uniform(-1, 1, m).astype(np.float32)
        check(T.sgemm(a, b, bias, bias_per_row=True), reference(a, b, bias, True), k)


@pytest.mark.parametrize("layout", ["nn", "nt"])
def test_blocked_path_when_neither_operand_is_shared(isa, layout):
    # Both packed operands over the 4 MiB a shared pack may take (sgemm.cpp, kSharedFloats): each
    # slice packs its own BLIS blocks, here several of each of jc, pc and ic.
    cfg = T.gemm_config()
    m, n, k = 1030, max(1030, cfg["nc"] + cfg["nr"] + 5), max(1030, cfg["kc"] + 7)
    assert m * k > 1 << 20 and n * k > 1 << 20 and n > cfg["nc"] and m > cfg["mc"]
    rng = np.random.default_rng(11)
    a, b = operands(rng, m, n, k, layout)
    bias = rng.uniform(-1, 1, m).astype(np.float32)
    check(T.sgemm(a, b, bias, bias_per_row=True, relu=True), reference(a, b, bias, True, True), k)


@pytest.mark.parametrize("layout", ["nn", "nn_view", "nn_rev", "nt"])
def test_panel_pipeline(isa, layout):
    # Row-major B: each panel's microkernel calls copy the next panel, a share of rows per A
    # panel (one A panel copies all kc rows; more A panels than rows leave later calls none), and
    # fetch the source of the one after; the last panel of a K block hands over to the next block.
    cfg = T.gemm_config()
    mr, nr, kc = cfg["mr"], cfg["nr"], cfg["kc"]
    rng = np.random.default_rng(7)
    shapes = [(9, 1, 5), (mr + 1, 3 * nr + 1, 1), (mr, 2 * nr, 2), (20 * mr + 3, nr + 5, 3),
              (2 * mr - 1, 5 * nr - 3, kc), (3 * mr, 4 * nr + 7, kc + 1), (33, 97, 2 * kc + 9),
              (64, 3136, 256)]
    for m, n, k in shapes:
        a, b = operands(rng, m, n, k, layout)
        bias = rng.uniform(-1, 1, m).astype(np.float32)
        check(T.sgemm(a, b, bias, bias_per_row=True, relu=True), reference(a, b, bias, True, True), k)


def test_empty_and_k0(isa):
    rng = np.random.default_rng(5)
    for m, n in [(0, 5), (5, 0), (0, 0)]:
        out = T.sgemm(np.zeros((m, 3), np.float32), np.zeros((3, n), np.float32))
        assert out.shape == (m, n)
    # K = 0: the empty sum is 0, then the epilogue
    for m, n in [(3, 5), (20, 40)]:
        a, b = np.zeros((m, 0), np.float32), np.zeros((0, n), np.float32)
        np.testing.assert_array_equal(T.sgemm(a, b), np.zeros((m, n)))
        bias = rng.uniform(-1, 1, n).astype(np.float32)
        np.testing.assert_array_equal(T.sgemm(a, b, bias, relu=True), np.broadcast_to(np.maximum(bias, 0), (m, n)))


def test_reference_kernel():
    # The naive C++ reference agrees with numpy too (it is the oracle of the conv tests' peers).
    rng = np.random.default_rng(6)
    a, b = operands(rng, 17, 31, 65, "nt")
    bias = rng.uniform(-1, 1, 17).astype(np.float32)
    out = T.sgemm(a, b, bias, bias_per_row=True, relu=True, reference=True)
    check(out, reference(a, b, bias, True, True), 65)


def test_special_values(isa):
    # inf / nan propagate like IEEE sums; zero-padded panel columns never leak into real ones.
    a = np.ones((9, 4), np.float32)
    b = np.ones((4, 33), np.float32)
    b[0, 5] = np.inf
    b[1, 7] = np.nan
    out = T.sgemm(a, b)
    assert np.isinf(out[:, 5]).all() and np.isnan(out[:, 7]).all()
    mask = np.ones(33, bool)
    mask[[5, 7]] = False
    np.testing.assert_array_equal(out[:, mask], 4.0)


# --- _core.linear: the binding Linear uses ---------------------------------------------------


def test_linear_binding(isa):
    rng = np.random.default_rng(7)
    for lead, k, n in [((), 5, 3), ((1,), 784, 512), ((4, 3), 7, 9), ((64,), 512, 10), ((0,), 4, 6), ((2, 0), 3, 2)]:
        x = rng.uniform(-1, 1, (*lead, k)).astype(np.float32)
        w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
        bias = rng.uniform(-1, 1, n).astype(np.float32)
        ref = x.reshape(-1, k).astype(np.float64) @ w.T.astype(np.float64)
        out = _core.linear(x, w, bias)
        assert out.shape == (*lead, n)
        check(out.reshape(-1, n), ref + bias, k)
        out = _core.linear(x, w, None, relu=True)
        check(out.reshape(-1, n), np.maximum(ref, 0), k)


def test_linear_binding_noncontiguous_inputs(isa):
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, (10, 14)).astype(np.float32)[:, ::2]  # copied to contiguous
    w = np.asfortranarray(rng.uniform(-1, 1, (6, 7)).astype(np.float32))
    check(_core.linear(x, w), x.astype(np.float64) @ w.T.astype(np.float64), 7)


def test_linear_binding_validates():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        _core.linear(x, np.zeros((5, 4), np.float32))
    with pytest.raises(RuntimeError, match="float64"):
        _core.linear(x.astype(np.float64), np.zeros((5, 3), np.float32))
    with pytest.raises(RuntimeError, match="int64"):
        _core.linear(x, np.zeros((5, 3), np.int64))
    with pytest.raises(ValueError, match="bias"):
        _core.linear(x, np.zeros((5, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="weight must be 2-D"):
        _core.linear(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError):
        _core.linear(np.float32(1.0), np.zeros((5, 3), np.float32))
    with pytest.raises(TypeError):
        T.sgemm(x, np.zeros((3, 2), np.float64))
    with pytest.raises(ValueError):
        T.sgemm(x, np.zeros((4, 2), np.float32))
