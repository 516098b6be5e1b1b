"""float64 numpy references for the fuzz suite, and the rule every fuzzed call must obey.

Each reference computes the answer torch defines for valid arguments, or raises ``Invalid`` when
torch rejects the arguments (the rules are torch's, written independently of minimod), or
``TooBig`` when the answer is well defined but larger than a fuzz reference computes (minimod
must then raise, or return an array of exactly the answer's shape when this machine can hold it:
torch allocates a 2 GiB uint8 pad too).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import event

ALLOWED = (ValueError, RuntimeError, TypeError, IndexError, MemoryError)
LIMIT = 10**6  # elements: anything larger in a fuzz answer is a "huge" argument at work


class Invalid(Exception):
    """torch rejects these arguments."""


class TooBig(Exception):
    """The answer is defined but too large to compute here; args[0] is its shape. minimod must
    raise, or (where the machine can hold it) return an array of exactly that shape."""


class Unrepresentable(Exception):
    """An empty answer with a dimension numpy cannot represent: only "no crash" is checked."""


def require(cond: bool, what: str) -> None:
    if not cond:
        raise Invalid(what)


def check_size(shape) -> tuple:
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise Invalid(f"negative output size {shape}")
    if math.prod(shape) > LIMIT:
        raise TooBig(shape)
    if any(s > LIMIT for s in shape):
        raise Unrepresentable(shape)
    return shape


def run_and_check(run, reference, *, must_succeed: bool, compare: bool = True, rtol=1e-4, atol=1e-4,
                  check_dtype=None):
    """One fuzzed call: it returns the reference's answer or raises an allowed, explained exception.

    must_succeed: the inputs are plain float32 arrays that minimod promises to compute on, so a
    valid call must not raise. compare: compare values (off when the inputs hold NaN/inf or the
    answer is random). Returns minimod's result (or None when it raised).
    """
    raised = None
    try:
        got = run()
    except ALLOWED as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
        raised = e
    try:
        expected = reference()
        valid, big = True, False
    except Invalid:
        valid, big = False, False
    except TooBig as e:
        valid, big = False, True
        big_shape = tuple(e.args[0])
    except Unrepresentable:
        return None
    event("raised" if raised is not None else "compared" if compare else "returned (not compared)")
    if raised is not None:
        if valid and must_succeed:
            raise AssertionError(f"valid float32 call raised {type(raised).__name__}: {raised}")
        return None
    got_arr = got[0] if isinstance(got, tuple) else got
    assert isinstance(got_arr, np.ndarray), type(got_arr)
    if big:
        # A huge but valid answer that this machine could allocate (a 1-element uint8 array
        # padded by 2**31 - 1 is 2 GiB, and torch returns it): it must be the whole answer.
        assert got_arr.shape == big_shape, ("returned a result of the wrong shape for a huge answer",
                                            got_arr.shape, big_shape)
        return got
    assert valid, "returned a result for arguments torch rejects"
    exp_arr = expected[0] if isinstance(expected, tuple) else expected
    assert got_arr.shape == np.shape(exp_arr), (got_arr.shape, np.shape(exp_arr))
    if check_dtype is not None:
        assert got_arr.dtype == check_dtype, got_arr.dtype
    if compare:
        np.testing.assert_allclose(np.asarray(got_arr, np.float64), exp_arr, rtol=rtol, atol=atol, equal_nan=True)
    if isinstance(got, tuple) and isinstance(expected, tuple) and compare:
        for g, e in zip(got[1:], expected[1:]):
            np.testing.assert_array_equal(g, e)
    return got


# ---------------------------------------------------------------------------------------------
# linear / conv
# ---------------------------------------------------------------------------------------------


def linear(x, w, b=None):
    require(x.ndim >= 1 and w.ndim == 2, "ranks")
    require(x.shape[-1] == w.shape[1], "inner size")
    check_size((*x.shape[:-1], w.shape[0]))
    out = x @ w.T
    if b is not None:  # torch adds the bias in place: it broadcasts, but may not grow the output
        try:
            require(np.broadcast_shapes(b.shape, out.shape) == out.shape, "bias shape")
        except ValueError:
            raise Invalid("bias shape") from None
    return out if b is None else out + b


def conv(x, w, b, stride, pad_before, pad_after, dilation, groups, nd):
    """N-d convolution of a batched (N, C, *S) input."""
    require(x.ndim == nd + 2 and w.ndim == nd + 2, "ranks")
    for v in (stride, pad_before, pad_after, dilation):
        require(len(v) == nd, "argument length")
    require(groups >= 1, "groups")
    require(all(s >= 1 for s in stride), "stride")
    require(all(p >= 0 for p in (*pad_before, *pad_after)), "padding")
    require(all(d >= 1 for d in dilation), "dilation")
    cout, cin_g = w.shape[:2]
    kernel = w.shape[2:]
    require(all(k >= 1 for k in kernel), "kernel")
    require(cout >= groups and cout % groups == 0, "out channels / groups")
    require(x.shape[1] == cin_g * groups, "in channels")
    if b is not None:
        require(b.ndim == 1 and b.shape[0] == cout, "bias")
    padded = [s + p0 + p1 for s, p0, p1 in zip(x.shape[2:], pad_before, pad_after)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    # minimod refuses padded inputs and dilated kernels of 2^62 or more (its index arithmetic adds
    # two such sizes in int64; torch would overflow silently)
    require(all(v < 2**62 for v in padded) and all(d * k < 2**62 for d, k in zip(dilation, kernel)), "int64")
    require(all(p >= s for p, s in zip(padded, spans)), "kernel larger than input")
    osz = [(p - s) // st + 1 for p, s, st in zip(padded, spans, stride)]
    check_size((x.shape[0], cout, *osz))
    out = np.zeros((x.shape[0], cout, *osz))
    cout_g = cout // groups
    for offs in itertools.product(*[range(k) for k in kernel]):
        # the input position each output position reads at this kernel offset, per axis; a
        # position in the padding reads zero (the padded input is never built: padding may be huge)
        xs = x
        for axis, (o, d, st, n, p0, size) in enumerate(zip(offs, dilation, stride, osz, pad_before, x.shape[2:])):
            pos = np.arange(n) * st + o * d - p0
            inside = (pos >= 0) & (pos < size)
            xs = np.take(xs, np.clip(pos, 0, max(size - 1, 0)), axis=2 + axis) if size else np.zeros(
                xs.shape[:2 + axis] + (n,) + xs.shape[3 + axis:])
            xs = xs * inside.reshape((n,) + (1,) * (nd - 1 - axis))
        for g in range(groups):
            wg = w[(slice(g * cout_g, (g + 1) * cout_g), slice(None), *offs)]
            out[:, g * cout_g:(g + 1) * cout_g] += np.einsum("nc...,oc->no...", xs[:, g * cin_g:(g + 1) * cin_g], wg)
    if b is not None:
        out += b.reshape((1, cout) + (1,) * nd)
    return out


# ---------------------------------------------------------------------------------------------
# normalisation, activations, softmax, flatten
# ---------------------------------------------------------------------------------------------


def batch_norm(x, rm, rv, w, b, training, eps):
    require(x.ndim >= 2, "rank")
    c = x.shape[1]
    for v in (rm, rv, w, b):
        if v is not None:
            require(v.size == c, "channels")
    shape = (1, c) + (1,) * (x.ndim - 2)
    axes = tuple(i for i in range(x.ndim) if i != 1)
    if training:
        require(x.size // max(c, 1) > 1 or x.size == 0, "one value per channel")
        mean = x.mean(axis=axes) if x.size else np.zeros(c)
        var = x.var(axis=axes) if x.size else np.zeros(c)
    else:
        mean, var = rm.reshape(-1), rv.reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


def _gelu(x):
    return 0.5 * x * np.vectorize(math.erfc, otypes=[float])(-x / math.sqrt(2.0)) if x.size else x


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "hardtanh": lambda x: np.clip(x, -1.0, 1.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "gelu": _gelu,
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "hardswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}


def softmax(x, dim, log=False):
    nd = max(x.ndim, 1)
    require(-nd <= dim < nd, "dim")
    axis = dim % nd if x.ndim else None
    if x.size == 0:
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=axis, keepdims=True)
    return shifted - np.log(total) if log else e / total


def flatten(x, start, end):
    nd = max(x.ndim, 1)
    require(-nd <= start < nd and -nd <= end < nd, "dims")
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start % nd, end % nd
    require(s <= e, "start after end")
    return x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


# ---------------------------------------------------------------------------------------------
# pooling
# ---------------------------------------------------------------------------------------------


def pool_out(size, k, pad, stride, dil, ceil):
    out = (size + 2 * pad - dil * (k - 1) - 1 + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_checks(x, k, s, p, d, ceil):
    require(x.ndim in (3, 4), "rank")
    require(all(v > 0 for v in k) and all(v > 0 for v in s) and all(v > 0 for v in d), "k/s/d > 0")
    require(all(v >= 0 for v in p), "pad >= 0")
    require(all(pp <= kk // 2 for pp, kk in zip(p, k)), "pad <= k/2")
    require(all(v < 2**31 for v in (*k, *s, *p, *d)), "int32 arguments")
    require(all(v != 0 for v in x.shape[-3:]) and (x.ndim == 4 or x.shape[0] != 0), "empty planes")
    oh = pool_out(x.shape[-2], k[0], p[0], s[0], d[0], ceil)
    ow = pool_out(x.shape[-1], k[1], p[1], s[1], d[1], ceil)
    require(oh >= 1 and ow >= 1, "output too small")
    return oh, ow


def max_pool2d(x, k, s, p, d, ceil):
    oh, ow = _pool_checks(x, k, s, p, d, ceil)
    check_size((*x.shape[:-2], oh, ow))
    h, w = x.shape[-2:]
    out = np.full((*x.shape[:-2], oh, ow), -np.inf)
    idx = np.zeros(out.shape, np.int64)
    for i, j in itertools.product(range(oh), range(ow)):
        best = np.full(x.shape[:-2], -np.inf)
        where = np.full(x.shape[:-2], -1, np.int64)
        for a, c in itertools.product(range(k[0]), range(k[1])):
            r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + c * d[1]
            if 0 <= r < h and 0 <= q < w:
                v = x[..., r, q]
                take = (v > best) | (np.isnan(v) & ~np.isnan(best))
                best = np.where(take, v, best)
                where = np.where(take, r * w + q, where)
        out[..., i, j], idx[..., i, j] = best, where
    return out, idx


def avg_pool2d(x, k, s, p, ceil, count_include_pad, divisor):
    oh, ow = _pool_checks(x, k, s, p, (1, 1), ceil)
    require(divisor is None or divisor != 0, "divisor")
    check_size((*x.shape[:-2], oh, ow))
    h, w = x.shape[-2:]
    out = np.zeros((*x.shape[:-2], oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        r0, q0 = i * s[0] - p[0], j * s[1] - p[1]
        r1, q1 = min(r0 + k[0], h + p[0]), min(q0 + k[1], w + p[1])
        pool = (r1 - r0) * (q1 - q0)
        r0c, q0c, r1c, q1c = max(r0, 0), max(q0, 0), min(r1, h), min(q1, w)
        total = x[..., r0c:r1c, q0c:q1c].sum(axis=(-1, -2))
        if divisor is not None:
            div = divisor
        elif count_include_pad:
            div = pool
        else:
            div = (r1c - r0c) * (q1c - q0c)
        out[..., i, j] = total / div
    return out


def _adaptive_windows(n_in, n_out):
    return [(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


def adaptive_pool2d(x, oh, ow, reduce):
    require(x.ndim in (3, 4), "rank")
    require(oh >= 0 and ow >= 0, "output size")
    require(all(v > 0 for v in x.shape[-2:]), "empty plane")
    if reduce == "max":
        require(all(v > 0 for v in x.shape[1:]), "empty non-batch dim")
    check_size((*x.shape[:-2], oh, ow))
    h, w = x.shape[-2:]
    out = np.zeros((*x.shape[:-2], oh, ow))
    idx = np.zeros(out.shape, np.int64)
    for i, (r0, r1) in enumerate(_adaptive_windows(h, oh)):
        for j, (q0, q1) in enumerate(_adaptive_windows(w, ow)):
            win = x[..., r0:r1, q0:q1]
            if reduce == "avg":
                out[..., i, j] = win.mean(axis=(-1, -2))
            else:
                flat = win.reshape(*win.shape[:-2], win.shape[-2] * win.shape[-1])
                arg = np.argmax(flat, axis=-1) if flat.shape[-1] else 0
                out[..., i, j] = np.take_along_axis(flat, np.asarray(arg)[..., None], -1)[..., 0]
                idx[..., i, j] = (r0 + arg // (q1 - q0)) * w + q0 + arg % (q1 - q0)
    return (out, idx) if reduce == "max" else out
