"""batch_norm: torch.nn.functional.batch_norm over the native kernels.

The checks are split from the computation so that BatchNorm layers can run every check, then
touch their buffers, then compute: a call that raises changes no state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_tensor_like

__all__ = ["batch_norm"]


def _f32(value: Any, what: str) -> np.ndarray:
    arr = as_array(value)
    if arr.dtype != np.float32:
        msg = (
            f"batch_norm: expected {what} of dtype float32, but got {arr.dtype}; minimod computes "
            f"in float32: convert with {'x' if what == 'input' else what}.astype(np.float32)"
        )
        raise RuntimeError(msg)
    return arr


def _check_batch_norm(
    input: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any,
    bias: Any,
    training: bool,
    eps: float,
) -> np.ndarray:
    """Every check torch makes, in torch's order; returns the input as a float32 array."""
    if not is_tensor_like(input):
        msg = f"batch_norm(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        raise TypeError(msg)
    x = as_array(input)
    shape = x.shape
    if training:
        size_prods = shape[0]
        for d in shape[2:]:
            size_prods *= d
        if size_prods == 1:
            msg = f"Expected more than 1 value per channel when training, got input size {shape}"
            raise ValueError(msg)
    if training and eps <= 0.0:
        msg = f"batch_norm eps must be positive during training, but got {eps}"
        raise ValueError(msg)
    if eps < 0.0:
        msg = f"batch_norm eps must be non-negative, but got {eps}"
        raise ValueError(msg)
    _f32(x, "input")
    if x.size == 0:
        return x  # torch returns an empty result before looking at the statistics
    channels = shape[1] if x.ndim >= 2 else 0
    if training and (running_mean is None) != (running_var is None):
        msg = "running_mean and running_var must either both be None or neither be None"
        raise ValueError(msg)
    given = []  # (name, array) of the per-channel vectors passed, each converted once
    for name, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if value is None:
            if not training and name.startswith("running"):
                msg = f"{name} must be defined in evaluation mode"
                raise RuntimeError(msg)
            continue
        arr = as_array(value)
        if arr.size != channels:
            msg = f"{name} should contain {channels} elements not {arr.size}"
            raise RuntimeError(msg)
        given.append((name, arr))
    if x.ndim < 2:
        msg = f"Dimension out of range (expected to be in range of [{-max(x.ndim, 1)}, {max(x.ndim, 1) - 1}], but got 1)"
        raise IndexError(msg)
    for name, arr in given:
        _f32(arr, name)
        if training and name.startswith("running") and not arr.flags.writeable:
            msg = f"batch_norm: {name} must be writeable: training updates it in place"
            raise RuntimeError(msg)
    return x


def _batch_norm(
    x: np.ndarray,
    running_mean: Any,
    running_var: Any,
    weight: Any,
    bias: Any,
    training: bool,
    momentum: float,
    eps: float,
) -> np.ndarray:
    """The computation, on arguments that passed :func:`_check_batch_norm`."""
    if x.size == 0:
        return _core.empty(list(x.shape), "float32", False)
    if not training:
        return _core.batch_norm_eval(x, running_mean, running_var, weight, bias, eps)
    out, mean, var = _core.batch_norm_train(x, weight, bias, eps)
    if running_mean is not None:
        # Running statistics take the UNBIASED batch variance; normalisation used the biased one.
        n = x.size // x.shape[1]
        rm, rv = as_array(running_mean), as_array(running_var)
        m = float(momentum)
        rm[...] = (1.0 - m) * rm.astype(np.float64) + m * mean
        rv[...] = (1.0 - m) * rv.astype(np.float64) + m * var * (n / (n - 1))
    return out


def batch_norm(
    input: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> np.ndarray:
    """Batch normalisation over axis 1 of an (N, C, *) input.

    ``training=True`` normalises with the batch mean and biased variance and, when running
    statistics are given, updates them IN PLACE: ``r = (1 - momentum) r + momentum * batch``
    (unbiased variance). Otherwise the running statistics are used and nothing changes. Every
    argument is checked before any statistic is touched.
    """
    x = _check_batch_norm(input, running_mean, running_var, weight, bias, training, eps)
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
