"""Property-based no-crash suite over every minimod.nn.functional op.

Each example throws random shapes (0-size included), dtypes (int, bool, float16/64, object,
structured, complex), layouts (Fortran, negative, non-unit, zero and broadcast strides) and
arguments (negative, zero, huge) at one op. The call must either return the float64 reference's
answer (tests/reliability/references.py: torch's rules, written independently) or raise
ValueError / RuntimeError / TypeError / IndexError (or MemoryError for a terabyte answer) with a
message. A crash kills the test run, which is the point.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minimod.nn.functional as F
import fuzz_references as ref
from fuzz_inputs import arrays, as_float64, hyper_int, int_or_tuple, is_finite, is_plain_float32

pytestmark = pytest.mark.usefixtures("address_space_limit")


def _expand(value, n: int, name: str, allow_empty: bool = False, default=None):
    """torch's int-or-list argument forms: an int repeats, a 1-list repeats, an n-list is kept."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if not value and allow_empty:
        return default
    if len(value) == 1:
        return value * n
    ref.require(len(value) == n, f"{name} length")
    return value


def _f64(*xs):
    out = [None if x is None else as_float64(x) for x in xs]
    if any(o is None for o, x in zip(out, xs) if x is not None):
        raise ref.Invalid("no numeric meaning")
    return out


def _same_dtype_float32(*xs) -> None:
    """minimod's kernels compute in float32 and, like torch, never mix dtypes silently."""
    ref.require(all(x.dtype == np.float32 for x in xs if x is not None), "float32 only")


# ---------------------------------------------------------------------------------------------
# linear and conv
# ---------------------------------------------------------------------------------------------


@given(st.data())
def test_linear(data):
    k = data.draw(st.integers(0, 5))
    x = data.draw(arrays(shape=data.draw(st.lists(st.integers(0, 4), max_size=3)).__add__([k])
                         if data.draw(st.booleans()) else None))
    out_f = data.draw(st.integers(0, 5))
    w = data.draw(arrays(shape=(out_f, data.draw(st.sampled_from([k, k, k + 1])))))
    b = data.draw(st.one_of(st.none(), arrays(shape=(out_f,)), arrays()))

    def reference():
        _same_dtype_float32(x, w, b)
        xx, ww, bb = _f64(x, w, b)
        ref.require(xx.ndim >= 1, "rank")
        return ref.linear(xx, ww, bb)

    ref.run_and_check(lambda: F.linear(x, w, b), reference,
                      must_succeed=is_plain_float32(x, w, b) and (b is None or b.ndim == 1), compare=is_finite(x, w, b))


def _conv_case(data, nd: int):
    # Half the examples are sane (float32, valid arguments, any layout) so that the answers get
    # compared often; the other half are hostile everywhere.
    sane = data.draw(st.booleans())
    bad = st.sampled_from([0, 0, 0, 1]) if not sane else st.just(0)
    batch = data.draw(st.integers(0, 2))
    groups = data.draw(st.integers(1, 3) if sane else st.one_of(st.integers(1, 3), hyper_int(-1, 3)))
    g = groups if 1 <= groups <= 3 else 1
    cin_g = data.draw(st.integers(1 if sane else 0, 2))
    cout = g * data.draw(st.integers(1 if sane else 0, 2)) + data.draw(bad)
    cin = cin_g * g + data.draw(bad)
    spatial = data.draw(st.lists(st.integers(3 if sane else 0, 6), min_size=nd, max_size=nd))
    kernel = data.draw(st.lists(st.integers(1 if sane else 0, 3), min_size=nd, max_size=nd))
    x_rank = data.draw(st.sampled_from([nd + 2] * 4 + ([nd + 1] if sane else [nd + 1, nd, nd + 3])))
    xshape = ([batch, cin, *spatial] if x_rank >= nd + 2 else [cin, *spatial])[: max(x_rank, 0)]
    xshape += [2] * max(0, x_rank - len(xshape))
    dtype = np.float32 if sane else None
    x = data.draw(arrays(shape=xshape, dtype=dtype))
    w = data.draw(arrays(shape=[cout, cin_g, *kernel], dtype=dtype))
    if sane:
        b = data.draw(st.one_of(st.none(), arrays(shape=(cout,), dtype=dtype)))
        stride = data.draw(st.one_of(st.integers(1, 2), st.tuples(*[st.integers(1, 2)] * nd)))
        padding = data.draw(st.one_of(st.integers(0, 1), st.tuples(*[st.integers(0, 1)] * nd),
                                      st.sampled_from(["same", "valid"])))
        dilation = data.draw(st.one_of(st.integers(1, 2), st.tuples(*[st.integers(1, 2)] * nd)))
        return x, w, b, stride, padding, dilation, groups
    b = data.draw(st.one_of(st.none(), arrays(shape=(cout,)), arrays(shape=(cout + 1,))))
    stride = data.draw(int_or_tuple(nd, 0, 3))
    padding = data.draw(st.one_of(int_or_tuple(nd, -1, 3), st.sampled_from(["same", "valid", "full"])))
    dilation = data.draw(int_or_tuple(nd, 0, 3))
    return x, w, b, stride, padding, dilation, groups


def _conv_reference(nd, x, w, b, stride, padding, dilation, groups):
    _same_dtype_float32(x, w, b)
    xx, ww, bb = _f64(x, w, b)
    ref.require(xx.ndim in (nd + 1, nd + 2), "input rank")
    unbatched = xx.ndim == nd + 1
    if unbatched:
        xx = xx[None]
    s = _expand(stride, nd, "stride")
    d = _expand(dilation, nd, "dilation")
    if padding == "valid":
        pb = pa = (0,) * nd
    elif padding == "same":
        ref.require(all(v == 1 for v in s), "same with stride")
        ref.require(ww.ndim == nd + 2, "weight rank")
        total = [dd * (k - 1) for dd, k in zip(d, ww.shape[2:])]
        pb = tuple(t // 2 for t in total)
        pa = tuple(t - t // 2 for t in total)
    elif isinstance(padding, str):
        raise ref.Invalid("padding string")
    else:
        pb = pa = _expand(padding, nd, "padding")
    out = ref.conv(xx, ww, bb, s, pb, pa, d, groups, nd)
    return out[0] if unbatched else out


@pytest.mark.parametrize("nd", [1, 2, 3])
@given(data=st.data())
def test_conv(nd, data):
    x, w, b, stride, padding, dilation, groups = _conv_case(data, nd)
    fn = getattr(F, f"conv{nd}d")
    ref.run_and_check(lambda: fn(x, w, b, stride, padding, dilation, groups),
                      lambda: _conv_reference(nd, x, w, b, stride, padding, dilation, groups),
                      must_succeed=is_plain_float32(x, w, b), compare=is_finite(x, w, b), atol=1e-3)


# ---------------------------------------------------------------------------------------------
# batch norm
# ---------------------------------------------------------------------------------------------


@given(st.data())
def test_batch_norm(data):
    x = data.draw(arrays(ndim=data.draw(st.integers(0, 5)), max_dim=4))
    c = x.shape[1] if x.ndim >= 2 else data.draw(st.integers(0, 3))
    c_wrong = data.draw(st.sampled_from([c, c, c, c + 1]))

    def vec():
        return data.draw(st.one_of(st.none(), arrays(shape=(c_wrong,), special=False)))

    rm, rv, w, b = vec(), vec(), vec(), vec()
    if rv is not None and rv.dtype.kind in "fiu":
        rv = np.abs(rv.astype(np.float64)).astype(rv.dtype)  # variances are non-negative
    training = data.draw(st.booleans())
    eps = data.draw(st.sampled_from([1e-5, 0.0, -1.0, 1e-3]))
    # training updates running stats in place: hand over writeable copies, keep the originals
    rm_arg = None if rm is None else np.array(rm)
    rv_arg = None if rv is None else np.array(rv)

    def reference():
        # torch's order: values per channel, eps, dtype; an empty input then returns empty
        # before the statistics are looked at.
        ref.require(x.ndim >= 1, "rank")
        if training:
            ref.require(x.shape[0] * int(np.prod(x.shape[2:])) != 1, "one value per channel")
        ref.require(eps >= 0 and (eps > 0 or not training), "eps")
        _same_dtype_float32(x)
        if x.size == 0:
            return np.zeros(x.shape)
        _same_dtype_float32(x, rm, rv, w, b)
        xx, mm, vv, ww, bb = _f64(x, rm, rv, w, b)
        if not training:
            ref.require(mm is not None and vv is not None, "running stats in eval")
        else:
            ref.require((mm is None) == (vv is None), "both or neither running stats")
        return ref.batch_norm(xx, mm, vv, ww, bb, training, eps)

    ref.run_and_check(lambda: F.batch_norm(x, rm_arg, rv_arg, w, b, training, 0.1, eps), reference,
                      must_succeed=False, compare=is_finite(x, rm, rv, w, b), atol=2e-3, rtol=2e-3)


# ---------------------------------------------------------------------------------------------
# activations, softmax, flatten, dropout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ref.ACTIVATIONS))
@given(data=st.data())
def test_activation(name, data):
    x = data.draw(arrays())
    inplace = name not in ("gelu", "sigmoid", "tanh") and data.draw(st.booleans())
    before = np.array(x, copy=True)
    fn = getattr(F, name)

    def run():
        return fn(x, inplace=True) if inplace else fn(x)

    def reference():
        ref.require(x.dtype in (np.float32, np.float64), "float dtype")
        if inplace:
            ref.require(x.flags.writeable, "in-place on a read-only array")
        with np.errstate(all="ignore"):
            return ref.ACTIVATIONS[name](before.astype(np.float64))

    got = ref.run_and_check(run, reference, must_succeed=x.dtype == np.float32 and (not inplace or x.flags.writeable),
                            compare=is_finite(before) if x.dtype.kind == "f" else False, atol=1e-5, rtol=1e-5)
    if got is not None and inplace:
        assert got is x
    if got is None and x.dtype.kind in "fiub":
        assert np.array_equal(x, before, equal_nan=True), "a failed call changed its input"


@pytest.mark.parametrize("log", [False, True])
@given(data=st.data())
def test_softmax(log, data):
    x = data.draw(arrays())
    dim = data.draw(hyper_int(-6, 6))
    fn = F.log_softmax if log else F.softmax

    def reference():
        ref.require(x.dtype in (np.float32, np.float64), "float dtype")
        with np.errstate(all="ignore"):
            return ref.softmax(x.astype(np.float64), dim, log)

    ref.run_and_check(lambda: fn(x, dim), reference, must_succeed=False, compare=is_finite(x), atol=1e-5)


@given(st.data())
def test_flatten(data):
    x = data.draw(arrays())
    start, end = data.draw(hyper_int(-6, 6)), data.draw(hyper_int(-6, 6))

    def reference():
        xx = as_float64(x)
        ref.require(xx is not None or True, "")
        return ref.flatten(np.asarray(x, dtype=np.float64) if xx is not None else np.zeros(x.shape), start, end)

    ref.run_and_check(lambda: F.flatten(x, start, end), reference, must_succeed=True,
                      compare=x.dtype.kind in "fiub" and is_finite(x) if x.dtype.kind in "fiub" else False)


@pytest.mark.parametrize("name", ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"])
@given(data=st.data())
def test_dropout(name, data):
    x = data.draw(arrays())
    p = data.draw(st.sampled_from([0.0, 0.5, 1.0, -0.1, 1.5, float("nan")]))
    training = data.draw(st.booleans())
    before = np.array(x, copy=True)
    fn = getattr(F, name)
    try:
        out = fn(x, p, training)
    except ref.ALLOWED as e:
        assert str(e).strip()
        return
    assert not (p < 0.0 or p > 1.0), f"p={p} accepted"  # torch's check, which lets NaN through
    assert isinstance(out, np.ndarray) and out.shape == x.shape
    if not training and x.dtype.kind == "f":
        np.testing.assert_array_equal(out, before)
    elif training and name == "dropout" and x.dtype.kind == "f" and is_finite(before) and 0 < p < 1:
        kept = out != 0
        np.testing.assert_allclose(out[kept], before[kept] / (1 - p), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------------------------


def _pool_input(data, nd: int, sane: bool):
    if sane:
        rank = data.draw(st.sampled_from([nd + 1, nd + 2]))
        shape = data.draw(st.lists(st.integers(1, 3), min_size=rank - nd, max_size=rank - nd))
        shape += data.draw(st.lists(st.integers(2, 7), min_size=nd, max_size=nd))
        return data.draw(arrays(shape=shape, dtype=np.float32))
    rank = data.draw(st.sampled_from([nd + 1, nd + 2, nd + 2, nd, nd + 3]))
    return data.draw(arrays(ndim=rank, max_dim=6))


def _pool_args(data, nd: int, sane: bool, dilation: bool = True):
    """(kernel, stride, padding, dilation): valid ones when sane, hostile ones otherwise."""
    if not sane:
        return (data.draw(int_or_tuple(nd, -1, 4)), data.draw(st.one_of(st.none(), int_or_tuple(nd, -1, 3))),
                data.draw(int_or_tuple(nd, -1, 2)), data.draw(int_or_tuple(nd, -1, 2)) if dilation else 1)
    k = data.draw(st.integers(1, 3))
    return (k, data.draw(st.one_of(st.none(), st.integers(1, 2))), data.draw(st.integers(0, k // 2)),
            data.draw(st.integers(1, 2)) if dilation else 1)


@pytest.mark.parametrize("nd", [1, 2])
@given(data=st.data())
def test_max_pool(nd, data):
    sane = data.draw(st.booleans())
    x = _pool_input(data, nd, sane)
    k, s, p, d = _pool_args(data, nd, sane)
    ceil = data.draw(st.booleans())
    with_idx = data.draw(st.booleans())
    fn = F.max_pool1d if nd == 1 else F.max_pool2d

    def reference():
        _same_dtype_float32(x)
        (xx,) = _f64(x)
        kk = _expand(k, nd, "kernel")
        ss = kk if s is None else _expand(s, nd, "stride", allow_empty=True, default=kk)
        pp, dd = _expand(p, nd, "padding"), _expand(d, nd, "dilation")
        if nd == 1:
            ref.require(xx.ndim in (2, 3), "rank")
            out, idx = ref.max_pool2d(xx[..., None, :], (1, *kk), (1, *ss), (0, *pp), (1, *dd), ceil)
            out, idx = out[..., 0, :], idx[..., 0, :]
        else:
            out, idx = ref.max_pool2d(xx, kk, ss, pp, dd, ceil)
        return (out, idx) if with_idx else out

    ref.run_and_check(lambda: fn(x, k, s, p, d, ceil, with_idx), reference, must_succeed=False,
                      compare=is_finite(x))


@pytest.mark.parametrize("nd", [1, 2])
@given(data=st.data())
def test_avg_pool(nd, data):
    sane = data.draw(st.booleans())
    x = _pool_input(data, nd, sane)
    k, s, p, _ = _pool_args(data, nd, sane, dilation=False)
    ceil, cip = data.draw(st.booleans()), data.draw(st.booleans())
    div = data.draw(st.one_of(st.none(), hyper_int(-2, 4))) if nd == 2 else None

    def run():
        if nd == 1:
            return F.avg_pool1d(x, k, s, p, ceil, cip)
        return F.avg_pool2d(x, k, s, p, ceil, cip, div)

    def reference():
        _same_dtype_float32(x)
        (xx,) = _f64(x)
        kk = _expand(k, nd, "kernel")
        ss = kk if s is None else _expand(s, nd, "stride", allow_empty=True, default=kk)
        pp = _expand(p, nd, "padding")
        if nd == 1:
            ref.require(xx.ndim in (2, 3), "rank")
            return ref.avg_pool2d(xx[..., None, :], (1, *kk), (1, *ss), (0, *pp), ceil, cip, None)[..., 0, :]
        return ref.avg_pool2d(xx, kk, ss, pp, ceil, cip, div)

    ref.run_and_check(run, reference, must_succeed=False, compare=is_finite(x), atol=1e-5)


@pytest.mark.parametrize("kind", ["avg1d", "avg2d", "max2d"])
@given(data=st.data())
def test_adaptive_pool(kind, data):
    nd = 1 if kind == "avg1d" else 2
    x = _pool_input(data, nd, data.draw(st.booleans()))
    size = data.draw(st.one_of(hyper_int(-1, 5), st.tuples(*[st.integers(-1, 5)] * nd),
                               st.lists(st.one_of(st.none(), st.integers(0, 4)), max_size=3).map(tuple)))
    with_idx = data.draw(st.booleans())

    def run():
        if kind == "avg1d":
            return F.adaptive_avg_pool1d(x, size)
        if kind == "avg2d":
            return F.adaptive_avg_pool2d(x, size)
        return F.adaptive_max_pool2d(x, size, with_idx)

    def reference():
        _same_dtype_float32(x)
        (xx,) = _f64(x)
        if isinstance(size, int):
            oh_ow = (size,) * nd
        else:
            ref.require(len(size) == nd, "output_size length")
            ref.require(nd == 2 or None not in size, "None in 1-d size")
            ref.require(xx.ndim > len(size), "input rank for None sizes")
            oh_ow = tuple(xx.shape[-nd + i] if v is None else v for i, v in enumerate(size))
        if kind == "avg1d":
            ref.require(xx.ndim in (2, 3), "rank")
            return ref.adaptive_pool2d(xx[..., None, :], 1, oh_ow[0], "avg")[..., 0, :]
        if kind == "avg2d":
            return ref.adaptive_pool2d(xx, *oh_ow, "avg")
        out = ref.adaptive_pool2d(xx, *oh_ow, "max")
        return out if with_idx else out[0]

    # torch's mean shortcut for a 1 (x 1) output: any rank, empty planes give NaN. The output size
    # counts once its None entries are resolved: (1, None) on a width-1 input is (1, 1).
    resolved = size
    if isinstance(size, tuple) and len(size) == nd and x.ndim > nd:
        resolved = tuple(x.shape[-nd + i] if v is None else v for i, v in enumerate(size))
    if kind != "max2d" and resolved in (1, (1,), (1, 1)):
        _no_crash(run)
    else:
        ref.run_and_check(run, reference, must_succeed=False, compare=is_finite(x))


def _no_crash(run):
    try:
        out = run()
    except ref.ALLOWED as e:
        assert str(e).strip()
        return
    assert isinstance(out, np.ndarray)


# ---------------------------------------------------------------------------------------------
# pad and unflatten
# ---------------------------------------------------------------------------------------------


@given(st.data())
def test_pad(data):
    x = data.draw(arrays(max_dim=4))
    pads = data.draw(st.lists(hyper_int(-3, 3), max_size=7))
    mode = data.draw(st.sampled_from(["constant"] * 3 + ["reflect", "replicate", "circular", "wrap"]))
    value = data.draw(st.sampled_from([None, 0.0, 2.5]))

    def run():
        try:
            return F.pad(x, pads, mode, value)
        except NotImplementedError as e:  # torch's type: unknown mode, unsupported pad size
            assert str(e).strip()
            raise ValueError(str(e)) from None

    def reference():
        ref.require(mode == "constant", "only constant mode has a reference here")
        ref.require(len(pads) % 2 == 0 and len(pads) // 2 <= x.ndim, "pad length")
        (xx,) = _f64(x) if x.dtype.kind in "fiub" else (None,)
        ref.require(xx is not None, "numeric")
        widths = [(0, 0)] * x.ndim
        for i in range(len(pads) // 2):
            widths[x.ndim - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        shape = [s + a + b for s, (a, b) in zip(x.shape, widths)]
        ref.require(all(s >= 0 for s in shape), "negative output size")
        ref.check_size(shape)
        if any(max(abs(a), abs(b)) > ref.LIMIT for a, b in widths):
            raise ref.Unrepresentable("huge pads that cancel out: only 'no crash' is checked")
        if x.ndim == 0:
            return xx.copy()
        # padded in the input's dtype, as torch fills an int tensor with int(value)
        grown = np.pad(np.asarray(x), [(max(a, 0), max(b, 0)) for a, b in widths],
                       constant_values=value or 0).astype(np.float64)
        crop = tuple(slice(max(-a, 0), grown.shape[i] - max(-b, 0)) for i, (a, b) in enumerate(widths))
        return grown[crop]

    if mode == "constant" and x.dtype.kind in "fiub":
        ref.run_and_check(run, reference, must_succeed=False, compare=is_finite(x))
    else:
        _no_crash(run)


@given(st.data())
def test_unflatten(data):
    x = data.draw(arrays(max_dim=6))
    dim = data.draw(hyper_int(-5, 5))
    sizes = data.draw(st.lists(st.one_of(st.integers(-2, 6), st.sampled_from([2**31, 2**62])), max_size=4))
    out = None
    try:
        out = F.unflatten(x, dim, sizes)
    except ref.ALLOWED as e:
        assert str(e).strip()
    if out is not None:
        # Same elements, compared as bytes: a NaN must equal itself (hypothesis draws them).
        flat_out, flat_x = np.asarray(out).reshape(-1), np.asarray(x).reshape(-1)
        assert flat_out.dtype == flat_x.dtype and flat_out.tobytes() == flat_x.tobytes()


# ---------------------------------------------------------------------------------------------
# Regressions found by the fuzz runs (each crashed the process before its fix)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 3])
def test_huge_stride_with_huge_padding_reads_only_padding(length):
    # im2col computed ceil(pad / stride) as (pad + stride - 1) / stride: int64 overflow, then a
    # read far before the input (segfault). The binding now clamps such strides.
    x = np.arange(length, dtype=np.float32).reshape(1, 1, length) + 1
    w = np.ones((2, 1, 1), np.float32)
    out = F.conv1d(x, w, None, 2**63 - 1, 2**31 - 1)
    np.testing.assert_array_equal(out, np.zeros((1, 2, 1), np.float32))  # position 0 is padding
    out = F.conv1d(x, w, None, 2**31, 2**31 - 1)  # output position 1 reads input element 1
    expected = ref.conv(x.astype(np.float64), w.astype(np.float64), None, (2**31,), (2**31 - 1,), (2**31 - 1,), (1,), 1, 1)
    np.testing.assert_array_equal(out, expected)


def test_empty_batch_with_huge_padding_allocates_nothing():
    x = np.zeros((0, 1, 6), np.float32)
    out = F.conv1d(x, np.ones((2, 1, 1), np.float32), None, 1, 2**31 - 1, 2**31)
    assert out.shape == (0, 2, 6 + 2 * (2**31 - 1))
