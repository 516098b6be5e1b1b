"""Read-only parameters and buffers for models returned by ``optimize_for_inference``.

An optimized model's weights are derived from the original's (BatchNorm folded in), so a write to
them would silently diverge from the original model. Every route that could write is closed:

- numpy: the arrays are flagged ``writeable=False`` all the way down their base chain, and the
  native Storage under them is marked read-only, so ``np.asarray(p)[...] = x`` raises and
  ``flags.writeable = True`` cannot be turned back on (the Storage refuses a writable buffer).
  numpy's own message is "assignment destination is read-only".
- minimod's routes raise :class:`ReadOnlyModelError`, which explains what to do: ``p[...] = x``,
  ``p.data = x``, in-place ufuncs (``p += 1``, ``np.add(a, b, out=p)``), ``nn.init.*`` and
  ``load_state_dict`` (refused by a pre-hook on every module, before anything is staged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minimod._arrays import native_copy, storage_of
from minimod.nn.parameter import Parameter

__all__ = ["InferenceBuffer", "InferenceParameter", "ReadOnlyModelError", "freeze_array"]

READ_ONLY_MESSAGE = (
    "{what} belongs to a model returned by minimod.optimize_for_inference: its parameters and "
    "buffers are read-only, because BatchNorm statistics are folded into the weights and a change "
    "would not reach them. Change the weights of the original model, then call "
    "optimize_for_inference(original) again."
)


class ReadOnlyModelError(RuntimeError, ValueError):
    """A write to a parameter or buffer of an optimized model.

    A RuntimeError (what torch raises for a refused ``load_state_dict``) and a ValueError (what
    numpy raises for a write to a read-only array), so code catching either sees it.
    """


def read_only_error(what: str = "This array") -> ReadOnlyModelError:
    return ReadOnlyModelError(READ_ONLY_MESSAGE.format(what=what))


def freeze_array(arr: np.ndarray) -> None:
    """Marks ``arr``, every array it views, and its native Storage read-only."""
    base: Any = arr
    while isinstance(base, np.ndarray):
        base.flags.writeable = False
        base = base.base
    storage = storage_of(arr)
    if storage is not None:
        storage.read_only = True


def _plain_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """A ufunc over read-only arrays: refused when one is an output, else computed on plain
    views (so results are plain ndarrays, as arithmetic on a Parameter gives)."""
    out = kwargs.get("out")
    if out is not None:
        for target in out if isinstance(out, tuple) else (out,):
            if isinstance(target, (InferenceParameter, InferenceBuffer)):
                raise target.read_only_error()
    plain = tuple(
        x.view(np.ndarray) if isinstance(x, (InferenceParameter, InferenceBuffer)) else x
        for x in inputs
    )
    return getattr(ufunc, method)(*plain, **kwargs)


class InferenceParameter(Parameter):
    """A Parameter of an optimized model: same values and API, but read-only."""

    __hash__ = object.__hash__

    def __new__(cls, data: Any = None, requires_grad: bool = False) -> InferenceParameter:
        obj = super().__new__(cls, data, requires_grad)
        freeze_array(obj)
        return obj

    def read_only_error(self) -> ReadOnlyModelError:
        return read_only_error("This parameter")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise self.read_only_error()

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _plain_ufunc(ufunc, method, inputs, kwargs)

    @property
    def data(self) -> np.ndarray:  # type: ignore[override]
        """The values as a plain (read-only) ndarray sharing this parameter's storage."""
        return self.view(np.ndarray)

    @data.setter
    def data(self, value: Any) -> None:
        raise self.read_only_error()

    def __reduce__(self) -> tuple:
        return (_rebuild_parameter, (np.array(self.view(np.ndarray)), self.requires_grad))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> InferenceParameter:
    return InferenceParameter(native_copy(data), requires_grad)


class InferenceBuffer(np.ndarray):
    """A buffer of an optimized model (e.g. an unfused BatchNorm's running_mean): read-only.

    Arithmetic and indexing give plain ndarrays, as they do for a plain buffer.
    """

    def read_only_error(self) -> ReadOnlyModelError:
        return read_only_error("This buffer")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise self.read_only_error()

    def __getitem__(self, index: Any) -> Any:
        return self.view(np.ndarray)[index]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _plain_ufunc(ufunc, method, inputs, kwargs)

    def __array_wrap__(self, arr: np.ndarray, context: Any = None, return_scalar: bool = False) -> Any:
        if return_scalar and arr.ndim == 0:
            return arr[()]
        return arr.view(np.ndarray)

    def __reduce__(self) -> tuple:
        return (_rebuild_buffer, (np.array(self.view(np.ndarray)),))

    def __deepcopy__(self, memo: dict) -> InferenceBuffer:
        if id(self) in memo:
            return memo[id(self)]
        result = _rebuild_buffer(self.view(np.ndarray))
        memo[id(self)] = result
        return result


def _rebuild_buffer(data: np.ndarray) -> InferenceBuffer:
    out = native_copy(data).view(InferenceBuffer)
    freeze_array(out)
    return out
