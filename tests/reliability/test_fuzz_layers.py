"""Property-based no-crash suite over every layer class, with random call sequences.

A layer is built from random constructor arguments (construction may refuse them, with an allowed
exception), then driven through a random sequence of forward calls on hostile inputs, train()/eval()
toggles and load_state_dict calls with good and bad checkpoints. Every forward must return the
float64 reference's answer for the layer's CURRENT parameters (so a stale or half-loaded state
shows up) or raise an allowed exception; every failed load must leave the state bitwise unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fuzz_references as ref
import minimod.nn as nn
import minimod.nn.functional as F
from fuzz_inputs import arrays, hyper_int, int_or_tuple, is_finite, is_plain_float32
from test_fuzz_functional import _conv_reference, _f64, _same_dtype_float32

pytestmark = pytest.mark.usefixtures("address_space_limit")


def _construct(make):
    try:
        return make()
    except (*ref.ALLOWED, AssertionError) as e:  # Hardtanh(min > max) asserts, as in torch
        assert str(e).strip()
        return None


def _snapshot(m):
    return {k: np.array(v, copy=True) for k, v in m.state_dict().items()}


def _assert_state(m, expected):
    now = m.state_dict()
    assert list(now) == list(expected)
    for k, v in expected.items():
        assert np.asarray(now[k]).dtype == v.dtype and np.array_equal(np.asarray(now[k]), v, equal_nan=True), k


def _checkpoint(data, m):
    """A state dict for m: good (new values), or broken in one way torch refuses."""
    sd = {k: np.array(v, copy=True) for k, v in m.state_dict().items()}
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for k, v in sd.items():
        if v.dtype.kind == "f":
            sd[k] = rng.standard_normal(v.shape).astype(v.dtype)
            if "var" in k:
                sd[k] = np.abs(sd[k])
    kind = data.draw(st.sampled_from(["good", "good", "missing", "unexpected", "shape", "dtype", "value"]))
    keys = sorted(sd)
    if kind != "good" and not keys and kind != "unexpected":
        kind = "good"
    if kind == "missing":
        # torch's BatchNorm fills in a missing num_batches_tracked (old checkpoints lack it)
        droppable = [k for k in keys if not k.endswith("num_batches_tracked")]
        if not droppable:
            return sd, "good"
        del sd[data.draw(st.sampled_from(droppable))]
    elif kind == "unexpected":
        sd["not_a_parameter"] = np.zeros(2, np.float32)
    elif kind == "shape":
        k = data.draw(st.sampled_from(keys))
        sd[k] = np.zeros(sd[k].shape + (2,), np.float32)
    elif kind == "dtype":
        k = data.draw(st.sampled_from(keys))
        # strings cannot become numbers; an empty parameter gets a wrong shape instead
        sd[k] = np.full(sd[k].shape, "x") if sd[k].size else np.full(sd[k].shape + (1,), "x")
    elif kind == "value":
        sd[data.draw(st.sampled_from(keys))] = object()
    return sd, kind


def _drive(data, m, reference, make_input, n_steps=5):
    """Random sequence of calls, mode toggles and loads; checks every outcome."""
    for _ in range(data.draw(st.integers(1, n_steps))):
        step = data.draw(st.sampled_from(["call", "call", "call", "train", "eval", "load"]))
        if step == "train":
            m.train()
        elif step == "eval":
            m.eval()
        elif step == "load":
            sd, kind = _checkpoint(data, m)
            before = _snapshot(m)
            try:
                m.load_state_dict(sd)
            except ref.ALLOWED as e:
                assert kind != "good", f"a good checkpoint was refused: {e}"
                _assert_state(m, before)  # a failed load changes nothing
            else:
                assert kind == "good", f"a {kind} checkpoint was accepted"
                for k, v in m.state_dict().items():
                    np.testing.assert_array_equal(np.asarray(v), np.asarray(sd[k]).astype(np.asarray(v).dtype))
        else:
            x = make_input()
            state = _snapshot(m)
            ref.run_and_check(lambda: m(x), lambda: reference(m, x, state), must_succeed=False,
                              compare=is_finite(x, *state.values()), atol=2e-3, rtol=2e-3)


# ---------------------------------------------------------------------------------------------
# Linear and Conv
# ---------------------------------------------------------------------------------------------


@given(st.data())
def test_linear_layer(data):
    fin, fout = data.draw(hyper_int(-1, 4)), data.draw(hyper_int(-1, 4))
    m = _construct(lambda: nn.Linear(fin, fout, bias=data.draw(st.booleans())))
    if m is None:
        return
    k = m.in_features if m.in_features <= 8 else 3  # a huge layer is only ever fed a mismatched input

    def make_input():
        last = data.draw(st.sampled_from([k, k, k, k + 1]))
        lead = data.draw(st.lists(st.integers(0, 3), max_size=2))
        return data.draw(arrays(shape=[*lead, last], dtype=data.draw(st.sampled_from([np.float32, None]))))

    def reference(m, x, state):
        _same_dtype_float32(x)
        xx, w, b = _f64(x, state["weight"], state.get("bias"))
        return ref.linear(xx, w, b)

    _drive(data, m, reference, make_input)


@pytest.mark.parametrize("nd", [1, 2, 3])
@given(data=st.data())
def test_conv_layer(nd, data):
    cls = getattr(nn, f"Conv{nd}d")
    sane = data.draw(st.booleans())
    groups = data.draw(st.integers(1, 2) if sane else hyper_int(-1, 3))
    cin = data.draw(st.integers(1, 2)) * groups if sane else data.draw(hyper_int(-1, 4))
    cout = data.draw(st.integers(1, 2)) * groups if sane else data.draw(hyper_int(-1, 4))
    kernel = data.draw(st.integers(1, 3) if sane else int_or_tuple(nd, -1, 3))
    stride = data.draw(st.integers(1, 2) if sane else int_or_tuple(nd, -1, 3))
    padding = data.draw(st.one_of(st.integers(0, 1), st.just("valid")) if sane else st.one_of(
        int_or_tuple(nd, -1, 3), st.sampled_from(["same", "valid", "full"])))
    dilation = data.draw(st.integers(1, 2) if sane else int_or_tuple(nd, -1, 3))
    m = _construct(lambda: cls(cin, cout, kernel, stride, padding, dilation, groups, data.draw(st.booleans())))
    if m is None:
        return

    def make_input():
        c = data.draw(st.sampled_from([m.in_channels] * 3 + [m.in_channels + 1])) if m.in_channels <= 8 else 2
        spatial = data.draw(st.lists(st.integers(0 if not sane else 4, 6), min_size=nd, max_size=nd))
        batch = data.draw(st.sampled_from([[1], [2], [0], []]))
        return data.draw(arrays(shape=[*batch, c, *spatial], dtype=np.float32 if sane else None))

    def reference(m, x, state):
        return _conv_reference(nd, x, state["weight"], state.get("bias"), m.stride, m.padding, m.dilation, m.groups)

    _drive(data, m, reference, make_input)


# ---------------------------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nd", [1, 2, 3])
@given(data=st.data())
def test_batchnorm_layer(nd, data):
    cls = getattr(nn, f"BatchNorm{nd}d")
    features = data.draw(st.one_of(st.integers(1, 3), hyper_int(-1, 3)))
    eps = data.draw(st.sampled_from([1e-5, 1e-3, 0.0, -1.0]))
    momentum = data.draw(st.sampled_from([0.1, 0.0, 1.0, None]))
    affine, track = data.draw(st.booleans()), data.draw(st.booleans())
    m = _construct(lambda: cls(features, eps, momentum, affine, track))
    if m is None:
        return
    ranks = {1: [2, 3], 2: [4], 3: [5]}[nd]

    def make_input():
        rank = data.draw(st.sampled_from(ranks * 3 + [1, 3, 4, 6]))
        c = data.draw(st.sampled_from([m.num_features] * 3 + [m.num_features + 1])) if m.num_features <= 8 else 2
        spatial = data.draw(st.lists(st.integers(1, 3), min_size=max(rank - 2, 0), max_size=max(rank - 2, 0)))
        shape = [data.draw(st.integers(0, 3)), c, *spatial][:rank]
        return data.draw(arrays(shape=shape, dtype=data.draw(st.sampled_from([np.float32, np.float32, None]))))

    def reference(m, x, state):
        ref.require(x.ndim in ranks, "rank")
        use_batch = m.training or not m.track_running_stats
        if m.training:
            ref.require(x.shape[0] * int(np.prod(x.shape[2:])) != 1, "one value per channel")
        ref.require(m.eps >= 0 and (m.eps > 0 or not use_batch), "eps")
        _same_dtype_float32(x)
        if x.size == 0:
            return np.zeros(x.shape)
        xx, rm, rv, w, b = _f64(x, state.get("running_mean"), state.get("running_var"), state.get("weight"), state.get("bias"))
        return ref.batch_norm(xx, rm, rv, w, b, use_batch, m.eps)

    _drive(data, m, reference, make_input)


# ---------------------------------------------------------------------------------------------
# Stateless layers: the layer must agree with its functional (fuzzed against references above)
# ---------------------------------------------------------------------------------------------


def _stateless_layers(data):
    k, s, p, d = data.draw(int_or_tuple(2, -1, 3)), data.draw(st.one_of(st.none(), int_or_tuple(2, -1, 3))), \
        data.draw(int_or_tuple(2, -1, 2)), data.draw(int_or_tuple(2, -1, 2))
    size = data.draw(st.one_of(hyper_int(-1, 4), st.tuples(st.integers(-1, 4), st.integers(-1, 4))))
    ceil, flag = data.draw(st.booleans()), data.draw(st.booleans())
    pr = data.draw(st.sampled_from([0.0, 0.5, 1.0, -0.5]))
    dim = data.draw(st.one_of(st.none(), hyper_int(-4, 4)))
    slope = data.draw(st.sampled_from([0.01, -2.0, 0.0]))
    lo, hi = data.draw(st.sampled_from([(-1.0, 1.0), (2.0, -2.0), (0.0, 0.0)]))
    table = {
        "ReLU": (lambda: nn.ReLU(), lambda x: F.relu(x)),
        "ReLU6": (lambda: nn.ReLU6(), lambda x: F.relu6(x)),
        "Hardtanh": (lambda: nn.Hardtanh(lo, hi), lambda x: F.hardtanh(x, lo, hi)),
        "LeakyReLU": (lambda: nn.LeakyReLU(slope), lambda x: F.leaky_relu(x, slope)),
        "GELU": (lambda: nn.GELU(), lambda x: F.gelu(x)),
        "GELU(tanh)": (lambda: nn.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
        "SiLU": (lambda: nn.SiLU(), lambda x: F.silu(x)),
        "Sigmoid": (lambda: nn.Sigmoid(), lambda x: F.sigmoid(x)),
        "Tanh": (lambda: nn.Tanh(), lambda x: F.tanh(x)),
        "Hardswish": (lambda: nn.Hardswish(), lambda x: F.hardswish(x)),
        "Softmax": (lambda: nn.Softmax(dim), lambda x: F.softmax(x, dim)),
        "MaxPool1d": (lambda: nn.MaxPool1d(k, s, p, d, False, ceil), lambda x: F.max_pool1d(x, k, s, p, d, ceil)),
        "MaxPool2d": (lambda: nn.MaxPool2d(k, s, p, d, False, ceil), lambda x: F.max_pool2d(x, k, s, p, d, ceil)),
        "AvgPool1d": (lambda: nn.AvgPool1d(k, s, p, ceil, flag), lambda x: F.avg_pool1d(x, k, s, p, ceil, flag)),
        "AvgPool2d": (lambda: nn.AvgPool2d(k, s, p, ceil, flag), lambda x: F.avg_pool2d(x, k, s, p, ceil, flag)),
        "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(size), lambda x: F.adaptive_avg_pool1d(x, size)),
        "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(size), lambda x: F.adaptive_avg_pool2d(x, size)),
        "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(size), lambda x: F.adaptive_max_pool2d(x, size)),
        "Dropout(eval)": (lambda: nn.Dropout(pr).eval(), lambda x: F.dropout(x, pr, False)),
        "Dropout2d(eval)": (lambda: nn.Dropout2d(pr).eval(), lambda x: F.dropout2d(x, pr, False)),
        "Dropout3d(eval)": (lambda: nn.Dropout3d(pr).eval(), lambda x: F.dropout3d(x, pr, False)),
        "Dropout1d(eval)": (lambda: nn.Dropout1d(pr).eval(), lambda x: F.dropout1d(x, pr, False)),
        "AlphaDropout(eval)": (lambda: nn.AlphaDropout(pr).eval(), lambda x: F.alpha_dropout(x, pr, False)),
    }
    if hasattr(nn, "Flatten"):
        table["Flatten"] = (lambda: nn.Flatten(), lambda x: F.flatten(x, 1, -1))
    return table


def _outcome(fn):
    try:
        return "ok", fn()
    except ref.ALLOWED as e:
        assert str(e).strip()
        return "raised", type(e)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values and dtype, NaN equal to NaN (object arrays too)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "O":
        return all(x is y or x == y or (x != x and y != y) for x, y in zip(a.ravel(), b.ravel()))
    if a.dtype.kind == "V":  # structured: == has no equal_nan, so a NaN field compares unequal
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


@given(st.data())
def test_stateless_layers_match_their_functionals(data):
    table = _stateless_layers(data)
    name = data.draw(st.sampled_from(sorted(table)))
    make, functional = table[name]
    m = _construct(make)
    if m is None:
        return
    for _ in range(data.draw(st.integers(1, 3))):
        x = data.draw(arrays())
        got, want = _outcome(lambda: m(x)), _outcome(lambda: functional(x))
        assert got[0] == want[0], (name, got, want)
        if got[0] == "ok":
            g = got[1][0] if isinstance(got[1], tuple) else got[1]
            w = want[1][0] if isinstance(want[1], tuple) else want[1]
            assert _same(np.asarray(g), np.asarray(w)), (name, g, w)
        else:
            assert got[1] is want[1], (name, got, want)
