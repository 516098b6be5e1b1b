"""linear(input, weight, bias=None): y = input @ weight.T + bias, with torch's errors.

The weight is read as stored, (out_features, in_features) row-major: the native GEMM packs W^T
panels straight from it (no transposed copy). Input may have any rank >= 1; the leading
dimensions are flattened into the GEMM's M and restored in the output, as torch does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minimod import _core
from minimod.nn.functional._conv import cpp_name, scalar_name, tensor_arg
from minimod.nn.functional._dtype_hint import float32_input_error

__all__ = ["linear"]

_F32 = np.dtype(np.float32)


def linear(input: Any, weight: Any, bias: Any = None) -> np.ndarray:
    """Applies y = x A^T + b to the last dimension of ``input`` (torch.nn.functional.linear)."""
    x = tensor_arg(input, "linear", "input", 1)
    w = tensor_arg(weight, "linear", "weight", 2)
    b = None if bias is None else tensor_arg(bias, "linear", "bias", 3)
    # The common case (float32, 2-D weight, matching bias) goes straight to the kernel; the
    # native call checks shapes too and raises torch's mismatch message.
    if (x.dtype == _F32 and w.dtype == _F32 and w.ndim == 2 and x.ndim >= 1
            and (b is None or (b.dtype == _F32 and b.shape == (w.shape[0],)))):
        return _core.linear(x, w, b)
    return _linear_slow(x, w, b)


def _dtype_error(msg: str, x_dtype: np.dtype, w_dtype: np.dtype) -> RuntimeError:
    # A float32 weight with another input dtype: torch's message plus the fix (see _dtype_hint).
    return float32_input_error(msg, x_dtype) if w_dtype == _F32 else RuntimeError(msg)


def _linear_slow(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if x.ndim == 0 or w.ndim == 0:
        msg = f"both arguments to linear need to be at least 1D, but they are {x.ndim}D and {w.ndim}D"
        raise RuntimeError(msg)
    if w.ndim > 2:
        msg = f"t() expects a tensor with <= 2 dimensions, but self is {w.ndim}D"
        raise RuntimeError(msg)
    if b is not None:
        # torch's addmm path: dtypes are compared before shapes.
        if w.ndim == 1:
            msg = "mat2 must be a matrix, got 1-D tensor"
            raise RuntimeError(msg)
        if b.dtype != w.dtype:
            msg = f"self and mat2 must have the same dtype, but got {scalar_name(b.dtype)} and {scalar_name(w.dtype)}"
            raise RuntimeError(msg)
        if x.dtype != w.dtype:
            msg = f"mat1 and mat2 must have the same dtype, but got {scalar_name(x.dtype)} and {scalar_name(w.dtype)}"
            raise _dtype_error(msg, x.dtype, w.dtype)
    k = x.shape[-1]
    m = math.prod(x.shape[:-1])
    w2 = w if w.ndim == 2 else w.reshape(1, -1)
    if w2.shape[1] != k:
        msg = f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {w2.shape[1]}x{w2.shape[0]})"
        raise RuntimeError(msg)
    if x.dtype != w.dtype:
        msg = f"expected m1 and m2 to have the same dtype, but got: {cpp_name(x.dtype)} != {cpp_name(w.dtype)}"
        raise _dtype_error(msg, x.dtype, w.dtype)
    if x.dtype != _F32:
        msg = (f"linear: minimod computes in float32 only, but got {x.dtype.name} input and weight; "
               "convert with x.astype(np.float32) (and the weight likewise)")
        raise RuntimeError(msg)

    n = w2.shape[0]
    if b is not None and b.size == 1 and b.ndim <= 1:
        b = np.full((n,), b.reshape(()), dtype=np.float32)  # broadcast a one-element bias
    fused = b is None or b.shape == (n,)
    out = _core.linear(x, w2, b if fused else None)
    if not fused:
        try:
            broadcast = np.broadcast_shapes(b.shape, out.shape)
        except ValueError:
            msg = (f"The expanded size of the tensor ({n}) must match the existing size "
                   f"({b.shape[-1]}) at non-singleton dimension 1.  Target sizes: [{m}, {n}].  "
                   f"Tensor sizes: {list(b.shape)}")
            raise RuntimeError(msg) from None
        if broadcast != out.shape:  # the bias may not grow the output (torch adds in place)
            msg = (f"output with shape {list(out.shape)} doesn't match the broadcast shape "
                   f"{list(broadcast)}")
            raise RuntimeError(msg)
        out = out + b
    if w.ndim == 1:
        out = out[..., 0]
    return out
