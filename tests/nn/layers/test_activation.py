"""Activation layers: ReLU, ReLU6, LeakyReLU, GELU (none / tanh), SiLU, Sigmoid, Tanh, Hardswish,
Hardtanh, Softmax(dim).

References: float64 numpy formulas written here, and torch's layers on the same inputs (values,
attributes, repr, errors). The kernels themselves are swept more densely in tests/kernels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimod.nn as nn

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


# (layer name, constructor args, float64 reference)
ACTIVATIONS = [
    ("ReLU", (), lambda x: np.maximum(x, 0)),
    ("ReLU6", (), lambda x: np.clip(x, 0, 6)),
    ("LeakyReLU", (), lambda x: np.where(x > 0, x, 0.01 * x)),
    ("LeakyReLU", (0.2,), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("GELU", (), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    ("GELU", ("tanh",), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ("SiLU", (), lambda x: x / (1 + np.exp(-x))),
    ("Sigmoid", (), lambda x: 1 / (1 + np.exp(-x))),
    ("Tanh", (), np.tanh),
    ("Hardswish", (), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("Hardtanh", (), lambda x: np.clip(x, -1, 1)),
    ("Hardtanh", (-2.0, 0.5), lambda x: np.clip(x, -2, 0.5)),
    ("Softmax", (1,), lambda x: _softmax(x, 1)),
    ("Softmax", (-1,), lambda x: _softmax(x, -1)),
    ("Softmax", (0,), lambda x: _softmax(x, 0)),
]
IDS = [f"{name}{args}" for name, args, _ in ACTIVATIONS]


def _grid(shape=(3, 4, 5, 7), seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    flat = x.reshape(-1)
    # The interesting points: the kinks of relu6/hardswish/hardtanh, zero, and the tails.
    special = [-100.0, -10.0, -6.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 10.0, 100.0]
    n = min(len(special), flat.size)
    flat[:n] = special[:n]
    return x.astype(np.float32)


@pytest.mark.parametrize(("name", "args", "ref"), ACTIVATIONS, ids=IDS)
def test_matches_float64_reference(name, args, ref):
    x = _grid()
    y = getattr(nn, name)(*args)(x)
    assert type(y) is np.ndarray and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, ref(x.astype(np.float64)), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize(("name", "args", "ref"), ACTIVATIONS, ids=IDS)
def test_layouts_shapes_and_unbatched(name, args, ref):
    m = getattr(nn, name)(*args)
    base = _grid((4, 6, 5), seed=1)
    for x in (base.transpose(2, 0, 1), np.asfortranarray(base), base[:, ::-2, :], base[1], base[0, 0]):
        if name == "Softmax" and args[0] == 1 and x.ndim < 2:
            continue
        np.testing.assert_allclose(m(x), ref(x.astype(np.float64)), rtol=2e-6, atol=2e-6)
    for shape in [(0,), (0, 3), (2, 0, 4)]:
        if name == "Softmax" and args[0] == 1 and len(shape) < 2:
            continue
        y = m(np.zeros(shape, np.float32))
        assert y.shape == shape and y.dtype == np.float32


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "LeakyReLU", "SiLU", "Hardswish", "Hardtanh"])
def test_inplace_writes_the_input(name):
    x = _grid((2, 3))
    want = getattr(nn, name)()(x.copy())
    m = getattr(nn, name)(inplace=True)
    y = m(x)
    assert y is x
    np.testing.assert_array_equal(x, want)


def test_defaults_attributes_and_repr():
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(True)) == "ReLU(inplace=True)"
    assert repr(nn.ReLU6()) == "ReLU6()"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.Hardswish(True)) == "Hardswish()"
    assert nn.GELU().approximate == "none" and nn.Softmax().dim is None
    assert nn.ReLU6().min_val == 0.0 and nn.ReLU6().max_val == 6.0


def test_errors():
    with pytest.raises(RuntimeError, match="float16.*astype"):
        nn.ReLU()(np.ones(3, np.float16))
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        nn.Softmax(2)(np.ones((2, 3), np.float32))
    with pytest.raises(AssertionError, match=r"max_val \(0\) must be greater than min_val \(1\)"):
        nn.Hardtanh(1, 0)


# ----------------------------------------------------------------------------------- torch parity


@pytest.mark.parametrize(("name", "args", "ref"), ACTIVATIONS, ids=IDS)
def test_matches_torch(name, args, ref):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert {k: v for k, v in vars(ours).items() if not k.startswith("_")} == {
        k: v for k, v in vars(theirs).items() if not k.startswith("_")
    }
    for shape, seed in [((3, 4, 5, 7), 0), ((17,), 1), ((2, 1000), 2), ((0, 4), 3)]:
        if name == "Softmax" and args[0] == 1 and len(shape) < 2:
            continue
        x = _grid(shape, seed) if math.prod(shape) >= 13 else np.zeros(shape, np.float32)
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=2e-6, atol=2e-6)
    # torch tensors go in, numpy arrays come out.
    t = torch.from_numpy(_grid())
    y = ours(t)
    assert type(y) is np.ndarray
    np.testing.assert_allclose(y, theirs(t).numpy(), rtol=2e-6, atol=2e-6)


def test_constructor_variants_match_torch():
    torch = pytest.importorskip("torch")
    variants = [
        ("ReLU", (True,)), ("ReLU6", (True,)), ("LeakyReLU", (0.3, True)), ("SiLU", (True,)),
        ("Hardswish", (True,)), ("Hardtanh", (-3, 3, True)), ("Softmax", ()), ("GELU", ("bogus",)),
    ]  # fmt: skip
    for name, args in variants:
        assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args)), name


def test_errors_match_torch():
    torch = pytest.importorskip("torch")

    def error(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            return type(e), str(e).split("\nException raised from")[0]
        return None

    x = np.ones((2, 3), np.float32)
    cases = [("Softmax", (2,)), ("Softmax", (-3,)), ("GELU", ("bogus",))]
    for name, args in cases:
        ours = error(lambda: getattr(nn, name)(*args)(x))  # noqa: B023
        theirs = error(lambda: getattr(torch.nn, name)(*args)(torch.from_numpy(x)))  # noqa: B023
        assert ours is not None and ours == theirs, (name, args)
    assert error(lambda: nn.Hardtanh(1, 0)) == error(lambda: torch.nn.Hardtanh(1, 0))
    assert error(lambda: nn.ReLU()([1.0])) is not None


def test_softmax_without_dim_warns_like_torch():
    torch = pytest.importorskip("torch")
    x = _grid((2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        ours = nn.Softmax()(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        theirs = torch.nn.Softmax()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=2e-6)
