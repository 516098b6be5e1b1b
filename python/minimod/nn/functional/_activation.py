"""Activations and softmax: torch.nn.functional's signatures over the native eltwise kernels.

float32 input runs the native kernel (vectorised per ISA) into a new native array. float64 input
is computed in float64 with numpy, as torch computes float64 in float64; it is a convenience
path, not a fast one. Any other dtype raises RuntimeError naming it.

``inplace=True`` writes the result into the input and returns the input object itself, as
torch does: straight from the kernel when the input is a writeable C-contiguous float32 array,
otherwise through a copy back.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_tensor_like

__all__ = [
    "gelu",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "leaky_relu",
    "leaky_relu_",
    "log_softmax",
    "relu",
    "relu6",
    "relu_",
    "sigmoid",
    "silu",
    "softmax",
    "tanh",
]

_Op = _core.Activation
_GELU_BETA = math.sqrt(2.0 / math.pi)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _input(input: Any, name: str) -> np.ndarray:
    if not is_tensor_like(input):
        msg = f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        raise TypeError(msg)
    x = as_array(input)
    if x.dtype != np.float32 and x.dtype != np.float64:
        msg = (
            f"{name}: expected input of dtype float32 (or float64), but got {x.dtype}; minimod "
            "computes activations in float32: convert with x.astype(np.float32)"
        )
        raise RuntimeError(msg)
    return x


def _f64(op: Any, x: np.ndarray, a: float, b: float) -> np.ndarray:
    """The float64 path: the same formulas as the native generic kernel, in numpy."""
    with np.errstate(over="ignore", invalid="ignore"):
        if op == _Op.relu:
            return np.where(x < 0, 0.0, x)
        if op == _Op.hardtanh:
            return np.where(x < a, a, np.where(x > b, b, x))
        if op == _Op.leaky_relu:
            return np.where(x > 0, x, x * a)
        if op == _Op.gelu:
            return 0.5 * x * np.asarray(_erfc(-x / math.sqrt(2.0)), dtype=np.float64)
        if op == _Op.gelu_tanh:
            return x / (1.0 + np.exp(-2.0 * _GELU_BETA * (x + 0.044715 * x**3)))
        if op == _Op.silu:
            return x / (1.0 + np.exp(-x))
        if op == _Op.sigmoid:
            return 1.0 / (1.0 + np.exp(-x))
        if op == _Op.tanh:
            return np.tanh(x)
        return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0  # hardswish


def _apply(input: Any, op: Any, name: str, a: float = 0.0, b: float = 0.0, inplace: bool = False) -> Any:
    if not inplace and type(input) is np.ndarray and input.dtype == np.float32:
        return _core.activation(input, op, a, b)  # the common call, as the general path runs it
    x = _input(input, name)
    if x.dtype == np.float32:
        if inplace and x.flags.c_contiguous and x.flags.writeable:
            _core.activation_(x, op, a, b)
            return input
        out = _core.activation(x, op, a, b)
    else:
        out = np.asarray(_f64(op, x, a, b), dtype=np.float64)
    if inplace:
        np.copyto(x, out)
        return input
    return out


def relu(input: Any, inplace: bool = False) -> Any:
    """max(x, 0) elementwise."""
    return _apply(input, _Op.relu, "relu", inplace=inplace)


def relu_(input: Any) -> Any:
    """In-place :func:`relu`."""
    return _apply(input, _Op.relu, "relu_", inplace=True)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Any:
    """x clamped to [min_val, max_val]."""
    if min_val > max_val:
        msg = "min_val cannot be greater than max_val"
        raise ValueError(msg)
    return _apply(input, _Op.hardtanh, "hardtanh", float(min_val), float(max_val), inplace)


def hardtanh_(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    """In-place :func:`hardtanh`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Any, inplace: bool = False) -> Any:
    """min(max(x, 0), 6)."""
    return _apply(input, _Op.hardtanh, "relu6", 0.0, 6.0, inplace)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:
    """x if x > 0 else negative_slope * x."""
    return _apply(input, _Op.leaky_relu, "leaky_relu", float(negative_slope), 0.0, inplace)


def leaky_relu_(input: Any, negative_slope: float = 0.01) -> Any:
    """In-place :func:`leaky_relu`."""
    return leaky_relu(input, negative_slope, inplace=True)


def gelu(input: Any, *, approximate: str = "none") -> Any:
    """0.5 x (1 + erf(x / sqrt 2)), or its tanh approximation with ``approximate='tanh'``."""
    if approximate == "none":
        return _apply(input, _Op.gelu, "gelu")
    if approximate == "tanh":
        return _apply(input, _Op.gelu_tanh, "gelu")
    msg = "approximate argument must be either none or tanh."
    raise RuntimeError(msg)


def silu(input: Any, inplace: bool = False) -> Any:
    """x * sigmoid(x)."""
    return _apply(input, _Op.silu, "silu", inplace=inplace)


def sigmoid(input: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return _apply(input, _Op.sigmoid, "sigmoid")


def tanh(input: Any) -> Any:
    """tanh(x)."""
    return _apply(input, _Op.tanh, "tanh")


def hardswish(input: Any, inplace: bool = False) -> Any:
    """x * relu6(x + 3) / 6."""
    return _apply(input, _Op.hardswish, "hardswish", inplace=inplace)


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _cast(x: np.ndarray, dtype: Any) -> np.ndarray:
    if dtype is None:
        return x
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = np.dtype(str(dtype).removeprefix("torch."))  # accept torch.float32 and friends
    return x.astype(dt, copy=False)


def _softmax(input: Any, dim: Any, stacklevel: int, dtype: Any, log: bool) -> np.ndarray:
    name = "log_softmax" if log else "softmax"
    if not is_tensor_like(input):
        msg = f"'{type(input).__name__}' object has no attribute '{name}'"
        raise AttributeError(msg)
    x = _cast(as_array(input), dtype)
    if dim is None:
        dim = _get_softmax_dim(name, x.ndim, stacklevel + 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        msg = f"{name}(): argument 'dim' (position 1) must be int, not {type(dim).__name__}"
        raise TypeError(msg)
    if x.dtype == np.float32:
        return _core.softmax(x, int(dim), log)
    if x.dtype != np.float64:
        msg = (
            f"{name}: expected input of dtype float32 (or float64), but got {x.dtype}; convert with "
            "x.astype(np.float32) or pass dtype=np.float32"
        )
        raise RuntimeError(msg)
    # float64: numpy, with the native binding's dim check (torch's IndexError) done on a float32
    # stand-in of the same rank.
    _core.softmax(np.zeros((1,) * x.ndim, dtype=np.float32), int(dim), log)
    axis = int(dim) if x.ndim else None
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = x - np.max(x, axis=axis, keepdims=True) if x.size else x
        e = np.exp(shifted)
        total = np.sum(e, axis=axis, keepdims=True)
        out = shifted - np.log(total) if log else e / total
    return np.asarray(out, dtype=np.float64)


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``dim`` (shifted by the maximum for stability).

    ``dim=None`` is deprecated in torch: it warns and picks 0 for 0-, 1- and 3-d input, else 1.
    ``dtype`` casts the input first (``np.float32``, ``np.float64`` or torch's dtype objects).
    """
    return _softmax(input, dim, _stacklevel, dtype, log=False)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> np.ndarray:
    """log(softmax(x)) along ``dim``, computed as x - max - log(sum(exp(x - max)))."""
    return _softmax(input, dim, _stacklevel, dtype, log=True)
