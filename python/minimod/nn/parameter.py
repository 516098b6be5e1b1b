"""Parameter and Buffer: the markers that Module.__setattr__ routes into its registries.

A Parameter is a numpy array (an ``np.ndarray`` subclass) whose memory is a native Storage, so
every numpy function accepts it, kernels read it with no conversion, and ``np.asarray(p)`` is a
writable zero-copy view whose writes the next forward sees. Arithmetic on a Parameter gives plain
ndarrays, as arithmetic on a torch Parameter gives plain Tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod._arrays import as_array, is_native, is_tensor_like, native_copy

_FLOATING_KINDS = "fc"


class Parameter(np.ndarray):
    """A learnable value of a Module: ``Parameter(data=None, requires_grad=True)``.

    ``data`` may be a numpy array, a minimod array or anything exposing ``__dlpack__`` /
    ``__array__`` (a torch tensor). A native array is shared, as torch shares the tensor's storage;
    any other value is copied once into native storage. ``data=None`` gives an empty float32
    parameter of shape ``(0,)``.
    """

    # Parameters hash by identity, like torch's, so they can live in sets and dict keys.
    __hash__ = object.__hash__

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            arr = native_copy(np.empty((0,), dtype=np.float32))
        elif isinstance(data, np.ndarray) and is_native(data):
            arr = data
        elif is_tensor_like(data):
            arr = native_copy(as_array(data))
        else:
            msg = f"'{type(data).__name__}' object has no attribute 'detach'"
            raise AttributeError(msg)
        if requires_grad and arr.dtype.kind not in _FLOATING_KINDS:
            msg = "Only Tensors of floating point and complex dtype can require gradients"
            raise RuntimeError(msg)
        obj = arr.view(cls)
        obj.requires_grad = bool(requires_grad)
        obj.grad = None
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        # Views made by numpy (reshape, transpose, slicing) carry the flag; they are rarely kept.
        self.requires_grad = getattr(obj, "requires_grad", False)
        self.grad = None

    def __array_wrap__(self, arr: np.ndarray, context: Any = None, return_scalar: bool = False) -> Any:
        # Results of ufuncs (p * 2, p + x) are plain arrays, not new Parameters.
        if return_scalar and arr.ndim == 0:
            return arr[()]
        return arr.view(np.ndarray)

    def __getitem__(self, index: Any) -> Any:
        return self.view(np.ndarray)[index]

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        """The values as a plain ndarray sharing this parameter's storage (torch's ``.data``)."""
        return self.view(np.ndarray)

    @data.setter
    def data(self, value: Any) -> None:
        src = as_array(value)
        if src.shape != self.shape:
            msg = (
                f"cannot set .data of a Parameter of shape {self.shape} to a value of shape "
                f"{src.shape}: minimod parameters keep their storage; create a new "
                "Parameter(value) and assign it to the module attribute instead"
            )
            raise ValueError(msg)
        np.copyto(self.view(np.ndarray), src, casting="unsafe")

    @property
    def is_leaf(self) -> bool:
        return True

    def requires_grad_(self, requires_grad: bool = True) -> Parameter:
        if requires_grad and self.dtype.kind not in _FLOATING_KINDS:
            msg = "Only Tensors of floating point and complex dtype can require gradients"
            raise RuntimeError(msg)
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> np.ndarray:
        """A plain ndarray view of the same storage (torch's ``detach()``)."""
        return self.view(np.ndarray)

    def numpy(self) -> np.ndarray:
        return self.view(np.ndarray)

    def __repr__(self) -> str:
        body = repr(self.view(np.ndarray))
        if self.requires_grad:
            body = body[:-1] + ", requires_grad=True)"
        return "Parameter containing:\n" + body

    def __str__(self) -> str:
        return self.__repr__()

    def __reduce__(self) -> tuple:
        return (_rebuild_parameter, (np.array(self.view(np.ndarray)), self.requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(native_copy(self.view(np.ndarray)), self.requires_grad)
        memo[id(self)] = result
        return result

    def __copy__(self) -> Parameter:
        return type(self)(native_copy(self.view(np.ndarray)), self.requires_grad)


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


class Buffer(np.ndarray):
    """A marker for a buffer: ``Buffer(data, *, persistent=True)`` (torch 2.x ``nn.Buffer``).

    Assigning one to a Module attribute registers it with ``register_buffer``; the module stores
    the values as a plain native array.
    """

    def __new__(cls, data: Any = None, *, persistent: bool = True) -> Buffer:
        arr = native_copy(np.empty((0,), dtype=np.float32) if data is None else as_array(data))
        obj = arr.view(cls)
        obj.persistent = persistent
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.persistent = getattr(obj, "persistent", True)
