"""Folding an eval-mode BatchNorm into the Conv or Linear before it (torch.nn.utils.fusion).

In eval mode BatchNorm is a per-channel affine map, y = (x - mean) / sqrt(var + eps) * gamma +
beta, so after a convolution or linear layer it can be folded into that layer's weight and bias:

    scale = gamma / sqrt(var + eps)
    W' = W * scale   (per output channel: axis 0 of a conv/linear weight, axis 1 of a transposed
                      conv weight)
    b' = (b - mean) * scale + beta

Names, signatures, return types and assertion messages follow torch 2.13. One deliberate
difference: the fold is computed in float64 and rounded once to the weight's dtype (torch computes
it in the weight's dtype), so the folded layer is as close to conv -> bn as float32 allows.
``fuse_linear_bn_weights`` also accepts ``bn_w``/``bn_b`` = None (a BatchNorm with
``affine=False``), where torch fails on ``None * tensor``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from minimod._arrays import as_array, native_copy
from minimod.nn.parameter import Parameter

__all__ = [
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
]


def _f64(value: Any) -> np.ndarray:
    return np.asarray(as_array(value), dtype=np.float64)


def _requires_grad(value: Any) -> bool:
    # A plain array (a buffer, or the zeros standing in for a missing bias) does not require
    # grad, as a torch buffer does not.
    return bool(getattr(value, "requires_grad", False))


def _bn_scale(bn_rv: Any, bn_eps: float, bn_w: Any) -> np.ndarray:
    """gamma / sqrt(var + eps) in float64 (gamma = 1 when the BatchNorm has no weight)."""
    rsqrt = 1.0 / np.sqrt(_f64(bn_rv) + float(bn_eps))
    return rsqrt if bn_w is None else _f64(bn_w) * rsqrt


def _folded_bias(b: Any, bn_rm: Any, scale: np.ndarray, bn_b: Any) -> np.ndarray:
    """(b - mean) * scale + beta in float64; a missing b is zeros shaped like the mean."""
    mean = _f64(bn_rm)
    bias = np.zeros_like(mean) if b is None else _f64(b)
    folded = (bias - mean) * scale
    return folded if bn_b is None else folded + _f64(bn_b)


def fuse_conv_bn_weights(
    conv_w: Any,
    conv_b: Any,
    bn_rm: Any,
    bn_rv: Any,
    bn_eps: float,
    bn_w: Any,
    bn_b: Any,
    transpose: bool = False,
) -> tuple[Parameter, Parameter]:
    """The weight and bias of a convolution with an eval-mode BatchNorm folded in.

    ``conv_w`` is (C_out, C_in / groups, *k), or (C_in, C_out / groups, *k) with
    ``transpose=True``; ``conv_b``, ``bn_w`` and ``bn_b`` may be None. Returns two new
    Parameters (fresh storage: the inputs are not modified). The bias has the weight's dtype when
    ``conv_b`` is None, and requires grad only when ``conv_b`` did.
    """
    w = as_array(conv_w)
    weight_dtype = w.dtype
    bias_dtype = weight_dtype if conv_b is None else as_array(conv_b).dtype
    scale = _bn_scale(bn_rv, bn_eps, bn_w)
    shape = [1, -1] if transpose else [-1, 1]
    shape += [1] * (w.ndim - 2)
    fused_w = _f64(w) * scale.reshape(shape)
    fused_b = _folded_bias(conv_b, bn_rm, scale, bn_b)
    return (
        Parameter(native_copy(fused_w, weight_dtype), _requires_grad(conv_w)),
        Parameter(native_copy(fused_b, bias_dtype), _requires_grad(conv_b)),
    )


def fuse_conv_bn_eval(conv: Any, bn: Any, transpose: bool = False) -> Any:
    """A new convolution equal to ``bn(conv(x))`` for eval-mode ``conv`` and ``bn``.

    ``conv`` is deep-copied (it is not modified) and its weight and bias replaced by the folded
    ones; a conv without bias gains one. Both modules must be in eval mode and ``bn`` must track
    running statistics, otherwise AssertionError (as torch).
    """
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused_conv = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused_conv.weight, fused_conv.bias = fuse_conv_bn_weights(
        fused_conv.weight,
        fused_conv.bias,
        bn.running_mean,
        bn.running_var,
        bn.eps,
        bn.weight,
        bn.bias,
        transpose,
    )
    return fused_conv


def fuse_linear_bn_weights(
    linear_w: Any,
    linear_b: Any,
    bn_rm: Any,
    bn_rv: Any,
    bn_eps: float,
    bn_w: Any,
    bn_b: Any,
) -> tuple[Parameter, Parameter]:
    """The weight and bias of a linear layer with an eval-mode BatchNorm1d folded in.

    ``linear_w`` is (out_features, in_features); the BatchNorm statistics have out_features
    entries (or 1, broadcast over every feature). Returns two new Parameters.
    """
    w = as_array(linear_w)
    weight_dtype = w.dtype
    bias_dtype = weight_dtype if linear_b is None else as_array(linear_b).dtype
    scale = _bn_scale(bn_rv, bn_eps, bn_w)
    fused_w = _f64(w) * scale[..., None]
    fused_b = _folded_bias(linear_b, bn_rm, scale, bn_b)
    return (
        Parameter(native_copy(fused_w, weight_dtype), _requires_grad(linear_w)),
        Parameter(native_copy(fused_b, bias_dtype), _requires_grad(linear_b)),
    )


def fuse_linear_bn_eval(linear: Any, bn: Any) -> Any:
    """A new Linear equal to ``bn(linear(x))`` for eval-mode modules and 2-D ``x``.

    BatchNorm1d normalises dimension 1, Linear acts on the last one: they agree for (N, features)
    input, which is what the folded layer reproduces. ``bn.num_features`` must equal
    ``linear.out_features`` or be 1 (AssertionError otherwise, as torch).
    """
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    fused_linear = copy.deepcopy(linear)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        msg = (
            "To fuse, linear.out_features == bn.num_features or bn.num_features == 1, "
            f"got linear.out_features={linear.out_features} and bn.num_features={bn.num_features}"
        )
        raise AssertionError(msg)
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")
    fused_linear.weight, fused_linear.bias = fuse_linear_bn_weights(
        fused_linear.weight,
        fused_linear.bias,
        bn.running_mean,
        bn.running_var,
        bn.eps,
        bn.weight,
        bn.bias,
    )
    return fused_linear
