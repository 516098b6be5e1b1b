"""flatten / unflatten: torch.flatten and torch.unflatten for numpy arrays.

Both are reshapes: a view of the input when its strides allow (always for a C-contiguous input),
a copy otherwise, exactly as ``Tensor.reshape`` decides in torch. They work for any dtype. As in
torch, ``flatten`` returns the input object itself when there is nothing to merge
(``start_dim == end_dim`` on an input with at least one dimension).
"""

from __future__ import annotations

import math
import operator
from typing import Any, Sequence

import numpy as np

from minimod._arrays import as_array, is_tensor_like

__all__ = ["flatten", "unflatten"]


def _wrap_dim(dim: Any, ndim: int, op: str, arg: str, position: int) -> int:
    """torch's maybe_wrap_dim: a 0-d tensor accepts dims -1 and 0, as if it had one dimension."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        msg = f"{op}(): argument '{arg}' (position {position}) must be int, not {type(dim).__name__}"
        raise TypeError(msg)
    dim = int(dim)
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        msg = f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})"
        raise IndexError(msg)
    return dim + rank if dim < 0 else dim


def _as_input(x: Any, op: str) -> np.ndarray:
    if not is_tensor_like(x):
        msg = f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}"
        raise TypeError(msg)
    return np.asarray(as_array(x))


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:  # noqa: A002
    """Merge dimensions ``start_dim..end_dim`` (inclusive) into one. A 0-d input gives shape (1,)."""
    # The common call (a plain numpy array, int dims in range, something to merge) without the
    # general path's conversions and checks: they were half of Flatten's call time.
    if type(input) is np.ndarray and type(start_dim) is int and type(end_dim) is int:
        nd = input.ndim
        if -nd <= start_dim < nd and -nd <= end_dim < nd:
            start = start_dim + nd if start_dim < 0 else start_dim
            end = end_dim + nd if end_dim < 0 else end_dim
            if start < end:
                shape = input.shape
                return input.reshape(shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])
    arr = _as_input(input, "flatten")
    start = _wrap_dim(start_dim, arr.ndim, "flatten", "start_dim", 1)
    end = _wrap_dim(end_dim, arr.ndim, "flatten", "end_dim", 2)
    if start > end:
        msg = "flatten() has invalid args: start_dim cannot come after end_dim"
        raise RuntimeError(msg)
    if arr.ndim == 0:
        return arr.reshape(1)
    if start == end:
        # The input object itself, as torch returns self; a non-numpy input (a torch tensor) still
        # comes back as the numpy view, so outputs are always numpy arrays.
        return input if isinstance(input, np.ndarray) else arr
    shape = arr.shape
    return arr.reshape(shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :])


def _unflatten_error(detail: str) -> RuntimeError:
    # torch wraps these checks as "unflatten got an unexpected error:\n<detail>" (plus a C++ trace).
    return RuntimeError("unflatten got an unexpected error:\n" + detail)


def unflatten(input: Any, dim: int, sizes: Sequence[int]) -> Any:  # noqa: A002
    """Split dimension ``dim`` into ``sizes`` (one entry may be -1, inferred)."""
    arr = _as_input(input, "unflatten")
    if not isinstance(sizes, (tuple, list)):
        msg = f"unflatten(): argument 'sizes' (position 2) must be tuple of ints, not {type(sizes).__name__}"
        raise TypeError(msg)
    try:
        sizes = [operator.index(s) for s in sizes]
    except TypeError:
        msg = "unflatten(): argument 'sizes' (position 2) must be tuple of ints, but found an element that is not an int"
        raise TypeError(msg) from None
    if not sizes:
        msg = "unflatten: sizes must be non-empty"
        raise RuntimeError(msg)
    d = _wrap_dim(dim, arr.ndim, "unflatten", "dim", 1)
    if arr.ndim == 0:
        raise _unflatten_error(f"Dimension specified as {d} but tensor has no dimensions")
    n = arr.shape[d]
    # torch's infer_size: entries are checked in order, then the product.
    known, inferred = 1, None
    for i, s in enumerate(sizes):
        if s == -1:
            if inferred is not None:
                raise _unflatten_error("only one dimension can be inferred")
            inferred = i
        elif s >= 0:
            known *= s
        else:
            raise _unflatten_error(f"invalid shape dimension {s} at index {i} of shape {sizes}")
    if not (n == known or (inferred is not None and known > 0 and n % known == 0)):
        msg = f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} ({n}) in the input tensor"
        raise RuntimeError(msg)
    if inferred is not None:
        if known == 0:
            raise _unflatten_error(
                f"cannot reshape tensor of 0 elements into shape {sizes} because the unspecified "
                "dimension size -1 can be any value and is ambiguous"
            )
        sizes[inferred] = n // known
    return arr.reshape(arr.shape[:d] + tuple(sizes) + arr.shape[d + 1 :])
