"""Dropout: zero random elements (or whole channels) in training, pass the input through otherwise.

The semantics follow torch's ``_dropout_impl``: the input object itself comes back when nothing
would change (``training=False``, ``p == 0``, or an empty input); ``p == 1`` multiplies by zero
(so negative inputs give -0.0 and NaN stays NaN, exactly as in torch); otherwise a Bernoulli(1-p)
keep mask, drawn from minimod's generator, is scaled by 1/(1-p) in the input's dtype and multiplied
in, so a kept element is ``x * (1/(1-p))`` with torch's rounding. ``inplace=True`` writes into the
input and returns it.

There is no native kernel here: the mask is numpy work either way, and the multiply is memory-bound.
Floating inputs keep their dtype (torch's dropout works for float16/32/64 too); the result of a
non-inplace call is a new array in native storage.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_tensor_like
from minimod._random import default_generator

__all__ = ["alpha_dropout", "dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout"]

# SELU's alpha * scale: alpha dropout sets dropped units to SELU's negative saturation value.
_SELU_NEG_SATURATION = 1.7580993408473766


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        msg = f"dropout probability has to be between 0 and 1, but got {p}"
        raise ValueError(msg)


def _as_input(x: Any, op: str) -> np.ndarray:
    if not is_tensor_like(x):
        msg = f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}"
        raise TypeError(msg)
    return np.asarray(as_array(x))


def _opmath(dtype: np.dtype) -> type:
    # torch computes float16 arithmetic with float32 scalars ("opmath"), float64 in float64.
    return np.float64 if dtype == np.float64 else np.float32


def _require_floating(arr: np.ndarray, op: str) -> None:
    if arr.dtype.kind != "f":
        msg = (
            f"{op}: expected a floating-point input in training mode, but got dtype {arr.dtype.name}; "
            "convert with x.astype(np.float32)"
        )
        raise RuntimeError(msg)


def _apply(x: Any, arr: np.ndarray, factor: Any, inplace: bool, offset: Any = None) -> Any:
    """``arr * factor (+ offset)``, into ``arr`` when ``inplace`` else into a new native array."""
    if inplace:
        np.multiply(arr, factor, out=arr)
        if offset is not None:
            np.add(arr, offset, out=arr)
        return x
    out = _core.empty(list(arr.shape), arr.dtype.name, False)
    np.multiply(arr, factor, out=out)
    if offset is not None:
        np.add(out, offset, out=out)
    return out


def _dropout_impl(
    x: Any, p: float, training: bool, inplace: bool, op: str, *, feature: bool, alpha: bool
) -> Any:
    _check_p(p)
    arr = _as_input(x, op)
    if feature and arr.ndim < 2:
        msg = "Feature dropout requires at least 2 dimensions in the input"
        raise RuntimeError(msg)
    if p == 0 or not training or arr.size == 0:
        return x
    if p == 1:
        return _apply(x, arr, arr.dtype.type(0), inplace)
    _require_floating(arr, op)
    # Feature dropout draws one decision per (sample, channel) and broadcasts it over the rest.
    noise_shape = arr.shape[:2] + (1,) * (arr.ndim - 2) if feature else arr.shape
    keep = default_generator().random(noise_shape) < (1.0 - p)
    compute = _opmath(arr.dtype)
    if not alpha:
        scale = arr.dtype.type(compute(1.0) / compute(1.0 - p))
        noise = keep.astype(arr.dtype) * scale
        return _apply(x, arr, noise, inplace)
    # Kept units become a*x + alpha*a*p and dropped ones -alpha*a*(1-p), which keeps a SELU
    # network's zero mean and unit variance (Klambauer et al. 2017).
    a = 1.0 / math.sqrt((_SELU_NEG_SATURATION**2 * p + 1) * (1 - p))
    noise = keep.astype(arr.dtype)
    offset = ((noise - compute(1)) * compute(_SELU_NEG_SATURATION * a) + compute(_SELU_NEG_SATURATION * a * p)).astype(
        arr.dtype
    )
    noise = (noise * compute(a)).astype(arr.dtype)
    return _apply(x, arr, noise, inplace, offset)


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only)."""
    return _dropout_impl(input, p, training, inplace, "dropout", feature=False, alpha=False)


def alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Any:  # noqa: A002
    """Dropout for SELU networks: dropped units take SELU's negative saturation value, then an
    affine correction keeps mean and variance."""
    return _dropout_impl(input, p, training, inplace, "alpha_dropout", feature=False, alpha=True)


def feature_alpha_dropout(
    input: Any,  # noqa: A002
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
) -> Any:
    """Alpha dropout of whole channels (dimension 1)."""
    return _dropout_impl(input, p, training, inplace, "feature_alpha_dropout", feature=True, alpha=True)


def _unbatched(x: Any, run: Any) -> Any:
    """Channel dropout of an unbatched input: run on a batch-of-one view, as torch does."""
    batched = np.asarray(as_array(x))[None]
    out = run(batched)
    # Unchanged (eval, p == 0, empty) or written in place: the caller gets its own object back.
    return x if out is batched else out[0]


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero whole channels of a ``(N, C, L)`` or ``(C, L)`` input with probability ``p``."""
    _check_p(p)
    ndim = _as_input(input, "dropout1d").ndim
    if ndim not in (2, 3):
        msg = (
            f"dropout1d: Expected 2D or 3D input, but received a {ndim}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
        raise RuntimeError(msg)
    run = lambda a: _dropout_impl(a, p, training, inplace, "dropout1d", feature=True, alpha=False)  # noqa: E731
    return run(input) if ndim == 3 else _unbatched(input, run)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero whole channels of a ``(N, C, H, W)`` input with probability ``p``.

    As in torch, a 3-D input is taken as ``(N, C, L)`` (with a warning), not as unbatched.
    """
    _check_p(p)
    ndim = _as_input(input, "dropout2d").ndim
    if ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {ndim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout2d "
            "exists to provide channel-wise dropout on inputs with 2 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _dropout_impl(input, p, training, inplace, "dropout2d", feature=True, alpha=False)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero whole channels of a ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with probability ``p``."""
    _check_p(p)
    ndim = _as_input(input, "dropout3d").ndim
    if ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {ndim}-D input to dropout3d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout3d "
            "exists to provide channel-wise dropout on inputs with 3 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    run = lambda a: _dropout_impl(a, p, training, inplace, "dropout3d", feature=True, alpha=False)  # noqa: E731
    return run(input) if ndim == 5 else _unbatched(input, run)
