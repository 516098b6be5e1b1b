"""The native entry points themselves (minimod._core), called directly with hostile arguments.

The functional layer checks arguments first, but every binding must be safe on its own: a direct
call with any array (any dtype, layout, rank) and any integers either returns a well-formed array
(compared with the float64 reference where one applies) or raises an allowed exception.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzz_references as ref
from fuzz_inputs import arrays, hyper_int, is_finite
from minimod import _core

pytestmark = pytest.mark.usefixtures("address_space_limit")


def _ints(data, n_max=4):
    return data.draw(st.lists(hyper_int(-1, 3), min_size=0, max_size=n_max))


def _call(fn):
    try:
        return fn()
    except ref.ALLOWED as e:
        assert str(e).strip()
        return None


@given(st.data())
def test_linear_and_conv_entry_points(data):
    x, w = data.draw(arrays()), data.draw(arrays())
    b = data.draw(st.one_of(st.none(), arrays(ndim=1)))
    if data.draw(st.booleans()):
        relu = data.draw(st.booleans())
        out = _call(lambda: _core.linear(x, w, b, relu))
        if out is not None and is_finite(x, w, b):
            expected = ref.linear(np.asarray(x, np.float64), np.asarray(w, np.float64),
                                  None if b is None else np.asarray(b, np.float64))
            np.testing.assert_allclose(out, np.maximum(expected, 0) if relu else expected, rtol=1e-3, atol=1e-3)
    else:
        stride, pb, pa, dil = (_ints(data) for _ in range(4))
        groups = data.draw(hyper_int(-1, 3))
        out = _call(lambda: _core.conv_nd(x, w, b, stride, pb, pa, dil, groups))
        if out is not None and is_finite(x, w, b):
            nd = x.ndim - 2
            expected = ref.conv(np.asarray(x, np.float64), np.asarray(w, np.float64),
                                None if b is None else np.asarray(b, np.float64), stride, pb, pa, dil, groups, nd)
            np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-3)


@given(st.data())
def test_elementwise_and_norm_entry_points(data):
    x = data.draw(arrays())
    op = data.draw(st.sampled_from(list(_core.Activation.__members__.values())))
    which = data.draw(st.sampled_from(["activation", "activation_", "softmax", "bn_train", "bn_eval"]))
    vec = st.one_of(st.none(), arrays(ndim=1, max_dim=4))
    if which == "activation":
        out = _call(lambda: _core.activation(x, op, 0.1, 0.5))
        assert out is None or out.shape == x.shape
    elif which == "activation_":
        _call(lambda: _core.activation_(x, op, 0.1, 0.5))
    elif which == "softmax":
        out = _call(lambda: _core.softmax(x, data.draw(hyper_int(-6, 6)), data.draw(st.booleans())))
        assert out is None or out.shape == x.shape
    elif which == "bn_train":
        w, b = data.draw(vec), data.draw(vec)
        out = _call(lambda: _core.batch_norm_train(x, w, b, data.draw(st.sampled_from([1e-5, 0.0, -1.0]))))
        assert out is None or out[0].shape == x.shape
    else:
        rm, rv, w, b = (data.draw(vec) for _ in range(4))
        out = _call(lambda: _core.batch_norm_eval(x, rm, rv, w, b, data.draw(st.sampled_from([1e-5, 0.0, -1.0]))))
        assert out is None or out.shape == x.shape


@given(st.data())
def test_pool_entry_points(data):
    x = data.draw(arrays())
    which = data.draw(st.sampled_from(["max", "avg", "adaptive_avg", "adaptive_max"]))
    if which == "max":
        args = [_ints(data, 3) for _ in range(4)]
        out = _call(lambda: _core.max_pool2d(x, *args, data.draw(st.booleans()), data.draw(st.booleans())))
    elif which == "avg":
        args = [_ints(data, 3) for _ in range(3)]
        div = data.draw(st.one_of(st.none(), hyper_int(-2, 3)))
        out = _call(lambda: _core.avg_pool2d(x, *args, data.draw(st.booleans()), data.draw(st.booleans()), div))
    elif which == "adaptive_avg":
        out = _call(lambda: _core.adaptive_avg_pool2d(x, data.draw(hyper_int(-1, 4)), data.draw(hyper_int(-1, 4))))
    else:
        out = _call(lambda: _core.adaptive_max_pool2d(x, data.draw(hyper_int(-1, 4)), data.draw(hyper_int(-1, 4))))
    if out is not None:
        first = out[0] if isinstance(out, tuple) else out
        assert isinstance(first, np.ndarray) and first.dtype == np.float32


@given(st.data())
def test_storage_entry_points(data):
    shape = data.draw(st.lists(hyper_int(-2, 4), max_size=4))
    dtype = data.draw(st.sampled_from(["float32", "int64", "bool", "float16", "object", "complex64", "V8", ""]))
    out = _call(lambda: _core.empty(shape, dtype, data.draw(st.booleans())))
    if out is not None:
        assert list(out.shape) == shape and out.dtype == np.dtype(dtype)
        out[...] = 0  # the memory is there and writeable
    s = _call(lambda: _core.Storage(shape, dtype))
    view = None if s is None else _call(lambda: np.asarray(s))  # numpy may refuse a huge empty shape
    if view is not None:
        assert view.shape == tuple(shape)
