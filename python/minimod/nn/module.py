"""Module: PyTorch 2.13's ``nn.Module`` contract over numpy arrays and native registries.

Names, signatures, routing, hook order, state_dict layout and error messages follow torch
(``torch/nn/modules/module.py``); see module-spec.md section 1. What differs, and why:

- Every registry (``_parameters``, ``_buffers``, ``_modules`` and the hook dicts) is a native
  ``minimod._core.Registry`` (OrderedDict semantics, C-speed truth value and lookups).
- Parameters are ``minimod.nn.Parameter`` (an ndarray subclass over native storage); buffers are
  plain native ndarrays: a value from elsewhere is copied into native storage when registered.
- There is no autograd: backward hooks are stored, ordered and checked, but never fire.
- ``load_state_dict`` is atomic: when it raises, no parameter or buffer of the tree has changed.
- Only float32 on CPU is supported for now: ``double()``, ``half()``, ``cuda()``... raise.
"""

from __future__ import annotations

import functools
import itertools
import sys
import threading
import warnings
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from minimod import _core
from minimod._arrays import as_array, is_native, is_tensor_like, native_copy
from minimod.nn.hooks import RemovableHandle
from minimod.nn.parameter import Buffer, Parameter

__all__ = [
    "Module",
    "register_module_backward_hook",
    "register_module_buffer_registration_hook",
    "register_module_forward_hook",
    "register_module_forward_pre_hook",
    "register_module_full_backward_hook",
    "register_module_full_backward_pre_hook",
    "register_module_module_registration_hook",
    "register_module_parameter_registration_hook",
]

Registry = _core.Registry
# load_state_dict accepts any Mapping, and code written for torch tests isinstance(d, Mapping).
MutableMapping.register(Registry)

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"
_FLOAT32_ONLY = "minimod supports only float32 on CPU for now"


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(s_: str, num_spaces: int) -> str:
    s = s_.split("\n")
    if len(s) == 1:
        return s_
    first = s.pop(0)
    rest = [(num_spaces * " ") + line if line.strip() else "" for line in s]
    return first + "\n" + "\n".join(rest)


def typename(obj: Any) -> str:
    """``torch.typename``: 'numpy.ndarray', 'int', 'minimod.nn.layers.linear.Linear', ..."""
    # torch prints a tensor's type string for any Tensor, Parameters and Buffers included; the
    # numpy counterpart is 'numpy.ndarray' for every array (the spec's normalisation).
    if isinstance(obj, np.ndarray):
        return "numpy.ndarray"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, getattr(torch, "Tensor", ())):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    if module in {"", "builtins"}:
        return qualname
    return f"{module}.{qualname}"


def _remove_from(name: str, *containers: Any) -> None:
    for c in containers:
        if name in c:
            if isinstance(c, set):
                c.discard(name)
            else:
                del c[name]


def _as_buffer(value: Any) -> Any:
    """What a module stores for a buffer value: a whole native array (or None).

    A native plain ndarray is stored as is (aliasing, as torch stores the tensor); anything else
    tensor-like is copied into native storage once. A Parameter registered as a buffer is kept
    itself, as torch keeps it.
    """
    if value is None or isinstance(value, Parameter):
        return value
    if type(value) is np.ndarray:
        return value if is_native(value) else native_copy(value)
    if isinstance(value, np.ndarray):  # the Buffer marker or another subclass: store plain
        plain = value.view(np.ndarray)
        return plain if is_native(plain) else native_copy(plain)
    if is_tensor_like(value):
        return native_copy(as_array(value))
    return value  # a registration hook returned something else: torch stores it unchecked


def _detach(value: Any) -> Any:
    """``t.detach()``: a plain ndarray sharing storage (the buffer itself when already plain)."""
    if type(value) is np.ndarray or not isinstance(value, np.ndarray):
        return value
    return value.view(np.ndarray)


# A load copies into storage only after the whole tree validated (atomic load_state_dict).
# Module._load_from_state_dict stages its copies into the innermost active transaction.
_load_tls = threading.local()


def _active_load() -> list | None:
    stack = getattr(_load_tls, "stack", None)
    return stack[-1] if stack else None


def _apply_staged(ops: list) -> None:
    for op in ops:
        if op[0] == "copy":
            np.copyto(op[1], op[2], casting="no")
        else:  # ("assign", module, name, value, requires_grad or None)
            _, module, name, value, requires_grad = op
            if requires_grad is not None and value.requires_grad != requires_grad:
                value.requires_grad_(requires_grad)
            setattr(module, name, value)


# Unpickling or deep-copying gives buffers back as ordinary numpy arrays; __setstate__ moves
# them into native storage. A buffer shared by two modules is one array in the unpickled graph
# and must stay one native array: this table maps the transient array to its native copy for as
# long as the transient array lives (the unpickler's or deepcopy's memo holds it).
_renative_cache: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def _renativise(arr: np.ndarray) -> np.ndarray:
    if type(arr) is np.ndarray and is_native(arr):
        return arr
    key = id(arr)
    hit = _renative_cache.get(key)
    if hit is not None and hit[0]() is arr:
        return hit[1]
    out = native_copy(arr)

    def forget(ref: weakref.ref, key: int = key) -> None:
        entry = _renative_cache.get(key)
        if entry is not None and entry[0] is ref:
            del _renative_cache[key]

    _renative_cache[key] = (weakref.ref(arr, forget), out)
    return out


# ---------------------------------------------------------------------------------------------
# Global hooks (module-level, as in torch.nn.modules.module)
# ---------------------------------------------------------------------------------------------

_global_buffer_registration_hooks = Registry()
_global_module_registration_hooks = Registry()
_global_parameter_registration_hooks = Registry()

_global_backward_pre_hooks = Registry()
_global_backward_hooks = Registry()
_global_is_full_backward_hook: bool | None = None
_global_forward_pre_hooks = Registry()
_global_forward_hooks = Registry()
_global_forward_hooks_always_called = Registry()
_global_forward_hooks_with_kwargs = Registry()


class _WrappedHook:
    """A load_state_dict pre-hook that receives its module, held weakly (no reference cycle)."""

    def __init__(self, hook: Callable, module: Module | None = None) -> None:
        self.hook: Callable = hook
        functools.update_wrapper(self, hook)
        self.with_module: bool = False
        if module is not None:
            self.module: weakref.ReferenceType[Module] = weakref.ref(module)
            self.with_module = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.with_module:
            module = self.module()
            if module is None:
                raise RuntimeError("You are trying to call the hook of a dead Module!")
            return self.hook(module, *args, **kwargs)
        return self.hook(*args, **kwargs)

    def __getstate__(self) -> dict:
        result = {"hook": self.hook, "with_module": self.with_module}
        if self.with_module:
            result["module"] = self.module()
        return result

    def __setstate__(self, state: dict) -> None:
        self.hook = state["hook"]
        self.with_module = state["with_module"]
        if self.with_module:
            if state["module"] is None:
                raise RuntimeError("You are trying to revive the hook of a dead Module!")
            self.module = weakref.ref(state["module"])


def register_module_buffer_registration_hook(hook: Callable[..., None]) -> RemovableHandle:
    """Register a hook ``hook(module, name, buffer) -> None | new_buffer`` for every module."""
    handle = RemovableHandle(_global_buffer_registration_hooks)
    _global_buffer_registration_hooks[handle.id] = hook
    return handle


def register_module_module_registration_hook(hook: Callable[..., None]) -> RemovableHandle:
    """Register ``hook(module, name, submodule) -> None | new_submodule`` for every module."""
    handle = RemovableHandle(_global_module_registration_hooks)
    _global_module_registration_hooks[handle.id] = hook
    return handle


def register_module_parameter_registration_hook(hook: Callable[..., None]) -> RemovableHandle:
    """Register a hook ``hook(module, name, param) -> None | new_param`` for every module."""
    handle = RemovableHandle(_global_parameter_registration_hooks)
    _global_parameter_registration_hooks[handle.id] = hook
    return handle


def register_module_forward_pre_hook(hook: Callable[..., None]) -> RemovableHandle:
    """Register ``hook(module, args) -> None | new_args``, run before every module's forward.

    Global pre-hooks run before the module's own, and never receive kwargs.
    """
    handle = RemovableHandle(_global_forward_pre_hooks)
    _global_forward_pre_hooks[handle.id] = hook
    return handle


def register_module_forward_hook(
    hook: Callable[..., None], *, with_kwargs: bool = False, always_call: bool = False
) -> RemovableHandle:
    """Register ``hook(module, args[, kwargs], output) -> None | new_output`` for every module.

    Global forward hooks run before the module's own. ``always_call`` hooks also run when
    forward raises.
    """
    # As in torch, the handle also cleans the always_call set but not the with_kwargs one; a
    # stale id there is harmless because ids are never reused.
    handle = RemovableHandle(_global_forward_hooks, extra_dict=_global_forward_hooks_always_called)
    _global_forward_hooks[handle.id] = hook
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def _register_global_backward_hook(hook: Callable[..., Any], full: bool) -> RemovableHandle:
    # Legacy and full backward hooks share one global registry; the first kind registered
    # fixes which kind it holds, as in torch.
    global _global_is_full_backward_hook
    if _global_is_full_backward_hook is (not full):
        msg = (
            "Cannot use both regular backward hooks and full backward hooks as a global Module "
            "hook. Please use only one of them."
        )
        raise RuntimeError(msg)
    _global_is_full_backward_hook = full
    handle = RemovableHandle(_global_backward_hooks)
    _global_backward_hooks[handle.id] = hook
    return handle


def register_module_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Register a legacy global backward hook (deprecated in torch).

    minimod has no autograd: the hook is stored and ordered, but it never fires.
    """
    return _register_global_backward_hook(hook, full=False)


def register_module_full_backward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Register a global full backward pre-hook ``hook(module, grad_output)``.

    minimod has no autograd: the hook is stored and ordered, but it never fires.
    """
    handle = RemovableHandle(_global_backward_pre_hooks)
    _global_backward_pre_hooks[handle.id] = hook
    return handle


def register_module_full_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Register a global full backward hook ``hook(module, grad_input, grad_output)``.

    minimod has no autograd: the hook is stored and ordered, but it never fires.
    """
    return _register_global_backward_hook(hook, full=True)


def _forward_unimplemented(self: Module, *input: Any) -> None:  # noqa: A002
    """Define the computation performed at every call. Should be overridden by all subclasses."""
    msg = f'Module [{type(self).__name__}] is missing the required "forward" function'
    raise NotImplementedError(msg)


# ---------------------------------------------------------------------------------------------
# Module
# ---------------------------------------------------------------------------------------------


class Module:
    """Base class for all neural network modules (torch's ``nn.Module``)."""

    dump_patches: bool = False
    # Saved in state_dict()._metadata; a subclass bumps it when its state layout changes and
    # reads local_metadata['version'] in _load_from_state_dict (BatchNorm uses 2).
    _version: int = 1
    training: bool
    call_super_init: bool = False
    _compiled_call_impl: Callable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.call_super_init is False and bool(kwargs):
            msg = (
                f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                f"'{next(iter(kwargs))}'"
            )
            raise TypeError(msg)
        if self.call_super_init is False and bool(args):
            msg = (
                f"{type(self).__name__}.__init__() takes 1 positional argument but "
                f"{len(args) + 1} were given"
            )
            raise TypeError(msg)
        # object.__setattr__ skips our routing; the order fixes __dict__ (and pickle) layout.
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", Registry())
        setattr_(self, "_buffers", Registry())
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_backward_pre_hooks", Registry())
        setattr_(self, "_backward_hooks", Registry())
        setattr_(self, "_is_full_backward_hook", None)
        setattr_(self, "_forward_hooks", Registry())
        setattr_(self, "_forward_hooks_with_kwargs", Registry())
        setattr_(self, "_forward_hooks_always_called", Registry())
        setattr_(self, "_forward_pre_hooks", Registry())
        setattr_(self, "_forward_pre_hooks_with_kwargs", Registry())
        setattr_(self, "_state_dict_hooks", Registry())
        setattr_(self, "_state_dict_pre_hooks", Registry())
        setattr_(self, "_load_state_dict_pre_hooks", Registry())
        setattr_(self, "_load_state_dict_post_hooks", Registry())
        setattr_(self, "_modules", Registry())
        if self.call_super_init:
            super().__init__(*args, **kwargs)

    forward: Callable[..., Any] = _forward_unimplemented

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _install_native_getattr(cls)

    # ---- registration ------------------------------------------------------------------------

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Add a buffer: state that is not a parameter (e.g. BatchNorm's ``running_mean``).

        A tensor-like value (numpy array, torch tensor, anything with ``__array__`` or
        ``__dlpack__``) is stored as a native array: itself when it already is one, else a copy.
        Non-persistent buffers are left out of ``state_dict``.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            msg = f"buffer name should be a string. Got {typename(name)}"
            raise TypeError(msg)
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._buffers:
            msg = f"attribute '{name}' already exists"
            raise KeyError(msg)
        if tensor is not None and not is_tensor_like(tensor):
            msg = (
                f"cannot assign '{typename(tensor)}' object to buffer '{name}' "
                "(torch Tensor or None required)"
            )
            raise TypeError(msg)
        for hook in _global_buffer_registration_hooks.values():
            output = hook(self, name, tensor)
            if output is not None:
                tensor = output
        self._buffers[name] = _as_buffer(tensor)
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (a ``minimod.nn.Parameter``, or None) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            msg = f"parameter name should be a string. Got {typename(name)}"
            raise TypeError(msg)
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in self._parameters:
            msg = f"attribute '{name}' already exists"
            raise KeyError(msg)
        if param is None:
            self._parameters[name] = None  # no registration hooks for None, as in torch
            return
        if not isinstance(param, Parameter):
            msg = (
                f"cannot assign '{typename(param)}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
            raise TypeError(msg)
        # torch's non-leaf check cannot trigger: minimod parameters are always leaves.
        for hook in _global_parameter_registration_hooks.values():
            output = hook(self, name, param)
            if output is not None:
                param = output
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (or None) under ``name``; it becomes an attribute too."""
        if not isinstance(module, Module) and module is not None:
            msg = f"{typename(module)} is not a Module subclass"
            raise TypeError(msg)
        if not isinstance(name, str):
            msg = f"module name should be a string. Got {typename(name)}"
            raise TypeError(msg)
        if hasattr(self, name) and name not in self._modules:
            msg = f"attribute '{name}' already exists"
            raise KeyError(msg)
        if "." in name:
            msg = f'module name can\'t contain ".", got: {name}'
            raise KeyError(msg)
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        for hook in _global_module_registration_hooks.values():
            output = hook(self, name, module)
            if output is not None:
                module = output
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias for :meth:`add_module`."""
        self.add_module(name, module)

    # ---- attribute routing -------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails, i.e. for registered names.
        d = self.__dict__
        if "_parameters" in d:
            params = d["_parameters"]
            if name in params:
                return params[name]
        if "_buffers" in d:
            buffers = d["_buffers"]
            if name in buffers:
                return buffers[name]
        if "_modules" in d:
            modules = d["_modules"]
            if name in modules:
                return modules[name]
        msg = f"'{type(self).__name__}' object has no attribute '{name}'"
        raise AttributeError(msg)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(name, d, self._buffers, self._modules, self._non_persistent_buffers_set)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                msg = (
                    f"cannot assign '{typename(value)}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
                raise TypeError(msg)
            self.register_parameter(name, value)
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                _remove_from(
                    name, d, self._parameters, self._buffers, self._non_persistent_buffers_set
                )
                for hook in _global_module_registration_hooks.values():
                    output = hook(self, name, value)
                    if output is not None:
                        value = output
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    msg = (
                        f"cannot assign '{typename(value)}' as child module '{name}' "
                        "(torch.nn.Module or None expected)"
                    )
                    raise TypeError(msg)
                for hook in _global_module_registration_hooks.values():
                    output = hook(self, name, value)
                    if output is not None:
                        value = output
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if isinstance(value, Buffer) or (buffers is not None and name in buffers):
                    if value is not None and not is_tensor_like(value):
                        msg = (
                            f"cannot assign '{typename(value)}' as buffer '{name}' "
                            "(torch.nn.Buffer, torch.Tensor or None expected)"
                        )
                        raise TypeError(msg)
                    if isinstance(value, Buffer):
                        persistent = value.persistent
                    else:
                        persistent = name not in self._non_persistent_buffers_set
                    self._register_buffer_from_setattr(name, value, persistent)
                else:
                    object.__setattr__(self, name, value)

    def _register_buffer_from_setattr(self, name: str, value: Any, persistent: bool) -> None:
        # A subclass may override register_buffer without the `persistent` argument (torch
        # tolerates that as long as the buffer is persistent).
        if getattr(self.register_buffer, "__func__", None) is Module.register_buffer:
            self.register_buffer(name, value, persistent)
            return
        import inspect

        if "persistent" in inspect.signature(self.register_buffer).parameters:
            self.register_buffer(name, value, persistent)
        else:
            if not persistent:
                msg = (
                    "Registering a non-persistent buffer on a Module subclass that implements "
                    "register_buffer() without the persistent argument is not allowed."
                )
                raise RuntimeError(msg)
            self.register_buffer(name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            super().__delattr__(name)

    # ---- calling -----------------------------------------------------------------------------

    def _call_impl(self, *args: Any, **kwargs: Any) -> Any:
        # The reference semantics of a call. Module.__call__ is a C descriptor (module_call.cpp,
        # installed below the class) that does this same fast-path test natively and calls
        # this function whenever there is a hook or anything unusual.
        forward_call = self.forward
        # With no forward/backward hooks on this module and none global, a call is
        # forward(*args, **kwargs) and nothing else (the with_kwargs / always_called sets are
        # not consulted). Registry truth tests are C slots.
        if not (
            self._backward_hooks
            or self._backward_pre_hooks
            or self._forward_hooks
            or self._forward_pre_hooks
            or _global_backward_pre_hooks
            or _global_backward_hooks
            or _global_forward_hooks
            or _global_forward_pre_hooks
        ):
            return forward_call(*args, **kwargs)
        return self._call_with_hooks(forward_call, args, kwargs)

    __call__: Callable[..., Any] = _call_impl

    def _call_hooked(self, *args: Any, **kwargs: Any) -> Any:
        # Entry of the native __call__ once it has seen a hook, when _call_with_hooks is not
        # Module's own (otherwise the native code runs its transliteration of _call_with_hooks
        # itself): _call_impl minus the re-test.
        return self._call_with_hooks(self.forward, args, kwargs)

    def _call_with_hooks(self, forward_call: Callable, args: tuple, kwargs: dict) -> Any:
        # torch's _call_impl, minus autograd: each phase iterates a snapshot (items() is a list),
        # so hooks added or removed during a call take effect from the next call.
        result = None
        called_always_called_hooks: set[int] = set()
        try:
            pre_hooks = self._forward_pre_hooks
            if _global_forward_pre_hooks or pre_hooks:
                pre_kw = self._forward_pre_hooks_with_kwargs
                items = (
                    [*_global_forward_pre_hooks.items(), *pre_hooks.items()]
                    if _global_forward_pre_hooks
                    else pre_hooks.items()
                )
                for hook_id, hook in items:
                    if hook_id in pre_kw:
                        args_kwargs_result = hook(self, args, kwargs)
                        if args_kwargs_result is not None:
                            if (
                                isinstance(args_kwargs_result, tuple)
                                and len(args_kwargs_result) == 2
                            ):
                                args, kwargs = args_kwargs_result
                            else:
                                msg = (
                                    "forward pre-hook must return None or a tuple of (new_args, "
                                    f"new_kwargs), but got {args_kwargs_result}."
                                )
                                raise RuntimeError(msg)
                    else:
                        args_result = hook(self, args)
                        if args_result is not None:
                            if not isinstance(args_result, tuple):
                                args_result = (args_result,)
                            args = args_result

            result = forward_call(*args, **kwargs)

            fwd_hooks = self._forward_hooks
            if _global_forward_hooks or fwd_hooks:
                fwd_kw = self._forward_hooks_with_kwargs
                fwd_always = self._forward_hooks_always_called
                items = (
                    [*_global_forward_hooks.items(), *fwd_hooks.items()]
                    if _global_forward_hooks
                    else fwd_hooks.items()
                )
                for hook_id, hook in items:
                    if hook_id in fwd_always or hook_id in _global_forward_hooks_always_called:
                        called_always_called_hooks.add(hook_id)
                    if hook_id in fwd_kw or hook_id in _global_forward_hooks_with_kwargs:
                        hook_result = hook(self, args, kwargs, result)
                    else:
                        hook_result = hook(self, args, result)
                    if hook_result is not None:
                        result = hook_result
            return result
        except Exception:
            self._run_always_called_hooks(args, kwargs, result, called_always_called_hooks)
            raise

    def _run_always_called_hooks(self, args: tuple, kwargs: dict, result: Any,
                                 called_always_called_hooks: set[int]) -> None:
        # The except branch of _call_with_hooks (also called by the native hooked path,
        # module_hotpath.cpp, with the exception pending).
        # always_call hooks that did not run yet run now, with the args as they were and
        # result None (or what an earlier always_call hook returned); their own errors
        # become warnings and the original exception propagates.
        for hook_id, hook in _global_forward_hooks.items():
            if (
                hook_id in _global_forward_hooks_always_called
                and hook_id not in called_always_called_hooks
            ):
                try:
                    hook_result = hook(self, args, result)
                    if hook_result is not None:
                        result = hook_result
                except Exception as e:
                    warnings.warn(
                        "global module forward hook with ``always_call=True`` raised an "
                        "exception that was silenced as another error was raised in "
                        f"forward: {e!s}",
                        stacklevel=2,
                    )
        for hook_id, hook in self._forward_hooks.items():
            if (
                hook_id in self._forward_hooks_always_called
                and hook_id not in called_always_called_hooks
            ):
                try:
                    if hook_id in self._forward_hooks_with_kwargs:
                        hook_result = hook(self, args, kwargs, result)
                    else:
                        hook_result = hook(self, args, result)
                    if hook_result is not None:
                        result = hook_result
                except Exception as e:
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception "
                        f"that was silenced as another error was raised in forward: {e!s}",
                        stacklevel=2,
                    )

    # ---- hooks -------------------------------------------------------------------------------

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Register ``hook(module, args) -> None | new_args`` to run before ``forward``.

        A non-tuple return value is wrapped as ``(value,)``; a tuple replaces ``args``. With
        ``with_kwargs=True`` the hook is ``hook(module, args, kwargs) -> None | (args, kwargs)``.
        ``prepend=True`` runs it before this module's other pre-hooks (never before global ones).
        """
        handle = RemovableHandle(
            self._forward_pre_hooks, extra_dict=self._forward_pre_hooks_with_kwargs
        )
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Register ``hook(module, args, output) -> None | new_output`` to run after ``forward``.

        With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs, output)``. A non-None
        return replaces the output. ``always_call=True`` also runs it when forward raises.
        """
        handle = RemovableHandle(
            self._forward_hooks,
            extra_dict=[self._forward_hooks_with_kwargs, self._forward_hooks_always_called],
        )
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """Register a backward pre-hook ``hook(module, grad_output)``.

        minimod has no autograd: the hook is stored and ordered (``prepend`` works), but it
        never fires.
        """
        handle = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register a legacy backward hook (deprecated in torch).

        minimod has no autograd: the hook is stored and ordered, but it never fires. Mixing it
        with full backward hooks on one module raises, as in torch.
        """
        if self._is_full_backward_hook is True:
            msg = (
                "Cannot use both regular backward hooks and full backward hooks on a single "
                "Module. Please use only one of them."
            )
            raise RuntimeError(msg)
        self._is_full_backward_hook = False
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    def register_full_backward_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """Register a backward hook ``hook(module, grad_input, grad_output)``.

        minimod has no autograd: the hook is stored and ordered (``prepend`` works), but it
        never fires. Mixing it with legacy backward hooks on one module raises, as in torch.
        """
        if self._is_full_backward_hook is False:
            msg = (
                "Cannot use both regular backward hooks and full backward hooks on a single "
                "Module. Please use only one of them."
            )
            raise RuntimeError(msg)
        self._is_full_backward_hook = True
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        return handle

    def _register_state_dict_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Private, legacy state_dict post-hook: may return a new dict (effective at the root)."""
        if getattr(hook, "_from_public_api", False):
            msg = (
                "Cannot register the same function as the state dict post hook that was "
                "previously registered via register_state_dict_post_hook"
            )
            raise RuntimeError(msg)
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register ``hook(module, state_dict, prefix, local_metadata) -> None``."""
        hook._from_public_api = True  # type: ignore[attr-defined]
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register ``hook(module, prefix, keep_vars) -> None``, run before state_dict saves."""
        handle = RemovableHandle(self._state_dict_pre_hooks)
        self._state_dict_pre_hooks[handle.id] = hook
        return handle

    def _register_load_state_dict_pre_hook(
        self, hook: Callable[..., Any], with_module: bool = False
    ) -> RemovableHandle:
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = _WrappedHook(
            hook, self if with_module else None
        )
        return handle

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) -> None``, run before this module loads its state."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Register ``hook(module, incompatible_keys) -> None``, run after this subtree loaded.

        The hook may edit ``incompatible_keys.missing_keys`` / ``unexpected_keys`` in place.
        Because minimod's load is atomic, the hook runs before the new values are written: it
        sees the parameters as they were before the load.
        """
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    # ---- state_dict --------------------------------------------------------------------------

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else _detach(param)
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else _detach(buf)
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(
        self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> Any:
        """The module's state as an ordered dict of name -> array.

        Values share memory with the module (plain ndarray views; the Parameters themselves when
        ``keep_vars=True``). Per module: parameters, then persistent buffers, then children.
        """
        if len(args) > 0:
            warnings.warn(
                "Positional args are being deprecated, use kwargs instead. Refer to "
                "https://pytorch.org/docs/main/generated/torch.nn.Module.html"
                "#torch.nn.Module.state_dict for details.",
                FutureWarning,
                stacklevel=2,
            )
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()  # type: ignore[attr-defined]
        local_metadata = dict(version=self._version)
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in self._state_dict_hooks.values():
            hook_result = hook(self, destination, prefix, local_metadata)
            if not getattr(hook, "_from_public_api", False):
                if hook_result is not None:
                    destination = hook_result
            elif hook_result is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Load this module's own parameters and buffers (not its children's) from state_dict.

        Subclasses override it to adapt old checkpoints (see ``_version``) and call super().
        Inside ``load_state_dict`` the copies are validated here and written only once the whole
        tree loaded without error; called on its own, the valid copies are written on return.
        """
        for hook in self._load_state_dict_pre_hooks.values():
            hook(
                state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                error_msgs,
            )

        persistent_buffers = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local_name_params = itertools.chain(self._parameters.items(), persistent_buffers.items())
        local_state = {k: v for k, v in local_name_params if v is not None}
        assign = local_metadata.get("assign_to_params_buffers", False)
        transaction = _active_load()
        staged: list = [] if transaction is None else transaction

        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            input_param = state_dict[key]
            src = None
            if is_tensor_like(input_param):
                try:
                    src = as_array(input_param)
                except Exception:  # noqa: BLE001 (an __array__ that raises: not usable data)
                    src = None
            if src is None:
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(input_param)}"
                )
                continue
            indexed = False
            if param.ndim == 0 and src.ndim == 1 and src.shape[0] == 1:
                src = src[0, ...]  # backward compatibility: a (1,) checkpoint for a 0-d tensor
                indexed = True
            if src.shape != param.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {src.shape} from "
                    f"checkpoint, the shape in current model is {param.shape}."
                )
                continue
            try:
                staged.append(
                    self._stage_load(name, param, input_param, src, indexed, assign)
                )
            except Exception as ex:
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {param.shape} and whose dimensions in the checkpoint are {src.shape}, "
                    f"an exception occurred : {ex.args}."
                )

        extra_state_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_state_key in state_dict:
                self.set_extra_state(state_dict[extra_state_key])
            elif strict:
                missing_keys.append(extra_state_key)
        elif strict and extra_state_key in state_dict:
            unexpected_keys.append(extra_state_key)

        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_state_key:
                    input_name = key[len(prefix) :].split(".", 1)
                    if len(input_name) > 1:
                        if input_name[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif input_name[0] not in local_state:
                        unexpected_keys.append(key)

        if transaction is None:
            _apply_staged(staged)

    def _stage_load(
        self,
        name: str,
        param: np.ndarray,
        input_param: Any,
        src: np.ndarray,
        indexed: bool,
        assign: bool,
    ) -> tuple:
        """Check one copy and prepare it so that applying it later cannot fail."""
        if assign:
            if isinstance(param, Parameter):
                if isinstance(input_param, Parameter) and not indexed:
                    if param.requires_grad and input_param.dtype.kind not in "fc":
                        msg = (
                            "Only Tensors of floating point and complex dtype can require "
                            "gradients"
                        )
                        raise RuntimeError(msg)
                    return ("assign", self, name, input_param, param.requires_grad)
                return ("assign", self, name, Parameter(src, param.requires_grad), None)
            if isinstance(input_param, Parameter) and not indexed:
                return ("assign", self, name, input_param, None)
            return ("assign", self, name, _as_buffer(src), None)
        dst = param.view(np.ndarray) if type(param) is not np.ndarray else param
        if not dst.flags.writeable:
            raise ValueError("assignment destination is read-only")
        if src.dtype.kind not in "biufc":
            msg = f"cannot copy an array of dtype {src.dtype} into a {dst.dtype} array"
            raise TypeError(msg)
        # Cast now (float64 -> float32, float -> int64 counters), so the later write is a plain
        # same-dtype copy; a same-dtype source is read at write time, never aliased.
        staged = src if src.dtype == dst.dtype else src.astype(dst.dtype)
        return ("copy", dst, staged)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module and its children.

        Values may be numpy arrays, Parameters, torch tensors or anything with ``__array__`` /
        ``__dlpack__``; they are cast to the model's dtype and copied into its storage. With
        ``assign=True`` the module's arrays are replaced instead. Returns the missing and
        unexpected keys. If it raises, no parameter or buffer of the tree has changed.
        """
        if not isinstance(state_dict, Mapping):
            msg = f"Expected state_dict to be dict-like, got {type(state_dict)}."
            raise TypeError(msg)
        missing_keys: list[str] = []
        unexpected_keys: list[str] = []
        error_msgs: list[str] = []

        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata  # type: ignore[attr-defined]

        def load(module: Module, local_state_dict: Mapping[str, Any], prefix: str = "") -> None:
            local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(
                local_state_dict, prefix, local_metadata, True, missing_keys, unexpected_keys,
                error_msgs,
            )
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    child_state_dict = {
                        k: v for k, v in local_state_dict.items() if k.startswith(child_prefix)
                    }
                    load(child, child_state_dict, child_prefix)
            incompatible_keys = _IncompatibleKeys(missing_keys, unexpected_keys)
            for hook in module._load_state_dict_post_hooks.values():
                out = hook(module, incompatible_keys)
                if out is not None:
                    msg = (
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace."
                    )
                    raise AssertionError(msg)

        staged: list = []
        stack = getattr(_load_tls, "stack", None)
        if stack is None:
            stack = _load_tls.stack = []
        stack.append(staged)
        try:
            load(self, state_dict)
        finally:
            stack.pop()
        del load

        if strict:
            if len(unexpected_keys) > 0:
                error_msgs.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected_keys)
                    ),
                )
            if len(missing_keys) > 0:
                error_msgs.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing_keys)
                    ),
                )
        if len(error_msgs) > 0:
            msg = "Error(s) in loading state_dict for {}:\n\t{}".format(
                self.__class__.__name__, "\n\t".join(error_msgs)
            )
            raise RuntimeError(msg)
        _apply_staged(staged)
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    def get_extra_state(self) -> Any:
        """Extra state for ``state_dict``; override it together with :meth:`set_extra_state`."""
        msg = (
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?"
            "template=bug-report.yml to report this bug."
        )
        raise RuntimeError(msg)

    def set_extra_state(self, state: Any) -> None:
        """Restore the state returned by :meth:`get_extra_state`."""
        msg = (
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?"
            "template=bug-report.yml to report this bug."
        )
        raise RuntimeError(msg)

    # ---- iteration ---------------------------------------------------------------------------

    def _named_members(
        self,
        get_members_fn: Callable[[Module], Any],
        prefix: str = "",
        recurse: bool = True,
        remove_duplicate: bool = True,
    ) -> Iterator[tuple[str, Any]]:
        # numpy arrays are unhashable: the memo keys on id() and holds the objects, so an id
        # cannot be recycled while the walk runs.
        memo: dict[int, Any] = {}
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for k, v in get_members_fn(module):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo[id(v)] = v
                name = module_prefix + ("." if module_prefix else "") + k
                yield name, v

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module (and, with ``recurse``, of all submodules)."""
        for _name, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; a shared parameter appears once, under its first name."""
        yield from self._named_members(
            lambda module: module._parameters.items(),
            prefix=prefix,
            recurse=recurse,
            remove_duplicate=remove_duplicate,
        )

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """The buffers (persistent and not) of this module and, with ``recurse``, submodules."""
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, buffer)`` pairs, including non-persistent buffers."""
        yield from self._named_members(
            lambda module: module._buffers.items(),
            prefix=prefix,
            recurse=recurse,
            remove_duplicate=remove_duplicate,
        )

    def children(self) -> Iterator[Module]:
        """The direct children, each once."""
        for _name, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, child)`` for the direct children, skipping None, each child once."""
        memo: set[Module] = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        """This module and all its descendants, pre-order."""
        for _, module in self.named_modules(remove_duplicate=remove_duplicate):
            yield module

    def named_modules(
        self, memo: set[Module] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for this module (name ``prefix``) and its descendants, pre-order."""
        if memo is None:
            memo = set()
        if self not in memo:
            if remove_duplicate:
                memo.add(self)
            yield prefix, self
            for name, module in self._modules.items():
                if module is None:
                    continue
                submodule_prefix = prefix + ("." if prefix else "") + name
                yield from module.named_modules(memo, submodule_prefix, remove_duplicate)

    # ---- traversal ---------------------------------------------------------------------------

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (post-order, each once) and then on self; return self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``''`` is self)."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(mod._get_name() + " has no attribute `" + item + "`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Set the submodule at dotted path ``target``; with ``strict`` it must already exist."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        atoms = target.split(".")
        if not isinstance(module, Module):
            msg = "`" + "module" + f"` is not an nn.Module, found {type(module)}"
            raise ValueError(msg)
        parent = self if len(atoms) == 1 else self.get_submodule(".".join(atoms[:-1]))
        if strict and not hasattr(parent, atoms[-1]):
            raise AttributeError(parent._get_name() + " has no attribute `" + atoms[-1] + "`")
        if hasattr(parent, atoms[-1]):
            mod = getattr(parent, atoms[-1])
            if not isinstance(mod, Module):
                raise AttributeError("`" + atoms[-1] + "` is not an nn.Module")
        setattr(parent, atoms[-1], module)

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``."""
        module_path, _, param_name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, param_name):
            raise AttributeError(mod._get_name() + " has no attribute `" + param_name + "`")
        param = getattr(mod, param_name)
        if not isinstance(param, Parameter):
            raise AttributeError("`" + param_name + "` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> np.ndarray:
        """The buffer at dotted path ``target``."""
        module_path, _, buffer_name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, buffer_name):
            raise AttributeError(mod._get_name() + " has no attribute `" + buffer_name + "`")
        buffer = getattr(mod, buffer_name)
        if buffer_name not in mod._buffers:
            raise AttributeError("`" + buffer_name + "` is not a buffer")
        return buffer

    # ---- modes and casting -------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all descendants; return self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; return self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset ``.grad`` of every parameter (there is no autograd: usually nothing to do)."""
        for p in self.parameters():
            grad = getattr(p, "grad", None)
            if grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    grad[...] = 0

    def _apply(self, fn: Callable[[Any], Any], recurse: bool = True) -> Module:
        if recurse:
            for module in self.children():
                module._apply(fn)
        for key, param in self._parameters.items():
            if param is None:
                continue
            applied = fn(param)
            out_param = param
            if applied is not param:
                applied = as_array(applied)
                if applied.shape == param.shape and applied.dtype == param.dtype:
                    param.data = applied  # same layout: keep the Parameter (identity and storage)
                else:
                    # A numpy array cannot swap its memory in place: a new dtype or shape needs
                    # a new Parameter object (torch's path for incompatible tensor types).
                    out_param = Parameter(native_copy(applied), param.requires_grad)
                    self._parameters[key] = out_param
            grad = getattr(param, "grad", None)
            if grad is not None:
                out_param.grad = fn(grad)
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = _as_buffer(fn(buf))
        return self

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32 (integer ones keep their dtype)."""

        def to_float32(t: np.ndarray) -> np.ndarray:
            if t.dtype.kind == "f" and t.dtype != np.float32:
                return native_copy(t, np.float32)
            return t

        return self._apply(to_float32)

    def double(self) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.double() is not available")

    def half(self) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.half() is not available")

    def bfloat16(self) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.bfloat16() is not available")

    def cpu(self) -> Module:
        """Everything already lives in CPU memory: returns self."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.cuda() is not available")

    def ipu(self, device: Any = None) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.ipu() is not available")

    def xpu(self, device: Any = None) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.xpu() is not available")

    def mtia(self, device: Any = None) -> Module:
        """Not available: minimod supports only float32 on CPU for now."""
        raise NotImplementedError(f"{_FLOAT32_ONLY}: Module.mtia() is not available")

    def type(self, dst_type: Any) -> Module:  # noqa: A003
        """``type(float32)`` casts like :meth:`float`; any other type is not available."""
        dtype = _parse_dtype(dst_type)
        if dtype != np.float32:
            msg = f"{_FLOAT32_ONLY}: Module.type({dst_type!r}) is not available"
            raise NotImplementedError(msg)
        return self.float()

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(device=None, dtype=None, non_blocking=False)``, ``to(dtype)``, ``to(array)``.

        Only the CPU device and float32 are supported for now; other values raise
        NotImplementedError, and a non-floating dtype raises torch's TypeError.
        """
        device, dtype = _parse_to(args, kwargs)
        if device is not None and not _is_cpu(device):
            msg = f"{_FLOAT32_ONLY}: Module.to(device={device!r}) is not available"
            raise NotImplementedError(msg)
        if dtype is not None:
            np_dtype = _parse_dtype(dtype)
            if np_dtype.kind not in "fc":
                msg = (
                    "nn.Module.to only accepts floating point or complex dtypes, but got "
                    f"desired dtype={dtype}"
                )
                raise TypeError(msg)
            if np_dtype != np.float32:
                msg = f"{_FLOAT32_ONLY}: Module.to(dtype={dtype}) is not available"
                raise NotImplementedError(msg)
            return self.float()
        return self

    def to_empty(self, *, device: Any, recurse: bool = True) -> Module:
        """Replace every parameter and buffer by uninitialised storage of the same shape (CPU)."""
        if device is not None and not _is_cpu(device):
            msg = f"{_FLOAT32_ONLY}: Module.to_empty(device={device!r}) is not available"
            raise NotImplementedError(msg)
        return self._apply(
            lambda t: _core.empty(list(t.shape), t.dtype.name, False), recurse=recurse
        )

    def share_memory(self) -> Module:
        """Not available in minimod (no shared-memory storage yet)."""
        raise NotImplementedError("minimod does not support Module.share_memory() yet")

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """Not available: there is no compiler in minimod."""
        raise NotImplementedError("minimod does not support Module.compile()")

    def _replicate_for_data_parallel(self) -> Module:
        raise NotImplementedError("minimod does not support data parallel replicas")

    # ---- printing ----------------------------------------------------------------------------

    def _get_name(self) -> str:
        return self.__class__.__name__

    def extra_repr(self) -> str:
        """The module's own settings for ``repr`` (one line, or several); '' by default."""
        return ""

    def __repr__(self) -> str:
        extra_lines: list[str] = []
        extra_repr = self.extra_repr()
        if extra_repr:
            extra_lines = extra_repr.split("\n")
        child_lines = []
        for key, module in self._modules.items():
            mod_str = _addindent(repr(module), 2)
            child_lines.append("(" + key + "): " + mod_str)
        lines = extra_lines + child_lines
        main_str = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main_str += extra_lines[0]
            else:
                main_str += "\n  " + "\n  ".join(lines) + "\n"
        return main_str + ")"

    def __dir__(self) -> list[str]:
        module_attrs = dir(self.__class__)
        attrs = list(self.__dict__.keys())
        parameters = list(self._parameters.keys())
        modules = list(self._modules.keys())
        buffers = list(self._buffers.keys())
        keys = module_attrs + attrs + parameters + modules + buffers
        keys = [key for key in keys if not key[0].isdigit()]
        return sorted(keys)

    # ---- pickling ----------------------------------------------------------------------------

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_compiled_call_impl", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        d = self.__dict__
        for name in (
            "_parameters",
            "_buffers",
            "_modules",
            "_forward_pre_hooks",
            "_forward_pre_hooks_with_kwargs",
            "_forward_hooks",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
            "_state_dict_pre_hooks",
            "_load_state_dict_pre_hooks",
            "_load_state_dict_post_hooks",
        ):
            reg = d.get(name)
            if reg is None:
                d[name] = Registry()
            elif not isinstance(reg, Registry):  # e.g. an OrderedDict from an older pickle
                d[name] = Registry(reg)
        if "_non_persistent_buffers_set" not in d:
            d["_non_persistent_buffers_set"] = set()
        if "_is_full_backward_hook" not in d:
            d["_is_full_backward_hook"] = None
        # Copies and unpickled arrays are ordinary numpy memory: move buffers back into native
        # storage (Parameters do this themselves in __deepcopy__ / on unpickling).
        buffers = d["_buffers"]
        for name, buf in buffers.items():
            if isinstance(buf, np.ndarray) and not isinstance(buf, Parameter):
                new = _renativise(buf)
                if new is not buf:
                    buffers[name] = new


# Native hot paths (csrc/bindings/module_hotpath.cpp), with the Python code above as their
# reference semantics. __call__: the hook-free test without a Python frame. Attribute lookup:
# registered names found without CPython 3.11 first raising and discarding an AttributeError.
_module_call_descriptor = getattr(_core, "_module_call_descriptor", None)
if _module_call_descriptor is not None:
    Module.__call__ = _module_call_descriptor(  # type: ignore[method-assign]
        Module, globals(), Module._call_impl, Module._call_hooked
    )

_native_getattro = getattr(_core, "_install_module_getattro", None)


def _install_native_getattr(cls: type) -> None:
    # Only where lookup is exactly Module's: a class with its own __getattr__ or
    # __getattribute__ (or a mixin's) keeps CPython's generic slot and its own semantics.
    if (
        _native_getattro is not None
        and cls.__getattr__ is Module.__getattr__  # type: ignore[attr-defined]
        and cls.__getattribute__ is object.__getattribute__
    ):
        _native_getattro(cls, Module.__getattr__)


_install_native_getattr(Module)


# ---------------------------------------------------------------------------------------------
# to() argument parsing (numpy and torch spellings of dtype and device)
# ---------------------------------------------------------------------------------------------


def _parse_dtype(dtype: Any) -> np.dtype:
    text = str(dtype)
    if text.startswith("torch."):
        text = text[len("torch.") :]
        aliases = {
            "float": "float32", "double": "float64", "half": "float16", "long": "int64",
            "int": "int32", "bool": "bool", "bfloat16": "bfloat16",
            # Module.type('torch.FloatTensor') spells the tensor type
            "FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
            "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32",
            "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8",
            "BoolTensor": "bool",
        }
        text = aliases.get(text, text)
        if text == "bfloat16":
            return np.dtype([("bfloat16", np.uint16)])  # not float32: caller raises
        return np.dtype(text)
    if isinstance(dtype, np.ndarray):
        return dtype.dtype
    return np.dtype(dtype)


def _is_dtype_like(value: Any) -> bool:
    if isinstance(value, (np.dtype, type)) and not isinstance(value, str):
        try:
            np.dtype(value)
        except TypeError:
            return False
        return True
    return type(value).__name__ == "dtype" and type(value).__module__ == "torch"


_DEVICE_PREFIXES = ("cpu", "cuda", "mps", "xpu", "meta", "ipu", "mtia", "hpu", "xla")


def _is_cpu(device: Any) -> bool:
    text = str(device)
    return text == "cpu" or text.startswith("cpu:")


def _parse_to(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """(device, dtype) from ``to``'s overloads; non_blocking/copy/memory_format are accepted."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        msg = f"to() received an invalid combination of arguments: unexpected {sorted(unknown)}"
        raise TypeError(msg)
    device = kwargs.get("device")
    dtype = kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, bool):
            continue  # non_blocking / copy
        if _is_dtype_like(arg):
            dtype = arg
        elif isinstance(arg, str) and not arg.startswith(_DEVICE_PREFIXES):
            dtype = arg  # 'float32'
        elif is_tensor_like(arg):
            dtype = as_array(arg).dtype
            device = "cpu"
        else:
            device = arg
    return device, dtype
