"""Hypothesis strategies for hostile inputs: odd dtypes, odd layouts, odd sizes, odd arguments.

Arrays are small (every dimension <= 6) so thousands of examples stay fast; "huge" argument
values are chosen so that anything that does not reject them would have to allocate terabytes
(>= 2**40 elements): an accepted one shows up as an exception (MemoryError) or a wrong answer,
never as the machine swapping.
"""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import strategies as st

STRUCTURED = np.dtype([("a", "<f4"), ("b", "<i4")])

# float32 dominates: it is the dtype that reaches the kernels.
DTYPES = [np.float32] * 6 + [np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_, object,
                             STRUCTURED, np.complex64]
LAYOUTS = ["C", "C", "F", "reversed", "strided", "broadcast", "zero_stride", "unpickled", "byteswapped"]

HUGE = [2**31 - 1, 2**31, 2**40, 2**62, 2**63 - 1]


def hyper_int(low: int = -2, high: int = 6) -> st.SearchStrategy[int]:
    """An integer argument: mostly small (including zero and negatives), sometimes huge."""
    return st.one_of(st.integers(low, high), st.integers(low, high), st.sampled_from(HUGE),
                     st.sampled_from([-(2**63), -(2**31)]))


def int_or_tuple(n: int, low: int = -1, high: int = 5) -> st.SearchStrategy:
    """An int, or a tuple of (usually) n ints, as layers and functionals accept them."""
    one = hyper_int(low, high)
    return st.one_of(one, st.tuples(*[one] * n), st.lists(one, min_size=0, max_size=n + 1).map(tuple))


def _values(rng: np.random.Generator, shape: tuple, dtype: object, special: bool) -> np.ndarray:
    base = np.asarray(rng.standard_normal(shape))
    if special and base.size:
        flat = base.reshape(-1)
        picks = rng.integers(0, flat.size, size=max(1, flat.size // 4))
        flat[picks] = rng.choice([np.nan, np.inf, -np.inf, 1e-40, -0.0, 3e38], size=picks.size)
    dt = np.dtype(dtype)
    if dt == STRUCTURED:
        out = np.zeros(shape, STRUCTURED)
        out["a"] = base
        return out
    if dt.kind == "b":
        return np.asarray(base > 0)
    if dt.kind in "iu":
        with np.errstate(invalid="ignore"):
            return np.asarray(np.nan_to_num(base * 3)).astype(dt)
    with np.errstate(over="ignore"):
        return np.asarray(base.astype(dt))


@st.composite
def arrays(draw, shape=None, *, ndim=None, max_dim: int = 5, dtype=None, layout=None,
           special: bool | None = None, float32_only: bool = False) -> np.ndarray:
    """An array with a random (or given) shape, dtype and memory layout.

    Layouts: C order, Fortran order, every axis reversed (negative strides), every other element
    of a larger array (non-unit strides), a read-only broadcast view (zero strides), an
    as_strided view whose first axis has stride 0, a pickled-and-unpickled copy and a byte-swapped
    copy.
    """
    if shape is None:
        nd = draw(st.integers(0, 5)) if ndim is None else ndim
        shape = tuple(draw(st.lists(st.integers(0, max_dim), min_size=nd, max_size=nd)))
    shape = tuple(shape)
    if dtype is None:
        dtype = np.float32 if float32_only else draw(st.sampled_from(DTYPES))
    if layout is None:
        layout = draw(st.sampled_from(LAYOUTS))
    if special is None:
        special = draw(st.integers(0, 9)) == 0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if layout == "F":
        return np.asfortranarray(_values(rng, shape, dtype, special))
    if layout == "unpickled":  # a new (equal, not identical) dtype object, as multiprocessing delivers
        return pickle.loads(pickle.dumps(_values(rng, shape, dtype, special)))
    if layout == "byteswapped":  # same values, non-native byte order
        x = _values(rng, shape, dtype, special)
        return x.astype(x.dtype.newbyteorder()) if x.dtype.kind in "fiuc" else x
    if layout == "reversed":
        x = _values(rng, shape, dtype, special)
        return x[(*(slice(None, None, -1) for _ in shape), Ellipsis)]  # Ellipsis: 0-d stays an array
    if layout == "strided" and shape:
        wide = _values(rng, (*shape[:-1], 2 * shape[-1]), dtype, special)
        return wide[..., ::2]
    if layout == "broadcast" and shape:
        axis = draw(st.integers(0, len(shape) - 1))
        small = _values(rng, tuple(1 if i == axis else d for i, d in enumerate(shape)), dtype, special)
        return np.broadcast_to(small, shape)
    if layout == "zero_stride" and shape:
        row = _values(rng, shape[1:], dtype, special)
        x = np.lib.stride_tricks.as_strided(row, shape, (0, *row.strides), writeable=False)
        return x
    return np.ascontiguousarray(_values(rng, shape, dtype, special))


def as_float64(x: np.ndarray) -> np.ndarray | None:
    """The array's values in float64, or None when it has no numeric meaning (object, struct)."""
    if x.dtype.kind in "fiub":
        return np.asarray(x, dtype=np.float64)
    return None


def is_plain_float32(*xs) -> bool:
    return all(isinstance(x, np.ndarray) and x.dtype == np.float32 for x in xs if x is not None)


def is_finite(*xs) -> bool:
    """All values finite (False for arrays without numeric meaning: nothing to compare there)."""
    for x in xs:
        if x is None:
            continue
        # near float32's limit an intermediate may overflow in float32 (torch too): not comparable
        if x.dtype.kind not in "fiub" or not (np.abs(np.asarray(x, np.float64)) < 1e30).all():
            return False
    return True
