"""BatchNorm1d / 2d / 3d layers: attributes, repr, train steps, eval, errors.

References: a float64 numpy batch norm written here (biased variance to normalise, unbiased
variance into running_var, momentum or 1/num_batches_tracked as the update factor), and torch's
BatchNorm layers fed the same inputs step by step (outputs and buffers after every step).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import minimod.nn as nn

CASES = [  # (layer, input shape)
    ("BatchNorm1d", (8, 3)),
    ("BatchNorm1d", (4, 3, 5)),
    ("BatchNorm2d", (2, 3, 4, 5)),
    ("BatchNorm3d", (2, 3, 2, 3, 4)),
]


class RefBatchNorm:
    """float64 batch norm with torch's update rule."""

    def __init__(self, c, eps=1e-5, momentum=0.1, affine=True, track=True, seed=None):
        rng = np.random.default_rng(seed)
        self.eps, self.momentum, self.track = eps, momentum, track
        self.w = rng.uniform(0.5, 1.5, c) if (affine and seed is not None) else (np.ones(c) if affine else None)
        self.b = rng.uniform(-1, 1, c) if (affine and seed is not None) else (np.zeros(c) if affine else None)
        self.rm, self.rv, self.count = (np.zeros(c), np.ones(c), 0) if track else (None, None, None)

    def __call__(self, x, training):
        x = x.astype(np.float64)
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if training or not self.track:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            if training and self.track:
                n = x.size / x.shape[1]
                self.count += 1
                f = 1.0 / self.count if self.momentum is None else self.momentum
                self.rm = (1 - f) * self.rm + f * mean
                self.rv = (1 - f) * self.rv + f * var * n / (n - 1)
        else:
            mean, var = self.rm, self.rv
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + self.eps)
        if self.w is not None:
            y = y * self.w.reshape(shape) + self.b.reshape(shape)
        return y


def _set_affine(m, ref):
    if ref.w is not None:
        np.asarray(m.weight)[...] = ref.w
        np.asarray(m.bias)[...] = ref.b


def _x(shape, seed, scale=2.0, shift=0.5):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(np.float32)


# ----------------------------------------------------------------------------------- numpy reference


@pytest.mark.parametrize(("layer", "shape"), CASES)
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("affine", [True, False])
def test_train_steps_then_eval_match_float64_reference(layer, shape, momentum, affine):
    c = shape[1]
    m = getattr(nn, layer)(c, momentum=momentum, affine=affine)
    ref = RefBatchNorm(c, momentum=momentum, affine=affine, seed=1)
    _set_affine(m, ref)
    for step in range(4):
        x = _x(shape, seed=step, shift=step)
        y = m(x)
        assert y.dtype == np.float32 and y.shape == shape
        np.testing.assert_allclose(y, ref(x, True), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m.running_mean, ref.rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m.running_var, ref.rv, rtol=1e-5, atol=1e-6)
        counter = np.asarray(m.num_batches_tracked)
        assert counter.dtype == np.int64 and counter.shape == () and int(counter) == step + 1
    m.eval()
    x = _x(shape, seed=10)
    np.testing.assert_allclose(m(x), ref(x, False), rtol=1e-4, atol=1e-5)
    assert int(np.asarray(m.num_batches_tracked)) == 4  # eval does not count


def test_momentum_none_is_a_cumulative_average():
    m = nn.BatchNorm1d(2, momentum=None)
    batches = [_x((6, 2), seed=s, shift=s) for s in range(5)]
    for x in batches:
        m(x)
    # With factor 1/k at step k, running_mean is the plain mean of the batch means (and
    # running_var of the unbiased batch variances, starting from 1 which step 1 overwrites).
    means = np.array([x.astype(np.float64).mean(axis=0) for x in batches])
    variances = np.array([x.astype(np.float64).var(axis=0, ddof=1) for x in batches])
    np.testing.assert_allclose(m.running_mean, means.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(m.running_var, variances.mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize(("layer", "shape"), CASES)
def test_track_running_stats_false_uses_batch_stats_in_both_modes(layer, shape):
    m = getattr(nn, layer)(shape[1], track_running_stats=False)
    assert m.running_mean is None and m.running_var is None and m.num_batches_tracked is None
    assert list(m.state_dict()) == ["weight", "bias"]
    ref = RefBatchNorm(shape[1], track=False)
    x = _x(shape, seed=3)
    np.testing.assert_allclose(m(x), ref(x, True), rtol=1e-4, atol=1e-5)
    m.eval()
    np.testing.assert_allclose(m(x), ref(x, False), rtol=1e-4, atol=1e-5)


def test_bias_false_keyword_and_state_dict_keys():
    m = nn.BatchNorm2d(3, bias=False)
    assert m.bias is None and m.weight is not None
    assert list(m.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]
    with pytest.raises(TypeError):
        nn.BatchNorm2d(3, 1e-5, 0.1, True, True, None, None, False)  # bias is keyword-only
    x = _x((2, 3, 2, 2), seed=0)
    m.eval()
    np.testing.assert_allclose(m(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_defaults_and_reset():
    m = nn.BatchNorm2d(4)
    assert (m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats) == (4, 1e-5, 0.1, True, True)
    np.testing.assert_array_equal(m.weight, np.ones(4))
    np.testing.assert_array_equal(m.bias, np.zeros(4))
    m(_x((2, 4, 3, 3), seed=0))
    m.reset_running_stats()
    np.testing.assert_array_equal(m.running_mean, np.zeros(4))
    np.testing.assert_array_equal(m.running_var, np.ones(4))
    assert int(np.asarray(m.num_batches_tracked)) == 0


def _buffers(m):
    return {k: np.array(v, copy=True) for k, v in m.state_dict().items()}


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("BatchNorm1d", (4,)),  # wrong rank
        ("BatchNorm1d", (2, 3, 4, 5)),
        ("BatchNorm2d", (2, 3, 4)),
        ("BatchNorm3d", (2, 3, 4, 5)),
        ("BatchNorm1d", (2, 5)),  # wrong channel count
        ("BatchNorm2d", (2, 4, 3, 3)),
        ("BatchNorm1d", (1, 3)),  # one value per channel in training
        ("BatchNorm2d", (1, 3, 1, 1)),
    ],
)
def test_failed_forward_changes_no_buffer(layer, shape):
    m = getattr(nn, layer)(3)
    good = {"BatchNorm1d": (2, 3), "BatchNorm2d": (2, 3, 2, 2), "BatchNorm3d": (2, 3, 2, 2, 2)}[layer]
    m(_x(good, seed=0))  # one successful step first, so the buffers hold non-default values
    before = _buffers(m)
    with pytest.raises((ValueError, RuntimeError)):
        m(_x(shape, seed=1))
    after = _buffers(m)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_error_messages():
    with pytest.raises(ValueError, match=r"^expected 4D input \(got 3D input\)$"):
        nn.BatchNorm2d(3)(np.ones((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"^expected 2D or 3D input \(got 4D input\)$"):
        nn.BatchNorm1d(3)(np.ones((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"^expected 5D input \(got 4D input\)$"):
        nn.BatchNorm3d(3)(np.ones((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size \(1, 3\)"):
        nn.BatchNorm1d(3)(np.ones((1, 3), np.float32))
    with pytest.raises(RuntimeError, match="running_mean should contain 5 elements not 3"):
        nn.BatchNorm1d(3)(np.ones((2, 5), np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int64, np.int32, np.bool_])
@pytest.mark.parametrize("training", [True, False])
def test_other_dtypes_raise_naming_dtype_and_fix(dtype, training):
    m = nn.BatchNorm2d(3).train(training)
    before = _buffers(m)
    with pytest.raises(RuntimeError, match=rf"{np.dtype(dtype).name}.*astype\(np\.float32\)"):
        m(np.ones((2, 3, 2, 2), dtype))
    for k, v in _buffers(m).items():
        np.testing.assert_array_equal(v, before[k])


def test_layouts_give_the_same_result():
    base = _x((4, 3, 5, 6), seed=2)
    layouts = {
        "channels_last_view": np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
        "fortran": np.asfortranarray(base),
        "negative_stride": np.ascontiguousarray(base[:, :, ::-1, :])[:, :, ::-1, :],
        "strided": np.repeat(base, 2, axis=3)[:, :, :, ::2],
    }
    want_eval = nn.BatchNorm2d(3).eval()
    want_eval.running_mean[...] = [0.1, -0.2, 0.3]
    want = want_eval(base)
    for name, x in layouts.items():
        np.testing.assert_array_equal(x, base)
        np.testing.assert_array_equal(want_eval(x), want, err_msg=name)
        t1, t2 = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
        np.testing.assert_allclose(t1(x), t2(base), rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(t1.running_var, t2.running_var, rtol=1e-6, err_msg=name)


def test_zero_size_batch_in_eval():
    m = nn.BatchNorm2d(3).eval()
    y = m(np.ones((0, 3, 4, 4), np.float32))
    assert y.shape == (0, 3, 4, 4) and y.dtype == np.float32


# ----------------------------------------------------------------------------------- torch parity


def _torch_error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        text = str(e).split("\nException raised from")[0]
        text = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", lambda m: repr(tuple(int(v) for v in m.group(1).split(",") if v.strip())), text)
        return type(e), text
    return None


CONFIGS = [
    {},
    {"eps": 1e-3, "momentum": 0.3},
    {"momentum": None},
    {"affine": False},
    {"track_running_stats": False},
    {"affine": False, "track_running_stats": False, "momentum": None},
    {"bias": False},
]


@pytest.mark.parametrize(("layer", "shape"), CASES)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_matches_torch_over_train_steps_and_eval(layer, shape, config):
    torch = pytest.importorskip("torch")
    c = shape[1]
    ours, theirs = getattr(nn, layer)(c, **config), getattr(torch.nn, layer)(c, **config)
    assert repr(ours) == repr(theirs)
    for attr in ("num_features", "eps", "momentum", "affine", "track_running_stats"):
        assert getattr(ours, attr) == getattr(theirs, attr)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(5)
    if ours.weight is not None:
        w = rng.uniform(0.5, 1.5, c).astype(np.float32)
        np.asarray(ours.weight)[...] = w
        theirs.weight.data = torch.from_numpy(w.copy())
    if ours.bias is not None:
        b = rng.uniform(-1, 1, c).astype(np.float32)
        np.asarray(ours.bias)[...] = b
        theirs.bias.data = torch.from_numpy(b.copy())
    with torch.no_grad():
        for step in range(4):
            x = _x(shape, seed=20 + step, shift=step)
            np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
            for key, value in theirs.state_dict().items():
                got = np.asarray(ours.state_dict()[key])
                assert got.dtype == value.numpy().dtype, key
                np.testing.assert_allclose(got, value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
        ours.eval()
        theirs.eval()
        x = _x(shape, seed=99)
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("layer", "good_shape"), CASES)
@pytest.mark.parametrize("training", [True, False])
def test_errors_match_torch(layer, good_shape, training):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, layer)(3).train(training), getattr(torch.nn, layer)(3).train(training)
    rank = len(good_shape)
    shapes = [(2,) * r for r in range(1, 6) if r != rank]
    shapes += [(2, 4) + good_shape[2:], (1, 3) + (1,) * (rank - 2), (0, 3) + good_shape[2:], (2, 0) + good_shape[2:]]
    for shape in shapes:
        x = np.ones(shape, np.float32)
        theirs_err = _torch_error(lambda: theirs(torch.from_numpy(x)))  # noqa: B023
        assert _torch_error(lambda: ours(x)) == theirs_err, shape  # noqa: B023
    # Not a tensor at all.
    assert _torch_error(lambda: ours([1.0, 2.0])) == _torch_error(lambda: theirs([1.0, 2.0]))


def test_constructor_errors_match_torch():
    torch = pytest.importorskip("torch")
    for args in [(-1,), (2.5,), ("3",)]:
        ours, theirs = _torch_error(lambda: nn.BatchNorm2d(*args)), _torch_error(lambda: torch.nn.BatchNorm2d(*args))  # noqa: B023
        assert ours is not None and theirs is not None
        assert ours[0] is theirs[0], args


def test_loads_torch_state_dict_with_random_stats():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(5)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5, generator=g)
        theirs.bias.uniform_(-1, 1, generator=g)
        theirs.running_mean.uniform_(-1, 1, generator=g)
        theirs.running_var.uniform_(0.5, 2, generator=g)
        theirs.num_batches_tracked.fill_(7)
    theirs.eval()
    ours = nn.BatchNorm2d(5).eval()
    ours.load_state_dict(theirs.state_dict())
    assert int(np.asarray(ours.num_batches_tracked)) == 7
    for x in (_x((2, 5, 3, 4), seed=0), _x((0, 5, 3, 4), seed=0)):
        with torch.no_grad():
            np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)
    # A torch tensor is accepted as the input too.
    t = torch.from_numpy(_x((2, 5, 3, 4), seed=1))
    with torch.no_grad():
        np.testing.assert_allclose(ours(t), theirs(t).numpy(), rtol=1e-5, atol=1e-6)


def test_all_combinations_of_flags_construct_like_torch():
    torch = pytest.importorskip("torch")
    for affine, track, bias in itertools.product([True, False], repeat=3):
        ours = nn.BatchNorm1d(2, affine=affine, track_running_stats=track, bias=bias)
        theirs = torch.nn.BatchNorm1d(2, affine=affine, track_running_stats=track, bias=bias)
        assert repr(ours) == repr(theirs)
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
