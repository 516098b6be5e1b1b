"""flatten / unflatten (functional) and the Flatten / Unflatten layers.

References: numpy reshapes computed from the shape rule, and torch's own flatten/unflatten on the
same inputs (results, errors and messages).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import minimod.nn as nn
import minimod.nn.functional as F

SHAPES = [(), (5,), (2, 3), (2, 3, 4), (2, 1, 3, 2), (2, 0, 3)]


def _ref_flatten_shape(shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    if not shape:
        return (1,)
    n = len(shape)
    s, e = start % n, end % n
    return shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]


def _all_dims(ndim: int) -> list[int]:
    rank = max(ndim, 1)
    return list(range(-rank, rank))


def _error_of(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the type and message are what is compared
        # torch appends a C++ trace to some messages: compare up to it.
        return type(e), str(e).split("\nException raised from")[0]
    return None


# ----------------------------------------------------------------------------------- flatten


@pytest.mark.parametrize("shape", SHAPES)
def test_flatten_every_valid_range(shape):
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    for start, end in itertools.product(_all_dims(len(shape)), repeat=2):
        if (start % max(len(shape), 1)) > (end % max(len(shape), 1)):
            continue
        y = F.flatten(x, start, end)
        expected = _ref_flatten_shape(shape, start, end)
        assert y.shape == expected
        # Values keep C order, as a reshape does.
        np.testing.assert_array_equal(y.ravel(), x.ravel())


def test_flatten_defaults_merge_everything():
    x = np.ones((2, 3, 4), np.float32)
    assert F.flatten(x).shape == (24,)


def test_flatten_is_a_view_of_contiguous_input():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    y = F.flatten(x, 1)
    assert np.shares_memory(x, y)
    y[0, 0] = 100
    assert x[0, 0, 0] == 100


def test_flatten_of_non_contiguous_input_copies_correctly():
    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = base.transpose(2, 0, 1)  # (4, 2, 3), not C-contiguous
    y = F.flatten(x, 0, 1)
    np.testing.assert_array_equal(y, x.reshape(8, 3))
    neg = base[:, ::-1, :]
    np.testing.assert_array_equal(F.flatten(neg, 1), neg.reshape(2, 12))


def test_flatten_returns_same_object_when_nothing_merges():
    x = np.ones((2, 3, 4), np.float32)
    assert F.flatten(x, 1, 1) is x
    assert F.flatten(x, 2, -1) is x
    v = np.ones(3, np.float32)
    assert F.flatten(v) is v


def test_flatten_zero_d_gives_shape_one_view():
    x = np.array(3.0, np.float32)
    for start, end in [(0, -1), (0, 0), (-1, -1), (-1, 0)]:
        y = F.flatten(x, start, end)
        assert y.shape == (1,) and y[0] == 3.0
        assert np.shares_memory(x, y)


def test_flatten_keeps_dtype():
    for dt in (np.float64, np.int32, np.bool_):
        assert F.flatten(np.zeros((2, 3), dt)).dtype == dt


def test_flatten_errors():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)$"):
        F.flatten(x, 3)
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-3, 2\], but got -4\)$"):
        F.flatten(x, 0, -4)
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-1, 0\], but got 1\)$"):
        F.flatten(np.array(1.0), 1)
    with pytest.raises(RuntimeError, match=r"^flatten\(\) has invalid args: start_dim cannot come after end_dim$"):
        F.flatten(x, 2, 1)
    with pytest.raises(TypeError, match=r"^flatten\(\): argument 'start_dim' \(position 1\) must be int, not float$"):
        F.flatten(x, 1.0)
    with pytest.raises(TypeError, match=r"^flatten\(\): argument 'end_dim' \(position 2\) must be int, not bool$"):
        F.flatten(x, 0, True)
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        F.flatten([1, 2])


@pytest.mark.parametrize("shape", SHAPES)
def test_flatten_matches_torch_including_errors(shape):
    torch = pytest.importorskip("torch")
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    t = torch.from_numpy(x.copy())
    for start, end in itertools.product(range(-5, 5), repeat=2):
        ours = _error_of(lambda: F.flatten(x, start, end))
        theirs = _error_of(lambda: t.flatten(start, end))
        assert ours == theirs, (start, end)
        if ours is None:
            np.testing.assert_array_equal(F.flatten(x, start, end), t.flatten(start, end).numpy())


def test_flatten_accepts_torch_tensor():
    torch = pytest.importorskip("torch")
    t = torch.arange(6.0).reshape(2, 3)
    y = F.flatten(t)
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y, np.arange(6.0))


# ----------------------------------------------------------------------------------- unflatten


@pytest.mark.parametrize(
    ("shape", "dim", "sizes", "expected"),
    [
        ((2, 12), 1, (3, 4), (2, 3, 4)),
        ((2, 12), -1, [2, 2, 3], (2, 2, 2, 3)),
        ((2, 12), 1, (-1, 4), (2, 3, 4)),
        ((2, 12), 1, (3, -1), (2, 3, 4)),
        ((6, 5), 0, (2, 3), (2, 3, 5)),
        ((6,), 0, (1, 6, 1), (1, 6, 1)),
        ((2, 0), 1, (0, 5), (2, 0, 5)),
        ((4, 3), 1, (3,), (4, 3)),
    ],
)
def test_unflatten_shapes_and_values(shape, dim, sizes, expected):
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    y = F.unflatten(x, dim, sizes)
    assert y.shape == expected
    np.testing.assert_array_equal(y.ravel(), x.ravel())
    assert np.shares_memory(x, y) or x.size == 0


def test_unflatten_non_contiguous():
    x = np.arange(24, dtype=np.float32).reshape(4, 6).T  # (6, 4) Fortran order
    y = F.unflatten(x, 0, (2, 3))
    np.testing.assert_array_equal(y, x.reshape(2, 3, 4))


def test_unflatten_errors():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(
        RuntimeError,
        match=r"^unflatten: Provided sizes \[3, 2\] don't multiply up to the size of dim 2 \(4\) in the input tensor$",
    ):
        F.unflatten(x, 2, (3, 2))
    with pytest.raises(RuntimeError, match="^unflatten: sizes must be non-empty$"):
        F.unflatten(x, 2, ())
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        F.unflatten(x, 2, (-1, -1))
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-3, 2\], but got 3\)$"):
        F.unflatten(x, 3, (2, 2))
    with pytest.raises(TypeError, match="must be tuple of ints, not int"):
        F.unflatten(x, 2, 4)


def test_unflatten_matches_torch_including_errors():
    torch = pytest.importorskip("torch")
    sizes_list = [(3, 1), (-1, 2), (-1, -1), (3, 2), (3, -1), (), (2, 2), (4,), (-2, 2), (2, -2), (-1, 0), (0, -1), (1, -1, 1)]
    for shape in [(), (3,), (2, 3, 4), (2, 0)]:
        x = np.ones(shape, np.float32)
        t = torch.ones(shape)
        for dim in range(-4, 4):
            for sizes in sizes_list:
                ours = _error_of(lambda: F.unflatten(x, dim, sizes))
                theirs = _error_of(lambda: t.unflatten(dim, sizes))
                assert ours == theirs, (shape, dim, sizes)
                if ours is None:
                    assert F.unflatten(x, dim, sizes).shape == tuple(t.unflatten(dim, sizes).shape)


# ----------------------------------------------------------------------------------- the layers


def test_flatten_layer_defaults_attributes_and_repr():
    m = nn.Flatten()
    assert (m.start_dim, m.end_dim) == (1, -1)
    assert repr(m) == "Flatten(start_dim=1, end_dim=-1)"
    m = nn.Flatten(0, 2)
    assert repr(m) == "Flatten(start_dim=0, end_dim=2)"
    assert m.__constants__ == ["start_dim", "end_dim"]
    assert dict(m.state_dict()) == {} and list(m.parameters()) == []


@pytest.mark.parametrize("shape", [(4, 1, 5, 5), (2, 3), (3,), (0, 2, 3), (2, 3, 4, 5, 2)])
@pytest.mark.parametrize(("start", "end"), [(1, -1), (0, -1), (0, 1), (-2, -1), (1, 1), (0, 0)])
def test_flatten_layer_matches_numpy_reshape(shape, start, end):
    n = len(shape)
    if not (-n <= start < n and -n <= end < n) or start % n > end % n:
        return  # covered by the error tests
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = nn.Flatten(start, end)(x)
    s, e = start % n, end % n
    np.testing.assert_array_equal(y, x.reshape(shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]))


def test_flatten_layer_errors_at_forward():
    m = nn.Flatten(2, 5)  # constructed without checks, as in torch
    with pytest.raises(IndexError, match=r"^Dimension out of range \(expected to be in range of \[-3, 2\], but got 5\)$"):
        m(np.ones((2, 3, 4), np.float32))
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        nn.Flatten(2, 1)(np.ones((2, 3, 4), np.float32))
    # Flatten() on a 1-D input: start_dim=1 is out of range for one dimension, as in torch.
    with pytest.raises(IndexError, match=r"\[-1, 0\], but got 1"):
        nn.Flatten()(np.ones(3, np.float32))


def test_flatten_layer_torch_input_gives_numpy_output():
    torch = pytest.importorskip("torch")
    t = torch.arange(24.0).reshape(2, 3, 4)
    for m in (nn.Flatten(), nn.Flatten(1, 1), nn.Unflatten(1, (3, 1))):
        y = m(t)
        assert isinstance(y, np.ndarray)


def test_flatten_layer_in_sequential_before_linear():
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2)).astype(np.float32)
    lin = nn.Linear(12, 5)
    y = nn.Sequential(nn.Flatten(), lin)(x)
    w, b = np.asarray(lin.weight, np.float64), np.asarray(lin.bias, np.float64)
    np.testing.assert_allclose(y, x.reshape(2, 12).astype(np.float64) @ w.T + b, rtol=1e-5, atol=1e-6)


def test_unflatten_layer_attributes_and_repr():
    m = nn.Unflatten(1, (2, 5, 5))
    assert (m.dim, m.unflattened_size) == (1, (2, 5, 5))
    assert repr(m) == "Unflatten(dim=1, unflattened_size=(2, 5, 5))"
    m = nn.Unflatten(-1, [2, -1])
    assert m.unflattened_size == [2, -1]
    assert repr(m) == "Unflatten(dim=-1, unflattened_size=[2, -1])"


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (5, "unflattened_size must be a tuple of ints, but found type int"),
        ("ab", "unflattened_size must be a tuple of ints, but found type str"),
        ((2, 2.5), "unflattened_size must be tuple of ints, but found element of type float at pos 1"),
        ([np.int64(2)], "unflattened_size must be tuple of ints, but found element of type int64 at pos 0"),
        (None, "unflattened_size must be a tuple of ints, but found type NoneType"),
    ],
)
def test_unflatten_layer_constructor_errors(sizes, message):
    with pytest.raises(TypeError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        nn.Unflatten(1, sizes)


@pytest.mark.parametrize(
    ("shape", "dim", "sizes"),
    [((2, 50), 1, (2, 5, 5)), ((2, 12), -1, (3, -1)), ((6, 4), 0, [3, 2]), ((0, 6), 1, (2, 3)), ((6,), 0, (6,))],
)
def test_unflatten_layer_matches_numpy_reshape(shape, dim, sizes):
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    y = nn.Unflatten(dim, sizes)(x)
    d = dim % len(shape)
    np.testing.assert_array_equal(y, x.reshape(shape[:d] + tuple(sizes) + shape[d + 1 :]))


def test_flatten_unflatten_round_trip():
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 6)).astype(np.float32)
    y = nn.Sequential(nn.Flatten(1, 2), nn.Unflatten(1, (4, 5)))(x)
    np.testing.assert_array_equal(y, x)


def test_flatten_unflatten_layers_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    cases = [
        ("Flatten", (), (2, 3, 4, 5)), ("Flatten", (0, 2), (2, 3, 4, 5)), ("Flatten", (-3, -2), (2, 3, 4, 5)),
        ("Flatten", (2, 1), (2, 3, 4)), ("Flatten", (1, 4), (2, 3, 4)), ("Flatten", (), (5,)), ("Flatten", (), ()),
        ("Flatten", (0,), ()), ("Unflatten", (1, (3, 4)), (2, 12)), ("Unflatten", (1, (5, -1)), (2, 12)),
        ("Unflatten", (2, (2, 2)), (2, 12)), ("Unflatten", (0, (-1, -1)), (4,)), ("Unflatten", (0, (2, 2)), ()),
    ]  # fmt: skip
    for name, args, shape in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(ours) == repr(theirs)
        err_ours = _error_of(lambda: ours(x))  # noqa: B023
        err_theirs = _error_of(lambda: theirs(torch.from_numpy(x)))  # noqa: B023
        assert err_ours == err_theirs, (name, args, shape)
        if err_ours is None:
            np.testing.assert_array_equal(ours(x), theirs(torch.from_numpy(x)).numpy())
    for bad in (5, (2, 2.5), None, [True, 3]):
        assert _error_of(lambda: nn.Unflatten(1, bad)) == _error_of(lambda: torch.nn.Unflatten(1, bad))  # noqa: B023
