"""Arrays at the boundary: what counts as a tensor, and moving values into native storage.

numpy's ndarray plays the role of torch's Tensor in minimod. Anything that exposes ``__dlpack__``
(a torch CPU tensor, a jax array) or ``__array__`` is accepted as tensor-like and viewed without a
copy where its layout allows. Parameters and buffers always live in native storage
(``minimod._core.Storage``: 64-byte aligned, C-ordered), so a value coming from elsewhere is copied
into a new Storage once, when it is registered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod import _core

_Storage = _core.Storage


def is_tensor_like(value: Any) -> bool:
    """True for numpy arrays and objects that export ``__dlpack__`` or ``__array__``.

    Python scalars, lists and strings are not tensor-like, as in torch (``register_buffer('b', 3)``
    is a TypeError there too).
    """
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, (str, bytes, int, float, complex, bool, list, tuple, dict)) or value is None:
        return False
    return hasattr(value, "__dlpack__") or hasattr(value, "__array__")


def as_array(value: Any) -> np.ndarray:
    """A numpy view of a tensor-like value, without a copy where the layout allows.

    torch tensors that require grad are detached first (DLPack refuses them otherwise).
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        detach = getattr(value, "detach", None)
        src = detach() if callable(detach) else value
        try:
            return np.from_dlpack(src)
        except (TypeError, RuntimeError, BufferError, AttributeError):
            pass  # e.g. a dtype DLPack cannot carry into numpy (bfloat16): fall back to __array__
        if hasattr(src, "float") and str(getattr(src, "dtype", "")) == "torch.bfloat16":
            return np.from_dlpack(src.float())
    return np.asarray(value)


def storage_of(arr: Any) -> Any:
    """The native Storage that owns ``arr``'s memory, or None."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    return base if type(base) is _Storage else None


def is_native(arr: Any) -> bool:
    """True when ``arr`` views one whole native Storage as a C-ordered array of its dtype."""
    if not isinstance(arr, np.ndarray) or not arr.flags.c_contiguous:
        return False
    storage = storage_of(arr)
    return (
        storage is not None
        and arr.ctypes.data == storage.data_ptr
        and arr.nbytes == storage.nbytes
        and arr.dtype.name == storage.dtype
    )


def native_copy(value: Any, dtype: Any = None) -> np.ndarray:
    """A new native array holding a copy of ``value`` (cast to ``dtype`` when given)."""
    src = as_array(value)
    dt = np.dtype(dtype) if dtype is not None else src.dtype
    out = _core.empty(list(src.shape), dt.name, False)
    np.copyto(out, src, casting="unsafe")
    return out


def to_native(value: Any) -> np.ndarray:
    """``value`` itself when it already is a whole native array, else a native copy of it."""
    if type(value) is np.ndarray and is_native(value):
        return value
    return native_copy(value)
