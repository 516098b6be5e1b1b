"""nn.Linear and nn.Identity: outputs, attributes, repr, errors and init vs torch and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minimod
import minimod.nn as nn
import minimod.nn.functional as F


def reference(x, w, b):
    out = x.astype(np.float64) @ w.astype(np.float64).T
    return out if b is None else out + b.astype(np.float64)


def copy_from_torch(m, t):
    np.asarray(m.weight)[...] = t.weight.detach().numpy()
    if t.bias is not None:
        np.asarray(m.bias)[...] = t.bias.detach().numpy()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("fin", "fout"), [(1, 1), (3, 4), (7, 5), (17, 33), (784, 512), (512, 10)])
def test_matches_torch(fin, fout, bias):
    torch = pytest.importorskip("torch")
    t = torch.nn.Linear(fin, fout, bias=bias)
    m = nn.Linear(fin, fout, bias=bias)
    copy_from_torch(m, t)
    rng = np.random.default_rng(fin * 100 + fout)
    for lead in [(), (1,), (5,), (64,), (2, 3), (2, 1, 3), (0,), (3, 0)]:
        x = rng.standard_normal((*lead, fin)).astype(np.float32)
        out = m(x)
        expect = t(torch.from_numpy(x)).detach().numpy()
        assert out.shape == expect.shape
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out, reference(x, np.asarray(m.weight), None if m.bias is None else np.asarray(m.bias)), rtol=1e-4, atol=1e-5)


def test_without_torch_reference():
    rng = np.random.default_rng(0)
    m = nn.Linear(33, 17)
    x = rng.standard_normal((9, 33)).astype(np.float32)
    np.testing.assert_allclose(m(x), reference(x, np.asarray(m.weight), np.asarray(m.bias)), rtol=1e-5, atol=1e-5)


def test_noncontiguous_and_tensor_inputs():
    rng = np.random.default_rng(1)
    m = nn.Linear(6, 4)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    base = rng.standard_normal((5, 12)).astype(np.float32)
    for x in [base[:, ::2], np.asfortranarray(base[:, :6]), base[::-1, :6], base[:, :6].T.copy().T]:
        np.testing.assert_allclose(m(x), reference(x, w, b), rtol=1e-5, atol=1e-5)
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(base[:, :6].copy())
    np.testing.assert_allclose(m(x), reference(x.numpy(), w, b), rtol=1e-5, atol=1e-5)


def test_weight_writes_are_seen():
    m = nn.Linear(3, 2)
    x = np.ones((1, 3), np.float32)
    np.asarray(m.weight)[...] = 1.0
    np.asarray(m.bias)[...] = 0.5
    np.testing.assert_array_equal(m(x), [[3.5, 3.5]])
    np.asarray(m.weight)[0] = 2.0
    np.testing.assert_array_equal(m(x), [[6.5, 3.5]])


def test_attributes_and_repr():
    torch = pytest.importorskip("torch")
    for args in [(3, 4), (3, 4, False), (0, 5), (5, 0)]:
        m, t = nn.Linear(*args), torch.nn.Linear(*args)
        assert (m.in_features, m.out_features) == (t.in_features, t.out_features)
        assert m.weight.shape == tuple(t.weight.shape)
        assert (m.bias is None) == (t.bias is None)
        assert m.extra_repr() == t.extra_repr()
        assert repr(m) == repr(t)
        assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
        assert isinstance(m.weight, nn.Parameter)
        assert m.weight.dtype == np.float32


def test_state_dict_round_trip_from_torch():
    torch = pytest.importorskip("torch")
    t = torch.nn.Linear(7, 3)
    m = nn.Linear(7, 3)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((4, 7)).astype(np.float32)
    np.testing.assert_allclose(m(x), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    return None


def test_errors_match_torch():
    torch = pytest.importorskip("torch")
    assert _error(lambda: nn.Linear(3, -1)) == _error(lambda: torch.nn.Linear(3, -1))
    assert _error(lambda: nn.Linear(-2, 4)) == _error(lambda: torch.nn.Linear(-2, 4))
    m, t = nn.Linear(3, 4), torch.nn.Linear(3, 4)
    cases = [
        np.zeros((10, 7), np.float32),      # mat1 and mat2 shapes cannot be multiplied (10x7 and 3x4)
        np.zeros((2, 5, 7), np.float32),
        np.zeros((7,), np.float32),
        np.zeros((10, 3), np.float64),      # mat1 and mat2 must have the same dtype ...
        np.zeros((10, 3), np.float16),
        np.zeros((10, 3), np.int64),
        np.zeros((), np.float32),           # both arguments to linear need to be at least 1D ...
    ]
    for x in cases:
        expect = _error(lambda: t(torch.from_numpy(x)))  # noqa: B023
        assert expect is not None
        assert _error(lambda: m(x)) == expect, x  # noqa: B023
    assert _error(lambda: m(np.zeros((10, 7), np.float32)))[1] == "mat1 and mat2 shapes cannot be multiplied (10x7 and 3x4)"
    assert _error(lambda: m(np.zeros((10, 3))))[1] == "mat1 and mat2 must have the same dtype, but got Double and Float"


def test_functional_errors_match_torch():
    torch = pytest.importorskip("torch")
    w = np.ones((4, 7), np.float32)
    tw = torch.from_numpy(w)
    cases = [
        (np.ones((10, 7)), w, None),
        (np.ones((10, 5)), w, None),
        (np.ones((10, 7), np.float32), w, np.ones(5, np.float32)),
        (np.ones((10, 7), np.float32), w, np.ones(4)),
        (np.ones((10, 7), np.float32), np.ones((2, 4, 7), np.float32), None),
        (np.ones((10, 7), np.float32), np.ones((), np.float32), None),
    ]
    for x, wi, b in cases:
        expect = _error(lambda: torch.nn.functional.linear(torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(wi)), None if b is None else torch.from_numpy(b)))  # noqa: B023
        assert _error(lambda: F.linear(x, wi, b)) == expect  # noqa: B023
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        F.linear([1.0] * 7, w)
    # both float64: torch computes, minimod names the dtype and the fix
    with pytest.raises(RuntimeError, match=r"float32 only.*float64.*astype\(np.float32\)"):
        F.linear(np.ones((2, 7)), np.ones((4, 7)))
    assert F.linear(np.ones((2, 7), np.float32), np.ones(7, np.float32)).shape == tuple(
        torch.nn.functional.linear(torch.ones(2, 7), torch.ones(7)).shape
    )


def test_factory_kwargs():
    assert nn.Linear(2, 3, dtype=np.float32).weight.dtype == np.float32
    assert nn.Linear(2, 3, dtype="float32", device="cpu").weight.shape == (3, 2)
    with pytest.raises(ValueError, match="float32 only"):
        nn.Linear(2, 3, dtype=np.float64)
    with pytest.raises(ValueError, match="CPU only"):
        nn.Linear(2, 3, device="cuda")


def test_default_init_bounds_and_seed():
    minimod.manual_seed(0)
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-b, b): mean 0, std b/sqrt(3), and the draws fill the range
    assert abs(w.mean()) < 0.02 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(w).max() > 0.99 * bound
    minimod.manual_seed(0)
    again = nn.Linear(400, 300)
    np.testing.assert_array_equal(np.asarray(again.weight), w)
    np.testing.assert_array_equal(np.asarray(again.bias), b)
    z = nn.Linear(0, 3)  # fan_in 0: bias bound 0
    np.testing.assert_array_equal(np.asarray(z.bias), 0)


def test_identity():
    m = nn.Identity(54, unused=0.1, other=False)
    x = np.ones((2, 3), np.float32)
    assert m(x) is x
    obj = object()
    assert m(obj) is obj
    assert repr(m) == "Identity()"
