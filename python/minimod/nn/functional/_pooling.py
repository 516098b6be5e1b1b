"""Pooling: torch.nn.functional's max/avg/adaptive pooling over the native 2-D kernels.

The 1-D forms run the 2-D kernels on an (N, C, 1, L) view, as torch does, so they share its
results and most of its messages. Argument forms (an int or a sequence of ints) are checked here
with torch's wording; sizes and values are checked by the native binding, also with torch's
wording and order. Inputs must be float32 (RuntimeError naming the dtype otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_tensor_like

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
]


# ---------------------------------------------------------------------------------------------
# Argument forms
# ---------------------------------------------------------------------------------------------


def _input(input: Any, fname: str) -> np.ndarray:
    if not is_tensor_like(input):
        msg = f"{fname}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        raise TypeError(msg)
    x = as_array(input)
    if x.dtype != np.float32:
        msg = (
            f"{fname}: expected input of dtype float32, but got {x.dtype}; minimod computes in "
            "float32: convert with x.astype(np.float32)"
        )
        raise RuntimeError(msg)
    return x


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _ints(value: Any, fname: str, arg: str, position: int) -> list[int]:
    """torch's "tuple of ints" argument: an int, or a sequence of ints, as a list.

    Like torch's argument parser, the first element must be a true int; later ones are unpacked
    as indices (so a bool passes there).
    """
    if _is_int(value):
        return [int(value)]
    if isinstance(value, (tuple, list)):
        if value and not _is_int(value[0]):
            msg = (
                f"{fname}(): argument '{arg}' (position {position}) must be tuple of ints, "
                f"but found element of type {type(value[0]).__name__} at pos 0"
            )
            raise TypeError(msg)
        for v in value[1:]:
            if not isinstance(v, (int, np.integer, np.bool_)):
                msg = (
                    f"{fname}(): argument '{arg}' failed to unpack the object at pos {position} "
                    f'with error "type must be tuple of ints,but got {type(v).__name__}"'
                )
                raise TypeError(msg)
        return [int(v) for v in value]
    msg = f"{fname}(): argument '{arg}' (position {position}) must be tuple of ints, not {type(value).__name__}"
    raise TypeError(msg)


def _flag(value: Any, fname: str, arg: str, position: int | None) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        where = f" (position {position})" if position is not None else ""
        msg = f"{fname}(): argument '{arg}'{where} must be bool, not {type(value).__name__}"
        raise TypeError(msg)
    return bool(value)


def _pair(values: list[int], default: list[int] | None = None) -> list[int]:
    if not values:
        assert default is not None
        return list(default)
    return [values[0], values[-1]]


def _check_1d_rank(x: np.ndarray, fname: str) -> None:
    """torch's checkDimRange(2, 4) message for the 1-D ops built on their 2-D forms."""
    if x.ndim not in (2, 3):
        msg = (
            f"Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor for argument #1 'self' "
            f"(while checking arguments for {fname})"
        )
        raise RuntimeError(msg)


def _check_one(values: list[int], fname: str, arg: str) -> None:
    if len(values) != 1:
        msg = f"{fname}() argument '{arg}' should contain one int (got {len(values)})"
        raise RuntimeError(msg)


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------


def _check_window_arity(op: str, k: list, s: list, p: list) -> None:
    # torch's checks (and words) for a 2-d pooling window: one value or one per dimension.
    if len(k) not in (1, 2):
        msg = f"{op}: kernel_size must either be a single int, or a tuple of two ints"
        raise RuntimeError(msg)
    if len(s) not in (0, 1, 2):
        msg = f"{op}: stride must either be omitted, a single int, or a tuple of two ints"
        raise RuntimeError(msg)
    if len(p) not in (1, 2):
        msg = f"{op}: padding must either be a single int, or a tuple of two ints"
        raise RuntimeError(msg)


def _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, fname):  # noqa: ANN001, ANN202
    # The common call (a plain float32 array, int window arguments, a bool ceil_mode) goes to the
    # kernel with the lists the general path below would build: its conversions and checks were
    # most of a small pool's call time.
    if (
        type(input) is np.ndarray
        and input.dtype == np.float32
        and type(kernel_size) is int
        and (stride is None or type(stride) is int)
        and type(padding) is int
        and type(dilation) is int
        and type(ceil_mode) is bool
    ):
        s = kernel_size if stride is None else stride
        return _core.max_pool2d(
            input, [kernel_size] * 2, [s] * 2, [padding] * 2, [dilation] * 2, ceil_mode, return_indices
        )
    x = _input(input, fname)
    k = _ints(kernel_size, fname, "kernel_size", 2)
    s = [] if stride is None else _ints(stride, fname, "stride", 3)
    p = _ints(padding, fname, "padding", 4)
    d = _ints(dilation, fname, "dilation", 5)
    ceil = _flag(ceil_mode, fname, "ceil_mode", 6)
    _check_window_arity("max_pool2d", k, s, p)
    if len(d) not in (1, 2):
        msg = "max_pool2d: dilation must be either a single int, or a tuple of two ints"
        raise RuntimeError(msg)
    k2 = _pair(k)
    return _core.max_pool2d(x, k2, _pair(s, k2), _pair(p), _pair(d), ceil, return_indices)


def max_pool2d_with_indices(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """2-D max pooling returning (values, indices); indices are flat h * W + w per plane."""
    return _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True, "max_pool2d_with_indices")


def max_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling of (N, C, H, W) or (C, H, W) input; padding counts as -inf.

    ``stride`` defaults to ``kernel_size``. With ``return_indices`` returns (values, indices).
    """
    if return_indices:
        return max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, False, "max_pool2d")


def max_pool1d_with_indices(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """1-D max pooling returning (values, indices along L)."""
    fname = "max_pool1d_with_indices"
    x = _input(input, fname)
    k = _ints(kernel_size, fname, "kernel_size", 2)
    s = k if stride is None else _ints(stride, fname, "stride", 3)
    s = s or k
    p = _ints(padding, fname, "padding", 4)
    d = _ints(dilation, fname, "dilation", 5)
    ceil = _flag(ceil_mode, fname, "ceil_mode", 6)
    _check_1d_rank(x, "max_pool1d")
    for values, arg in ((k, "kernel_size"), (s, "stride"), (p, "padding"), (d, "dilation")):
        _check_one(values, "max_pool1d", arg)
    out, idx = _core.max_pool2d(x[..., None, :], [1, k[0]], [1, s[0]], [0, p[0]], [1, d[0]], ceil, True)
    return out[..., 0, :], idx[..., 0, :]


def max_pool1d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """1-D max pooling of (N, C, L) or (C, L) input."""
    if return_indices:
        return max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    fname = "max_pool1d"
    x = _input(input, fname)
    k = _ints(kernel_size, fname, "kernel_size", 2)
    s = [] if stride is None else _ints(stride, fname, "stride", 3)
    p = _ints(padding, fname, "padding", 4)
    d = _ints(dilation, fname, "dilation", 5)
    ceil = _flag(ceil_mode, fname, "ceil_mode", 6)
    # torch's own max_pool1d checks (not those of its 2-D form), in its order.
    shape = x.shape
    if not ((x.ndim == 2 and shape[0] != 0 and shape[1] != 0) or (x.ndim == 3 and shape[1] != 0 and shape[2] != 0)):
        msg = f"max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for input, but got:{list(shape)}"
        raise RuntimeError(msg)
    if len(k) != 1:
        msg = f"max_pool1d() kernel_size must be an int, list of ints or tuple of ints of size 1 but got size {len(k)}"
        raise RuntimeError(msg)
    if len(s) not in (0, 1):
        msg = f"max_pool1d() stride must be None, an int, list of ints, or tuple of ints of size 1 but got size {len(s)}"
        raise RuntimeError(msg)
    if len(p) != 1:
        msg = f"max_pool1d() padding must be an int, list of ints, or tuple of ints of size 1 but got size {len(p)}"
        raise RuntimeError(msg)
    if len(d) != 1:
        msg = f"max_pool1d() dilation must be an int, list of ints or tuple of ints of size 1 but got size {len(d)}"
        raise RuntimeError(msg)
    s = s or k
    checks = (
        (k[0] > 0, f"max_pool1d() kernel_size must be greater than zero, but got {k[0]}"),
        (s[0] > 0, f"max_pool1d() stride must be greater than zero, but got {s[0]}"),
        (p[0] >= 0, f"max_pool1d() padding must be non-negative, but got {p[0]}"),
        (p[0] <= k[0] // 2, f"max_pool1d() padding should be at most half of kernel size, but got padding={p[0]} and kernel_size={k[0]}"),
        (d[0] > 0, f"max_pool1d() dilation must be greater than zero, but got {d[0]}"),
    )
    for ok, msg in checks:
        if not ok:
            raise RuntimeError(msg)
    ow = _pool_output_size(shape[-1], k[0], p[0], s[0], d[0], ceil)
    if ow <= 0:
        msg = f"max_pool1d() Invalid computed output size: {ow}"
        raise RuntimeError(msg)
    return _core.max_pool2d(x[..., None, :], [1, k[0]], [1, s[0]], [0, p[0]], [1, d[0]], ceil, False)[..., 0, :]


def _pool_output_size(size: int, k: int, pad: int, stride: int, dilation: int, ceil_mode: bool) -> int:
    out = (size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# ---------------------------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------------------------


def avg_pool2d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """2-D average pooling of (N, C, H, W) or (C, H, W) input.

    The divisor is ``divisor_override`` if given, else the window clipped to the padded input
    (``count_include_pad``) or to the input itself.
    """
    fname = "avg_pool2d"
    x = _input(input, fname)
    k = _ints(kernel_size, fname, "kernel_size", 2)
    s = [] if stride is None else _ints(stride, fname, "stride", 3)
    p = _ints(padding, fname, "padding", 4)
    # torch binds avg_pool2d straight to C++, which names no position for keyword arguments;
    # these flags are nearly always passed by keyword.
    ceil = _flag(ceil_mode, fname, "ceil_mode", None)
    cip = _flag(count_include_pad, fname, "count_include_pad", None)
    if divisor_override is not None and not _is_int(divisor_override):
        msg = f"avg_pool2d(): argument 'divisor_override' must be int, not {type(divisor_override).__name__}"
        raise TypeError(msg)
    _check_window_arity("avg_pool2d", k, s, p)
    k2 = _pair(k)
    div = None if divisor_override is None else int(divisor_override)
    return _core.avg_pool2d(x, k2, _pair(s, k2), _pair(p), ceil, cip, div)


def avg_pool1d(
    input: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """1-D average pooling of (N, C, L) or (C, L) input."""
    fname = "avg_pool1d"
    x = _input(input, fname)
    k = _ints(kernel_size, fname, "kernel_size", 2)
    s = [] if stride is None else _ints(stride, fname, "stride", 3)
    p = _ints(padding, fname, "padding", 4)
    ceil = _flag(ceil_mode, fname, "ceil_mode", None)
    cip = _flag(count_include_pad, fname, "count_include_pad", None)
    s = s or k
    _check_1d_rank(x, fname)
    for values, arg in ((k, "kernel_size"), (s, "stride"), (p, "padding")):
        _check_one(values, fname, arg)
    return _core.avg_pool2d(x[..., None, :], [1, k[0]], [1, s[0]], [0, p[0]], ceil, cip, None)[..., 0, :]


# ---------------------------------------------------------------------------------------------
# Adaptive pooling
# ---------------------------------------------------------------------------------------------


def _list_with_default(out_size: Any, defaults: tuple[int, ...]) -> Any:
    """torch's helper: None entries of ``out_size`` take the input's size."""
    if _is_int(out_size):
        return out_size
    if len(defaults) <= len(out_size):
        msg = f"Input dimension should be at least {len(out_size) + 1}"
        raise ValueError(msg)
    return [v if v is not None else d for v, d in zip(out_size, defaults[-len(out_size) :])]


def _adaptive_avg_2d(x: np.ndarray, oh: int, ow: int) -> np.ndarray:
    if oh < 0 or ow < 0:
        msg = f"adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {{{oh}, {ow}}}"
        raise RuntimeError(msg)
    if (oh, ow) == (1, 1):
        if x.ndim < 2:
            msg = f"Dimension out of range (expected to be in range of [{-max(x.ndim, 1)}, {max(x.ndim, 1) - 1}], but got -2)"
            raise IndexError(msg)
        if x.ndim not in (3, 4) or 0 in x.shape[-2:]:
            # torch computes a 1x1 output as a mean over the last two axes, skipping its shape
            # checks: any rank >= 2 is accepted and an empty plane gives NaN. Follow it.
            count = x.shape[-1] * x.shape[-2]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = x.astype(np.float64).sum(axis=(-1, -2), keepdims=True) / count
            out = _core.empty(list(mean.shape), "float32", False)
            out[...] = mean
            return out
    return _core.adaptive_avg_pool2d(x, oh, ow)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> np.ndarray:
    """Adaptive 2-D average pooling: cell i spans [floor(i In / Out), ceil((i + 1) In / Out)).

    ``output_size`` is an int or an (H, W) pair whose None entries keep the input size.
    """
    # The common call (a plain float32 array of rank 3 or 4 with non-empty planes, an int or a
    # pair of ints as the size) goes straight to the kernel, which the general path below would
    # reach with the same arguments: its conversions and checks were most of the call's time.
    if type(input) is np.ndarray and input.dtype == np.float32 and input.ndim in (3, 4) and 0 not in input.shape[-2:]:
        size = output_size
        if type(size) is int:
            size = (size, size)
        if type(size) is tuple and len(size) == 2 and type(size[0]) is int and type(size[1]) is int:
            if size[0] >= 0 and size[1] >= 0:
                return _core.adaptive_avg_pool2d(input, size[0], size[1])
    fname = "adaptive_avg_pool2d"
    x = _input(input, fname)
    size = _list_with_default(output_size, x.shape)
    size = _ints(size, fname, "output_size", 2)
    if len(size) == 1 and _is_int(output_size):
        size = size * 2
    if len(size) != 2:
        msg = "adaptive_avg_pool2d: output_size must be 2"
        raise RuntimeError(msg)
    return _adaptive_avg_2d(x, size[0], size[1])


def adaptive_avg_pool1d(input: Any, output_size: Any) -> np.ndarray:
    """Adaptive 1-D average pooling of (N, C, L) or (C, L) input."""
    fname = "adaptive_avg_pool1d"
    x = _input(input, fname)
    size = _ints(output_size, fname, "output_size", 2)
    _check_1d_rank(x, fname)
    _check_one(size, fname, "output_size")
    return _adaptive_avg_2d(x[..., None, :], 1, size[0])[..., 0, :]


def adaptive_max_pool2d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive 2-D max pooling returning (values, flat indices per plane)."""
    fname = "adaptive_max_pool2d"
    x = _input(input, fname)
    size = _list_with_default(output_size, x.shape)
    size = _ints(size, fname, "output_size", 2)
    if len(size) == 1 and _is_int(output_size):
        size = size * 2
    if len(size) != 2:
        # torch checks the input first and the output size last; the binding holds the input
        # checks, so run it on a valid size to get them, then report the size.
        _core.adaptive_max_pool2d(x, 0, 0)
        msg = "adaptive_max_pool2d(): internal error: output_size.size() must be 2"
        raise RuntimeError(msg)
    return _core.adaptive_max_pool2d(x, size[0], size[1])


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """Adaptive 2-D max pooling; with ``return_indices`` returns (values, indices)."""
    out, idx = adaptive_max_pool2d_with_indices(input, output_size)
    return (out, idx) if return_indices else out
