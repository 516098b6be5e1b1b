"""Module.__call__ with forward hooks: the native hooked path (module_hotpath.cpp) against torch.

Each scenario runs the same code on minimod.nn and torch.nn and compares the event logs, return
values and errors, so the transliteration of torch's _call_impl is checked end to end. A few
minimod-only checks cover what torch has no counterpart for (the Python path taking over when
_call_with_hooks is replaced).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minimod.nn as mnn
from minimod.nn import module as mm_module

torch = pytest.importorskip("torch")


def _module(nn, log):
    class Echo(nn.Module):
        def forward(self, *args, **kwargs):
            log.append(("forward", args, tuple(sorted(kwargs.items()))))
            if args and args[0] == "boom":
                raise ValueError("boom")
            if args and args[0] == "interrupt":
                raise KeyboardInterrupt
            return ("out", *args)

    return Echo()


def _global_hooks(nn):
    return nn.modules.module if nn is torch.nn else mm_module


def _register_global_forward_hook(nn, hook, **kw):
    return _global_hooks(nn).register_module_forward_hook(hook, **kw)


def scenario_values(nn, log):
    m = _module(nn, log)
    m.register_forward_pre_hook(lambda mod, args: log.append(("pre1", args)))
    m.register_forward_pre_hook(lambda mod, args: args[0] + 1)  # non-tuple: wrapped
    m.register_forward_pre_hook(lambda mod, args: (*args, "extra"))  # tuple: replaces
    m.register_forward_hook(lambda mod, args, out: log.append(("fwd1", args, out)))
    m.register_forward_hook(lambda mod, args, out: ("replaced", out))
    m.register_forward_hook(lambda mod, args, out: log.append(("fwd3", out)))
    return [m(1), m(5)]


def scenario_kwargs(nn, log):
    m = _module(nn, log)
    m.register_forward_pre_hook(
        lambda mod, args, kwargs: (args + ("k",), {**kwargs, "z": 1}), with_kwargs=True
    )
    m.register_forward_pre_hook(lambda mod, args: log.append(("plain-pre", args)))
    m.register_forward_hook(
        lambda mod, args, kwargs, out: log.append(("kw-fwd", args, tuple(sorted(kwargs.items())))),
        with_kwargs=True,
    )
    return [m(1, a=2), m()]


def scenario_bad_pre_hook_result(nn, log):
    m = _module(nn, log)
    m.register_forward_pre_hook(lambda mod, args, kwargs: [1, 2], with_kwargs=True)
    with pytest.raises(RuntimeError) as err:
        m(1)
    return [str(err.value)]


def scenario_always_call_after_error(nn, log):
    m = _module(nn, log)
    m.register_forward_hook(lambda mod, args, out: log.append(("plain", out)))
    m.register_forward_hook(lambda mod, args, out: log.append(("always", args, out)), always_call=True)

    def failing(mod, args, out):
        raise KeyError("g")

    m.register_forward_hook(failing, always_call=True)
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="boom"):
            m("boom")
    results.append(sorted(str(w.message) for w in caught))
    with pytest.raises(KeyboardInterrupt):  # not an Exception: no always_call hooks
        m("interrupt")
    return results


def scenario_error_in_pre_hook(nn, log):
    m = _module(nn, log)

    def bad(mod, args):
        raise TypeError("pre failed")

    m.register_forward_pre_hook(bad)
    m.register_forward_hook(lambda mod, args, out: log.append(("always", args, out)), always_call=True)
    with pytest.raises(TypeError, match="pre failed"):
        m(3)
    return []


def scenario_hooks_added_and_removed_mid_call(nn, log):
    m = _module(nn, log)
    handles = []

    def adder(mod, args):
        if not handles:
            handles.append(mod.register_forward_hook(lambda mod, args, out: log.append(("late", out))))
            handles.append(_register_global_forward_hook(nn, lambda mod, args, out: log.append(("global", out))))
            handles.append(mod.register_forward_pre_hook(lambda mod, args: log.append(("late-pre",))))

    self_removing = []

    def once(mod, args, out):
        log.append(("once", out))
        self_removing[0].remove()

    m.register_forward_pre_hook(adder)
    self_removing.append(m.register_forward_hook(once))
    try:
        return [m(1), m(2)]
    finally:
        for h in handles:
            h.remove()


def scenario_global_hooks(nn, log):
    m = _module(nn, log)
    m.register_forward_hook(lambda mod, args, out: log.append(("local", out)))
    h = _register_global_forward_hook(nn, lambda mod, args, out: ("global-replaced", out))
    h2 = _global_hooks(nn).register_module_forward_pre_hook(lambda mod, args: log.append(("gpre", args)))
    try:
        return [m(7)]
    finally:
        h.remove()
        h2.remove()


SCENARIOS = [scenario_values, scenario_kwargs, scenario_bad_pre_hook_result,
             scenario_always_call_after_error, scenario_error_in_pre_hook,
             scenario_hooks_added_and_removed_mid_call, scenario_global_hooks]


def _normalise(x):
    if isinstance(x, (list, tuple)):
        return type(x)(_normalise(v) for v in x)
    return x


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_matches_torch(scenario):
    t_log, m_log = [], []
    t_out = scenario(torch.nn, t_log)
    m_out = scenario(mnn, m_log)
    assert _normalise(m_log) == _normalise(t_log)
    assert _normalise(m_out) == _normalise(t_out)


def test_python_path_when_call_with_hooks_is_replaced():
    seen = []

    class Custom(mnn.Module):
        def _call_with_hooks(self, forward_call, args, kwargs):
            seen.append(args)
            return "custom"

        def forward(self, x):
            return x

    m = Custom()
    assert m(1) == 1  # no hooks: straight to forward
    m.register_forward_hook(lambda mod, args, out: None)
    assert m(2) == "custom"
    assert seen == [(2,)]


def test_registry_replaced_by_a_dict():
    log = []

    class M(mnn.Module):
        def forward(self, x):
            return x * 2

    m = M()
    h = m.register_forward_hook(lambda mod, args, out: out + 1)
    m._forward_hooks = {h.id: m._forward_hooks[h.id], 10**9: lambda mod, args, out: log.append(out)}
    assert m(np.float32(3)) == 7
    assert log == [7]
    m._forward_hooks = {1: "not callable"}
    with pytest.raises(TypeError):
        m(1)
    m._forward_hooks = {1: (lambda *a: None)}
    m._forward_pre_hooks = {1: (lambda mod, args: "pre")}
    assert m("x") == "prepre"


def test_error_inside_the_except_branch_chains_like_torch():
    def contexts(nn):
        class Failing(nn.Module):
            def forward(self, x):
                raise ValueError("orig")

        m = Failing()

        def bad(mod, args, out):
            raise KeyError("hook")

        m.register_forward_hook(bad, always_call=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the silencing warning itself raises
            with pytest.raises(UserWarning) as err:
                m(1)
        chain, e = [], err.value
        while e is not None:
            chain.append((type(e).__name__, str(e)))
            e = e.__context__
        return chain

    assert contexts(mnn) == contexts(torch.nn)
