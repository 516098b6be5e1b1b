"""minimod.nn.init: torch.nn.init's functions, writing into numpy arrays in place.

Every function takes the array to fill (a ``Parameter`` or any writable ndarray; a torch tensor works
too, through a zero-copy view), writes into its memory and returns the same object, so
``init.zeros_(layer.weight)`` changes the layer. Values are computed in float64 and then cast to
the array's dtype. Random draws come from ``minimod._random.default_generator()`` (seeded by
``minimod.manual_seed``) unless a numpy ``Generator`` is passed as ``generator``: the distributions
match torch's, the individual numbers do not.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np

from minimod._arrays import as_array
from minimod._random import default_generator

__all__ = [
    "calculate_gain",
    "constant",
    "constant_",
    "dirac",
    "dirac_",
    "eye",
    "eye_",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "normal",
    "normal_",
    "ones_",
    "orthogonal",
    "orthogonal_",
    "sparse",
    "sparse_",
    "trunc_normal_",
    "uniform",
    "uniform_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


# ---------------------------------------------------------------------------------------------
# Writing into the caller's array
# ---------------------------------------------------------------------------------------------


def _view(tensor: Any) -> np.ndarray:
    """A plain ndarray over ``tensor``'s memory: writes through it land in the caller's array.

    ``np.asarray`` of a Parameter is a base-class view of the same native storage.
    """
    return np.asarray(as_array(tensor))


def _writable_view(tensor: Any) -> np.ndarray:
    # A read-only array that can say why (an optimize_for_inference weight) raises its own error.
    arr = _view(tensor)
    if not arr.flags.writeable and hasattr(tensor, "read_only_error"):
        raise tensor.read_only_error()
    return arr


def _write(tensor: Any, values: Any) -> Any:
    np.copyto(_writable_view(tensor), values, casting="unsafe")
    return tensor


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(_view(tensor).shape)


def _generator(generator: np.random.Generator | None) -> np.random.Generator:
    return default_generator() if generator is None else generator


def _require_floating(tensor: Any, op: str) -> np.ndarray:
    # torch raises NotImplementedError for random fills of integer/bool tensors; a silent
    # truncation of uniform draws to 0 would be worse than an error.
    arr = _view(tensor)
    if arr.dtype.kind not in "fc":
        msg = f'"{op}" not implemented for dtype {arr.dtype.name}: random initialisation needs a floating-point array'
        raise NotImplementedError(msg)
    return arr


def _draw_uniform(tensor: Any, a: float, b: float, generator: np.random.Generator | None) -> Any:
    arr = _require_floating(tensor, "uniform_")
    if a > b:
        msg = f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}"
        raise RuntimeError(msg)
    return _write(tensor, _generator(generator).uniform(a, b, size=arr.shape))


def _draw_normal(tensor: Any, mean: float, std: float, generator: np.random.Generator | None) -> Any:
    arr = _require_floating(tensor, "normal_")
    if std < 0:
        msg = f"normal expects std >= 0.0, but found std {std:g}"
        raise RuntimeError(msg)
    return _write(tensor, _generator(generator).normal(mean, std, size=arr.shape))


# ---------------------------------------------------------------------------------------------
# Gains and fans
# ---------------------------------------------------------------------------------------------


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table; ``param`` is leaky_relu's slope)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, float) or (isinstance(param, int) and not isinstance(param, bool)):
            negative_slope = param
        else:
            msg = f"negative_slope {param} not a valid number"
            raise ValueError(msg)
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        # Empirical value chosen by torch (pytorch/pytorch#50664).
        return 3.0 / 4
    msg = f"Unsupported nonlinearity {nonlinearity}"
    raise ValueError(msg)


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """``(fan_in, fan_out)`` for a weight laid out as ``(out, in, *kernel)``, torch's convention."""
    shape = _shape(tensor)
    if len(shape) < 2:
        msg = "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        raise ValueError(msg)
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        msg = f"Mode {mode} not supported, please use one of {valid_modes}"
        raise ValueError(msg)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# ---------------------------------------------------------------------------------------------
# Plain distributions and constants
# ---------------------------------------------------------------------------------------------


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Fill ``tensor`` with draws from U(a, b)."""
    return _draw_uniform(tensor, a, b, generator)


def normal_(
    tensor: Any, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | None = None
) -> Any:
    """Fill ``tensor`` with draws from N(mean, std²)."""
    return _draw_normal(tensor, mean, std, generator)


def trunc_normal_(
    tensor: Any,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: np.random.Generator | None = None,
) -> Any:
    """Fill ``tensor`` with N(mean, std²) restricted to [a, b] (values outside are redrawn)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    arr = _require_floating(tensor, "normal_")
    if a > b:
        # torch reaches its uniform_ check here (the window has negative mass).
        msg = f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}"
        raise RuntimeError(msg)
    gen = _generator(generator)
    n = arr.size
    # The bounds as the array's dtype represents them, so a cast cannot push a value outside.
    lo = float(np.asarray(a, dtype=arr.dtype).real)
    hi = float(np.asarray(b, dtype=arr.dtype).real)
    mass = 0.5 * (math.erf((b - mean) / (std * math.sqrt(2))) - math.erf((a - mean) / (std * math.sqrt(2))))
    out = np.empty(n, dtype=np.float64)
    if mass > 0.3:
        # Most normal draws land inside: redraw only the rejected ones.
        out[:] = gen.normal(mean, std, size=n)
        bad = np.flatnonzero((out < lo) | (out > hi))
        while bad.size:
            out[bad] = gen.normal(mean, std, size=bad.size)
            bad = bad[(out[bad] < lo) | (out[bad] > hi)]
    else:
        # A narrow or far-off window: propose uniformly on [a, b] and accept with the density
        # relative to its peak inside the window, which stays efficient where normal draws would
        # almost all be rejected.
        peak = max(a, min(mean, b))
        log_peak = -0.5 * ((peak - mean) / std) ** 2
        pending = np.arange(n)
        while pending.size:
            cand = gen.uniform(a, b, size=pending.size)
            log_ratio = -0.5 * ((cand - mean) / std) ** 2 - log_peak
            accept = np.log(gen.uniform(size=pending.size)) <= log_ratio
            out[pending[accept]] = cand[accept]
            pending = pending[~accept]
        np.clip(out, lo, hi, out=out)
    return _write(tensor, out.reshape(arr.shape))


def constant_(tensor: Any, val: float) -> Any:
    """Fill ``tensor`` with ``val``."""
    _writable_view(tensor)[...] = val
    return tensor


def ones_(tensor: Any) -> Any:
    """Fill ``tensor`` with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Any) -> Any:
    """Fill ``tensor`` with 0."""
    return constant_(tensor, 0.0)


def eye_(tensor: Any) -> Any:
    """Fill a 2-D ``tensor`` with the identity matrix (ones on the main diagonal)."""
    shape = _shape(tensor)
    if len(shape) != 2:
        msg = "Only tensors with 2 dimensions are supported"
        raise ValueError(msg)
    return _write(tensor, np.eye(*shape))


def dirac_(tensor: Any, groups: int = 1) -> Any:
    """Fill a 3/4/5-D conv weight so the convolution passes its inputs through, per group."""
    shape = _shape(tensor)
    if len(shape) not in (3, 4, 5):
        msg = "Only tensors with 3, 4, or 5 dimensions are supported"
        raise ValueError(msg)
    if shape[0] % groups != 0:
        msg = "dim 0 must be divisible by groups"
        raise ValueError(msg)
    out_per_group = shape[0] // groups
    values = np.zeros(shape)
    centre = tuple(s // 2 for s in shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, shape[1])):
            values[(g * out_per_group + d, d, *centre)] = 1
    return _write(tensor, values)


# ---------------------------------------------------------------------------------------------
# Scaled schemes
# ---------------------------------------------------------------------------------------------


def xavier_uniform_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Glorot uniform: U(±gain·sqrt(6 / (fan_in + fan_out)))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # the uniform with this standard deviation
    return _draw_uniform(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Glorot normal: N(0, gain²·2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _draw_normal(tensor, 0.0, std, generator)


def _zero_element(tensor: Any) -> bool:
    if 0 in _shape(tensor):
        # stacklevel 3: point at the caller of kaiming_*_, as torch's warning does.
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(
    tensor: Any,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Any:
    """He uniform: U(±gain·sqrt(3 / fan)). With ``a=sqrt(5)`` (Linear/Conv default) the bound is 1/sqrt(fan_in)."""
    if _zero_element(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return _draw_uniform(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Any,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | None = None,
) -> Any:
    """He normal: N(0, gain² / fan)."""
    if _zero_element(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _draw_normal(tensor, 0.0, std, generator)


def orthogonal_(tensor: Any, gain: float = 1, generator: np.random.Generator | None = None) -> Any:
    """Fill with a (semi-)orthogonal matrix times ``gain``; dimensions after the first are flattened."""
    shape = _shape(tensor)
    if len(shape) < 2:
        msg = "Only tensors with 2 or more dimensions are supported"
        raise ValueError(msg)
    arr = _require_floating(tensor, "normal_")
    if arr.size == 0:
        return tensor
    rows = shape[0]
    cols = arr.size // rows
    flat = _generator(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    # Multiplying by the signs of R's diagonal makes Q Haar-distributed (Mezzadri, math-ph/0609050).
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (gain * q).reshape(shape))


def sparse_(
    tensor: Any, sparsity: float, std: float = 0.01, generator: np.random.Generator | None = None
) -> Any:
    """Fill a 2-D ``tensor`` from N(0, std²), then zero ceil(sparsity·rows) random rows of each column."""
    shape = _shape(tensor)
    if len(shape) != 2:
        msg = "Only tensors with 2 dimensions are supported"
        raise ValueError(msg)
    _require_floating(tensor, "normal_")
    gen = _generator(generator)
    rows, cols = shape
    num_zeros = math.ceil(sparsity * rows)
    values = gen.normal(0.0, std, size=shape)
    for col in range(cols):
        values[gen.permutation(rows)[:num_zeros], col] = 0
    return _write(tensor, values)


# ---------------------------------------------------------------------------------------------
# Deprecated names without the trailing underscore (torch keeps them, with a FutureWarning)
# ---------------------------------------------------------------------------------------------


def _deprecated(fn: Callable[..., Any]) -> Callable[..., Any]:
    new_name = fn.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return fn(*args, **kwargs)

    deprecated_init.__name__ = old_name
    deprecated_init.__qualname__ = old_name
    deprecated_init.__doc__ = f"Deprecated: use ``{new_name}``."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
