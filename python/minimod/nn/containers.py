"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict (torch ``container.py``).

Each is a plain Module whose children (or parameters) live in the ordinary registries, so
``state_dict`` keys, hooks and traversal work exactly as for any module: a ModuleList child is
``'0'``, ``'1'``, ...; a ParameterDict entry is the parameter registered under its key.

Behaviour follows torch 2.13, including its quirks (module-spec.md section 3): Sequential slicing
keeps the original keys while deletion renumbers them; ModuleList slicing renumbers; a plain dict
passed to ParameterDict is taken in sorted key order, to ModuleDict in insertion order.

Printing parameters: torch's ParameterList prints ``[torch.float32 of size 2x3]`` (the dtype) and
ParameterDict ``[torch.FloatTensor of size 2]`` (the tensor type). numpy has no per-dtype array
type, so both print the dtype as ``numpy.<dtype name>``, e.g.
``(0): Parameter containing: [numpy.float32 of size 2x3]``; the rest of each line is torch's.
"""

from __future__ import annotations

import operator
import warnings
from collections import OrderedDict
from collections import abc as container_abcs
from itertools import chain, islice
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from minimod import _core
from minimod._arrays import is_tensor_like
from minimod.nn.module import Module
from minimod.nn.parameter import Parameter

_sequential_forward = _core._sequential_forward

__all__ = ["Container", "ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Sequential"]


def _addindent(s_: str, num_spaces: int) -> str:
    # container.py's own copy of _addindent: unlike module.py's it indents blank lines too,
    # which only shows in ModuleList's folded repr.
    s = s_.split("\n")
    if len(s) == 1:
        return s_
    first = s.pop(0)
    return first + "\n" + "\n".join((num_spaces * " ") + line for line in s)


def _renumber(module: Module) -> None:
    """Rekey ``_modules`` to '0'..'n-1', keeping order (after a deletion).

    The registry is rebuilt in place, not replaced, and written directly: as in torch, no
    registration hook fires for a renumbering.
    """
    registry = module._modules
    values = list(registry.values())
    registry.clear()
    for i, child in enumerate(values):
        registry[str(i)] = child


def _abs_index(idx: Any, size: int) -> int:
    # operator.index: '0' and 1.0 are TypeErrors, numpy integers are fine, as in torch.
    idx = operator.index(idx)
    if not -size <= idx < size:
        msg = f"index {idx} is out of range"
        raise IndexError(msg)
    return idx + size if idx < 0 else idx


def _to_parameter(value: Any) -> Any:
    """A tensor-like value that is not yet a Parameter becomes one (torch wraps plain Tensors)."""
    if is_tensor_like(value) and not isinstance(value, (Parameter, Module)):
        return Parameter(value)
    return value


def _tensor_line(key: Any, value: Any) -> str:
    """One repr line of ParameterList / ParameterDict (see the module docstring)."""
    if isinstance(value, np.ndarray):
        size_str = "x".join(str(s) for s in value.shape)
        kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
        return f"  ({key}): {kind} containing: [numpy.{value.dtype.name} of size {size_str}]"
    return f"  ({key}): Object of type: {type(value).__name__}"


class Container(Module):
    """Deprecated (torch's ``nn.Container``): a Module built from keyword children."""

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            "`nn.Container` is deprecated. All of its functionality is now implemented in "
            "`nn.Module`. Subclass that instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)


# ---------------------------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------------------------


class Sequential(Module):
    """Modules applied in order: ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict(...))``.

    Only an ``OrderedDict`` gives names; a plain dict is an error ("dict is not a Module
    subclass"), as in torch.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _get_item_by_idx(self, iterator: Iterable[Any], idx: Any) -> Any:
        size = len(self)
        return next(islice(iterator, _abs_index(idx, size), None))

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            # Slicing keeps the original keys ('1', '2' for s[1:3]).
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx: Any, module: Module) -> None:
        key = self._get_item_by_idx(self._modules.keys(), idx)
        setattr(self, key, module)

    def __delitem__(self, idx: Any) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, self._get_item_by_idx(self._modules.keys(), idx))
        # Deleting renumbers every key to '0'..'n-1': OrderedDict names are lost, as in torch.
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Any) -> Sequential:
        if not isinstance(other, Sequential):
            msg = f"add operator supports only objects of Sequential class, but {type(other)!s} is given."
            raise ValueError(msg)
        ret = Sequential()
        for layer in chain(self, other):
            ret.append(layer)
        return ret

    def __iadd__(self, other: Any) -> Sequential:
        if not isinstance(other, Sequential):
            msg = f"add operator supports only objects of Sequential class, but {type(other)!s} is given."
            raise ValueError(msg)
        offset = len(self)
        for i, module in enumerate(other):
            self.add_module(str(i + offset), module)
        return self

    def _check_factor(self, other: Any) -> None:
        if not isinstance(other, int):
            msg = f"unsupported operand type(s) for *: {type(self)} and {type(other)}"
            raise TypeError(msg)
        if other <= 0:
            msg = f"Non-positive multiplication factor {other} for {type(self)}"
            raise ValueError(msg)

    def __mul__(self, other: Any) -> Sequential:
        self._check_factor(other)
        # The result repeats the same module objects (shared, not copied).
        combined = Sequential()
        for offset, module in enumerate(m for _ in range(other) for m in self):
            combined.add_module(str(offset), module)
        return combined

    def __rmul__(self, other: Any) -> Sequential:
        return self.__mul__(other)

    def __imul__(self, other: Any) -> Sequential:
        self._check_factor(other)
        n = len(self)
        for rep in range(1, other):
            for i in range(n):
                self.add_module(str(rep * n + i), self._modules[str(i)])
        return self

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def forward(self, input: Any) -> Any:  # noqa: A002
        # `for module in self: input = module(input)`, natively; an eval-mode Conv -> BatchNorm
        # [-> ReLU [-> MaxPool2d]] run that nothing can observe (no hooks, library classes) is
        # computed as one convolution with BatchNorm's affine in its store (minimod.nn._fusion).
        return _sequential_forward(tuple(self), input)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end, under the key ``str(len(self))``; return self."""
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index`` (keys must be numeric); return self."""
        if not isinstance(module, Module):
            msg = f"module should be of type: {Module}"
            raise AssertionError(msg)
        n = len(self._modules)
        if not -n <= index <= n:
            msg = f"Index out of range: {index}"
            raise IndexError(msg)
        if index < 0:
            index += n
        # Shift by writing the registry directly: no registration hooks, as in torch.
        modules = self._modules
        for i in range(n, index, -1):
            modules[str(i)] = modules[str(i - 1)]
        modules[str(index)] = module
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        for layer in sequential:
            self.append(layer)
        return self

    def pop(self, key: Any) -> Any:
        v = self[key]
        del self[key]
        return v


# ---------------------------------------------------------------------------------------------
# ModuleList
# ---------------------------------------------------------------------------------------------


class ModuleList(Module):
    """A list of child modules, registered as '0', '1', ...; it has no ``forward``."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def _get_abs_string_index(self, idx: Any) -> str:
        return str(_abs_index(idx, len(self)))

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            # Unlike Sequential, a slice is renumbered from '0'.
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx: Any, module: Module) -> None:
        setattr(self, self._get_abs_string_index(idx), module)

    def __delitem__(self, idx: Any) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        _renumber(self)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        combined = ModuleList()
        for i, module in enumerate(chain(self, other)):
            combined.add_module(str(i), module)
        return combined

    def __repr__(self) -> str:
        # Runs of equal reprs fold into one line: "(0-1): 2 x ReLU()".
        reprs = [repr(item) for item in self]
        if not reprs:
            return self._get_name() + "()"
        blocks: list[list[Any]] = []  # [start, end, repr]
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = []
        for start, end, r in blocks:
            if start == end:
                line = f"({start}): {r}"
            else:
                line = f"({start}-{end}): {end - start + 1} x {r}"
            lines.append(_addindent(line, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before ``index`` (0 <= index; past the end appends); returns None.

        torch's version leaves a broken list on bad input: a negative index raises KeyError('-1')
        after shifting half the entries (a module appears twice), an index past the end leaves a
        gap in the keys ('0', '1', '5'), and a non-Module is stored as a child. minimod raises
        the same KeyError before changing anything, appends past the end as ``list.insert``
        does, and refuses a non-Module with add_module's TypeError.
        """
        index = operator.index(index)
        if index < 0:
            raise KeyError("-1")
        if not isinstance(module, Module) and module is not None:
            msg = f"{type(module).__name__} is not a Module subclass"
            raise TypeError(msg)
        modules = self._modules
        index = min(index, len(modules))
        for i in range(len(modules), index, -1):
            modules[str(i)] = modules[str(i - 1)]
        modules[str(index)] = module

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: Any) -> Any:
        v = self[key]
        del self[key]
        return v

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, container_abcs.Iterable):
            msg = "ModuleList.extend should be called with an iterable, but got " + type(modules).__name__
            raise TypeError(msg)
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self


# ---------------------------------------------------------------------------------------------
# ModuleDict
# ---------------------------------------------------------------------------------------------


class _ViewRepr:
    # The abc views would print the whole ModuleDict; print the entries, as dict views do.
    def __repr__(self) -> str:
        return f"{type(self).__name__.lstrip('_')}({list(self)!r})"


class _KeysView(_ViewRepr, container_abcs.KeysView):
    pass


class _ItemsView(_ViewRepr, container_abcs.ItemsView):
    pass


class _ValuesView(_ViewRepr, container_abcs.ValuesView):
    pass


class ModuleDict(Module):
    """An ordered dict of child modules; keys are the child names. It has no ``forward``."""

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        # add_module's checks apply: '.', '', an existing attribute such as 'training', a non-Module.
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: Any) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        v = self[key]
        del self[key]
        return v

    # Live views, like the dict views torch returns (set operations, len, `in` all work).
    def keys(self) -> container_abcs.KeysView:
        return _KeysView(self)

    def items(self) -> container_abcs.ItemsView:
        return _ItemsView(self)

    def values(self) -> container_abcs.ValuesView:
        return _ValuesView(self)

    def update(self, modules: Any) -> None:
        """Add ``modules``: a mapping (insertion order, not sorted) or an iterable of pairs."""
        if not isinstance(modules, container_abcs.Iterable):
            msg = (
                "ModuleDict.update should be called with an iterable of key/value pairs, but got "
                + type(modules).__name__
            )
            raise TypeError(msg)
        if isinstance(modules, (OrderedDict, ModuleDict, container_abcs.Mapping)):
            for key, module in modules.items():
                self[key] = module
            return
        for j, m in enumerate(modules):
            if not isinstance(m, container_abcs.Iterable):
                # torch's message has no space before the type name.
                msg = "ModuleDict update sequence element #" + str(j) + " should be Iterable; is" + type(m).__name__
                raise TypeError(msg)
            if len(m) != 2:
                msg = "ModuleDict update sequence element #" + str(j) + " has length " + str(len(m)) + "; 2 is required"
                raise ValueError(msg)
            self[m[0]] = m[1]


# ---------------------------------------------------------------------------------------------
# ParameterList
# ---------------------------------------------------------------------------------------------


class ParameterList(Module):
    """A list of parameters registered as '0', '1', ...; plain arrays are wrapped into Parameters.

    A value that is not tensor-like (a str, None, ...) is kept as a plain attribute, as in torch.
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _get_abs_string_index(self, idx: Any) -> str:
        return str(_abs_index(idx, len(self)))

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            out = self.__class__()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, self._get_abs_string_index(idx))

    def __setitem__(self, idx: Any, param: Any) -> None:
        # Every way of adding an entry (append, extend, +=) ends here: the one place to wrap.
        setattr(self, self._get_abs_string_index(idx), _to_parameter(param))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, value: Any) -> ParameterList:
        new_idx = len(self)
        self._size += 1
        self[new_idx] = value
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        # An array is iterable, but an array is one value, never a list of them.
        if not isinstance(values, container_abcs.Iterable) or is_tensor_like(values):
            msg = "ParameterList.extend should be called with an iterable, but got " + type(values).__name__
            raise TypeError(msg)
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_tensor_line(k, p) for k, p in enumerate(self))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


# ---------------------------------------------------------------------------------------------
# ParameterDict
# ---------------------------------------------------------------------------------------------


class ParameterDict(Module):
    """An ordered dict of parameters registered under their (string) keys.

    A plain ``dict`` passed to the constructor or ``update`` is taken in **sorted** key order;
    an ``OrderedDict`` or ``ParameterDict`` in its own order (torch's rule).
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    def _key_to_attr(self, key: Any) -> str:
        if not isinstance(key, str):
            msg = (
                "Index given to ParameterDict cannot be used as a key as it is not a string "
                f"(type is '{type(key).__name__}'). Open an issue on github if you need non-string keys."
            )
            raise TypeError(msg)
        return key

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._key_to_attr(key))

    def __setitem__(self, key: str, value: Any) -> None:
        # torch records the key before checking its type, so `pd[1] = p` raises but leaves a key
        # that breaks every later repr/copy/clear. minimod checks first: a failed set changes nothing.
        attr = self._key_to_attr(key)
        self._keys[key] = None
        setattr(self, attr, _to_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._keys)

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same parameter objects (a shallow copy)."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def __contains__(self, key: Any) -> bool:
        return key in self._keys

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for k in self._keys.copy():
            del self[k]

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def popitem(self) -> tuple[str, Any]:
        k, _ = self._keys.popitem()
        self._keys[k] = None  # back in, so that the deletion below finds it
        val = self[k]
        del self[k]
        return k, val

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        return ParameterDict((k, default) for k in keys)

    def keys(self) -> container_abcs.KeysView:
        return self._keys.keys()

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((k, self[k]) for k in self._keys)

    def values(self) -> Iterator[Any]:
        return (self[k] for k in self._keys)

    def update(self, parameters: Mapping[str, Any] | ParameterDict | Iterable[Any]) -> None:
        if not isinstance(parameters, container_abcs.Iterable):
            # "ParametersDict" is torch's spelling.
            msg = (
                "ParametersDict.update should be called with an iterable of key/value pairs, but got "
                + type(parameters).__name__
            )
            raise TypeError(msg)
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            for key, parameter in parameters.items():
                self[key] = parameter
        elif isinstance(parameters, container_abcs.Mapping):
            for key, parameter in sorted(parameters.items()):
                self[key] = parameter
        else:
            for j, p in enumerate(parameters):
                if not isinstance(p, container_abcs.Iterable):
                    msg = "ParameterDict update sequence element #" + str(j) + " should be Iterable; is" + type(p).__name__
                    raise TypeError(msg)
                if len(p) != 2:
                    msg = "ParameterDict update sequence element #" + str(j) + " has length " + str(len(p)) + "; 2 is required"
                    raise ValueError(msg)
                self[p[0]] = p[1]

    def extra_repr(self) -> str:
        return "\n".join(_tensor_line(k, p) for k, p in self.items())

    def __call__(self, input: Any) -> Any:  # noqa: A002
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other: ParameterDict) -> ParameterDict:
        copy = self.copy()
        copy.update(other)
        return copy

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        copy = other.copy()
        copy.update(self)
        return copy

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self
