"""Module: instance state, registration, routing, iteration, traversal, modes, repr, pickling.

Behaviour is checked against torch 2.13 where torch is importable (same scenario run on both,
messages compared after the spec's two normalisations), and against explicit expectations
everywhere else, so the suite means something without torch.
"""

from __future__ import annotations

import copy
import gc
import pickle
import re
import weakref
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping

import numpy as np
import pytest

import minimod
import minimod.nn as mnn
from minimod import _core
from minimod._arrays import is_native
from minimod.nn import module as module_mod


def norm(msg: str) -> str:
    """The spec's two normalisations: torch.Size([..]) -> tuple repr, tensor typename -> numpy."""

    def size(m: re.Match) -> str:
        dims = [int(x) for x in m.group(1).split(",") if x.strip()]
        return repr(tuple(dims))

    msg = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", size, msg)
    return re.sub(r"torch\.\w+Tensor\b", "numpy.ndarray", msg)


def exc_info(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return type(e).__name__, norm(str(text))
    return None


class Frameworks:
    """The same names for torch and minimod, so one scenario runs on both."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "torch":
            import torch

            self.nn = torch.nn
            self.T = lambda *shape: torch.zeros(*shape)
            self.P = lambda *shape: torch.nn.Parameter(torch.zeros(*shape))
        else:
            self.nn = mnn
            self.T = lambda *shape: np.zeros(shape, np.float32)
            self.P = lambda *shape: mnn.Parameter(np.zeros(shape, np.float32))


def make_classes(fw: Frameworks):
    nn = fw.nn

    class Child(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = fw.P(2)
            self.register_buffer("b", fw.T(2))

        def forward(self, x):
            return x

    class Root(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Child()
            self.w = fw.P(3)
            self.register_buffer("b", fw.T(1))
            self.plain = 5

        def forward(self, x):
            return self.a(x)

    class NoForward(nn.Module):
        pass

    return Child, Root, NoForward


def _misuse_cases():
    def before_init_param(fw):
        class Bad(fw.nn.Module):
            def __init__(self):
                self.w = fw.P(1)

        Bad()

    def before_init_module(fw):
        child = make_classes(fw)[0]()

        class Bad(fw.nn.Module):
            def __init__(self):
                self.c = child

        Bad()

    def before_init_register(method):
        def run(fw):
            class Bad(fw.nn.Module):
                def __init__(self):
                    getattr(self, method)("x", None)

            Bad()

        return run

    def root(fw):
        return make_classes(fw)[1]()

    def child(fw):
        return make_classes(fw)[0]()

    def assign_module_to_param(fw):
        m = root(fw)
        m.w = child(fw)

    def assign_array_to_param(fw):
        m = root(fw)
        m.w = fw.T(3)

    def assign_int_to_child(fw):
        m = root(fw)
        m.a = 3

    def assign_str_to_buffer(fw):
        m = root(fw)
        m.b = "x"

    def buffer_marker_bad(fw):
        m = root(fw)
        del m.b
        m.b = fw.nn.Buffer(fw.T(2))
        m.b = [1.0]

    def set_submodule(*a, **k):
        return lambda fw: root(fw).set_submodule(*a, **k)

    return {
        "init positional": lambda fw: fw.nn.Module(3),
        "init two positional": lambda fw: fw.nn.Module(3, 4),
        "init keyword": lambda fw: fw.nn.Module(a=1),
        "buffer name int": lambda fw: fw.nn.Module().register_buffer(3, None),
        "buffer name dot": lambda fw: fw.nn.Module().register_buffer("a.b", None),
        "buffer name empty": lambda fw: fw.nn.Module().register_buffer("", None),
        "buffer name exists attr": lambda fw: fw.nn.Module().register_buffer("training", None),
        "buffer name exists method": lambda fw: fw.nn.Module().register_buffer("forward", None),
        "buffer name exists param": lambda fw: root(fw).register_buffer("w", None),
        "buffer value int": lambda fw: fw.nn.Module().register_buffer("x", 3),
        "buffer value list": lambda fw: fw.nn.Module().register_buffer("x", [1.0]),
        "param name int": lambda fw: fw.nn.Module().register_parameter(1, None),
        "param name dot": lambda fw: fw.nn.Module().register_parameter("a.b", None),
        "param name empty": lambda fw: fw.nn.Module().register_parameter("", None),
        "param name exists": lambda fw: root(fw).register_parameter("plain", None),
        "param name exists buffer": lambda fw: root(fw).register_parameter("b", None),
        "param value array": lambda fw: fw.nn.Module().register_parameter("w", fw.T(2)),
        "param value int": lambda fw: fw.nn.Module().register_parameter("w", 3),
        "add_module int": lambda fw: fw.nn.Module().add_module("x", 5),
        "add_module name int": lambda fw: fw.nn.Module().add_module(3, child(fw)),
        "add_module exists": lambda fw: fw.nn.Module().add_module("training", child(fw)),
        "add_module exists before dot": lambda fw: root(fw).add_module("w", child(fw)),
        "add_module dot": lambda fw: fw.nn.Module().add_module("a.b", child(fw)),
        "add_module empty": lambda fw: fw.nn.Module().add_module("", child(fw)),
        "register_module int": lambda fw: fw.nn.Module().register_module("x", 5),
        "add_module parameter": lambda fw: fw.nn.Module().add_module("x", fw.P(2)),
        "param value buffer marker": lambda fw: fw.nn.Module().register_parameter(
            "w", fw.nn.Buffer(fw.T(2))
        ),
        "buffer marker onto param": lambda fw: setattr(root(fw), "w", fw.nn.Buffer(fw.T(3))),
        "parameter onto child ok, then int": lambda fw: setattr(root(fw), "a", 1.5),
        "setattr param before init": before_init_param,
        "setattr module before init": before_init_module,
        "register_parameter before init": before_init_register("register_parameter"),
        "register_buffer before init": before_init_register("register_buffer"),
        "module as param": assign_module_to_param,
        "array as param": assign_array_to_param,
        "int as child": assign_int_to_child,
        "str as buffer": assign_str_to_buffer,
        "Buffer marker then list": buffer_marker_bad,
        "getattr missing": lambda fw: root(fw).nope,
        "delattr missing": lambda fw: delattr(fw.nn.Module(), "zz"),
        "get_submodule missing": lambda fw: root(fw).get_submodule("a.x"),
        "get_submodule not module": lambda fw: root(fw).get_submodule("w.x"),
        "get_submodule not module leaf": lambda fw: root(fw).get_submodule("a.w"),
        "get_parameter missing": lambda fw: root(fw).get_parameter("a.nope"),
        "get_parameter buffer": lambda fw: root(fw).get_parameter("a.b"),
        "get_parameter plain": lambda fw: root(fw).get_parameter("plain"),
        "get_buffer param": lambda fw: root(fw).get_buffer("w"),
        "get_buffer missing": lambda fw: root(fw).get_buffer("a.zz"),
        "set_submodule empty": set_submodule("", None),
        "set_submodule not module": lambda fw: root(fw).set_submodule("a", 3),
        "set_submodule strict missing": lambda fw: root(fw).set_submodule("x", child(fw), strict=True),
        "set_submodule not module leaf": lambda fw: root(fw).set_submodule("w", child(fw)),
        "set_submodule missing parent": lambda fw: root(fw).set_submodule("q.r", child(fw)),
        "train int": lambda fw: root(fw).train(1),
        "train None": lambda fw: root(fw).train(None),
        "no forward": lambda fw: make_classes(fw)[2]()(1),
        "base no forward": lambda fw: fw.nn.Module()(),
        "extra state get": lambda fw: fw.nn.Module().get_extra_state(),
        "extra state set": lambda fw: fw.nn.Module().set_extra_state(1),
    }


MISUSE = _misuse_cases()


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_misuse_errors_match_torch(case):
    torch = pytest.importorskip("torch")  # noqa: F841
    ours = exc_info(lambda: MISUSE[case](Frameworks("minimod")))
    theirs = exc_info(lambda: MISUSE[case](Frameworks("torch")))
    assert theirs is not None, "torch accepted it"
    assert ours == theirs


# Expected (type, message) without torch: the spec's messages written out.
EXPECTED = {
    "init positional": ("TypeError", "Module.__init__() takes 1 positional argument but 2 were given"),
    "init keyword": ("TypeError", "Module.__init__() got an unexpected keyword argument 'a'"),
    "buffer name int": ("TypeError", "buffer name should be a string. Got int"),
    "buffer name dot": ("KeyError", 'buffer name can\'t contain "."'),
    "buffer name empty": ("KeyError", 'buffer name can\'t be empty string ""'),
    "buffer name exists attr": ("KeyError", "attribute 'training' already exists"),
    "buffer value int": (
        "TypeError",
        "cannot assign 'int' object to buffer 'x' (torch Tensor or None required)",
    ),
    "param name exists": ("KeyError", "attribute 'plain' already exists"),
    "param value array": (
        "TypeError",
        "cannot assign 'numpy.ndarray' object to parameter 'w' "
        "(torch.nn.Parameter or None required)",
    ),
    "add_module int": ("TypeError", "int is not a Module subclass"),
    "add_module exists before dot": ("KeyError", "attribute 'w' already exists"),
    "add_module dot": ("KeyError", 'module name can\'t contain ".", got: a.b'),
    "setattr param before init": (
        "AttributeError",
        "cannot assign parameters before Module.__init__() call",
    ),
    "register_parameter before init": (
        "AttributeError",
        "cannot assign parameter before Module.__init__() call",
    ),
    "array as param": (
        "TypeError",
        "cannot assign 'numpy.ndarray' as parameter 'w' (torch.nn.Parameter or None expected)",
    ),
    "int as child": (
        "TypeError",
        "cannot assign 'int' as child module 'a' (torch.nn.Module or None expected)",
    ),
    "str as buffer": (
        "TypeError",
        "cannot assign 'str' as buffer 'b' (torch.nn.Buffer, torch.Tensor or None expected)",
    ),
    "delattr missing": ("AttributeError", "'Module' object has no attribute 'zz'"),
    "get_submodule missing": ("AttributeError", "Child has no attribute `x`"),
    "get_submodule not module": ("AttributeError", "`w` is not an nn.Module"),
    "get_parameter buffer": ("AttributeError", "`b` is not an nn.Parameter"),
    "get_buffer param": ("AttributeError", "`w` is not a buffer"),
    "set_submodule empty": ("ValueError", "Cannot set the submodule without a target name!"),
    "set_submodule not module": ("ValueError", "`module` is not an nn.Module, found <class 'int'>"),
    "set_submodule strict missing": ("AttributeError", "Root has no attribute `x`"),
    "train int": ("ValueError", "training mode is expected to be boolean"),
    "no forward": (
        "NotImplementedError",
        'Module [NoForward] is missing the required "forward" function',
    ),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_misuse_errors_without_torch(case):
    assert exc_info(lambda: MISUSE[case](Frameworks("minimod"))) == EXPECTED[case]


# ---- 1.1 instance state ------------------------------------------------------------------------

TORCH_INIT_ORDER = [
    "training",
    "_parameters",
    "_buffers",
    "_non_persistent_buffers_set",
    "_backward_pre_hooks",
    "_backward_hooks",
    "_is_full_backward_hook",
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
    "_modules",
]


def test_init_sets_state_in_torch_order_with_native_registries():
    m = mnn.Module()
    assert list(m.__dict__) == TORCH_INIT_ORDER
    assert m.training is True
    assert m._is_full_backward_hook is None
    assert type(m._non_persistent_buffers_set) is set
    for name in TORCH_INIT_ORDER:
        if name not in ("training", "_is_full_backward_hook", "_non_persistent_buffers_set"):
            reg = getattr(m, name)
            assert type(reg) is _core.Registry, name
            assert isinstance(reg, Mapping) and isinstance(reg, MutableMapping)
            assert hasattr(reg, "move_to_end")


def test_init_order_matches_torch():
    torch = pytest.importorskip("torch")
    assert list(torch.nn.Module().__dict__) == TORCH_INIT_ORDER


def test_class_attributes():
    assert mnn.Module._version == 1
    assert mnn.Module.dump_patches is False
    assert mnn.Module.call_super_init is False
    assert mnn.Module.forward is module_mod._forward_unimplemented


def test_call_super_init_forwards_arguments():
    class Mixin:
        def __init__(self, *args, **kwargs):
            self.got = (args, kwargs)

    class M(mnn.Module, Mixin):
        call_super_init = True

    m = M(1, k=2)
    assert m.got == ((1,), {"k": 2})


def test_global_registries_are_native():
    for name in (
        "_global_forward_pre_hooks",
        "_global_forward_hooks",
        "_global_forward_hooks_with_kwargs",
        "_global_forward_hooks_always_called",
        "_global_backward_pre_hooks",
        "_global_backward_hooks",
        "_global_parameter_registration_hooks",
        "_global_buffer_registration_hooks",
        "_global_module_registration_hooks",
    ):
        assert type(getattr(module_mod, name)) is _core.Registry, name
    assert module_mod._global_is_full_backward_hook in (None, True, False)


def test_modules_hash_by_identity_and_are_weakrefable():
    a, b = mnn.Module(), mnn.Module()
    assert a != b and len({a, b, a}) == 2
    ref = weakref.ref(a)
    assert ref() is a
    del a
    gc.collect()
    assert ref() is None


# ---- 1.2 registration and routing --------------------------------------------------------------


def p(*shape, value=0.0):
    return mnn.Parameter(np.full(shape, value, np.float32))


def test_setattr_routes_parameters_modules_buffers_and_plain_attributes():
    m = mnn.Module()
    m.w = p(2)
    m.c = mnn.Module()
    m.register_buffer("b", np.zeros(2, np.float32))
    m.plain_array = np.zeros(3)
    m.nothing = None
    assert list(m._parameters) == ["w"]
    assert list(m._modules) == ["c"]
    assert list(m._buffers) == ["b"]
    assert "plain_array" in m.__dict__ and "nothing" in m.__dict__
    assert m.w is m._parameters["w"] and m.c is m._modules["c"] and m.b is m._buffers["b"]


def test_parameter_replaces_module_buffer_and_plain_attribute():
    m = mnn.Module()
    m.c = mnn.Module()
    m.register_buffer("b", np.zeros(2, np.float32), persistent=False)
    m.x = 3
    for name in ("c", "b", "x"):
        setattr(m, name, p(1))
        assert name in m._parameters
    assert not m._modules and not m._buffers and "x" not in m.__dict__
    assert not m._non_persistent_buffers_set


def test_module_replaces_parameter_and_buffer_without_name_checks():
    m = mnn.Module()
    m.w = p(1)
    m.register_buffer("b", np.zeros(1, np.float32))
    m.b = mnn.Module()
    assert "b" in m._modules and "b" not in m._buffers
    setattr(m, "a.b", mnn.Module())  # no name checks on this path, as in torch
    assert "a.b" in m._modules
    setattr(m, "train", mnn.Module())  # stored, but the method still wins attribute lookup
    assert "train" in m._modules and callable(m.train)


def test_none_keeps_registered_keys():
    m = mnn.Module()
    m.w = p(1)
    m.c = mnn.Module()
    m.register_buffer("b", np.zeros(1, np.float32))
    m.w = None
    m.c = None
    m.b = None
    assert m._parameters["w"] is None and m._modules["c"] is None and m._buffers["b"] is None
    assert m.w is None and m.c is None and m.b is None
    assert list(m.parameters()) == [] and list(m.buffers()) == [] and list(m.children()) == []


def test_buffers_are_native_and_reassignment_keeps_persistence():
    m = mnn.Module()
    src = np.arange(4, dtype=np.float32)  # ordinary numpy memory
    m.register_buffer("b", src, persistent=False)
    assert is_native(m.b) and type(m.b) is np.ndarray
    assert not np.shares_memory(m.b, src)
    np.testing.assert_array_equal(m.b, src)
    native = minimod._arrays.native_copy(src)
    m.b = native
    assert m.b is native  # already native: stored as is
    assert "b" in m._non_persistent_buffers_set  # row 5: stays non-persistent
    m.register_buffer("b", native)  # persistent=True by default: becomes persistent
    assert "b" not in m._non_persistent_buffers_set


def test_buffer_replacement_keeps_position():
    m = mnn.Module()
    for name in "xyz":
        m.register_buffer(name, np.zeros(1, np.float32))
    m.y = np.ones(2, np.float32)
    assert list(m._buffers) == ["x", "y", "z"]


def test_buffer_accepts_tensor_likes():
    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.array([1.0, 2.0], dtype=dtype or np.float64)

    m = mnn.Module()
    m.register_buffer("a", ArrayLike())
    assert is_native(m.a) and m.a.tolist() == [1.0, 2.0]
    m.register_buffer("n", None)
    assert m._buffers["n"] is None


def test_buffer_accepts_torch_tensor_as_native_copy():
    torch = pytest.importorskip("torch")
    t = torch.arange(3, dtype=torch.float32)
    m = mnn.Module()
    m.register_buffer("t", t)
    assert is_native(m.t) and m.t.tolist() == [0.0, 1.0, 2.0]
    t[0] = 9
    assert m.t[0] == 0  # a copy into native storage


def test_buffer_marker_routes_with_its_persistence():
    m = mnn.Module()
    m.b = mnn.Buffer(np.ones(3, np.float32), persistent=False)
    assert "b" in m._buffers and "b" in m._non_persistent_buffers_set
    assert type(m.b) is np.ndarray and is_native(m.b)
    m.c = mnn.Buffer(np.ones(2, np.float32))
    assert "c" not in m._non_persistent_buffers_set


def test_plain_array_on_new_name_is_not_a_buffer():
    m = mnn.Module()
    m.x = np.zeros(2, np.float32)
    assert "x" not in m._buffers and "x" in m.__dict__


def test_register_parameter_replaces_in_place():
    m = mnn.Module()
    m.a = p(1)
    m.b = p(1)
    new = p(2)
    m.a = new
    assert list(m._parameters) == ["a", "b"] and m.a is new


def test_getattr_precedence_and_delattr():
    m = mnn.Module()
    m.w = p(1)
    m.register_buffer("b", np.zeros(1, np.float32), persistent=False)
    m.c = mnn.Module()
    del m.w
    del m.b
    del m.c
    assert not m._parameters and not m._buffers and not m._modules
    assert not m._non_persistent_buffers_set
    m.plain = 1
    del m.plain
    assert not hasattr(m, "plain")


def test_custom_register_buffer_without_persistent_argument():
    class Custom(mnn.Module):
        def __init__(self):
            super().__init__()
            self.calls = []

        def register_buffer(self, name, tensor):
            self.calls.append(name)
            super().register_buffer(name, tensor)

    m = Custom()
    m.register_buffer("b", np.zeros(1, np.float32))
    m.b = np.ones(1, np.float32)
    assert m.calls == ["b", "b"]
    with pytest.raises(RuntimeError, match="without the persistent argument"):
        m.c = mnn.Buffer(np.ones(1, np.float32), persistent=False)


class TestRegistrationHooks:
    def test_hooks_replace_values_and_skip_none_parameters(self):
        seen = []

        def on_param(module, name, param):
            seen.append(("p", name))
            return p(5) if name == "swap" else None

        def on_buffer(module, name, buf):
            seen.append(("b", name))
            return np.full(2, 7.0, np.float32) if name == "swapb" else None

        def on_module(module, name, sub):
            seen.append(("m", name))

        handles = [
            mnn.register_module_parameter_registration_hook(on_param),
            mnn.register_module_buffer_registration_hook(on_buffer),
            mnn.register_module_module_registration_hook(on_module),
        ]
        try:
            m = mnn.Module()
            m.swap = p(1)
            m.register_parameter("none", None)
            m.register_buffer("swapb", np.zeros(1, np.float32))
            m.c = mnn.Module()
            m.c = None
            m.add_module("d", mnn.Module())
        finally:
            for h in handles:
                h.remove()
        assert m.swap.shape == (5,)
        assert m.swapb.tolist() == [7.0, 7.0] and is_native(m.swapb)
        assert seen == [("p", "swap"), ("b", "swapb"), ("m", "c"), ("m", "c"), ("m", "d")]
        assert not module_mod._global_parameter_registration_hooks


# ---- 1.3 iteration -------------------------------------------------------------------------


class Leaf(mnn.Module):
    def __init__(self, n=2):
        super().__init__()
        self.weight = p(n)
        self.bias = p(1)
        self.register_buffer("rm", np.zeros(n, np.float32))
        self.register_buffer("tmp", np.zeros(1, np.float32), persistent=False)


class Seq(mnn.Module):
    def __init__(self, *mods):
        super().__init__()
        for i, mod in enumerate(mods):
            self.add_module(str(i), mod)


def test_shared_module_and_tied_weights_are_yielded_once():
    leaf = Leaf()
    other = Leaf()
    other.weight = leaf.weight
    s = Seq(leaf, mnn.Module(), leaf, other)
    assert [n for n, _ in s.named_parameters()] == ["0.weight", "0.bias", "3.bias"]
    names_nodup = [n for n, _ in s.named_parameters(remove_duplicate=False)]
    assert names_nodup == ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]
    assert [n for n, _ in s.named_modules()] == ["", "0", "1", "3"]
    assert [n for n, _ in s.named_modules(remove_duplicate=False)] == ["", "0", "1", "2", "3"]
    assert [n for n, _ in s.named_children()] == ["0", "1", "3"]
    assert [n for n, _ in s.named_buffers()] == ["0.rm", "0.tmp", "3.rm", "3.tmp"]
    assert [n for n, _ in s.named_buffers(prefix="x", recurse=False)] == []
    assert [n for n, _ in leaf.named_buffers(prefix="x", recurse=False)] == ["x.rm", "x.tmp"]
    assert list(s.parameters()) == [leaf.weight, leaf.bias, other.bias]
    assert len(list(s.modules())) == 4


def test_iteration_matches_torch_on_same_tree():
    torch = pytest.importorskip("torch")

    def build(fw):
        nn = fw.nn

        class L(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = fw.P(2)
                self.register_buffer("b", fw.T(1))
                self.register_buffer("nb", fw.T(1), persistent=False)
                self.register_buffer("none", None)
                self.register_parameter("pnone", None)

        class S(nn.Module):
            def __init__(self):
                super().__init__()
                a, b = L(), L()
                b.w = a.w
                self.a = a
                self.gap = None
                self.b = b
                self.again = a
                self.inner = S2(a)

        class S2(nn.Module):
            def __init__(self, a):
                super().__init__()
                self.x = a
                self.y = L()

        return S()

    def summary(m):
        return (
            [n for n, _ in m.named_modules()],
            [n for n, _ in m.named_modules(remove_duplicate=False)],
            [n for n, _ in m.named_modules(prefix="root")],
            [n for n, _ in m.named_children()],
            [n for n, _ in m.named_parameters()],
            [n for n, _ in m.named_parameters(remove_duplicate=False)],
            [n for n, _ in m.named_parameters(prefix="p", recurse=False)],
            [n for n, _ in m.named_buffers()],
            [n for n, _ in m.named_buffers(remove_duplicate=False)],
            list(m.state_dict().keys()),
            list(m.state_dict()._metadata.keys()),
            repr(m),
        )

    assert summary(build(Frameworks("minimod"))) == summary(build(Frameworks("torch")))
    del torch


def test_memo_is_shared_with_caller():
    leaf = Leaf()
    s = Seq(leaf, Leaf())
    memo = {leaf}
    assert [n for n, _ in s.named_modules(memo=memo)] == ["", "1"]


# ---- 1.4 traversal -------------------------------------------------------------------------


def test_apply_is_post_order_and_deduplicated():
    leaf = Leaf()
    s = Seq(leaf, Seq(Leaf()), leaf)
    seen = []
    assert s.apply(lambda m: seen.append(m)) is s
    assert seen == [leaf, s._modules["1"]._modules["0"], s._modules["1"], s]


def test_get_and_set_submodule():
    inner = Leaf()
    s = Seq(Seq(inner))
    assert s.get_submodule("") is s
    assert s.get_submodule("0.0") is inner
    assert s.get_parameter("0.0.weight") is inner.weight
    assert s.get_buffer("0.0.rm") is inner.rm
    new = Leaf(3)
    s.set_submodule("0.0", new, strict=True)
    assert s.get_submodule("0.0") is new
    s.set_submodule("0.fresh", Leaf())
    assert "fresh" in s._modules["0"]._modules


# ---- 1.5 modes and casting -----------------------------------------------------------------


def test_train_eval_recurse_and_direct_assignment_does_not():
    s = Seq(Leaf(), Seq(Leaf()))
    assert s.eval() is s
    assert not any(m.training for m in s.modules())
    assert s.train() is s
    assert all(m.training for m in s.modules())
    s.training = False
    assert [m.training for m in s.modules()] == [False, True, True, True]


def test_requires_grad_and_zero_grad():
    s = Seq(Leaf())
    assert s.requires_grad_(False) is s
    assert not any(q.requires_grad for q in s.parameters())
    s.requires_grad_()
    assert all(q.requires_grad for q in s.parameters())
    assert s.zero_grad() is None  # no grads: a safe no-op
    w = s._modules["0"].weight
    w.grad = np.ones(2, np.float32)
    s.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    s.zero_grad()
    assert w.grad is None


def test_float_cpu_and_to_float32_keep_identity_and_int_buffers():
    leaf = Leaf()
    leaf.register_buffer("count", np.zeros((), np.int64))
    w = leaf.weight
    for call in (
        lambda m: m.float(),
        lambda m: m.cpu(),
        lambda m: m.to(np.float32),
        lambda m: m.to("cpu"),
        lambda m: m.to(device="cpu", dtype=np.float32),
        lambda m: m.to("cpu", np.float32, False),
        lambda m: m.to(np.zeros(1, np.float32)),
        lambda m: m.type(np.float32),
        lambda m: m.type("torch.FloatTensor"),
        lambda m: m.to("float32"),
    ):
        assert call(leaf) is leaf
        assert leaf.weight is w and leaf.count.dtype == np.int64


def test_float_casts_float64_parameters_and_buffers():
    m = mnn.Module()
    m.w = mnn.Parameter(np.ones(2, np.float64))
    m.register_buffer("b", np.ones(2, np.float64))
    m.register_buffer("i", np.ones(2, np.int64))
    m.float()
    assert m.w.dtype == np.float32 and isinstance(m.w, mnn.Parameter) and is_native(m.w)
    assert m.b.dtype == np.float32 and is_native(m.b)
    assert m.i.dtype == np.int64


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.double(),
        lambda m: m.half(),
        lambda m: m.bfloat16(),
        lambda m: m.cuda(),
        lambda m: m.to(np.float64),
        lambda m: m.to(dtype=np.float16),
        lambda m: m.to("cuda"),
        lambda m: m.type(np.float64),
        lambda m: m.type("torch.DoubleTensor"),
        lambda m: m.to(0),
        lambda m: m.to("cuda:0", np.float32),
    ],
)
def test_other_dtypes_and_devices_raise_plainly(call):
    leaf = Leaf()
    before = [q.copy() for q in leaf.parameters()]
    with pytest.raises(NotImplementedError, match="only float32 on CPU"):
        call(leaf)
    assert all(q.dtype == np.float32 for q in leaf.parameters())
    assert all(np.array_equal(a, b) for a, b in zip(before, leaf.parameters()))


def test_to_rejects_integer_dtypes_like_torch():
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes"):
        Leaf().to(np.int64)


def test_to_accepts_torch_spellings():
    torch = pytest.importorskip("torch")
    leaf = Leaf()
    assert leaf.to(torch.float32) is leaf
    assert leaf.to(torch.device("cpu")) is leaf
    assert leaf.to(torch.zeros(1)) is leaf
    with pytest.raises(NotImplementedError):
        leaf.to(torch.float64)
    with pytest.raises(TypeError, match="desired dtype=torch.int64"):
        leaf.to(torch.int64)


def test_apply_replaces_buffers_and_keeps_parameter_identity():
    leaf = Leaf()
    w = leaf.weight
    rm = leaf.rm
    leaf._apply(lambda t: t + 1)
    assert leaf.weight is w and w.tolist() == [1.0, 1.0]
    assert leaf.rm is not rm and leaf.rm.tolist() == [1.0, 1.0] and is_native(leaf.rm)


def test_to_empty_gives_fresh_native_storage():
    leaf = Leaf()
    leaf.to_empty(device="cpu")
    assert all(is_native(np.asarray(b)) for b in leaf.buffers())
    assert leaf.weight.shape == (2,)


# ---- 1.8 repr and dir ----------------------------------------------------------------------


def test_repr_format():
    class WithExtra(mnn.Module):
        def __init__(self, text):
            super().__init__()
            self.text = text

        def extra_repr(self):
            return self.text

    assert repr(mnn.Module()) == "Module()"
    assert repr(WithExtra("a=1")) == "WithExtra(a=1)"
    two = WithExtra("a=1\nb=2")
    assert repr(two) == "WithExtra(\n  a=1\n  b=2\n)"
    outer = WithExtra("x")
    outer.inner = two
    outer.add_module("empty", None)
    assert repr(outer) == (
        "WithExtra(\n  x\n  (inner): WithExtra(\n    a=1\n    b=2\n  )\n  (empty): None\n)"
    )


def test_addindent_leaves_blank_lines_empty():
    assert module_mod._addindent("a", 2) == "a"
    assert module_mod._addindent("a\nb\n\nc", 2) == "a\n  b\n\n  c"


def test_dir_lists_registered_names_and_drops_digit_keys():
    s = Seq(Leaf())
    s.w = p(1)
    s.register_buffer("buf", np.zeros(1, np.float32))
    names = dir(s)
    assert names == sorted(names)
    assert "w" in names and "buf" in names and "forward" in names and "training" in names
    assert "0" not in names


# ---- 1.9 pickling and deepcopy -------------------------------------------------------------


def plain_hook(module, args):
    return None


def plain_fwd_hook(module, args, out):
    return None


class TiedNet(mnn.Module):
    def __init__(self):
        super().__init__()
        self.a = Leaf()
        self.b = Leaf()
        self.b.weight = self.a.weight
        self.shared = self.a
        self.register_buffer("count", np.zeros((), np.int64))
        self.register_buffer("nope", None)


def assert_independent_native_copy(orig, clone):
    assert clone is not orig
    for (n1, a), (n2, b) in zip(orig.state_dict(keep_vars=True).items(),
                                clone.state_dict(keep_vars=True).items()):
        assert n1 == n2
        assert type(a) is type(b)
        assert is_native(np.asarray(b)), n2
        assert not np.shares_memory(a, b), n2
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copy_keeps_structure_ties_and_native_storage(how):
    m = TiedNet()
    m.eval()
    m.a.rm[:] = [1, 2]
    m.register_forward_pre_hook(plain_hook)
    m.a.register_forward_hook(plain_fwd_hook, with_kwargs=True, always_call=True)
    m.register_load_state_dict_pre_hook(plain_load_pre_hook)
    clone = copy.deepcopy(m) if how == "deepcopy" else pickle.loads(pickle.dumps(m))
    assert_independent_native_copy(m, clone)
    assert clone.b.weight is clone.a.weight  # tied parameters stay tied
    assert clone.shared is clone.a
    assert clone.training is False and clone.a.training is False
    assert list(clone.__dict__) == list(m.__dict__)
    for name in TORCH_INIT_ORDER:
        if name not in ("training", "_is_full_backward_hook", "_non_persistent_buffers_set"):
            assert type(clone.__dict__[name]) is _core.Registry
    assert clone._forward_pre_hooks.items() == m._forward_pre_hooks.items()  # same ids and fns
    assert clone.a._forward_hooks_with_kwargs.keys() == m.a._forward_hooks_with_kwargs.keys()
    assert clone.a._forward_hooks_always_called.keys() == m.a._forward_hooks_always_called.keys()
    assert clone._buffers["nope"] is None
    assert list(clone._non_persistent_buffers_set) == []
    assert clone.a._non_persistent_buffers_set == {"tmp"}
    wrapped = next(iter(clone._load_state_dict_pre_hooks.values()))
    assert wrapped.module() is clone  # the wrapped hook follows the copy


def plain_load_pre_hook(module, *args):
    return None


def test_shared_buffer_stays_shared_in_copies():
    m = Seq(Leaf(), Leaf())
    m._modules["1"]._buffers["rm"] = m._modules["0"].rm
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone._modules["1"].rm is clone._modules["0"].rm
        assert is_native(clone._modules["0"].rm)
        assert not np.shares_memory(clone._modules["0"].rm, m._modules["0"].rm)
    assert not module_mod._renative_cache  # transient arrays are gone, and so are their entries


def test_handle_from_original_does_not_touch_copy():
    m = Leaf()
    h = m.register_forward_hook(plain_fwd_hook)
    clone = copy.deepcopy(m)
    h.remove()
    assert not m._forward_hooks and len(clone._forward_hooks) == 1


def test_lambda_hooks_do_not_pickle():
    m = Leaf()
    m.register_forward_hook(lambda *a: None)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(m)


def test_setstate_fills_missing_registries():
    m = Leaf()
    state = m.__getstate__()
    for name in ("_forward_pre_hooks_with_kwargs", "_backward_pre_hooks", "_state_dict_pre_hooks",
                 "_non_persistent_buffers_set", "_is_full_backward_hook"):
        state.pop(name)
    state["_forward_hooks"] = OrderedDict()  # an older layout with a Python dict
    fresh = Leaf.__new__(Leaf)
    fresh.__setstate__(state)
    assert type(fresh._forward_pre_hooks_with_kwargs) is _core.Registry
    assert type(fresh._forward_hooks) is _core.Registry
    assert fresh._non_persistent_buffers_set == set() and fresh._is_full_backward_hook is None
    assert "_compiled_call_impl" not in m.__getstate__()
