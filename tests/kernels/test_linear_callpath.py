"""The lean linear call path: `_core.linear` (a raw METH_FASTCALL binding) and
`_core._linear_or_fallback` (Linear.forward's whole body), against a float64 numpy reference and
torch.

What is special about the path and tested here: inputs read in place only when they are native
float32, C-contiguous and aligned (otherwise converted), the GIL kept below a work threshold
(results must not depend on which side of it a call falls), argument parsing done by hand (the
TypeErrors a Python def would raise), and everything that is not a plain float32 call handed to
F.linear (torch's errors).
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod.nn as nn
import minimod.nn.functional as F
from minimod import _core

from linear_reference import check, reference


def misaligned_f32(values):
    """A float32 array with the same values whose data pointer is not 4-byte aligned."""
    raw = np.zeros(values.size * 4 + 1, np.uint8)
    view = raw[1:].view(np.float32).reshape(values.shape)
    view[...] = values
    assert not view.flags.aligned
    return view


# (M, N, K) on both sides of the GIL-release threshold (16384 multiply-adds) and of the small-M
# boundary (kSmallM = 8).
SHAPES = [(1, 16, 16), (1, 128, 127), (1, 128, 128), (2, 64, 128), (1, 1, 16385), (8, 64, 32),
          (8, 64, 33), (9, 64, 32), (9, 64, 29), (64, 33, 17)]


@pytest.mark.parametrize(("m", "n", "k"), SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_gil_and_small_m_thresholds(isa, m, n, k, relu):
    assert _core._testing.gemm_config()["small_m"] == 8
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    b = rng.uniform(-1, 1, n).astype(np.float32)
    check(_core.linear(x, w, b, relu), reference(x, w, b, relu), k)
    check(_core.linear(x, w, relu=relu), reference(x, w, None, relu), k)


@pytest.mark.parametrize("which", ["input", "weight", "bias"])
@pytest.mark.parametrize("layout", ["strided", "fortran", "misaligned", "big_endian"])
def test_operands_not_readable_in_place(isa, which, layout):
    rng = np.random.default_rng(3)
    ops = {"input": rng.uniform(-1, 1, (3, 9)).astype(np.float32),
           "weight": rng.uniform(-1, 1, (5, 9)).astype(np.float32),
           "bias": rng.uniform(-1, 1, 5).astype(np.float32)}
    ref = reference(ops["input"], ops["weight"], ops["bias"])
    v = ops[which]
    if layout == "strided":
        wide = np.zeros(v.shape[:-1] + (v.shape[-1] * 2,), np.float32)
        wide[..., ::2] = v
        ops[which] = wide[..., ::2]
    elif layout == "fortran":
        ops[which] = np.asfortranarray(v) if v.ndim == 2 else v[::-1].copy()[::-1]
    elif layout == "misaligned":
        ops[which] = misaligned_f32(v)
    else:
        ops[which] = v.astype(">f4")
    if layout == "big_endian":
        # Not native float32: the binding refuses it (no silent conversion), like other dtypes.
        with pytest.raises(RuntimeError, match="float32"):
            _core.linear(ops["input"], ops["weight"], ops["bias"])
        return
    check(_core.linear(ops["input"], ops["weight"], ops["bias"]), ref, 9)
    assert np.array_equal(ops[which], v)  # inputs are never written


def test_output_is_fresh_storage_backed_array():
    x = np.ones((2, 3, 4), np.float32)
    w = np.ones((5, 4), np.float32)
    out = _core.linear(x, w)
    assert out.shape == (2, 3, 5)
    assert out.flags.c_contiguous and out.flags.writeable and out.flags.owndata is False
    assert isinstance(out.base, _core.Storage)
    assert out.ctypes.data % 64 == 0
    np.testing.assert_array_equal(out, np.full((2, 3, 5), 4.0))
    out2 = _core.linear(x, w)
    assert out2.ctypes.data != out.ctypes.data


def test_one_dimensional_and_empty_inputs(isa):
    rng = np.random.default_rng(4)
    w = rng.uniform(-1, 1, (6, 7)).astype(np.float32)
    x = rng.uniform(-1, 1, 7).astype(np.float32)
    check(_core.linear(x, w), reference(x[None], w)[0], 7)
    assert _core.linear(np.zeros((0, 7), np.float32), w).shape == (0, 6)
    out = _core.linear(np.zeros((2, 0), np.float32), np.zeros((3, 0), np.float32),
                       np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(out, [[0, 1, 2], [0, 1, 2]])
    deep = rng.uniform(-1, 1, (1,) * 62 + (2, 7)).astype(np.float32)  # numpy's 64 dimensions
    out = _core.linear(deep, w)
    assert out.shape == (1,) * 62 + (2, 6)
    check(out.reshape(2, 6), reference(deep.reshape(2, 7), w), 7)
    np.testing.assert_array_equal(nn.Linear(7, 6)(deep).shape, out.shape)


def test_argument_parsing():
    x = np.ones((1, 2), np.float32)
    w = np.ones((3, 2), np.float32)
    b = np.arange(3, dtype=np.float32)
    expected = np.maximum(reference(x, w, -b), 0)
    check(_core.linear(input=x, weight=w, bias=-b, relu=True), expected, 2)
    check(_core.linear(x, w, relu=True, bias=-b), expected, 2)
    with pytest.raises(TypeError, match="missing required argument 'weight'"):
        _core.linear(x)
    with pytest.raises(TypeError, match="missing required argument 'input'"):
        _core.linear(weight=w)
    with pytest.raises(TypeError, match="unexpected keyword argument 'alpha'"):
        _core.linear(x, w, alpha=1)
    with pytest.raises(TypeError, match="multiple values for argument 'weight'"):
        _core.linear(x, w, weight=w)
    with pytest.raises(TypeError, match="at most 4 arguments"):
        _core.linear(x, w, b, False, 1)


def test_errors_name_the_problem():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        _core.linear(x, np.zeros((5, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected bias of shape \[5\], but got \[5, 1\]"):
        _core.linear(x, np.zeros((5, 3), np.float32), np.zeros((5, 1), np.float32))
    with pytest.raises(ValueError, match="weight must be 2-D"):
        _core.linear(x, np.zeros((1, 5, 3), np.float32))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        _core.linear(np.zeros((), np.float32), np.zeros((5, 3), np.float32))
    with pytest.raises(RuntimeError, match="float64"):
        _core.linear(x, np.zeros((5, 3), np.float32), np.zeros(5))
    with pytest.raises(RuntimeError, match="object"):
        _core.linear(x, object())


# --- _linear_or_fallback ----------------------------------------------------------------------


def test_fallback_gets_everything_that_is_not_a_plain_float32_call():
    calls = []

    def fallback(*args):
        calls.append(args)
        return "fallback"

    f = _core._linear_or_fallback(fallback)
    x = np.ones((2, 3), np.float32)
    w = np.ones((4, 3), np.float32)
    b = np.ones(4, np.float32)
    check(f(x, w, b), reference(x, w, b), 3)
    check(f(x[:, ::-1], w, None), reference(x, w), 3)  # any layout of float32 stays native
    assert calls == []
    odd = [(x.astype(np.float64), w, b), (x, w.astype(np.float16), b), (x, w, b.astype(np.int32)),
           (x.tolist(), w, b), (x, w, np.ones(5, np.float32)), (x, np.ones((4, 2), np.float32), b),
           (np.float32(1), w, b), (np.zeros((), np.float32), w, b), (x, w[None], b),
           (x, w, b[None]), (x.astype(">f4"), w, b), (x, w, 1.0)]
    for args in odd:
        assert f(*args) == "fallback"
    assert len(calls) == len(odd)
    assert all(c[0] is a[0] and c[1] is a[1] and c[2] is a[2] for c, a in zip(calls, odd))
    with pytest.raises(TypeError):
        f(x, w)


@pytest.mark.parametrize(
    "args",
    [
        lambda: (np.ones((2, 3)), np.ones((4, 3), np.float32), None),
        lambda: (np.ones((2, 3), np.float32), np.ones((4, 2), np.float32), None),
        lambda: (np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.ones(5, np.float32)),
        lambda: (np.ones((2, 3), np.float32), np.ones((4, 3), np.int64), None),
        lambda: (np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32), None),  # 1-D weight
        lambda: ([[1.0, 2.0, 3.0]], np.ones((4, 3), np.float32), None),  # not an array
    ],
)
def test_linear_module_does_what_torch_does_off_the_native_path(args):
    torch = pytest.importorskip("torch")
    x, w, b = args()
    tb = None if b is None else torch.from_numpy(b)
    tx = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    forward = nn.Linear.forward
    try:
        expected = torch.nn.functional.linear(tx, torch.from_numpy(w), tb).numpy()
    except Exception as t_err:
        with pytest.raises(type(t_err)) as l_err:
            forward(_Holder(w, b), x)
        with pytest.raises(type(t_err)) as f_err:
            F.linear(x, w, b)
        assert str(l_err.value) == str(f_err.value)
        return
    out = forward(_Holder(w, b), x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, reference(x, np.atleast_2d(w), b).reshape(expected.shape),
                               rtol=1e-6)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


class _Holder:
    """Stands in for a Linear whose parameters were replaced (forward reads only these)."""

    def __init__(self, weight, bias):
        self.weight = weight
        self.bias = bias


def test_linear_module_matches_torch_on_the_native_path(isa):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for m, k, n in [(1, 16, 16), (1, 784, 512), (3, 33, 9), (64, 512, 10)]:
        t = torch.nn.Linear(k, n)
        lin = nn.Linear(k, n)
        lin.load_state_dict({k_: v.detach().numpy() for k_, v in t.state_dict().items()})
        x = rng.standard_normal((m, k), dtype=np.float32)
        out = lin(x)
        with torch.no_grad():
            expected = t(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        check(out, reference(x, np.asarray(lin.weight), np.asarray(lin.bias)), k)
