"""F.batch_norm (csrc/kernels/norm) against a float64 numpy reference and against torch."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minimod
import minimod.nn.functional as F
from minimod._arrays import is_native


def _bn_ref(x, rm, rv, w, b, training, momentum, eps):
    """float64 batch norm; returns (y, new_running_mean, new_running_var)."""
    x64 = x.astype(np.float64)
    c = x.shape[1]
    axes = (0, *range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)
    new_rm = None if rm is None else rm.astype(np.float64)
    new_rv = None if rv is None else rv.astype(np.float64)
    if training or rm is None:
        mean = x64.mean(axis=axes)
        var = x64.var(axis=axes)
        if training and rm is not None:
            n = x.size // c
            new_rm = (1 - momentum) * new_rm + momentum * mean
            new_rv = (1 - momentum) * new_rv + momentum * var * n / (n - 1)
    else:
        mean, var = rm.astype(np.float64), rv.astype(np.float64)
    y = (x64 - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + eps)
    if w is not None:
        y = y * w.astype(np.float64).reshape(bshape)
    if b is not None:
        y = y + b.astype(np.float64).reshape(bshape)
    return y, new_rm, new_rv


SHAPES = [(2, 3), (7, 5), (64, 1), (3, 4, 1), (2, 3, 17), (4, 6, 5, 7), (2, 2, 3, 4, 5), (1, 3, 2), (5, 33, 3, 3)]


def _data(shape, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    bshape = (1, c) + (1,) * (len(shape) - 2)
    scale = rng.uniform(0.1, 3.0, c).reshape(bshape)
    shift = rng.uniform(-2, 2, c).reshape(bshape) + offset
    x = (rng.standard_normal(shape) * scale + shift).astype(np.float32)
    w = rng.uniform(0.5, 1.5, c).astype(np.float32)
    b = rng.uniform(-1, 1, c).astype(np.float32)
    rm = rng.uniform(-1, 1, c).astype(np.float32)
    rv = rng.uniform(0.5, 2, c).astype(np.float32)
    return x, w, b, rm, rv


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_training_matches_reference_and_updates_running_stats(shape, affine):
    x, w, b, rm, rv = _data(shape, seed=sum(shape))
    w, b = (w, b) if affine else (None, None)
    want_y, want_rm, want_rv = _bn_ref(x, rm, rv, w, b, True, 0.1, 1e-5)
    rm_id, rv_id = id(rm), id(rv)
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
    assert is_native(y) and y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=2e-6)
    assert id(rm) == rm_id and id(rv) == rv_id and rm.dtype == np.float32
    np.testing.assert_allclose(rm, want_rm, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv, want_rv, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
def test_eval_matches_reference_and_changes_nothing(shape):
    x, w, b, rm, rv = _data(shape, seed=7 + sum(shape))
    rm0, rv0 = rm.copy(), rv.copy()
    want, _, _ = _bn_ref(x, rm, rv, w, b, False, 0.1, 1e-3)
    y = F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-3)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-6)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)


def test_eval_single_sample_is_allowed():
    x, w, b, rm, rv = _data((1, 4), seed=1)
    want, _, _ = _bn_ref(x, rm, rv, w, b, False, 0.1, 1e-5)
    np.testing.assert_allclose(F.batch_norm(x, rm, rv, w, b), want, rtol=1e-5, atol=1e-6)


def test_training_without_running_stats_and_eps_variants():
    x, w, b, _, _ = _data((6, 3, 5), seed=3)
    for eps in (1e-5, 0.5):
        want, _, _ = _bn_ref(x, None, None, w, b, True, 0.1, eps)
        np.testing.assert_allclose(F.batch_norm(x, None, None, w, b, training=True, eps=eps), want, rtol=1e-5, atol=2e-6)
    # eps == 0 is allowed in eval
    _, _, _, rm, rv = _data((6, 3, 5), seed=4)
    want, _, _ = _bn_ref(x, rm, rv, None, None, False, 0.1, 0.0)
    np.testing.assert_allclose(F.batch_norm(x, rm, rv, eps=0.0), want, rtol=1e-5, atol=2e-6)


def test_large_mean_small_spread_keeps_precision():
    # mean 1000, spread ~1e-2: rounding the mean to float alone would shift every output by up to
    # 3e-5 / 1e-2; the double statistics, the exact x - mean and the mean's remainder folded into
    # the shift keep the outputs at float32 accuracy.
    x, w, b, rm, rv = _data((64, 3, 8), seed=5)
    x = (1000.0 + (x - x.mean()) * 1e-2).astype(np.float32)
    want, want_rm, want_rv = _bn_ref(x, rm, rv, w, b, True, 0.3, 1e-5)
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
    np.testing.assert_allclose(y, want, rtol=0, atol=2e-6)
    np.testing.assert_allclose(rm, want_rm, rtol=1e-7)
    np.testing.assert_allclose(rv, want_rv, rtol=1e-5)


def test_several_steps_and_momentum_values():
    x, w, b, rm, rv = _data((8, 4, 6), seed=9)
    ref_rm, ref_rv = rm.astype(np.float64), rv.astype(np.float64)
    rng = np.random.default_rng(0)
    for step, momentum in enumerate([0.1, 0.1, 0.5, 1.0, 0.0, 0.25]):
        xs = (x + rng.standard_normal(x.shape).astype(np.float32) * step).astype(np.float32)
        want, ref_rm, ref_rv = _bn_ref(xs, ref_rm, ref_rv, w, b, True, momentum, 1e-5)
        y = F.batch_norm(xs, rm, rv, w, b, training=True, momentum=momentum)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(rm, ref_rm, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rv, ref_rv, rtol=1e-6, atol=1e-6)


def test_layouts_give_identical_results():
    x, w, b, rm, rv = _data((4, 5, 6, 3), seed=12)
    expected = F.batch_norm(x, rm, rv, w, b, training=True)
    flipped = np.ascontiguousarray(x[::-1])[::-1]
    wide = np.zeros((4, 5, 6, 6), np.float32)
    wide[..., ::2] = x
    for view in (np.asfortranarray(x), flipped, wide[..., ::2]):
        r1, r2 = rm.copy(), rv.copy()
        np.testing.assert_array_equal(F.batch_norm(view, r1, r2, w[::-1].copy()[::-1], b, training=True), expected)


def test_zero_size_batch_returns_empty_and_keeps_stats():
    _, w, b, rm, rv = _data((2, 3), seed=2)
    rm0, rv0 = rm.copy(), rv.copy()
    for shape in ((0, 3), (0, 3, 4), (2, 3, 0)):
        y = F.batch_norm(np.zeros(shape, np.float32), rm, rv, w, b, training=True)
        assert y.shape == shape and y.dtype == np.float32
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    # torch returns before checking the statistics' sizes for an empty input
    assert F.batch_norm(np.zeros((0, 4), np.float32), rm, rv).shape == (0, 4)
    assert F.batch_norm(np.zeros((2, 0, 3), np.float32), np.zeros(0, np.float32), np.ones(0, np.float32), training=True).shape == (2, 0, 3)


def test_threads_give_identical_results():
    x, w, b, rm, rv = _data((16, 40, 33, 17), seed=13)
    previous = minimod.get_num_threads()
    try:
        minimod.set_num_threads(1)
        r1 = (rm.copy(), rv.copy())
        one = F.batch_norm(x, *r1, w, b, training=True)
        minimod.set_num_threads(2)
        r2 = (rm.copy(), rv.copy())
        two = F.batch_norm(x, *r2, w, b, training=True)
    finally:
        minimod.set_num_threads(previous)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(r1[0], r2[0])
    np.testing.assert_array_equal(r1[1], r2[1])


def test_dtype_errors_name_dtype_and_fix():
    x, w, b, rm, rv = _data((4, 3), seed=1)
    with pytest.raises(RuntimeError, match=r"float64.*x\.astype\(np\.float32\)"):
        F.batch_norm(x.astype(np.float64), rm, rv)
    with pytest.raises(RuntimeError, match=r"running_mean of dtype float32, but got float64"):
        F.batch_norm(x, rm.astype(np.float64), rv)
    with pytest.raises(RuntimeError, match=r"weight of dtype float32, but got int64"):
        F.batch_norm(x, rm, rv, np.ones(3, np.int64))


BAD_CALLS = {
    # name: (args, kwargs) applied to x of shape (2, 4, 3) / C = 4 unless the args say otherwise
    "running_mean size": (lambda x, z, o: (x, z(3), o(4)), {}),
    "running_var size": (lambda x, z, o: (x, z(4), o(3)), {}),
    "weight size": (lambda x, z, o: (x, z(4), o(4), o(3)), {}),
    "bias size": (lambda x, z, o: (x, z(4), o(4), o(4), o(3)), {}),
    "weight size no stats": (lambda x, z, o: (x, None, None, o(3)), {"training": True}),
    "no stats eval": (lambda x, z, o: (x, None, None), {}),
    "mean only eval": (lambda x, z, o: (x, z(4), None), {}),
    "var only eval": (lambda x, z, o: (x, None, o(4)), {}),
    "mean only train": (lambda x, z, o: (x, z(4), None), {"training": True}),
    "eps zero train": (lambda x, z, o: (x, z(4), o(4)), {"training": True, "eps": 0.0}),
    "eps negative eval": (lambda x, z, o: (x, z(4), o(4)), {"eps": -1.0}),
    "one value per channel": (lambda x, z, o: (x[:1, :, :1], z(4), o(4)), {"training": True}),
    "one value, bad stats": (lambda x, z, o: (x[:1, :, 0], z(3), o(4)), {"training": True}),
    "1-d input": (lambda x, z, o: (x[0, :, 0], z(4), o(4)), {}),
    "1-d input no stats, weight": (lambda x, z, o: (x[0, :, 0], None, None, o(4)), {"training": True}),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_errors_match_torch_and_change_no_state(case):
    make, kwargs = BAD_CALLS[case]
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    args = make(x, lambda n: np.zeros(n, np.float32), lambda n: np.ones(n, np.float32))
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args[1:]]
    with pytest.raises((RuntimeError, ValueError, IndexError)) as got:
        F.batch_norm(*args, **kwargs)
    for a, a0 in zip(args[1:], before):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, a0)
    torch = pytest.importorskip("torch")
    targs = [torch.from_numpy(np.array(a)) if isinstance(a, np.ndarray) else a for a in args]
    with pytest.raises(Exception) as want:
        torch.nn.functional.batch_norm(*targs, **kwargs)
    assert got.type is want.type
    # The only allowed difference is the shape repr: torch.Size([1, 4]) vs (1, 4).
    normalised = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", r"(\1)", str(want.value))
    assert str(got.value) == normalised


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (2, 6, 5, 4), (3, 2, 3, 4, 2)])
def test_matches_torch_over_steps(shape):
    torch = pytest.importorskip("torch")
    x, w, b, rm, rv = _data(shape, seed=31 + len(shape))
    t_rm, t_rv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    for step in range(4):
        xs = (x * (1 + step) - step).astype(np.float32)
        y = F.batch_norm(xs, rm, rv, w, b, training=True, momentum=0.1)
        ty = torch.nn.functional.batch_norm(torch.from_numpy(xs), t_rm, t_rv, torch.from_numpy(w), torch.from_numpy(b), True, 0.1)
        np.testing.assert_allclose(y, ty.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(rm, t_rm.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rv, t_rv.numpy(), rtol=1e-5, atol=1e-6)
    y = F.batch_norm(x, rm, rv, w, b)
    ty = torch.nn.functional.batch_norm(torch.from_numpy(x), t_rm, t_rv, torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-5, atol=1e-5)


# The per-channel affine map has AVX2 / AVX-512 kernels (csrc/kernels/norm/batchnorm_avx*.cpp):
# plane sizes around both vector widths and their 4-vector unroll reach every loop and the
# padded tail; NaN and inf inputs pass through as the formula says.
@pytest.mark.parametrize("spatial", [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129])
def test_affine_vector_paths_match_reference(isa, spatial):
    x, w, b, rm, rv = _data((2, 3, spatial), seed=spatial)
    x[0, 1, spatial // 2] = np.nan
    x[1, 2, 0] = np.inf
    x[1, 0, spatial - 1] = -np.inf
    want, _, _ = _bn_ref(x, rm, rv, w, b, False, 0.1, 1e-5)
    y = F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-6, equal_nan=True)
    assert np.array_equal(np.isnan(y), np.isnan(want)) and np.array_equal(np.isinf(y), np.isinf(want))
    x = np.nan_to_num(x, posinf=5.0, neginf=-5.0)
    want, _, _ = _bn_ref(x, None, None, w, b, True, 0.1, 1e-5)
    np.testing.assert_allclose(F.batch_norm(x, None, None, w, b, training=True), want, rtol=1e-5, atol=2e-6)
