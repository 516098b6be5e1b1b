"""Pooling (csrc/kernels/pool) against float64 numpy references written here, and against torch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minimod
import minimod.nn.functional as F
from minimod._arrays import is_native

# ---------------------------------------------------------------------------------------------
# References (float64, straight from the rules in the spec)
# ---------------------------------------------------------------------------------------------


def _out_size(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _as_planes(x):
    """(..., H, W) -> (planes, H, W) float64 plus the leading shape."""
    return x.reshape(-1, *x.shape[-2:]).astype(np.float64), x.shape[:-2]


def max_pool2d_ref(x, k, s, p, d, ceil):
    planes, lead = _as_planes(x)
    h, w = x.shape[-2:]
    oh, ow = _out_size(h, k[0], s[0], p[0], d[0], ceil), _out_size(w, k[1], s[1], p[1], d[1], ceil)
    out = np.empty((planes.shape[0], oh, ow))
    idx = np.empty((planes.shape[0], oh, ow), np.int64)
    for i, j in itertools.product(range(oh), range(ow)):
        rows = [r for r in range(i * s[0] - p[0], i * s[0] - p[0] + d[0] * (k[0] - 1) + 1, d[0]) if 0 <= r < h]
        cols = [c for c in range(j * s[1] - p[1], j * s[1] - p[1] + d[1] * (k[1] - 1) + 1, d[1]) if 0 <= c < w]
        # scan order and tie rule of torch: a strictly larger value or a NaN takes over
        best = np.full(planes.shape[0], -np.inf)
        # the first in-bounds tap; a window wholly in the padding (possible with dilation) keeps
        # -inf and reports its first tap past the padding, as torch does
        r0, c0 = i * s[0] - p[0], j * s[1] - p[1]
        r0, c0 = r0 + (-r0 + d[0] - 1) // d[0] * d[0] * (r0 < 0), c0 + (-c0 + d[1] - 1) // d[1] * d[1] * (c0 < 0)
        at = np.full(planes.shape[0], r0 * w + c0, np.int64)
        for r, c in itertools.product(rows, cols):
            v = planes[:, r, c]
            take = (v > best) | np.isnan(v)
            best = np.where(take, v, best)
            at = np.where(take, r * w + c, at)
        out[:, i, j], idx[:, i, j] = best, at
    return out.reshape(*lead, oh, ow), idx.reshape(*lead, oh, ow)


def avg_pool2d_ref(x, k, s, p, ceil, count_include_pad, divisor=None):
    planes, lead = _as_planes(x)
    h, w = x.shape[-2:]
    oh, ow = _out_size(h, k[0], s[0], p[0], 1, ceil), _out_size(w, k[1], s[1], p[1], 1, ceil)
    out = np.empty((planes.shape[0], oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
        h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
        padded_count = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
        total = planes[:, h0:h1, w0:w1].sum(axis=(1, 2))
        count = divisor if divisor is not None else padded_count if count_include_pad else (h1 - h0) * (w1 - w0)
        out[:, i, j] = total / count if h1 > h0 and w1 > w0 else 0.0
    return out.reshape(*lead, oh, ow)


def _bins(n_in, n_out):
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def adaptive_ref(x, oh, ow, mode):
    planes, lead = _as_planes(x)
    w = x.shape[-1]
    out = np.empty((planes.shape[0], oh, ow))
    idx = np.empty((planes.shape[0], oh, ow), np.int64)
    for (i, (h0, h1)), (j, (w0, w1)) in itertools.product(enumerate(_bins(x.shape[-2], oh)), enumerate(_bins(w, ow))):
        win = planes[:, h0:h1, w0:w1].reshape(planes.shape[0], -1)
        if mode == "avg":
            out[:, i, j] = win.mean(axis=1)
        else:
            a = np.argmax(win, axis=1)
            out[:, i, j] = win[np.arange(len(a)), a]
            idx[:, i, j] = (h0 + a // (w1 - w0)) * w + (w0 + a % (w1 - w0))
    return out.reshape(*lead, oh, ow), idx.reshape(*lead, oh, ow)


def _x(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------

MAX_GRID = [
    (k, s, p, d, ceil)
    for k in ((1, 1), (2, 2), (3, 3), (2, 3))
    for s in (None, (1, 1), (2, 2), (2, 1), (3, 3))
    for p in ((0, 0), (1, 1), (1, 0))
    for d in ((1, 1), (2, 2), (1, 2))
    for ceil in (False, True)
    if p[0] <= k[0] // 2 and p[1] <= k[1] // 2
]


@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 8, 8), (3, 5, 6)])
def test_max_pool2d_grid_matches_reference(shape):
    x = _x(shape, seed=sum(shape))
    checked = 0
    for k, s, p, d, ceil in MAX_GRID:
        s2 = s or k
        if any(_out_size(n, kk, ss, pp, dd, ceil) < 1 for n, kk, ss, pp, dd in zip(shape[-2:], k, s2, p, d)):
            with pytest.raises(RuntimeError, match="Output size is too small"):
                F.max_pool2d(x, k, s, p, d, ceil)
            continue
        want, want_idx = max_pool2d_ref(x, k, s2, p, d, ceil)
        out, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
        assert is_native(out) and out.dtype == np.float32 and idx.dtype == np.int64
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(F.max_pool2d(x, k, s, p, d, ceil), want)
        checked += 1
    assert checked > 100


def test_max_pool2d_ties_inf_and_nan_follow_torch_rule():
    x = np.full((1, 1, 4, 4), -np.inf, np.float32)
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 3, 3] = np.nan
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = 5.0  # a tie: the first one wins
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    want, want_idx = max_pool2d_ref(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    assert idx[0, 0, 0, 0] == 0 and idx[0, 0, 0, 1] == 2 and idx[0, 0, 1, 1] == 15  # all -inf: first; NaN: last


@pytest.mark.parametrize("shape", [(2, 3, 11), (4, 9), (1, 1, 1)])
def test_max_pool1d_matches_reference(shape):
    x = _x(shape, seed=5)
    for k, s, p, d, ceil in itertools.product((1, 2, 3), (None, 1, 2), (0, 1), (1, 2), (False, True)):
        if p > k // 2 or _out_size(shape[-1], k, s or k, p, d, ceil) < 1:
            continue
        want, want_idx = max_pool2d_ref(x[..., None, :], (1, k), (1, s or k), (0, p), (1, d), ceil)
        out, idx = F.max_pool1d(x, k, s, p, d, ceil, return_indices=True)
        np.testing.assert_array_equal(out, want[..., 0, :])
        np.testing.assert_array_equal(idx, want_idx[..., 0, :])
        np.testing.assert_array_equal(F.max_pool1d(x, k, s, p, d, ceil), want[..., 0, :])
        np.testing.assert_array_equal(F.max_pool1d_with_indices(x, k, s, p, d, ceil)[1], want_idx[..., 0, :])


def test_zero_batch_and_layouts():
    assert F.max_pool2d(np.zeros((0, 3, 4, 4), np.float32), 2).shape == (0, 3, 2, 2)
    out, idx = F.max_pool2d(np.zeros((0, 3, 4, 4), np.float32), 2, return_indices=True)
    assert out.shape == idx.shape == (0, 3, 2, 2)
    assert F.avg_pool2d(np.zeros((0, 3, 4, 4), np.float32), 2).shape == (0, 3, 2, 2)
    assert F.max_pool1d(np.zeros((0, 3, 4), np.float32), 2).shape == (0, 3, 2)
    assert F.adaptive_avg_pool2d(np.zeros((0, 3, 4, 4), np.float32), 2).shape == (0, 3, 2, 2)
    assert F.adaptive_avg_pool2d(np.zeros((0, 4, 4), np.float32), 2).shape == (0, 2, 2)
    x = _x((2, 3, 9, 10), seed=1)
    wide = np.zeros((2, 3, 9, 20), np.float32)
    wide[..., ::2] = x
    views = (np.asfortranarray(x), np.ascontiguousarray(x[:, ::-1])[:, ::-1], wide[..., ::2])
    for fn in (
        lambda v: F.max_pool2d(v, 3, 2, 1, return_indices=True)[1],
        lambda v: F.avg_pool2d(v, 3, 2, 1, ceil_mode=True),
        lambda v: F.adaptive_avg_pool2d(v, (4, 3)),
        lambda v: F.adaptive_max_pool2d(v, (4, 3)),
        lambda v: F.max_pool1d(v[0], 3, 2),
    ):
        expected = fn(x)
        for v in views:
            np.testing.assert_array_equal(fn(v), expected)


# ---------------------------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------------------------

AVG_GRID = [
    (k, s, p, ceil, cip, div)
    for k in ((1, 1), (2, 2), (3, 3), (3, 2))
    for s in (None, (1, 1), (2, 2), (1, 3))
    for p in ((0, 0), (1, 1), (0, 1))
    for ceil in (False, True)
    for cip in (True, False)
    for div in (None, 1, 5, -2)
    if p[0] <= k[0] // 2 and p[1] <= k[1] // 2
]


@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 5, 5)])
def test_avg_pool2d_grid_matches_reference(shape):
    x = _x(shape, seed=sum(shape))
    checked = 0
    for k, s, p, ceil, cip, div in AVG_GRID:
        s2 = s or k
        if any(_out_size(n, kk, ss, pp, 1, ceil) < 1 for n, kk, ss, pp in zip(shape[-2:], k, s2, p)):
            continue
        got = F.avg_pool2d(x, k, s, p, ceil, cip, div)
        assert is_native(got)
        np.testing.assert_allclose(got, avg_pool2d_ref(x, k, s2, p, ceil, cip, div), rtol=1e-5, atol=1e-6)
        checked += 1
    assert checked > 300


def test_avg_pool_corner_divisor_example_from_spec():
    x = np.ones((1, 1, 5, 5), np.float32)
    np.testing.assert_allclose(F.avg_pool2d(x, 3, 1, 1)[0, 0, 0, 0], 4 / 9, rtol=1e-7)
    assert F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)[0, 0, 0, 0] == 1.0
    assert F.avg_pool2d(x, 3, 1, 1, divisor_override=2)[0, 0, 0, 0] == 2.0


def test_avg_pool1d_matches_reference():
    x = _x((3, 4, 13), seed=8)
    for k, s, p, ceil, cip in itertools.product((1, 2, 3, 4), (None, 1, 2, 3), (0, 1, 2), (False, True), (True, False)):
        if p > k // 2 or _out_size(13, k, s or k, p, 1, ceil) < 1:
            continue
        want = avg_pool2d_ref(x[..., None, :], (1, k), (1, s or k), (0, p), ceil, cip)[..., 0, :]
        np.testing.assert_allclose(F.avg_pool1d(x, k, s, p, ceil, cip), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(F.avg_pool1d(x[0], k, s, p, ceil, cip), want[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Adaptive pooling
# ---------------------------------------------------------------------------------------------


def test_adaptive_bins_10_to_4_from_spec():
    assert _bins(10, 4) == [(0, 3), (2, 5), (5, 8), (7, 10)]
    x = np.arange(10, dtype=np.float32)[None, None]
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x, 4)[0, 0], [1.0, 3.0, 6.0, 8.0])


@pytest.mark.parametrize("in_hw", [(10, 10), (7, 5), (1, 1), (13, 3), (4, 9)])
@pytest.mark.parametrize("out_hw", [(4, 4), (1, 1), (3, 2), (7, 5), (10, 1), (2, 9)])
def test_adaptive_2d_matches_reference(in_hw, out_hw):
    x = _x((2, 3, *in_hw), seed=in_hw[0] * 31 + in_hw[1])
    want, _ = adaptive_ref(x, *out_hw, "avg")
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, out_hw), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x[0], out_hw), want[0], rtol=1e-5, atol=1e-6)
    want_max, want_idx = adaptive_ref(x, *out_hw, "max")
    out, idx = F.adaptive_max_pool2d(x, out_hw, return_indices=True)
    np.testing.assert_array_equal(out, want_max)
    np.testing.assert_array_equal(idx, want_idx)


def test_adaptive_none_entries_and_zero_output():
    x = _x((2, 3, 6, 7), seed=2)
    assert F.adaptive_avg_pool2d(x, (None, 3)).shape == (2, 3, 6, 3)
    assert F.adaptive_avg_pool2d(x, [2, None]).shape == (2, 3, 2, 7)
    assert F.adaptive_avg_pool2d(x, 0).shape == (2, 3, 0, 0)
    assert F.adaptive_max_pool2d(x, (0, 2)).shape == (2, 3, 0, 2)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1), x.astype(np.float64).mean(axis=(2, 3), keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("n_in", [1, 5, 10, 16])
@pytest.mark.parametrize("n_out", [1, 2, 4, 5, 16])
def test_adaptive_avg_pool1d_matches_reference(n_in, n_out):
    x = _x((2, 3, n_in), seed=n_in)
    want, _ = adaptive_ref(x[..., None, :], 1, n_out, "avg")
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x, n_out), want[..., 0, :], rtol=1e-5, atol=1e-6)


def test_threads_give_identical_results():
    x = _x((8, 16, 33, 35), seed=3)
    previous = minimod.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            minimod.set_num_threads(n)
            results.append((F.max_pool2d(x, 3, 2, 1, return_indices=True), F.avg_pool2d(x, 3, 2, 1), F.adaptive_avg_pool2d(x, 5)))
    finally:
        minimod.set_num_threads(previous)
    (m1, a1, d1), (m2, a2, d2) = results
    np.testing.assert_array_equal(m1[0], m2[0])
    np.testing.assert_array_equal(m1[1], m2[1])
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(d1, d2)


def test_dtype_errors():
    with pytest.raises(RuntimeError, match=r"float64.*astype\(np\.float32\)"):
        F.max_pool2d(np.zeros((1, 4, 4)), 2)
    with pytest.raises(RuntimeError, match="int64"):
        F.avg_pool1d(np.zeros((1, 4), np.int64), 2)


# ---------------------------------------------------------------------------------------------
# torch parity: values and error messages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (3, 7, 7)])
def test_matches_torch(shape):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = _x(shape, seed=44)
    x[..., 1, 1] = np.nan
    t = torch.from_numpy(x)
    for k, s, p, d, ceil in MAX_GRID[::3]:
        try:
            want = tF.max_pool2d(t, k, s, p, d, ceil, return_indices=True)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                F.max_pool2d(x, k, s, p, d, ceil)
            continue
        got = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
        np.testing.assert_array_equal(got[0], want[0].numpy())
        np.testing.assert_array_equal(got[1], want[1].numpy())
    x = np.nan_to_num(x)
    t = torch.from_numpy(x)
    for k, s, p, ceil, cip, div in AVG_GRID[::5]:
        try:
            want = tF.avg_pool2d(t, k, s, p, ceil, cip, div)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                F.avg_pool2d(x, k, s, p, ceil, cip, div)
            continue
        np.testing.assert_allclose(F.avg_pool2d(x, k, s, p, ceil, cip, div), want.numpy(), rtol=1e-6, atol=1e-7)
    for out in ((4, 4), (3, 5), 1, (None, 2), 7):
        np.testing.assert_allclose(F.adaptive_avg_pool2d(x, out), tF.adaptive_avg_pool2d(t, out).numpy(), rtol=1e-6, atol=1e-7)
        got = F.adaptive_max_pool2d(x, out, return_indices=True)
        want = tF.adaptive_max_pool2d(t, out, return_indices=True)
        np.testing.assert_array_equal(got[0], want[0].numpy())
        np.testing.assert_array_equal(got[1], want[1].numpy())
    x1 = x.reshape(x.shape[0], -1)[:, :23].copy()
    t1 = torch.from_numpy(x1)
    for k, s, p, ceil in itertools.product((2, 3), (None, 2), (0, 1), (False, True)):
        np.testing.assert_array_equal(F.max_pool1d(x1, k, s, p, 1, ceil), tF.max_pool1d(t1, k, s, p, 1, ceil).numpy())
        np.testing.assert_allclose(F.avg_pool1d(x1, k, s, p, ceil), tF.avg_pool1d(t1, k, s, p, ceil).numpy(), rtol=1e-6)
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x1, 5), tF.adaptive_avg_pool1d(t1, 5).numpy(), rtol=1e-6)


def _z(*shape):
    return np.zeros(shape, np.float32)


X4, X3, X2 = _z(2, 3, 5, 5), _z(3, 5, 5), _z(3, 5)
BAD = [
    ("max_pool2d", (X4, 2), {"padding": 2}),
    ("max_pool2d", (_z(1, 4, 4), 5), {}),
    ("max_pool2d", (_z(2, 1, 4, 4), 5), {}),
    ("max_pool2d", (X2, 2), {}),
    ("max_pool2d", (_z(1, 1, 1, 4, 4), 2), {}),
    ("max_pool2d", (_z(2, 0, 4, 4), 2), {}),
    ("max_pool2d", (_z(2, 3, 0, 4), 2), {}),
    ("max_pool2d", (_z(0, 9, 9), 3), {}),
    ("max_pool2d", (X4, 2), {"stride": 0}),
    ("max_pool2d", (X4, 0), {}),
    ("max_pool2d", (X4, -1), {}),
    ("max_pool2d", (X4, 2), {"dilation": 0}),
    ("max_pool2d", (X4, 2), {"padding": -1}),
    ("max_pool2d", (X4, (2, 2, 2)), {}),
    ("max_pool2d", (X4, ()), {}),
    ("max_pool2d", (X4, 2), {"stride": (1, 1, 1)}),
    ("max_pool2d", (X4, 2), {"padding": (1, 1, 1)}),
    ("max_pool2d", (X4, 2), {"dilation": (1, 1, 1)}),
    ("max_pool2d", (_z(1, 9, 9), 3), {"dilation": 2, "padding": 2}),
    ("max_pool2d", (X4, 2.0), {}),
    ("max_pool2d", (X4, True), {}),
    ("max_pool2d", (X4, "a"), {}),
    ("max_pool2d", (X4, [2, "a"]), {}),
    ("max_pool2d", (X4, [2, 2.0]), {}),
    ("max_pool2d", (X4, [True, 2]), {}),
    ("max_pool2d", (X4, [2, None]), {}),
    ("max_pool2d", (X4, 2), {"ceil_mode": 1}),
    ("max_pool2d", (X4, 2.0), {"return_indices": True}),
    ("max_pool2d", (_z(1, 4, 4), 5), {"return_indices": True}),
    ("max_pool1d", (X2, 2), {"padding": 2}),
    ("max_pool1d", (_z(1, 4), 5), {}),
    ("max_pool1d", (X4, 2), {}),
    ("max_pool1d", (_z(4), 2), {}),
    ("max_pool1d", (_z(2, 3, 0), 2), {}),
    ("max_pool1d", (_z(2, 0, 3), 2), {}),
    ("max_pool1d", (_z(0, 3), 2), {}),
    ("max_pool1d", (X2, 2), {"stride": 0}),
    ("max_pool1d", (X2, 0), {}),
    ("max_pool1d", (X2, -1), {}),
    ("max_pool1d", (X2, 2), {"dilation": 0}),
    ("max_pool1d", (X2, 3), {"dilation": 2, "padding": 2}),
    ("max_pool1d", (X2, 2), {"padding": -1}),
    ("max_pool1d", (X2, (2, 2)), {}),
    ("max_pool1d", (X2, 2), {"stride": (2, 2)}),
    ("max_pool1d", (X2, 2), {"padding": (1, 1)}),
    ("max_pool1d", (X2, 2), {"dilation": (1, 1)}),
    *[
        ("max_pool1d", args, {**kw, "return_indices": True})
        for args, kw in [
            ((X2, 2), {"padding": 2}),
            ((_z(1, 4), 5), {}),
            ((X4, 2), {}),
            ((_z(2, 3, 0), 2), {}),
            ((_z(0, 3), 2), {}),
            ((X2, 2), {"stride": 0}),
            ((X2, -1), {}),
            ((X2, 2), {"dilation": 0}),
            ((X2, 3), {"dilation": 2, "padding": 2}),
            ((X2, (2, 2)), {}),
            ((X2, 2), {"stride": (2, 2)}),
        ]
    ],
    ("avg_pool2d", (X4, 2), {"padding": 2}),
    ("avg_pool2d", (_z(1, 4, 4), 5), {}),
    ("avg_pool2d", (X2, 2), {}),
    ("avg_pool2d", (_z(4), 2), {}),
    ("avg_pool2d", (_z(2, 3, 0, 4), 2), {}),
    ("avg_pool2d", (_z(0, 9, 9), 2), {}),
    ("avg_pool2d", (_z(1, 1, 1, 9, 9), 2), {}),
    ("avg_pool2d", (X4, 2), {"stride": 0}),
    ("avg_pool2d", (X4, 0), {}),
    ("avg_pool2d", (X4, -1), {}),
    ("avg_pool2d", (X4, 2), {"divisor_override": 0}),
    ("avg_pool2d", (X4, 2), {"padding": -1}),
    ("avg_pool2d", (X4, (1, 2, 3)), {}),
    ("avg_pool2d", (X4, 2), {"stride": (1, 2, 3)}),
    ("avg_pool2d", (X4, 2), {"padding": (1, 2, 3)}),
    ("avg_pool2d", (X4, "a"), {}),
    ("avg_pool2d", (X4, 2), {"divisor_override": 2.0}),
    ("avg_pool2d", (X4, 2), {"count_include_pad": 1}),
    ("avg_pool1d", (X2, 2), {"ceil_mode": 0}),
    ("avg_pool1d", (X2, 2), {"padding": 2}),
    ("avg_pool1d", (_z(1, 4), 5), {}),
    ("avg_pool1d", (X4, 2), {}),
    ("avg_pool1d", (_z(4), 2), {}),
    ("avg_pool1d", (_z(1, 3, 0), 2), {}),
    ("avg_pool1d", (_z(0, 3), 2), {}),
    ("avg_pool1d", (X2, 2), {"stride": 0}),
    ("avg_pool1d", (X2, 0), {}),
    ("avg_pool1d", (X2, -1), {}),
    ("avg_pool1d", (X2, 2), {"padding": -1}),
    ("avg_pool1d", (X2, (2, 2)), {}),
    ("avg_pool1d", (X2, 2), {"stride": (1, 1)}),
    ("avg_pool1d", (X2, 2), {"padding": (1, 1)}),
    ("adaptive_avg_pool2d", (X4, -1), {}),
    ("adaptive_avg_pool2d", (X2, -1), {}),
    ("adaptive_avg_pool2d", (_z(2, 3, 0, 4), 2), {}),
    ("adaptive_avg_pool2d", (X2, 2), {}),
    ("adaptive_avg_pool2d", (_z(5), 1), {}),
    ("adaptive_avg_pool2d", (_z(1, 1, 1, 4, 4), 2), {}),
    ("adaptive_avg_pool2d", (X4, (1, 2, 3)), {}),
    ("adaptive_avg_pool2d", (X3, (1, 2, 3)), {}),
    ("adaptive_avg_pool2d", (X3, (2,)), {}),
    ("adaptive_avg_pool2d", (X3, "a"), {}),
    ("adaptive_avg_pool2d", (X3, 2.0), {}),
    ("adaptive_avg_pool2d", (X3, None), {}),
    ("adaptive_avg_pool1d", (X4, 2), {}),
    ("adaptive_avg_pool1d", (_z(5), 2), {}),
    ("adaptive_avg_pool1d", (X2, -1), {}),
    ("adaptive_avg_pool1d", (_z(2, 3, 0), 2), {}),
    ("adaptive_avg_pool1d", (X2, (2, 2)), {}),
    ("adaptive_avg_pool1d", (X2, None), {}),
    ("adaptive_max_pool2d", (X4, -1), {}),
    ("adaptive_max_pool2d", (_z(2, 3, 0, 4), 2), {}),
    ("adaptive_max_pool2d", (X2, 2), {}),
    ("adaptive_max_pool2d", (X2, (1, 2, 3)), {}),
    ("adaptive_max_pool2d", (_z(1, 1, 3, 5), (1, 2, 3)), {}),
    ("adaptive_max_pool2d", (X3, (2,)), {}),
]


@pytest.mark.parametrize(("fname", "args", "kwargs"), BAD, ids=[f"{i}-{b[0]}" for i, b in enumerate(BAD)])
def test_errors_match_torch(fname, args, kwargs):
    torch = pytest.importorskip("torch")
    targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(Exception) as want:
        getattr(torch.nn.functional, fname)(*targs, **kwargs)
    with pytest.raises(want.type) as got:
        getattr(F, fname)(*args, **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize(
    ("fname", "args", "kwargs"),
    [
        ("adaptive_avg_pool2d", (_z(2, 3, 0, 4), 1), {}),
        ("adaptive_avg_pool1d", (_z(2, 3, 0), 1), {}),
        ("adaptive_avg_pool2d", (_z(3, 5), 1), {}),
        ("adaptive_avg_pool2d", (_z(1, 2, 3, 4, 5), (1, 1)), {}),
    ],
)
def test_one_by_one_adaptive_follows_torch_mean_path(fname, args, kwargs):
    # torch computes a 1x1 adaptive average as a plain mean and skips its shape checks there.
    torch = pytest.importorskip("torch")
    targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    want = getattr(torch.nn.functional, fname)(*targs, **kwargs).numpy()
    got = getattr(F, fname)(*args, **kwargs)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_huge_kernels_are_checked_not_overflowed():
    x = _x((1, 3, 3, 3), seed=6)
    k = 2**31 - 1  # legal with padding k // 2: every window covers the whole (padded) input
    out, idx = F.max_pool2d(x, k, 1, k // 2, return_indices=True)
    want, want_idx = max_pool2d_ref(x, (5, 5), (1, 1), (2, 2), (1, 1), False)  # whole-plane windows too
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    assert F.avg_pool2d(x, k, 1, k // 2).shape == (1, 3, 3, 3)
    with pytest.raises(RuntimeError, match="^value cannot be converted to type int without overflow$"):
        F.max_pool2d(x, 2**31, 1, 0)


# ---------------------------------------------------------------------------------------------
# The single-row max pooling fast path (kh = 1, no indices: MaxPool1d) and the global average
# pool (adaptive 1 x 1) have their own kernels; long rows reach their vector loops and tails.


@pytest.mark.parametrize("length", [1, 2, 7, 33, 257, 1030])
def test_max_pool1d_long_rows_with_specials_match_reference(length):
    rng = np.random.default_rng(length)
    x = rng.standard_normal((2, 3, length)).astype(np.float32)
    special = rng.random(x.shape)
    x[special < 0.03] = np.nan
    x[(special >= 0.03) & (special < 0.06)] = -np.inf
    x[(special >= 0.06) & (special < 0.09)] = np.inf
    x[(special >= 0.09) & (special < 0.12)] = 1.0  # ties
    x[(special >= 0.12) & (special < 0.14)] = np.float32(1e-40)  # subnormal
    checked = 0
    for k, s, p, d, ceil in itertools.product((1, 2, 3, 5), (None, 1, 2, 3), (0, 1, 2), (1, 2), (False, True)):
        if p > k // 2 or _out_size(length, k, s or k, p, d, ceil) < 1:
            continue
        want, _ = max_pool2d_ref(x[..., None, :], (1, k), (1, s or k), (0, p), (1, d), ceil)
        np.testing.assert_array_equal(F.max_pool1d(x, k, s, p, d, ceil), want[..., 0, :])
        # The 2-D entry point with a one-row kernel takes the same path, per input row.
        x2 = np.repeat(x[:, :, None, :], 3, axis=2)
        x2[:, :, 1] = x2[:, :, 1][..., ::-1]
        want2, _ = max_pool2d_ref(x2, (1, k), (1, s or k), (0, p), (1, d), ceil)
        np.testing.assert_array_equal(F.max_pool2d(x2, (1, k), (1, s or k), (0, p), (1, d), ceil), want2)
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("hw", [(1, 1), (1, 7), (7, 7), (3, 5), (13, 11), (2, 40)])
def test_global_avg_pool_matches_float64_mean(hw):
    rng = np.random.default_rng(hw[0] * 100 + hw[1])
    x = (rng.standard_normal((2, 5, *hw)) * 10.0 ** rng.integers(-3, 4, size=(2, 5, 1, 1))).astype(np.float32)
    want = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    got = F.adaptive_avg_pool2d(x, 1)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30 + 1e-6 * np.abs(x).max())
    specials = x.copy()
    specials[0, 0, 0, 0] = np.nan
    specials[0, 1, 0, 0] = np.inf
    specials[1, 2, -1, -1] = -np.inf
    got = F.adaptive_avg_pool2d(specials, 1)
    assert np.isnan(got[0, 0, 0, 0]) and got[0, 1, 0, 0] == np.inf and got[1, 2, 0, 0] == -np.inf
    if hw != (1, 1):
        specials[1, 3, 0, 0], specials[1, 3, -1, -1] = np.inf, -np.inf
        assert np.isnan(F.adaptive_avg_pool2d(specials, 1)[1, 3, 0, 0])


def test_global_avg_pool_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 64, 7, 7)).astype(np.float32)
    want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1), want, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# The per-ISA max-pool interior kernels (pool_avx2.cpp / pool_avx512.cpp, stride 1 and 2): row
# widths around the vector widths (8 and 16 lanes, 16 and 32 input floats at stride 2) reach full
# vectors, masked tails and the scalar clipped edges; NaN, +-inf, subnormals and signed-zero ties
# must follow torch's rule bit for bit on every path.


def _specials(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    u = rng.random(shape)
    x[u < 0.03] = np.nan
    x[(u >= 0.03) & (u < 0.06)] = -np.inf
    x[(u >= 0.06) & (u < 0.08)] = np.inf
    x[(u >= 0.08) & (u < 0.14)] = 0.0
    x[(u >= 0.14) & (u < 0.20)] = -0.0  # ties of +0 and -0: the first in scan order wins
    x[(u >= 0.20) & (u < 0.22)] = np.float32(1e-40)
    return x


@pytest.mark.parametrize("iw", [3, 8, 9, 15, 16, 17, 31, 32, 33, 34, 47, 66])
def test_max_pool2d_vector_interior_matches_reference_on_every_isa(isa, iw):
    x = _specials((2, 1, 5, iw), seed=iw)
    checked = 0
    for k, s, p, d in itertools.product(((2, 2), (3, 3), (1, 3), (3, 2)), (1, 2), (0, 1), (1, 2)):
        if p > min(k) // 2 or _out_size(iw, k[1], s, p, d, False) < 1 or _out_size(5, k[0], s, p, d, False) < 1:
            continue
        want, _ = max_pool2d_ref(x, k, (s, s), (p, p), (d, d), False)
        got = F.max_pool2d(x, k, s, p, d)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # NaN signs included
        checked += 1
    assert checked >= 8


def test_max_pool2d_vector_interior_matches_torch_on_every_isa(isa):
    torch = pytest.importorskip("torch")
    x = _specials((1, 3, 20, 37), seed=3)
    for args in ((2,), (3, 2, 1), (3, 1, 1), (2, 2, 0, 2)):
        want = torch.nn.functional.max_pool2d(torch.from_numpy(x), *args).numpy()
        np.testing.assert_array_equal(F.max_pool2d(x, *args), want)


# MaxPool2d(2) runs through its own kernel (2 x 2 windows at stride 2, whole planes per call):
# widths around the vector widths reach full vectors and scalar tails, odd sizes leave an input
# row and column unread, ceil_mode's partial windows take the general path, and 37 planes of 10
# output rows split across two threads in the middle of a plane.
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 2, 2), (2, 3, 5, 17), (1, 2, 8, 32), (2, 1, 7, 33), (1, 4, 32, 32), (1, 3, 16, 66), (1, 37, 20, 24)],
)
@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_max_pool2d_2x2_stride2_matches_reference_on_every_isa(isa, threads, shape, ceil):
    x = _specials(shape, seed=shape[-1] + shape[1])
    want, _ = max_pool2d_ref(x, (2, 2), (2, 2), (0, 0), (1, 1), ceil)
    got = F.max_pool2d(x, 2, ceil_mode=ceil)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
