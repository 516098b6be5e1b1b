"""Activations and softmax (csrc/kernels/eltwise) on every ISA path this CPU supports.

Each op is checked against a float64 numpy reference written here (so the suite means something
without torch) and against torch when it is installed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minimod
import minimod.nn.functional as F
from minimod import _core
from minimod._arrays import is_native

_ORDER = {"generic": 0, "avx2": 1, "avx512": 2}
ISAS = [name for name, rank in _ORDER.items() if rank <= _ORDER[_core.detected_isa()]]


@pytest.fixture(params=ISAS)
def isa(request):
    previous = _core.active_isa()
    _core._set_active_isa(request.param)
    yield request.param
    _core._set_active_isa(previous)


# ---------------------------------------------------------------------------------------------
# float64 references
# ---------------------------------------------------------------------------------------------

_erfc = np.frompyfunc(math.erfc, 1, 1)


def _ref(name: str, x: np.ndarray, **kw) -> np.ndarray:
    if name == "hardswish" and x.dtype == np.float32:
        # Defined by torch's float32 operation order (x * clamp(x + 3, 0, 6) / 6), which
        # overflows to inf for |x| > FLT_MAX / 6; minimod follows it bit for bit.
        with np.errstate(all="ignore"):
            return (x * np.clip(x + np.float32(3), 0, 6) / np.float32(6)).astype(np.float64)
    slope = kw.get("negative_slope", 0.01)
    slope = np.float32(slope) if x.dtype == np.float32 else slope  # the kernel's slope is a float
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if name == "relu":
            return np.where(x < 0, 0.0, x)
        if name == "relu6":
            return np.where(x < 0, 0.0, np.where(x > 6, 6.0, x))
        if name == "hardtanh":
            lo, hi = kw.get("min_val", -1.0), kw.get("max_val", 1.0)
            return np.where(x < lo, lo, np.where(x > hi, hi, x))
        if name == "leaky_relu":
            return np.where(x > 0, x, x * slope)
        if name == "gelu":
            if kw.get("approximate", "none") == "tanh":
                u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
                return x / (1 + np.exp(-2 * u))
            return 0.5 * x * np.asarray(_erfc(-x / math.sqrt(2)), dtype=np.float64)
        if name == "silu":
            return x / (1 + np.exp(-x))
        if name == "sigmoid":
            return 1 / (1 + np.exp(-x))
        if name == "tanh":
            return np.tanh(x)
        if name == "hardswish":
            return x * np.clip(x + 3, 0, 6) / 6
    raise AssertionError(name)


CASES = [
    ("relu", {}),
    ("relu6", {}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("silu", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("hardswish", {}),
]
CASE_IDS = [name + ("-" + "-".join(f"{k}={v}" for k, v in kw.items()) if kw else "") for name, kw in CASES]

# Measured accuracy of the vector paths against float64 (see csrc/kernels/eltwise/vec_math.h):
# relative error <= 1e-6, except the GELU forms' far negative tail, where the value is tiny and
# rounding in the exponent's argument is amplified; there the absolute error stays < 1e-12.
RTOL, ATOL = 3e-6, 1e-12


def _values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * rng.choice([0.01, 1.0, 4.0, 20.0], size=n)
    return x.astype(np.float32)


def _call(name, x, **kw):
    return getattr(F, name)(x, **kw)


def _assert_close_ref(got, x, name, kw):
    ref = _ref(name, x, **kw)
    assert got.dtype == np.float32
    assert got.shape == x.shape
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=RTOL, atol=ATOL, equal_nan=True)


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 15, 16, 17, 31, 33, 64, 1000, 4099])
def test_activation_matches_float64_reference(isa, name, kw, n):
    x = _values(n, seed=n)
    _assert_close_ref(_call(name, x, **kw), x, name, kw)


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_activation_dense_sweep_and_special_values(isa, name, kw):
    x = np.concatenate(
        [
            np.linspace(-30, 30, 60001, dtype=np.float32),
            np.linspace(-1e-3, 1e-3, 2001, dtype=np.float32),
            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3e38, -3e38, 88.7, -88.7, 110, -110], np.float32),
        ]
    )
    got = _call(name, x, **kw)
    ref = _ref(name, x, **kw)
    if name == "gelu" and kw.get("approximate", "none") == "none":
        # gelu(+inf) is +inf here (the limit); torch's formula gives NaN there.
        assert got[np.isposinf(x)][0] == np.inf
        ref[np.isposinf(x)] = np.inf
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=RTOL, atol=ATOL, equal_nan=True)


ULP_BOUNDS = {"sigmoid": 3.0, "silu": 3.0, "tanh": 2.0}


def test_accuracy_claims_of_the_vector_math(isa):
    """The bounds documented in csrc/kernels/eltwise/vec_math.h, on a dense sweep."""
    x = np.concatenate([np.linspace(-110, 110, 400_001, dtype=np.float32), _values(100_000, seed=1)])
    for name, bound in ULP_BOUNDS.items():
        ref = _ref(name, x)
        ref32 = np.abs(ref).astype(np.float32)
        # silu(x) for x < -87 multiplies x by a subnormal sigmoid: claims hold above 1e-30
        normal = ref32 >= (1e-30 if name == "silu" else np.finfo(np.float32).tiny)
        ulps = np.abs(getattr(F, name)(x).astype(np.float64) - ref)[normal] / np.spacing(ref32[normal])
        assert ulps.max() <= bound, (name, ulps.max())
    ref = _ref("gelu", x)
    normal = np.abs(ref) >= np.finfo(np.float32).tiny
    rel = np.abs(F.gelu(x).astype(np.float64) - ref)[normal] / np.abs(ref[normal])
    assert rel.max() <= 6e-7  # vec_math.h claims 5.3e-7 for the one-polynomial erfc form
    ref = _ref("gelu", x, approximate="tanh")
    big = np.abs(ref) > 1e-7
    rel = np.abs(F.gelu(x, approximate="tanh").astype(np.float64) - ref)[big] / np.abs(ref[big])
    assert rel.max() <= 3e-6


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_activation_layouts(isa, name, kw):
    base = _values(6 * 7 * 5, seed=3).reshape(6, 7, 5)
    expected = _call(name, np.ascontiguousarray(base), **kw)
    wide = np.zeros((6, 7, 10), np.float32)
    wide[..., ::2] = base
    flipped = np.ascontiguousarray(base[::-1])[::-1]
    for view in (np.asfortranarray(base), flipped, wide[..., ::2], base.transpose(2, 0, 1).copy().transpose(1, 2, 0)):
        np.testing.assert_array_equal(view, base)
        got = _call(name, view, **kw)
        assert is_native(got)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(), (1,), (0, 3), (2, 0, 4)])
def test_activation_degenerate_shapes(shape):
    x = np.full(shape, -1.5, np.float32)
    out = F.relu(x)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.zeros(shape, np.float32))


@pytest.mark.parametrize(("name", "kw"), [c for c in CASES if c[0] in ("relu", "relu6", "hardtanh", "leaky_relu", "silu", "hardswish")])
def test_inplace_contiguous_uses_same_memory(isa, name, kw):
    x = _values(1003, seed=11)
    expected = _call(name, x.copy(), **kw)
    target = x.copy()
    ptr = target.ctypes.data
    result = _call(name, target, inplace=True, **kw)
    assert result is target and target.ctypes.data == ptr
    np.testing.assert_array_equal(target, expected)


def test_inplace_non_contiguous_and_float64_write_back():
    base = _values(64, seed=5).reshape(8, 8)
    view = np.ascontiguousarray(base.T).T  # Fortran order: not C-contiguous
    out = F.relu(view, inplace=True)
    assert out is view
    np.testing.assert_array_equal(view, np.maximum(base, 0))
    x64 = base.astype(np.float64)[::-1]
    out = F.leaky_relu(x64, 0.5, inplace=True)
    assert out is x64 and x64.dtype == np.float64
    np.testing.assert_array_equal(x64, np.where(base[::-1] > 0, base[::-1], base[::-1] * 0.5))


def test_inplace_underscore_variants():
    x = np.array([-2.0, -0.5, 0.5, 2.0], np.float32)
    a = x.copy()
    assert F.relu_(a) is a
    np.testing.assert_array_equal(a, [0, 0, 0.5, 2])
    b = x.copy()
    assert F.hardtanh_(b, -1.0, 1.0) is b
    np.testing.assert_array_equal(b, [-1, -0.5, 0.5, 1])
    c = x.copy()
    assert F.leaky_relu_(c, 0.1) is c
    np.testing.assert_allclose(c, [-0.2, -0.05, 0.5, 2])


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_float64_input_computes_in_float64(name, kw):
    x = _values(257, seed=2).astype(np.float64) * 1.000123
    out = _call(name, x, **kw)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _ref(name, x, **kw), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.float16])
def test_other_dtypes_raise_naming_dtype(dtype):
    with pytest.raises(RuntimeError, match=f"{np.dtype(dtype).name}.*astype\\(np.float32\\)"):
        F.relu(np.ones(3, dtype=dtype))


def test_argument_errors():
    x = np.ones(3, np.float32)
    with pytest.raises(RuntimeError, match=r"^approximate argument must be either none or tanh\.$"):
        F.gelu(x, approximate="foo")
    with pytest.raises(TypeError):
        F.gelu(x, "tanh")  # keyword-only, as in torch
    with pytest.raises(ValueError, match="^min_val cannot be greater than max_val$"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(TypeError, match=r"^relu\(\): argument 'input' \(position 1\) must be Tensor, not list$"):
        F.relu([1.0])


def test_threads_give_identical_results(isa):
    x = _values(300_001, seed=9)
    previous = minimod.get_num_threads()
    try:
        minimod.set_num_threads(1)
        one = F.gelu(x)
        minimod.set_num_threads(2)
        two = F.gelu(x)
    finally:
        minimod.set_num_threads(previous)
    np.testing.assert_array_equal(one, two)


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------


def _softmax_ref(x: np.ndarray, dim: int, log: bool) -> np.ndarray:
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=dim, keepdims=True)
        e = np.exp(x - m)
        s = np.sum(e, axis=dim, keepdims=True)
        return x - m - np.log(s) if log else e / s


SOFTMAX_SHAPES = [(1,), (7,), (5, 1), (3, 17), (2, 1000), (4, 5, 6), (2, 3, 33), (2, 16, 9, 3), (1, 130, 70)]


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_every_dim_matches_reference(isa, shape, log):
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    fn = F.log_softmax if log else F.softmax
    for dim in range(-len(shape), len(shape)):
        got = fn(x, dim)
        assert is_native(got) and got.shape == shape
        np.testing.assert_allclose(got, _softmax_ref(x, dim, log), rtol=2e-6, atol=1e-7 if not log else 5e-6)


def test_softmax_is_stable_and_propagates_non_finite(isa):
    x = np.array([[1e30, 1e30, -1e30], [-np.inf, 0.0, -np.inf], [-np.inf, -np.inf, -np.inf], [np.nan, 1.0, 2.0]], np.float32)
    for dim, xx in ((1, x), (0, np.ascontiguousarray(x.T))):
        got = F.softmax(xx, dim)
        g = got if dim == 1 else got.T
        np.testing.assert_allclose(g[0], [0.5, 0.5, 0.0])
        np.testing.assert_array_equal(g[1], [0.0, 1.0, 0.0])
        assert np.isnan(g[2]).all() and np.isnan(g[3]).all()


def test_softmax_non_contiguous_zero_size_and_0d(isa):
    base = np.random.default_rng(1).standard_normal((6, 9)).astype(np.float32)
    expected = F.softmax(base, 0)
    np.testing.assert_array_equal(F.softmax(np.asfortranarray(base), 0), expected)
    np.testing.assert_array_equal(F.softmax(np.ascontiguousarray(base[::-1])[::-1], 0), expected)
    assert F.softmax(np.zeros((0, 4), np.float32), 1).shape == (0, 4)
    assert F.softmax(np.zeros((3, 0), np.float32), 1).shape == (3, 0)
    out = F.softmax(np.array(3.0, np.float32), 0)
    assert out.shape == () and out == 1.0
    assert F.log_softmax(np.array(3.0, np.float32), -1) == 0.0


def test_softmax_implicit_dim_warns_and_picks_torch_rule():
    for ndim, expected in ((1, 0), (2, 1), (3, 0), (4, 1)):
        x = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim]).astype(np.float32)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax has been deprecated"):
            got = F.softmax(x)
        np.testing.assert_array_equal(got, F.softmax(x, expected))


def test_softmax_errors_and_dtypes():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)$"):
        F.softmax(x, 2)
    with pytest.raises(IndexError, match=r"\[-1, 0\], but got 1"):
        F.softmax(np.array(1.0, np.float32), 1)
    with pytest.raises(TypeError, match="must be int, not float"):
        F.softmax(x, 1.0)
    with pytest.raises(RuntimeError, match="int64"):
        F.softmax(np.ones(3, np.int64), 0)
    out = F.softmax(np.arange(3), 0, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _softmax_ref(np.arange(3.0), 0, False), rtol=1e-6)
    x64 = np.random.default_rng(0).standard_normal((3, 4))
    got = F.softmax(x64, 1)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _softmax_ref(x64, 1, False), rtol=1e-14)
    with pytest.raises(IndexError, match="but got 2"):
        F.softmax(x64, 2)


# ---------------------------------------------------------------------------------------------
# torch parity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_activation_matches_torch(isa, name, kw):
    torch = pytest.importorskip("torch")
    x = np.concatenate([_values(5000, seed=21), np.linspace(-12, 12, 4801, dtype=np.float32)])
    x = np.concatenate([x, np.array([0.0, -0.0, np.nan, -np.inf, np.inf], np.float32)])
    got = _call(name, x, **kw)
    want = getattr(torch.nn.functional, name)(torch.from_numpy(x.copy()), **kw).numpy()
    if name == "gelu" and kw.get("approximate", "none") == "none":
        # torch's erf formula gives NaN at +inf; the limit is +inf (see test above).
        want = want.copy()
        want[np.isposinf(x)] = np.inf
    # torch's own float erf is accurate to ~1.5e-7 absolute (Abramowitz-Stegun 7.1.26), hence atol.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_float64_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    x = _values(999, seed=4).astype(np.float64)
    want = getattr(torch.nn.functional, name)(torch.from_numpy(x.copy()), **kw).numpy()
    np.testing.assert_allclose(_call(name, x, **kw), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
def test_softmax_matches_torch(isa, shape, log):
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(7).standard_normal(shape) * 4).astype(np.float32)
    fn, tfn = (F.log_softmax, torch.log_softmax) if log else (F.softmax, torch.softmax)
    for dim in range(-len(shape), len(shape)):
        np.testing.assert_allclose(fn(x, dim), tfn(torch.from_numpy(x), dim).numpy(), rtol=1e-5, atol=1e-6)


def test_error_messages_match_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = np.ones((2, 3), np.float32)
    t = torch.ones(2, 3)
    pairs = [
        (lambda: F.gelu(x, approximate="bad"), lambda: tF.gelu(t, approximate="bad")),
        (lambda: F.hardtanh(x, 3.0, 2.0), lambda: tF.hardtanh(t, 3.0, 2.0)),
        (lambda: F.softmax(x, 2), lambda: tF.softmax(t, 2)),
        (lambda: F.softmax(x, -3), lambda: tF.softmax(t, -3)),
        (lambda: F.log_softmax(x, 5), lambda: tF.log_softmax(t, 5)),
        (lambda: F.softmax(np.array(1.0, np.float32), 1), lambda: tF.softmax(torch.tensor(1.0), 1)),
        (lambda: F.relu([1.0]), lambda: tF.relu([1.0])),
    ]
    for ours, theirs in pairs:
        with pytest.raises(Exception) as want:
            theirs()
        with pytest.raises(want.type) as got:
            ours()
        assert str(got.value) == str(want.value)
    with warnings.catch_warnings(record=True) as rec_t:
        warnings.simplefilter("always")
        tF.softmax(t)
    with warnings.catch_warnings(record=True) as rec_m:
        warnings.simplefilter("always")
        F.softmax(x)
    assert [str(w.message) for w in rec_m] == [str(w.message) for w in rec_t]
    assert rec_m[0].filename == __file__  # the warning points at the caller, as torch's does
