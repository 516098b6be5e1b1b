"""Every parameter and buffer of an optimized model is read-only, through every public route."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_reference import randomise_bn

import minimod
import minimod.nn as nn
from minimod.inference import InferenceBuffer, InferenceParameter, ReadOnlyModelError


class Net(nn.Module):
    """A fused run, plus an unfused BatchNorm (called from forward) that keeps its buffers."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)
        rng = np.random.default_rng(0)
        randomise_bn(self.features[1], rng)
        randomise_bn(self.bn, rng)

    def forward(self, x):
        return self.head(self.bn(self.features(x)).mean(axis=(2, 3)))


X = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)


@pytest.fixture
def opt():
    return minimod.optimize_for_inference(Net().eval())


def arrays(model):
    return [*model.parameters(), *model.buffers()]


def snapshot(model):
    return [np.array(a) for a in arrays(model)]


def assert_unchanged(model, before):
    for a, b in zip(arrays(model), before):
        np.testing.assert_array_equal(a, b)


def test_every_parameter_and_buffer_is_read_only(opt):
    params, buffers = list(opt.parameters()), list(opt.buffers())
    assert len(params) == 6 and len(buffers) == 3  # folded conv w/b, bn w/b, head w/b; bn stats
    assert all(type(p) is InferenceParameter and isinstance(p, nn.Parameter) for p in params)
    assert all(type(b) is InferenceBuffer for b in buffers)
    for a in arrays(opt):
        assert not a.flags.writeable and not np.asarray(a).flags.writeable
        with pytest.raises(ValueError, match="cannot set WRITEABLE flag to True"):
            np.asarray(a).flags.writeable = True


def test_numpy_writes_raise(opt):
    before = snapshot(opt)
    for a in arrays(opt):
        with pytest.raises(ValueError, match="read-only"):
            np.asarray(a)[...] = 1
        with pytest.raises(ValueError, match="read-only"):
            np.copyto(np.asarray(a), 1)
        with pytest.raises(ValueError, match="read-only"):
            a.view(np.ndarray).fill(1)
    assert_unchanged(opt, before)


@pytest.mark.parametrize("route", ["setitem", "slice", "data", "iadd", "ufunc_out"])
def test_minimod_routes_explain_the_error(opt, route):
    before = snapshot(opt)
    targets = list(opt.parameters()) if route == "data" else arrays(opt)  # buffers have no .data
    for a in targets:
        with pytest.raises(ReadOnlyModelError, match="optimize_for_inference") as info:
            if route == "setitem":
                a[...] = 0
            elif route == "slice":
                a[:1] = 0
            elif route == "data":
                a.data = np.zeros(a.shape, a.dtype)
            elif route == "iadd":
                a += 1
            else:
                np.add(a, 1, out=a)
        assert "call optimize_for_inference(original) again" in str(info.value)
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    assert_unchanged(opt, before)


@pytest.mark.parametrize("init", ["zeros_", "ones_", "normal_", "uniform_", "kaiming_uniform_",
                                  "xavier_normal_", "orthogonal_"])
def test_nn_init_raises(opt, init):
    before = snapshot(opt)
    with pytest.raises(ReadOnlyModelError, match="optimize_for_inference"):
        getattr(nn.init, init)(opt.features[0].weight)
    with pytest.raises(ReadOnlyModelError, match="optimize_for_inference"):
        nn.init.constant_(opt.bn.running_mean, 3.0)
    assert_unchanged(opt, before)


@pytest.mark.parametrize("assign", [False, True])
@pytest.mark.parametrize("on", ["root", "child"])
def test_load_state_dict_raises_and_changes_nothing(opt, assign, on):
    before = snapshot(opt)
    target = opt if on == "root" else opt.bn
    new = {k: np.zeros_like(v) for k, v in target.state_dict().items()}
    with pytest.raises(RuntimeError, match="optimize_for_inference"):
        target.load_state_dict(new, assign=assign)
    assert_unchanged(opt, before)
    assert all(type(p) is InferenceParameter for p in opt.parameters())


def test_arithmetic_and_reads_still_work(opt):
    w = opt.head.weight
    assert type(w * 2) is np.ndarray and type(w[0]) is np.ndarray
    assert type(opt.bn.running_var + 1) is np.ndarray and type(opt.bn.running_var[:2]) is np.ndarray
    np.testing.assert_allclose(np.asarray(w).sum(), float(w.sum()), rtol=1e-6)
    assert w.data.shape == w.shape and not w.data.flags.writeable
    assert opt.state_dict()["head.weight"].shape == (2, 4)


def test_outputs_match_and_never_change_after_refused_writes():
    model = Net().eval()
    opt = minimod.optimize_for_inference(model)
    expect = model(X)
    np.testing.assert_allclose(opt(X), expect, rtol=1e-5, atol=1e-5)
    for a in arrays(opt):
        for attempt in (lambda a=a: a.__setitem__(..., 0), lambda a=a: np.asarray(a).fill(0)):
            with pytest.raises(ValueError):
                attempt()
    np.testing.assert_allclose(opt(X), expect, rtol=1e-5, atol=1e-5)


def test_assigning_a_new_parameter_replaces_it_and_is_seen():
    # Rebinding the attribute is not a write into the optimized weights: the new value is what
    # the next forward reads (nothing cached can go stale).
    opt = minimod.optimize_for_inference(Net().eval())
    opt.head.weight = nn.Parameter(np.zeros((2, 4), np.float32))
    np.testing.assert_allclose(opt(X), np.broadcast_to(np.asarray(opt.head.bias), (2, 2)))
    opt.features[0].bias = nn.Parameter(np.full(4, -1e9, np.float32))  # ReLU epilogue -> 0
    opt.head.weight = nn.Parameter(np.ones((2, 4), np.float32))
    bn = opt.bn
    zero_in = (0 - np.asarray(bn.running_mean)) / np.sqrt(np.asarray(bn.running_var) + bn.eps)
    zero_in = zero_in * np.asarray(bn.weight) + np.asarray(bn.bias)
    expect = zero_in.sum() + np.asarray(opt.head.bias)
    np.testing.assert_allclose(opt(X), np.broadcast_to(expect, (2, 2)), rtol=1e-5, atol=1e-5)
