"""conv1d / conv2d / conv3d and pad, with torch's argument rules and error messages.

The checks run in torch's order (argument parsing, input rank, padding string, groups, parameter
lengths, then the shape checks of ``check_shape_forward``, the backend's kernel/dilation checks and
last the dtypes), so the first error a bad call hits is the one torch reports. The computation is
one native call (``_core.conv_nd``: routing in csrc/kernels/conv/conv.cpp) with the GIL released.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_tensor_like
from minimod.nn.functional._dtype_hint import float32_input_error

__all__ = ["conv1d", "conv2d", "conv3d", "pad"]

# torch's names for numpy dtypes: ScalarType names (weight mismatch) and C++ names (bias mismatch).
_SCALAR_NAME = {
    "float64": "Double", "float32": "Float", "float16": "Half", "int64": "Long", "int32": "Int",
    "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool", "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}
_CPP_NAME = {
    "float64": "double", "float32": "float", "float16": "c10::Half", "int64": "long int",
    "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
    "bool": "bool", "complex64": "c10::complex<float>", "complex128": "c10::complex<double>",
}


def scalar_name(dtype: np.dtype) -> str:
    return _SCALAR_NAME.get(dtype.name, dtype.name)


def cpp_name(dtype: np.dtype) -> str:
    return _CPP_NAME.get(dtype.name, dtype.name)


def tensor_arg(value: Any, fname: str, name: str, position: int) -> np.ndarray:
    """A numpy view of a tensor-like argument; TypeError (torch's wording) for anything else."""
    if isinstance(value, np.ndarray):
        return value
    if is_tensor_like(value):
        return as_array(value)
    msg = f"{fname}(): argument '{name}' (position {position}) must be Tensor, not {type(value).__name__}"
    raise TypeError(msg)


def _typename(v: Any) -> str:
    mod = type(v).__module__
    return type(v).__name__ if mod == "builtins" else f"{mod}.{type(v).__qualname__}"


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _int_tuple(value: Any, name: str, fname: str, position: int, n: int) -> tuple[int, ...]:
    # torch's parser for `int[n] name`: an int repeats n times, a list/tuple of ints is kept as
    # given (its length is checked later against the weight's dimensions).
    if _is_int(value):
        return (int(value),) * n
    if isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            if not _is_int(v):
                msg = (f"{fname}(): argument '{name}' (position {position}) must be tuple of ints, "
                       f"but found element of type {type(v).__name__} at pos {i}")
                raise TypeError(msg)
        return tuple(int(v) for v in value)
    msg = f"{fname}(): argument '{name}' (position {position}) must be tuple of ints, not {type(value).__name__}"
    raise TypeError(msg)


def _expand(values: tuple[int, ...], name: str, n: int) -> tuple[int, ...]:
    if len(values) == 1:
        return values * n
    if len(values) != n:
        msg = (f"expected {name} to be a single integer value or a list of {n} values to match the "
               f"convolution dimensions, but got {name}={list(values)}")
        raise RuntimeError(msg)
    return values


def same_padding(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """padding='same': total d*(k-1) per dimension, the odd one out at the end (torch's rule)."""
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    before = [t // 2 for t in total]
    return before, [t - b for t, b in zip(total, before)]


_F32 = np.dtype(np.float32)


def _fast_tuple(value: Any, n: int) -> tuple[int, ...] | None:
    # The argument forms layers pass (an int, or a tuple of n values); anything else is None and
    # takes the fully checked path.
    if type(value) is int:
        return (value,) * n
    if type(value) is tuple and len(value) == n:
        return value
    return None


def _conv(nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
          groups: Any) -> np.ndarray:
    # Fast path for the common call: batched float32 arrays and plain arguments go straight to
    # the kernel. The native call validates everything before it reads memory; if it rejects the
    # arguments, the checked path below re-examines them and raises torch's exact error.
    if (isinstance(input, np.ndarray) and isinstance(weight, np.ndarray) and input.ndim == nd + 2
            and input.dtype == _F32 and weight.dtype == _F32 and type(groups) is int
            and weight.ndim >= 1 and weight.shape[0] >= groups  # torch refuses fewer filters than groups
            and (bias is None or isinstance(bias, np.ndarray))):
        s = _fast_tuple(stride, nd)
        d = _fast_tuple(dilation, nd)
        if type(padding) is str:
            if padding == "valid":
                pb = pa = (0,) * nd
            elif padding == "same" and s == (1,) * nd and d is not None and weight.ndim == nd + 2:
                pb, pa = same_padding(weight.shape[2:], d)
            else:
                pb = pa = None
        else:
            pb = pa = _fast_tuple(padding, nd)
        if s is not None and d is not None and pb is not None:
            try:
                return _core.conv_nd(input, weight, bias, s, pb, pa, d, groups)
            except (ValueError, RuntimeError, TypeError):
                pass
    return _conv_checked(nd, input, weight, bias, stride, padding, dilation, groups)


def _conv_checked(nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                  dilation: Any, groups: Any) -> np.ndarray:
    fname = f"conv{nd}d"
    x = tensor_arg(input, fname, "input", 1)
    w = tensor_arg(weight, fname, "weight", 2)
    b = None if bias is None else tensor_arg(bias, fname, "bias", 3)
    stride_t = _int_tuple(stride, "stride", fname, 4, nd)
    pad_str = padding if isinstance(padding, str) else None
    padding_t = None if pad_str is not None else _int_tuple(padding, "padding", fname, 5, nd)
    dilation_t = _int_tuple(dilation, "dilation", fname, 6, nd)
    if not _is_int(groups):
        msg = f"{fname}(): argument 'groups' (position 7) must be int, not {type(groups).__name__}"
        raise TypeError(msg)
    groups = int(groups)

    if x.ndim not in (nd + 1, nd + 2):
        msg = (f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {fname}, but got "
               f"input of size: {list(x.shape)}")
        raise RuntimeError(msg)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x[None]
    if pad_str is not None and pad_str not in ("same", "valid"):
        msg = f"Invalid padding string: {pad_str!r}"
        raise RuntimeError(msg)
    if groups <= 0:
        msg = "non-positive groups is not supported"
        raise RuntimeError(msg)

    # Parameter lengths are checked against the weight's spatial rank, as in torch.
    wd = w.ndim - 2
    stride_t = _expand(stride_t, "stride", wd)
    if padding_t is not None:
        padding_t = _expand(padding_t, "padding", wd)
    dilation_t = _expand(dilation_t, "dilation", wd)
    _expand((0,) * nd, "output_padding", wd)  # torch expands conv's implicit output_padding too
    kernel = tuple(w.shape[2:])
    if pad_str == "same":
        if any(s != 1 for s in stride_t):
            msg = "padding='same' is not supported for strided convolutions"
            raise RuntimeError(msg)
        pad_before, pad_after = same_padding(kernel, dilation_t)
    elif pad_str == "valid":
        pad_before = pad_after = [0] * wd
    else:
        pad_before = pad_after = list(padding_t)

    # check_shape_forward
    if any(p < 0 for p in pad_before) or any(p < 0 for p in pad_after):
        msg = "negative padding is not supported"
        raise RuntimeError(msg)
    if any(s <= 0 for s in stride_t):
        msg = "non-positive stride is not supported"
        raise RuntimeError(msg)
    if any(d < 0 for d in dilation_t):
        msg = "dilation should be greater than zero"
        raise RuntimeError(msg)
    if w.ndim != x.ndim:
        msg = (f"Expected {w.ndim}-dimensional input for {w.ndim}-dimensional weight {list(w.shape)}, "
               f"but got {x.ndim}-dimensional input of size {list(x.shape)} instead")
        raise RuntimeError(msg)
    cout = w.shape[0]
    if cout < groups:
        msg = (f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but "
               f"got weight of size {list(w.shape)} instead")
        raise RuntimeError(msg)
    if cout % groups != 0:
        msg = (f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
               f"but got weight of size [{list(w.shape)}] instead")
        raise RuntimeError(msg)
    if x.shape[1] != w.shape[1] * groups:
        msg = (f"Given groups={groups}, weight of size {list(w.shape)}, expected input{list(x.shape)} "
               f"to have {w.shape[1] * groups} channels, but got {x.shape[1]} channels instead")
        raise RuntimeError(msg)
    if b is not None and (b.ndim != 1 or b.shape[0] != cout):
        msg = (f"Given weight of size {list(w.shape)}, expected bias to be 1-dimensional with {cout} "
               f"elements, but got bias of size {list(b.shape)} instead")
        raise RuntimeError(msg)
    padded = [size + p0 + p1 for size, p0, p1 in zip(x.shape[2:], pad_before, pad_after)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation_t)]
    if any(p < s for p, s in zip(padded, spans)):
        msg = (f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel "
               f"size: ({' x '.join(map(str, spans))}). Kernel size can't be greater than actual input size")
        raise RuntimeError(msg)

    # The backends' own checks: torch takes its dilated path when any dilation != 1.
    if any(d != 1 for d in dilation_t):
        as2d = (lambda v: [1, *v]) if wd == 1 else list
        if any(k <= 0 for k in kernel):
            msg = f"kernel size should be greater than zero, but got {as2d(list(kernel))}"
            raise RuntimeError(msg)
        if any(d <= 0 for d in dilation_t):
            msg = f"dilation should be greater than zero, but got {as2d(list(dilation_t))}"
            raise RuntimeError(msg)
    elif any(k <= 0 for k in kernel):
        if wd == 3:
            msg = f"kernel size should be greater than zero, but got: {kernel[0]} x {kernel[1]} x {kernel[2]} (TxHxW)"
        else:
            kh, kw = (1, kernel[0]) if wd == 1 else kernel
            msg = f"kernel size should be greater than zero, but got kernel_height: {kh} kernel_width: {kw}"
        raise RuntimeError(msg)

    if b is not None and b.dtype != x.dtype:
        msg = f"Input type ({cpp_name(x.dtype)}) and bias type ({cpp_name(b.dtype)}) should be the same"
        raise float32_input_error(msg, x.dtype) if b.dtype == np.float32 else RuntimeError(msg)
    if w.dtype != x.dtype:
        msg = f"expected scalar type {scalar_name(x.dtype)} but found {scalar_name(w.dtype)}"
        raise float32_input_error(msg, x.dtype) if w.dtype == np.float32 else RuntimeError(msg)
    if x.dtype != np.float32:
        msg = (f"{fname}: minimod computes in float32 only, but got {x.dtype.name} input and weight; "
               "convert with x.astype(np.float32) (and the weight likewise)")
        raise RuntimeError(msg)

    out = _core.conv_nd(x, w, b, stride_t, pad_before, pad_after, dilation_t, groups)
    return out[0] if unbatched else out


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> np.ndarray:
    """1-d convolution over (N, C, L) or unbatched (C, L) input (torch.nn.functional.conv1d)."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> np.ndarray:
    """2-d convolution over (N, C, H, W) or unbatched (C, H, W) input (torch.nn.functional.conv2d)."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> np.ndarray:
    """3-d convolution over (N, C, D, H, W) or unbatched input (torch.nn.functional.conv3d)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


# --- pad -------------------------------------------------------------------------------------

def pad(input: Any, pad: Any, mode: str = "constant", value: float | None = None) -> np.ndarray:
    """Pads the last len(pad)//2 dimensions, last dimension first (torch.nn.functional.pad).

    Modes: constant (any number of dimensions, negative pads crop), reflect (mirror without the
    edge; pad < size), replicate (repeat the edge), circular (wrap around; pad <= size); the last
    three pad 1-3 trailing dimensions of a batched or unbatched input, as torch does.
    """
    x = tensor_arg(input, "pad", "input", 1)
    if not isinstance(pad, (tuple, list)):
        msg = f"pad(): argument 'pad' (position 2) must be tuple of ints, not {_typename(pad)}"
        raise TypeError(msg)
    for i, p in enumerate(pad):
        if not _is_int(p):
            msg = f"pad(): argument 'pad' (position 2) must be tuple of ints, but found element of type {type(p).__name__} at pos {i}"
            raise TypeError(msg)
    if not isinstance(mode, str):
        msg = f"pad(): argument 'mode' (position 3) must be str, not {type(mode).__name__}"
        raise TypeError(msg)
    pads = [int(p) for p in pad]
    if mode not in ("constant", "reflect", "replicate", "circular"):
        msg = f"Unrecognised padding mode {mode}"
        raise NotImplementedError(msg)
    if len(pads) % 2 != 0:
        msg = "Padding length must be divisible by 2"
        raise RuntimeError(msg)
    npad = len(pads) // 2
    if npad > x.ndim:
        msg = (f"Padding length should be less than or equal to two times the input dimension but "
               f"got padding length {len(pads)} and input of dimension {x.ndim}")
        raise RuntimeError(msg)
    # (before, after) per padded dimension, in dimension order.
    widths = [(pads[2 * i], pads[2 * i + 1]) for i in range(npad)][::-1]
    dims = list(range(x.ndim - npad, x.ndim))

    if mode == "constant":
        fill = 0 if value is None else value
        if npad == 0:  # nothing to pad (np.pad refuses an empty width list for a 0-d array)
            return np.array(x, copy=True)
        return _crop_then_pad(x, dims, widths, dict(mode="constant", constant_values=fill))

    if value is not None and value != 0:
        msg = f'Padding mode "{mode}" doesn\'t take in value argument'
        raise RuntimeError(msg)
    if npad not in (1, 2, 3) or x.ndim not in (npad + 1, npad + 2):
        msg = f"Padding size {len(pads)} is not supported for {x.ndim}D input tensor."
        raise NotImplementedError(msg)
    if mode == "circular":
        for d, (lo, hi) in zip(dims, widths):
            if lo > x.shape[d] or hi > x.shape[d]:
                msg = "Padding value causes wrapping around more than once."
                raise RuntimeError(msg)
        # torch crops negative pads first, then wraps what is left.
        x = x[_crop_index(x.ndim, dims, [(min(lo, 0), min(hi, 0)) for lo, hi in widths], x.shape)]
        if any(x.shape[d] == 0 and (lo > 0 or hi > 0) for d, (lo, hi) in zip(dims, widths)):
            msg = "Padding value causes wrapping around more than once."
            raise RuntimeError(msg)
        return np.pad(x, _np_widths(x.ndim, dims, [(max(lo, 0), max(hi, 0)) for lo, hi in widths]), mode="wrap")

    # reflect / replicate: every non-batch dimension must be non-empty
    checked = x.shape[1:] if x.ndim == npad + 2 else x.shape
    if any(s == 0 for s in checked):
        msg = (f"Expected {npad + 1}D or {npad + 2}D (batch mode) tensor with possibly 0 batch size "
               f"and other non-zero dimensions for input, but got: {list(x.shape)}")
        raise RuntimeError(msg)
    if mode == "reflect":
        for i in range(npad):  # last dimension first, as torch reports (Argument #4, #6, #8)
            d = x.ndim - 1 - i
            lo, hi = widths[npad - 1 - i]
            if lo >= x.shape[d] or hi >= x.shape[d]:
                msg = (f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding "
                       f"input dimension, but got: padding ({lo}, {hi}) at dimension {d} of input "
                       f"{list(x.shape)}")
                raise RuntimeError(msg)
    for i in range(npad):
        d = x.ndim - 1 - i
        lo, hi = widths[npad - 1 - i]
        if x.shape[d] + lo + hi <= 0:
            name = "WHD"[i]
            msg = f"input ({name}: {x.shape[d]}) is too small. Calculated output {name}: {x.shape[d] + lo + hi}"
            raise RuntimeError(msg)
    return _gather_pad(x, dims, widths, mode)


def _gather_pad(x: np.ndarray, dims: list[int], widths: list[tuple[int, int]], mode: str) -> np.ndarray:
    # Output position j of a padded dimension reads source index j - before of the ORIGINAL input,
    # clamped (replicate) or mirrored (reflect; torch bounds each pad below the size, so one mirror
    # suffices). Negative pads just shift the window; nothing larger than the output is allocated.
    out = x
    for d, (lo, hi) in zip(dims, widths):
        n = x.shape[d]
        src = np.arange(-lo, n + hi, dtype=np.intp)
        if mode == "replicate":
            src = np.clip(src, 0, n - 1)
        else:
            src = np.abs(src)
            src = np.where(src >= n, 2 * (n - 1) - src, src)
        out = np.take(out, src, axis=d)
    return out


def _np_widths(ndim: int, dims: list[int], widths: list[tuple[int, int]]) -> list[tuple[int, int]]:
    full = [(0, 0)] * ndim
    for d, w in zip(dims, widths):
        full[d] = w
    return full


def _crop_index(ndim: int, dims: list[int], negative: list[tuple[int, int]], shape: tuple) -> tuple:
    index = [slice(None)] * ndim
    for d, (lo, hi) in zip(dims, negative):
        index[d] = slice(-lo, shape[d] + hi if shape[d] + hi > -lo else -lo)
    return tuple(index)


def _crop_then_pad(x: np.ndarray, dims: list[int], widths: list[tuple[int, int]], kw: dict) -> np.ndarray:
    # As torch does: negative pads narrow the input first, then positive pads grow what is left.
    # (Padding first would agree wherever torch succeeds, but would allocate the whole padded
    # array before noticing that (10**12, -10**12) is invalid.)
    negative = [(min(lo, 0), min(hi, 0)) for lo, hi in widths]
    if any(lo or hi for lo, hi in negative):
        for d, (lo, hi) in zip(dims, negative):
            if x.shape[d] + lo + hi < 0:
                msg = "narrow(): length must be non-negative."
                raise RuntimeError(msg)
        x = x[_crop_index(x.ndim, dims, negative, x.shape)]
    return np.pad(x, _np_widths(x.ndim, dims, [(max(lo, 0), max(hi, 0)) for lo, hi in widths]), **kw)
