"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d.

References: float64 numpy pooling written here from torch's documented rules (output size with
ceil_mode, -inf padding for max, the padded window size or the valid count as the average's
divisor, adaptive bins [floor(i*L/O), ceil((i+1)*L/O))), and torch's layers on the same seeded
configurations (values, indices, attributes, repr, errors).
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

import minimod.nn as nn

# ----------------------------------------------------------------------------------- references


def _out_size(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window must start inside the input or its left padding
    return max(out, 0)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def ref_max_pool2d(x, k, s, p, d, ceil_mode):
    """(values, flat indices into each H*W plane) of a (N, C, H, W) float64 input."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(_pair, (k, s, p, d))
    n, c, h, w = x.shape
    oh, ow = _out_size(h, kh, sh, ph, dh, ceil_mode), _out_size(w, kw, sw, pw, dw, ceil_mode)
    vals, idx = np.full((n, c, oh, ow), -np.inf), np.zeros((n, c, oh, ow), np.int64)
    for i, j in itertools.product(range(oh), range(ow)):
        rows = [r for r in range(i * sh - ph, i * sh - ph + dh * kh, dh) if 0 <= r < h]
        cols = [q for q in range(j * sw - pw, j * sw - pw + dw * kw, dw) if 0 <= q < w]
        window = x[:, :, rows][:, :, :, cols].reshape(n, c, -1)
        best = window.argmax(axis=2)  # first maximum in scan order, as torch
        vals[:, :, i, j] = window.max(axis=2)
        flat = np.array([r * w + q for r in rows for q in cols])
        idx[:, :, i, j] = flat[best]
    return vals, idx


def ref_avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override=None):
    (kh, kw), (sh, sw), (ph, pw) = map(_pair, (k, s, p))
    n, c, h, w = x.shape
    oh, ow = _out_size(h, kh, sh, ph, 1, ceil_mode), _out_size(w, kw, sw, pw, 1, ceil_mode)
    out = np.zeros((n, c, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        h0, w0 = i * sh - ph, j * sw - pw
        h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
        padded_size = (h1 - h0) * (w1 - w0)  # the window clipped to the padded input
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
        total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3))
        if divisor_override:
            divisor = divisor_override
        elif count_include_pad:
            divisor = padded_size
        else:
            divisor = (h1 - h0) * (w1 - w0)
        out[:, :, i, j] = total / divisor
    return out


def ref_adaptive_avg_pool2d(x, out_hw):
    n, c, h, w = x.shape
    oh, ow = (h if out_hw[0] is None else out_hw[0]), (w if out_hw[1] is None else out_hw[1])
    out = np.zeros((n, c, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
        out[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def _as_2d(x):
    return x[:, :, None, :]


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _configs(seed, count, with_dilation):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        k = int(rng.integers(1, 5))
        s = int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))
        d = int(rng.integers(1, 3)) if with_dilation else 1
        out.append((k, s, p, d, bool(rng.integers(0, 2))))
    return out


# ----------------------------------------------------------------------------------- max pooling


@pytest.mark.parametrize(("k", "s", "p", "d", "ceil_mode"), _configs(0, 40, True))
def test_max_pool2d_matches_reference(k, s, p, d, ceil_mode):
    x = _x((2, 3, 9, 8), seed=k * 7 + s)
    if _out_size(8, k, s, p, d, ceil_mode) <= 0 or _out_size(9, k, s, p, d, ceil_mode) <= 0:
        return
    m = nn.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil_mode)
    y, idx = m(x)
    want, want_idx = ref_max_pool2d(x.astype(np.float64), k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(y, want.astype(np.float32))
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, want_idx)
    m.return_indices = False
    np.testing.assert_array_equal(m(x), y)


def test_max_pool2d_rectangular_arguments():
    x = _x((1, 2, 11, 10), seed=3)
    m = nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), return_indices=True)
    y, idx = m(x)
    want, want_idx = ref_max_pool2d(x.astype(np.float64), (3, 2), (2, 1), (1, 0), (1, 2), False)
    np.testing.assert_array_equal(y, want.astype(np.float32))
    np.testing.assert_array_equal(idx, want_idx)


@pytest.mark.parametrize(("k", "s", "p", "d", "ceil_mode"), _configs(1, 25, True))
def test_max_pool1d_matches_reference(k, s, p, d, ceil_mode):
    x = _x((2, 3, 13), seed=k + s)
    if _out_size(13, k, s, p, d, ceil_mode) <= 0:
        return
    y, idx = nn.MaxPool1d(k, s, p, d, return_indices=True, ceil_mode=ceil_mode)(x)
    want, want_idx = ref_max_pool2d(_as_2d(x.astype(np.float64)), (1, k), (1, s), (0, p), (1, d), ceil_mode)
    np.testing.assert_array_equal(y, want[:, :, 0].astype(np.float32))
    np.testing.assert_array_equal(idx, want_idx[:, :, 0])


def test_max_pool_unbatched_and_zero_size():
    x = _x((3, 8, 8), seed=4)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x), nn.MaxPool2d(2)(x[None])[0])
    y, idx = nn.MaxPool1d(2, return_indices=True)(x[0])
    assert y.shape == (8, 4) and idx.shape == (8, 4)
    assert nn.MaxPool2d(2)(np.zeros((0, 3, 8, 8), np.float32)).shape == (0, 3, 4, 4)
    assert nn.MaxPool1d(3)(np.zeros((0, 2, 9), np.float32)).shape == (0, 2, 3)


def test_max_pool_attributes_and_repr():
    m = nn.MaxPool2d(3)
    assert (m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices, m.ceil_mode) == (3, 3, 0, 1, False, False)
    assert repr(m) == "MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"
    m = nn.MaxPool1d(2, 1, 1, 2, True, True)
    assert repr(m) == "MaxPool1d(kernel_size=2, stride=1, padding=1, dilation=2, ceil_mode=True)"


# ----------------------------------------------------------------------------------- average pooling


@pytest.mark.parametrize(("k", "s", "p", "_d", "ceil_mode"), _configs(2, 30, False))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_reference(k, s, p, _d, ceil_mode, count_include_pad):
    x = _x((2, 3, 9, 7), seed=k * 5 + s)
    y = nn.AvgPool2d(k, s, p, ceil_mode, count_include_pad)(x)
    want = ref_avg_pool2d(x.astype(np.float64), k, s, p, ceil_mode, count_include_pad)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("divisor_override", [1, 3, 7])
def test_avg_pool2d_divisor_override(divisor_override):
    x = _x((1, 2, 7, 7), seed=5)
    y = nn.AvgPool2d(3, 2, 1, True, True, divisor_override)(x)
    want = ref_avg_pool2d(x.astype(np.float64), 3, 2, 1, True, True, divisor_override)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("k", "s", "p", "_d", "ceil_mode"), _configs(3, 20, False))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool1d_matches_reference(k, s, p, _d, ceil_mode, count_include_pad):
    x = _x((2, 3, 11), seed=k + 3 * s)
    y = nn.AvgPool1d(k, s, p, ceil_mode, count_include_pad)(x)
    want = ref_avg_pool2d(_as_2d(x.astype(np.float64)), (1, k), (1, s), (0, p), ceil_mode, count_include_pad)
    np.testing.assert_allclose(y, want[:, :, 0], rtol=1e-6, atol=1e-6)


def test_avg_pool_attributes_and_repr():
    m = nn.AvgPool1d(3)
    assert (m.kernel_size, m.stride, m.padding) == ((3,), (3,), (0,))
    assert repr(m) == "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"
    m = nn.AvgPool2d(2, divisor_override=3)
    assert (m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override) == (2, 2, 0, False, True, 3)
    assert repr(m) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"


def test_avg_pool_unbatched_and_zero_size():
    x = _x((3, 6, 6), seed=6)
    np.testing.assert_allclose(nn.AvgPool2d(2)(x), nn.AvgPool2d(2)(x[None])[0], rtol=0, atol=0)
    assert nn.AvgPool2d(2)(np.zeros((0, 3, 6, 6), np.float32)).shape == (0, 3, 3, 3)
    assert nn.AvgPool1d(2)(np.zeros((2, 6), np.float32)).shape == (2, 3)


# ----------------------------------------------------------------------------------- adaptive


@pytest.mark.parametrize(("in_hw", "out_hw"), [((7, 9), (3, 4)), ((10, 10), (4, 4)), ((5, 6), (5, 6)), ((4, 4), (7, 5)), ((9, 8), (1, 1)), ((6, 7), (None, 3)), ((6, 7), (2, None))])
def test_adaptive_avg_pool2d_matches_reference(in_hw, out_hw):
    x = _x((2, 3, *in_hw), seed=7)
    y = nn.AdaptiveAvgPool2d(out_hw)(x)
    np.testing.assert_allclose(y, ref_adaptive_avg_pool2d(x.astype(np.float64), out_hw), rtol=1e-6, atol=1e-6)
    # Unbatched input.
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(out_hw)(x[0]), y[0], rtol=0, atol=0)


@pytest.mark.parametrize(("n_in", "n_out"), [(10, 4), (7, 3), (5, 5), (3, 6), (8, 1)])
def test_adaptive_avg_pool1d_matches_reference(n_in, n_out):
    x = _x((2, 3, n_in), seed=8)
    y = nn.AdaptiveAvgPool1d(n_out)(x)
    want = ref_adaptive_avg_pool2d(_as_2d(x.astype(np.float64)), (1, n_out))[:, :, 0]
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


def test_adaptive_attributes_and_zero_batch():
    m = nn.AdaptiveAvgPool2d((None, 3))
    assert m.output_size == (None, 3) and repr(m) == "AdaptiveAvgPool2d(output_size=(None, 3))"
    assert nn.AdaptiveAvgPool2d(1)(np.zeros((0, 4, 5, 5), np.float32)).shape == (0, 4, 1, 1)
    assert repr(nn.AdaptiveAvgPool1d(4)) == "AdaptiveAvgPool1d(output_size=4)"


def test_layouts_give_the_same_result():
    base = _x((2, 3, 8, 10), seed=9)
    layouts = [np.asfortranarray(base), base[:, :, ::-1, :][:, :, ::-1, :], np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)]
    for m in (nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(3, 2, 1), nn.AdaptiveAvgPool2d((3, 4))):
        want = m(base)
        for x in layouts:
            np.testing.assert_array_equal(m(x), want)


def test_dtype_errors_name_the_dtype():
    for m in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)):
        with pytest.raises(RuntimeError, match=r"float64.*astype\(np\.float32\)"):
            m(np.ones((1, 2, 4, 4)))


# ----------------------------------------------------------------------------------- torch parity


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        text = str(e).split("\nException raised from")[0]
        text = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", lambda m: repr(tuple(int(v) for v in m.group(1).split(",") if v.strip())), text)
        return type(e), text
    return None


def _layer_cases(seed, count):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        k = int(rng.integers(1, 5))
        s, p, d, ceil = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1)), int(rng.integers(1, 3)), bool(rng.integers(0, 2))
        cip = bool(rng.integers(0, 2))
        cases += [
            ("MaxPool2d", (k, s, p, d, True, ceil), (2, 3, 9, 7)),
            ("MaxPool1d", (k, s, p, d, True, ceil), (2, 3, 10)),
            ("AvgPool2d", (k, s, p, ceil, cip), (2, 3, 8, 9)),
            ("AvgPool2d", ((k, 2), (s, 1), (p, 1), ceil, cip, 2), (2, 3, 8, 9)),
            ("AvgPool1d", (k, s, p, ceil, cip), (2, 3, 10)),
            ("MaxPool2d", ((k, 2), (s, 1), (p, 0), (1, d), True, ceil), (3, 9, 7)),
        ]
    cases += [
        ("AdaptiveAvgPool2d", ((3, 4),), (2, 3, 7, 9)), ("AdaptiveAvgPool2d", (1,), (2, 3, 7, 9)),
        ("AdaptiveAvgPool2d", ((None, 2),), (3, 7, 9)), ("AdaptiveAvgPool1d", (4,), (2, 3, 10)),
        ("AdaptiveAvgPool1d", (12,), (3, 10)), ("MaxPool2d", (2,), (0, 3, 8, 8)), ("AvgPool1d", (2,), (0, 3, 8)),
    ]  # fmt: skip
    return cases


@pytest.mark.parametrize(("name", "args", "shape"), _layer_cases(10, 12), ids=str)
def test_matches_torch(name, args, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert {k: v for k, v in vars(ours).items() if not k.startswith("_")} == {
        k: v for k, v in vars(theirs).items() if not k.startswith("_")
    }
    x = _x(shape, seed=len(args) + math.prod(shape))
    err_ours, err_theirs = _error(lambda: ours(x)), _error(lambda: theirs(torch.from_numpy(x)))
    assert err_ours == err_theirs
    if err_ours is not None:
        return
    got, want = ours(x), theirs(torch.from_numpy(x))
    if isinstance(want, tuple):
        np.testing.assert_array_equal(got[0], want[0].numpy())
        np.testing.assert_array_equal(got[1], want[1].numpy())
    else:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-6)


ERROR_CASES = [
    ("MaxPool2d", (3,), {"padding": 2}, (1, 3, 6, 6)),
    ("MaxPool2d", (3,), {"stride": 0}, (1, 3, 6, 6)),
    ("MaxPool2d", (0,), {}, (1, 3, 6, 6)),
    ("MaxPool2d", (3,), {"dilation": 0}, (1, 3, 6, 6)),
    ("MaxPool2d", (3,), {}, (1, 3, 2, 2)),
    ("MaxPool2d", (2,), {}, (6, 6)),
    ("MaxPool2d", (2,), {}, (1, 1, 1, 6, 6)),
    ("MaxPool2d", (2,), {}, (2, 0, 6, 6)),
    ("MaxPool2d", (2,), {}, (1, 3, 0, 6)),
    ("MaxPool1d", (3,), {"padding": 2}, (1, 3, 6)),
    ("MaxPool1d", (3,), {}, (1, 3, 2)),
    ("MaxPool1d", (2,), {}, (6,)),
    ("AvgPool2d", (3,), {"padding": 2}, (1, 3, 6, 6)),
    ("AvgPool2d", (3,), {"stride": 0}, (1, 3, 6, 6)),
    ("AvgPool2d", (3,), {"divisor_override": 0}, (1, 3, 6, 6)),
    ("AvgPool2d", (3,), {}, (1, 3, 2, 2)),
    ("AvgPool2d", (2,), {}, (6,)),
    ("AvgPool1d", (3,), {"padding": 2}, (1, 3, 6)),
    ("AvgPool1d", (3,), {}, (1, 3, 2)),
    ("AdaptiveAvgPool2d", ((0, 2),), {}, (1, 3, 6, 6)),
    ("AdaptiveAvgPool2d", (2,), {}, (6,)),
    ("AdaptiveAvgPool2d", (2,), {}, (1, 3, 0, 6)),
    ("AdaptiveAvgPool1d", (2,), {}, (1, 2, 3, 6)),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), ERROR_CASES, ids=str)
def test_errors_match_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    x = np.ones(shape, np.float32)
    ours = _error(lambda: getattr(nn, name)(*args, **kwargs)(x))
    theirs = _error(lambda: getattr(torch.nn, name)(*args, **kwargs)(torch.from_numpy(x)))
    assert ours == theirs


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(_x((1, 2, 6, 6), seed=11))
    y = nn.MaxPool2d(2)(t)
    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, torch.nn.MaxPool2d(2)(t).numpy())
