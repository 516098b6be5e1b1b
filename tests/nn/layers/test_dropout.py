"""dropout and its channel / alpha variants (functional), and the Dropout layers.

Dropout is random, so the checks are: exact values for every element given which ones were kept
(kept = x * (1/(1-p)) with torch's float32 rounding, dropped = x * 0), keep rates within several
standard errors on large inputs, the channel structure of feature dropout, and torch's behaviour
for the deterministic cases (eval, p = 0, p = 1, empty input, errors, warnings).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minimod
import minimod.nn.functional as F
from minimod._arrays import is_native


def _x(shape=(200, 500), dtype=np.float32, seed=0):
    # No exact zeros, so kept/dropped can be told apart from the output.
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x[x == 0] = 1
    return x


def _scale(p: float, dtype=np.float32):
    compute = np.float64 if dtype == np.float64 else np.float32
    return dtype(compute(1.0) / compute(1.0 - p))


# ------------------------------------------------------------------------------- plain dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keeps_and_scales_exactly(p):
    x = _x()
    y = F.dropout(x, p, training=True)
    assert y.shape == x.shape and y.dtype == np.float32
    assert y is not x and is_native(y)
    kept = y != 0
    # Every kept element is exactly x * float32(1/(1-p)); every other is exactly zero.
    np.testing.assert_array_equal(y[kept], x[kept] * _scale(p))
    assert np.all(y[~kept] == 0)
    # The keep rate is 1-p: 100k Bernoulli draws, tolerance of about 8 standard errors.
    se = math.sqrt(p * (1 - p) / x.size)
    assert kept.mean() == pytest.approx(1 - p, abs=8 * se)
    np.testing.assert_array_equal(x, _x())  # the input is untouched


def test_dropout_preserves_expectation():
    x = np.full((400, 500), 2.0, np.float32)
    y = F.dropout(x, 0.3)
    assert y.mean() == pytest.approx(2.0, rel=0.01)


def test_dropout_dropped_elements_are_signed_zeros_like_torch():
    x = -np.ones(1000, np.float32)
    y = F.dropout(x, 0.5)
    dropped = y == 0
    assert dropped.any()
    assert np.all(np.signbit(y[dropped]))  # x * 0 for negative x is -0.0, as in torch


def test_dropout_mask_is_independent_per_element():
    # Neighbouring elements are dropped independently: P(both dropped) = p².
    x = np.ones((1000, 200), np.float32)
    y = F.dropout(x, 0.5)
    both = (y[:, :-1] == 0) & (y[:, 1:] == 0)
    assert both.mean() == pytest.approx(0.25, abs=0.01)


def test_dropout_eval_returns_input_object():
    x = _x((3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.5, training=False, inplace=True) is x
    ints = np.ones(3, np.int64)
    assert F.dropout(ints, 0.5, training=False) is ints  # no dtype check in eval, as in torch


def test_dropout_p0_and_empty_return_input_object():
    x = _x((3, 4))
    assert F.dropout(x, 0.0) is x
    e = np.ones((0, 3), np.float32)
    assert F.dropout(e, 0.5) is e


def test_dropout_p1_gives_zeros_without_drawing():
    x = np.array([1.5, -2.0, np.nan, 0.0], np.float32)
    minimod.manual_seed(5)
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y[[0, 1, 3]], 0)
    assert np.signbit(y[1]) and np.isnan(y[2])  # multiply by zero, like torch
    # No random numbers were consumed.
    after = minimod._random.default_generator().random()
    assert after == np.random.default_rng(5).random()
    assert F.dropout(np.ones(3, np.float32), 1).sum() == 0  # an int p works


def test_dropout_inplace_writes_input_and_returns_it():
    x = _x()
    orig = x.copy()
    y = F.dropout(x, 0.4, inplace=True)
    assert y is x
    kept = x != 0
    np.testing.assert_array_equal(x[kept], orig[kept] * _scale(0.4))
    assert 0.5 < kept.mean() < 0.7


def test_dropout_inplace_into_parameter_storage():
    p = minimod.nn.Parameter(np.ones((50, 50), np.float32))
    view = np.asarray(p)
    assert F.dropout(p, 0.5, inplace=True) is p
    assert set(np.unique(view)) <= {0.0, 2.0}


@pytest.mark.parametrize("p", [-0.1, 1.5, float("inf")])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match=rf"^dropout probability has to be between 0 and 1, but got {p}$"):
        F.dropout(np.ones(3, np.float32), p)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(np.ones(3, np.float32), p, training=False)  # checked before anything else


def test_dropout_non_tensor_input():
    with pytest.raises(TypeError, match=r"^dropout\(\): argument 'input' \(position 1\) must be Tensor, not list$"):
        F.dropout([1.0, 2.0], 0.5)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_dropout_integer_input_in_training_raises(dtype):
    with pytest.raises(RuntimeError, match=f"dtype {np.dtype(dtype).name}.*astype"):
        F.dropout(np.ones(4, dtype), 0.5)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_dropout_other_float_dtypes_are_kept(dtype):
    x = _x((100, 100), dtype)
    y = F.dropout(x, 0.25)
    assert y.dtype == dtype
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * _scale(0.25, dtype))


def test_dropout_non_contiguous_and_zero_d():
    base = _x((60, 80))
    x = base.T[::2]  # strided, Fortran-ordered view
    y = F.dropout(x, 0.5)
    assert y.shape == x.shape and y.flags.c_contiguous
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * np.float32(2))
    z = F.dropout(np.array(3.0, np.float32), 0.5)
    assert z.shape == () and float(z) in (0.0, 6.0)


def test_dropout_seeding_reproduces_masks():
    x = _x((64, 64))
    minimod.manual_seed(42)
    a = F.dropout(x, 0.5)
    b = F.dropout(x, 0.5)
    minimod.manual_seed(42)
    c = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_scaling_matches_torch_bitwise():
    # The masks differ (different generators); the value of every kept and dropped element
    # must be identical to torch's for the same input.
    torch = pytest.importorskip("torch")
    x = _x((300, 300))
    for p in (0.1, 0.3, 1 / 3, 0.5, 0.77, 0.999):
        t = torch.nn.functional.dropout(torch.from_numpy(x), p, True).numpy()
        ours = F.dropout(x, p)
        t_kept, o_kept = t != 0, ours != 0
        np.testing.assert_array_equal(t[t_kept], x[t_kept] * _scale(p))
        np.testing.assert_array_equal(ours[o_kept], x[o_kept] * _scale(p))


def test_dropout_deterministic_cases_match_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[1.5, -2.0], [np.nan, 0.0]], np.float32)
    tx = torch.from_numpy(x.copy())
    np.testing.assert_array_equal(F.dropout(x, 1.0), torch.nn.functional.dropout(tx, 1.0).numpy())
    assert np.array_equal(np.signbit(F.dropout(x, 1.0)), np.signbit(torch.nn.functional.dropout(tx, 1.0).numpy()))
    for p in (-0.5, 1.01):
        with pytest.raises(ValueError) as ours:
            F.dropout(x, p)
        with pytest.raises(ValueError) as theirs:
            torch.nn.functional.dropout(tx, p)
        assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------------------- channel dropout


def _check_channelwise(x: np.ndarray, y: np.ndarray, p: float, batch_axes: int = 2) -> None:
    """Each (sample, channel) slice is either all kept (scaled) or all zero."""
    lead = x.shape[:batch_axes]
    xs = x.reshape(*lead, -1)
    ys = y.reshape(*lead, -1)
    kept = ys != 0
    assert np.all(kept.all(axis=-1) | (~kept).all(axis=-1))
    np.testing.assert_array_equal(ys[kept], xs[kept] * _scale(p))


@pytest.mark.parametrize(
    ("fn", "shape", "batch_axes"),
    [
        (F.dropout1d, (8, 16, 5), 2),
        (F.dropout1d, (16, 5), 1),
        (F.dropout2d, (8, 16, 4, 3), 2),
        (F.dropout3d, (8, 16, 2, 3, 2), 2),
        (F.dropout3d, (16, 2, 3, 2), 1),
    ],
)
def test_channel_dropout_drops_whole_channels(fn, shape, batch_axes):
    x = _x(shape)
    y = fn(x, 0.5)
    assert y.shape == x.shape and is_native(y)
    _check_channelwise(x, y, 0.5, batch_axes)
    channels = y.reshape(*shape[:batch_axes], -1)
    frac = (channels != 0).all(axis=-1).mean()
    assert 0.2 < frac < 0.8


def test_channel_dropout_rate():
    x = np.ones((500, 400, 2), np.float32)
    y = F.dropout1d(x, 0.3)
    kept_channels = (y[..., 0] != 0).mean()
    assert kept_channels == pytest.approx(0.7, abs=8 * math.sqrt(0.21 / 200_000))


def test_dropout2d_three_d_input_is_n_c_l_with_warning():
    x = _x((8, 16, 5))
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        y = F.dropout2d(x, 0.5)
    _check_channelwise(x, y, 0.5, 2)


@pytest.mark.parametrize(("fn", "ndim"), [(F.dropout2d, 2), (F.dropout2d, 5), (F.dropout3d, 3), (F.dropout3d, 6)])
def test_channel_dropout_unusual_rank_warns(fn, ndim):
    x = np.ones((2,) * ndim, np.float32)
    with pytest.warns(UserWarning, match=rf"Received a {ndim}-D input to {fn.__name__}, which is deprecated"):
        assert fn(x, 0.5).shape == x.shape


def test_channel_dropout_errors():
    with pytest.raises(RuntimeError, match=r"^dropout1d: Expected 2D or 3D input, but received a 4D input\. Note"):
        F.dropout1d(np.ones((2, 3, 4, 5), np.float32))
    with pytest.raises(RuntimeError, match="^Feature dropout requires at least 2 dimensions in the input$"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.dropout2d(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout2d(np.ones((2, 3, 4, 5), np.float32), 2.0)


def test_channel_dropout_eval_inplace_and_unbatched():
    x = _x((4, 6, 5))
    assert F.dropout1d(x, 0.5, training=False) is x
    assert F.dropout2d(x[None], 0.5, training=False).shape == (1, 4, 6, 5)
    u = _x((6, 5))
    assert F.dropout1d(u, 0.5, training=False) is u
    orig = u.copy()
    assert F.dropout1d(u, 0.5, inplace=True) is u
    _check_channelwise(orig[None], u[None], 0.5, 2)


def test_channel_dropout_matches_torch_messages_and_warnings():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    cases = [
        (F.dropout1d, tf.dropout1d, (2, 3, 4, 5)),
        (F.dropout1d, tf.dropout1d, (3,)),
        (F.dropout2d, tf.dropout2d, (3,)),
        (F.dropout2d, tf.dropout2d, (2, 3, 4)),
        (F.dropout2d, tf.dropout2d, ()),
        (F.dropout3d, tf.dropout3d, (3, 4)),
        (F.dropout3d, tf.dropout3d, ()),
    ]
    for ours_fn, torch_fn, shape in cases:
        results = []
        for fn, x in ((ours_fn, np.ones(shape, np.float32)), (torch_fn, torch.ones(shape))):
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                try:
                    out = fn(x, 0.5)
                    err = None
                    shape_out = tuple(out.shape)
                except RuntimeError as e:
                    err, shape_out = str(e), None
            results.append(([str(w.message) for w in rec], err, shape_out))
        assert results[0] == results[1], (ours_fn.__name__, shape)


# ------------------------------------------------------------------------------- alpha dropout


def _alpha_consts(p: float):
    alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    return a, alpha * a * p, -alpha * a * (1 - p)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_values_and_moments(p):
    x = _x((400, 500), np.float64)
    y = F.alpha_dropout(x, p, training=True)
    a, kept_offset, dropped_value = _alpha_consts(p)
    dropped = np.isclose(y, dropped_value, rtol=0, atol=1e-12) & ~np.isclose(x * a + kept_offset, dropped_value, atol=1e-12)
    np.testing.assert_allclose(y[~dropped], x[~dropped] * a + kept_offset, rtol=1e-12, atol=1e-12)
    assert dropped.mean() == pytest.approx(p, abs=0.01)
    # The point of alpha dropout: zero mean, unit variance in, zero mean, unit variance out.
    assert y.mean() == pytest.approx(0.0, abs=0.01)
    assert y.std() == pytest.approx(1.0, abs=0.01)


def test_alpha_dropout_defaults_to_eval():
    x = _x((3, 3))
    assert F.alpha_dropout(x) is x
    assert F.feature_alpha_dropout(x) is x


def test_feature_alpha_dropout_is_channelwise():
    x = np.zeros((50, 40, 6), np.float32)
    y = F.feature_alpha_dropout(x, 0.5, training=True)
    # Input zero: kept units give alpha*a*p, dropped ones -alpha*a*(1-p), constant per channel.
    assert np.all(y == y[..., :1])
    assert len(np.unique(y)) == 2
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
        F.feature_alpha_dropout(np.ones(3, np.float32), 0.5, True)


def test_alpha_dropout_values_match_torch():
    torch = pytest.importorskip("torch")
    x = _x((200, 200))
    p = 0.3
    t = torch.nn.functional.alpha_dropout(torch.from_numpy(x), p, True).numpy()
    ours = F.alpha_dropout(x, p, True)
    a, kept_offset, dropped_value = _alpha_consts(p)
    for out in (t, ours):
        is_dropped = np.abs(out - np.float32(dropped_value)) < 1e-6
        np.testing.assert_allclose(out[~is_dropped], x[~is_dropped] * a + kept_offset, rtol=1e-6, atol=1e-6)
    # Dropped units take the same float32 value in both.
    assert np.unique(t[np.abs(t - dropped_value) < 1e-6]).tolist() == np.unique(ours[np.abs(ours - dropped_value) < 1e-6]).tolist()
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, True), torch.nn.functional.alpha_dropout(torch.from_numpy(x), 1.0, True).numpy())


# ------------------------------------------------------------------------------- the layers

_LAYERS = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]
_SHAPES = {"Dropout": (40, 50), "Dropout1d": (4, 6, 30), "Dropout2d": (4, 6, 5, 6), "Dropout3d": (4, 6, 2, 3, 5),
           "AlphaDropout": (40, 50), "FeatureAlphaDropout": (4, 6, 5, 6)}  # fmt: skip


@pytest.mark.parametrize("name", _LAYERS)
def test_layer_eval_is_identity_returning_the_input(name):
    m = getattr(minimod.nn, name)(0.5).eval()
    x = _x(_SHAPES[name])
    assert m(x) is x
    np.testing.assert_array_equal(x, _x(_SHAPES[name]))


@pytest.mark.parametrize("name", _LAYERS)
def test_layer_train_mask_is_seeded(name):
    m = getattr(minimod.nn, name)(0.4)
    assert m.training
    x = _x(_SHAPES[name])
    minimod.manual_seed(123)
    a = m(x)
    b = m(x)
    minimod.manual_seed(123)
    c = m(x)
    np.testing.assert_array_equal(a, c)  # same seed, same mask
    assert not np.array_equal(a, b)  # the generator moves on between calls
    assert not np.array_equal(a, x)


def test_layer_train_values_against_numpy():
    # Dropout(p): every output is 0 or x / (1 - p); Dropout2d zeroes whole (n, c) planes.
    x = _x((6, 8, 4, 4))
    y = minimod.nn.Dropout(0.25)(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept].astype(np.float64) / 0.75, rtol=1e-6)
    y2 = minimod.nn.Dropout2d(0.5)(x)
    planes = (y2 != 0).reshape(6, 8, -1)
    assert np.all(planes.all(axis=2) | ~planes.any(axis=2))
    assert planes.any() and not planes.all()


def test_layer_inplace_and_p_errors():
    x = _x((20, 20))
    m = minimod.nn.Dropout(0.5, inplace=True)
    assert m(x) is x and np.any(x == 0)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"^dropout probability has to be between 0 and 1, but got {bad}$"):
            minimod.nn.Dropout(bad)


@pytest.mark.parametrize("name", _LAYERS)
def test_layer_attributes_and_repr_match_torch(name):
    torch = pytest.importorskip("torch")
    for args in [(), (0.2,), (0.3, True)]:
        ours, theirs = getattr(minimod.nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(ours) == repr(theirs)
        assert (ours.p, ours.inplace) == (theirs.p, theirs.inplace)
        assert ours.__constants__ == theirs.__constants__
    for bad in (-0.5, 2):
        ours_err = pytest.raises(ValueError, getattr(minimod.nn, name), bad)
        theirs_err = pytest.raises(ValueError, getattr(torch.nn, name), bad)
        assert str(ours_err.value) == str(theirs_err.value)
