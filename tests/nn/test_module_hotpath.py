"""Module hot paths: native __call__ and attribute lookup must behave exactly like the Python code."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import minimod.nn as mnn
from minimod.nn import module as module_mod


class Echo(mnn.Module):
    def forward(self, *args, **kwargs):
        return args, kwargs


def test_call_is_native_and_signature_is_documented():
    assert type(mnn.Module.__dict__["__call__"]).__name__ == "method_descriptor"
    assert "*args, **kwargs" in str(mnn.Module.__call__.__text_signature__)


@pytest.mark.parametrize("nargs", [0, 1, 3, 15, 16, 40])
def test_arguments_pass_through(nargs):
    m = Echo()
    args = tuple(range(nargs))
    kwargs = {f"k{i}": i for i in range(nargs % 7)}
    assert m(*args, **kwargs) == (args, kwargs)
    assert mnn.Module.__call__(m, *args, **kwargs) == (args, kwargs)
    assert m.__call__(*args) == (args, {})


def test_super_call_and_subclass_call_override():
    class Wrapped(Echo):
        def __call__(self, *args, **kwargs):
            return ("wrapped", super().__call__(*args, **kwargs))

    assert Wrapped()(1, a=2) == ("wrapped", ((1,), {"a": 2}))


def test_forward_resolution_matches_python():
    class Prop(mnn.Module):
        @property
        def forward(self):
            return lambda x: ("property", x)

    class Static(mnn.Module):
        forward = staticmethod(lambda x: ("static", x))

    class Callable_:
        def __call__(self, x):
            return ("callable", x)

    class Obj(mnn.Module):
        forward = Callable_()

    assert Prop()(1) == ("property", 1)
    assert Static()(2) == ("static", 2)
    assert Obj()(3) == ("callable", 3)
    m = Echo()
    m.forward = lambda *a: ("instance", a)
    assert m(4) == ("instance", (4,))
    del m.forward
    assert m(5) == ((5,), {})


def test_custom_getattribute_takes_the_python_path():
    seen = []

    class Spy(Echo):
        def __getattribute__(self, name):
            if name == "forward":
                seen.append(name)
            return super().__getattribute__(name)

    assert Spy()(1) == ((1,), {})
    assert seen == ["forward"]


def test_errors_propagate_and_missing_forward():
    class Boom(mnn.Module):
        def forward(self, x):
            raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 3"):
        Boom()(3)
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward"'):
        mnn.Module()(1)
    with pytest.raises(TypeError):
        mnn.Module.__call__(3)


def test_module_without_init_gives_attribute_error_like_torch():
    class NoInit(mnn.Module):
        def __init__(self):
            pass

        def forward(self):
            return 1

    with pytest.raises(AttributeError, match="'NoInit' object has no attribute '_backward_hooks'"):
        NoInit()()


def test_torch_no_init_message_for_reference():
    torch = pytest.importorskip("torch")

    class NoInit(torch.nn.Module):
        def __init__(self):
            pass

        def forward(self):
            return 1

    with pytest.raises(AttributeError, match="'NoInit' object has no attribute '_backward_hooks'"):
        NoInit()()


def test_each_hook_registry_leaves_the_fast_path():
    log = []

    class M(mnn.Module):
        def forward(self):
            log.append("forward")

    m = M()
    registries = [
        m._forward_pre_hooks, m._forward_hooks, m._backward_hooks, m._backward_pre_hooks,
        module_mod._global_forward_pre_hooks, module_mod._global_forward_hooks,
        module_mod._global_backward_hooks, module_mod._global_backward_pre_hooks,
    ]
    seen = []
    original = mnn.Module._call_with_hooks

    def spy(self, forward_call, args, kwargs):
        seen.append(True)
        return original(self, forward_call, args, kwargs)

    mnn.Module._call_with_hooks = spy
    try:
        for reg in registries:
            reg[10**9] = (lambda *a: None)
            try:
                m()
            finally:
                del reg[10**9]
            m()
    finally:
        mnn.Module._call_with_hooks = original
    assert len(seen) == len(registries)
    assert log == ["forward"] * (2 * len(registries))


def test_direct_registry_edits_are_seen():
    m = Echo()
    m._forward_hooks[10**9] = lambda mod, a, o: "hooked"
    assert m(1) == "hooked"
    m._forward_hooks.clear()
    assert m(1) == ((1,), {})


def test_no_reference_leaks():
    m = Echo()
    arg, kw = object(), object()
    fwd = Echo.forward
    before = (sys.getrefcount(m), sys.getrefcount(arg), sys.getrefcount(kw), sys.getrefcount(fwd))
    for _ in range(1000):
        m(arg, k=kw)
        m(*([arg] * 20), k=kw)
    after = (sys.getrefcount(m), sys.getrefcount(arg), sys.getrefcount(kw), sys.getrefcount(fwd))
    assert after == before


# ---- native attribute lookup -------------------------------------------------------------------

from minimod import _core  # noqa: E402


def test_native_getattr_installed_on_plain_subclasses_only():
    class A(mnn.Module):
        pass

    class B(A):
        pass

    class WithGetattr(mnn.Module):
        def __getattr__(self, name):
            if name == "magic":
                return 42
            return super().__getattr__(name)

    class WithGetattribute(mnn.Module):
        def __getattribute__(self, name):
            return super().__getattribute__(name)

    class Mixin:
        def __getattr__(self, name):
            return "mixin"

    class Mixed(Mixin, mnn.Module):
        pass

    assert _core._has_module_getattro(mnn.Module)
    assert _core._has_module_getattro(A) and _core._has_module_getattro(B)
    for cls in (WithGetattr, WithGetattribute, Mixed):
        assert not _core._has_module_getattro(cls), cls
    m = WithGetattr()
    m.w = mnn.Parameter(np.zeros(1, np.float32))
    assert m.magic == 42 and m.w is m._parameters["w"]
    with pytest.raises(AttributeError, match="'WithGetattr' object has no attribute 'nope'"):
        m.nope
    assert Mixed().anything == "mixin"


def test_assigning_getattr_later_restores_python_semantics():
    class Late(mnn.Module):
        pass

    assert _core._has_module_getattro(Late)
    Late.__getattr__ = lambda self, name: "late"
    assert not _core._has_module_getattro(Late)
    assert Late().whatever == "late"
    del Late.__getattr__
    assert Late().__class__ is Late
    with pytest.raises(AttributeError):
        Late().whatever


def test_registry_lookup_order_and_shadowing():
    m = mnn.Module()
    w = mnn.Parameter(np.zeros(1, np.float32))
    m.w = w
    m._buffers["w"] = np.ones(1)  # only possible by writing the registry directly
    m._modules["w"] = mnn.Module()
    assert m.w is w  # parameters first, as Module.__getattr__
    del m._parameters["w"]
    assert m.w.tolist() == [1.0]
    del m._buffers["w"]
    assert isinstance(m.w, mnn.Module)
    object.__setattr__(m, "w", 5)  # the instance dict wins over the registries
    assert m.w == 5
    m.register_parameter("none", None)
    assert m.none is None


def test_property_raising_attribute_error_falls_back_like_python():
    class Prop(mnn.Module):
        @property
        def p(self):
            raise AttributeError("inner detail")

    m = Prop()
    with pytest.raises(AttributeError, match="'Prop' object has no attribute 'p'"):
        m.p
    m._modules["p"] = mnn.Module()  # ...and then finds a registered name, as __getattr__ does
    assert isinstance(m.p, mnn.Module)
    assert getattr(m, "q", "default") == "default"
    assert not hasattr(m, "q")


def test_property_fallback_matches_torch():
    torch = pytest.importorskip("torch")

    class TProp(torch.nn.Module):
        @property
        def p(self):
            raise AttributeError("inner detail")

    with pytest.raises(AttributeError, match="'TProp' object has no attribute 'p'"):
        TProp().p


def test_getattr_before_init_and_bad_names():
    class NoInit(mnn.Module):
        def __init__(self):
            pass

    with pytest.raises(AttributeError, match="'NoInit' object has no attribute 'x'"):
        NoInit().x
    with pytest.raises(TypeError):
        getattr(mnn.Module(), 1)


def test_getattr_no_reference_leaks():
    m = mnn.Module()
    w = mnn.Parameter(np.zeros(1, np.float32))
    m.w = w
    before = sys.getrefcount(w), sys.getrefcount(m)
    for _ in range(1000):
        m.w
        m.training
        getattr(m, "missing", None)
    assert (sys.getrefcount(w), sys.getrefcount(m)) == before
