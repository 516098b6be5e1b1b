"""Hooks: RemovableHandle, forward (pre-)hooks, global hooks, always_call, backward-hook storage.

Each behavioural scenario runs on minimod and, when importable, on torch 2.13, and the two
event logs must be equal. Forward arguments are plain Python values so both frameworks see the
same data.
"""

from __future__ import annotations

import gc
import pickle
import warnings

import numpy as np
import pytest

import minimod.nn as mnn
from minimod import _core
from minimod.nn import module as module_mod
from minimod.nn.hooks import RemovableHandle


def frameworks():
    out = [("minimod", mnn, module_mod)]
    try:
        import torch
        import torch.nn.modules.module as torch_module_mod
    except ImportError:
        return out
    return [*out, ("torch", torch.nn, torch_module_mod)]


def run_on_all(scenario):
    """Run scenario(nn, gmod) per framework; assert every log equals minimod's."""
    logs = {}
    for name, nn, gmod in frameworks():
        logs[name] = scenario(nn, gmod)
    if "torch" in logs:
        assert logs["minimod"] == logs["torch"]
    return logs["minimod"]


@pytest.fixture(autouse=True)
def no_global_hooks_leak():
    yield
    for reg in (
        module_mod._global_forward_pre_hooks,
        module_mod._global_forward_hooks,
        module_mod._global_backward_hooks,
        module_mod._global_backward_pre_hooks,
    ):
        assert not reg, "a test leaked a global hook"


# ---- RemovableHandle -------------------------------------------------------------------------


def test_handle_ids_come_from_one_counter():
    m1, m2 = mnn.Module(), mnn.Module()
    hs = [
        m1.register_forward_hook(lambda *a: None),
        m2.register_forward_pre_hook(lambda *a: None),
        m1.register_state_dict_pre_hook(lambda *a: None),
        mnn.register_module_forward_hook(lambda *a: None),
        m2.register_full_backward_pre_hook(lambda *a: None),
        mnn.register_module_buffer_registration_hook(lambda *a: None),
    ]
    ids = [h.id for h in hs]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert RemovableHandle.next_id == ids[-1] + 1
    for h in hs:
        h.remove()


def test_handle_remove_is_idempotent_and_cleans_extra_dicts():
    m = mnn.Module()
    h = m.register_forward_hook(lambda *a: None, with_kwargs=True, always_call=True)
    hp = m.register_forward_pre_hook(lambda *a: None, with_kwargs=True)
    assert h.id in m._forward_hooks_with_kwargs and h.id in m._forward_hooks_always_called
    h.remove()
    h.remove()
    hp.remove()
    for reg in (m._forward_hooks, m._forward_hooks_with_kwargs, m._forward_hooks_always_called,
                m._forward_pre_hooks, m._forward_pre_hooks_with_kwargs):
        assert len(reg) == 0


def test_handle_is_a_context_manager():
    m = mnn.Module()
    with m.register_forward_hook(lambda *a: None) as h:
        assert isinstance(h, RemovableHandle)
        assert h.id in m._forward_hooks
    assert not m._forward_hooks


def test_handle_holds_the_registry_weakly():
    m = mnn.Module()
    h = m.register_forward_hook(lambda *a: None)
    assert h.hooks_dict_ref() is m._forward_hooks
    del m
    gc.collect()
    assert h.hooks_dict_ref() is None
    h.remove()  # no error


def test_handle_pickle_state_and_counter_bump():
    reg = _core.Registry()
    extra = _core.Registry()
    h = RemovableHandle(reg, extra_dict=[extra])
    reg[h.id] = "hook"
    extra[h.id] = True
    state = h.__getstate__()
    assert state == (reg, h.id, (extra,))
    clone = pickle.loads(pickle.dumps((reg, extra, h)))
    reg2, extra2, h2 = clone
    assert h2.id == h.id and h2.hooks_dict_ref() is reg2 and h2.extra_dict_ref[0]() is extra2
    h2.remove()
    assert not reg2 and not extra2 and len(reg) == 1
    fake = RemovableHandle.__new__(RemovableHandle)
    fake.__setstate__((None, RemovableHandle.next_id + 100))
    assert RemovableHandle.next_id == fake.id + 1
    fake.remove()


def test_handle_accepts_single_extra_registry():
    reg, extra = _core.Registry(), _core.Registry()
    h = RemovableHandle(reg, extra_dict=extra)
    extra[h.id] = True
    h.remove()
    assert not extra


# ---- forward hooks: order, return values --------------------------------------------------------


def make_echo(nn, log):
    class Echo(nn.Module):
        def forward(self, *args, **kwargs):
            log.append(("forward", args, tuple(sorted(kwargs.items()))))
            return "out"

    return Echo()


def test_firing_order_matches_spec_and_torch():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        handles = [
            gmod.register_module_forward_pre_hook(lambda mod, a: log.append("gpre")),
            m.register_forward_pre_hook(lambda mod, a: log.append("pre1")),
            m.register_forward_pre_hook(lambda mod, a: log.append("pre2"), prepend=True),
            m.register_forward_pre_hook(lambda mod, a, k: log.append("pre3kw"), with_kwargs=True),
            gmod.register_module_forward_hook(lambda mod, a, o: log.append("gfwd")),
            m.register_forward_hook(lambda mod, a, o: log.append("fwd1")),
            m.register_forward_hook(
                lambda mod, a, k, o: log.append("fwd2kw"), prepend=True, with_kwargs=True
            ),
        ]
        try:
            m(1, k=2)
        finally:
            for h in handles:
                h.remove()
        return log

    log = run_on_all(scenario)
    assert log == [
        "gpre", "pre2", "pre1", "pre3kw", ("forward", (1,), (("k", 2),)), "gfwd", "fwd2kw", "fwd1"
    ]


def test_pre_hook_return_rules():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        results = iter([None, 5, (6, 7), [8, 9], ((10,),)])
        seen = []
        m.register_forward_pre_hook(lambda mod, a: (seen.append(a), next(results))[1])
        m.register_forward_pre_hook(lambda mod, a: seen.append(("second", a)))
        for _ in range(5):
            m(1)
        return log, seen

    log, _ = run_on_all(scenario)
    assert [entry[1] for entry in log] == [(1,), (5,), (6, 7), ([8, 9],), ((10,),)]


def test_pre_hook_with_kwargs_rules():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        ret = {"v": ((3,), {"z": 4})}
        m.register_forward_pre_hook(lambda mod, a, k: ret["v"], with_kwargs=True)
        m(1, y=2)
        ret["v"] = None
        m(1, y=2)
        errors = []
        for bad in (5, (1, 2, 3), [(), {}]):
            ret["v"] = bad
            try:
                m(1)
            except RuntimeError as e:
                errors.append(str(e))
        return log, errors

    log, errors = run_on_all(scenario)
    assert log == [("forward", (3,), (("z", 4),)), ("forward", (1,), (("y", 2),))]
    assert errors[0] == (
        "forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got 5."
    )
    assert len(errors) == 3


def test_forward_hook_return_replaces_output_and_chains():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        m.register_forward_hook(lambda mod, a, o: o + "!")
        m.register_forward_hook(lambda mod, a, o: log.append(("saw", o)))
        m.register_forward_hook(lambda mod, a, k, o: (a, k, o), with_kwargs=True)
        m.register_forward_pre_hook(lambda mod, a: (a[0] * 10,))
        return log, m(2, q=1)

    log, out = run_on_all(scenario)
    assert out == ((20,), {"q": 1}, "out!")
    assert log[-1] == ("saw", "out!")


def test_hooks_added_or_removed_during_a_call_apply_from_next_call():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        handles = {}

        def first(mod, a):
            log.append("first")
            if "late" not in handles:
                handles["late"] = mod.register_forward_pre_hook(lambda mod, a: log.append("late"))
            handles["victim"].remove()

        m.register_forward_pre_hook(first)
        handles["victim"] = m.register_forward_pre_hook(lambda mod, a: log.append("victim"))

        def fwd(mod, a, o):
            log.append("fwd")
            mod.register_forward_hook(lambda mod, a, o: log.append("fwd-late"))

        h = m.register_forward_hook(fwd)
        m(0)
        h.remove()
        m(0)
        return log

    log = run_on_all(scenario)
    assert log[:4] == ["first", "victim", ("forward", (0,), ()), "fwd"]
    assert log[4:] == ["first", "late", ("forward", (0,), ()), "fwd-late"]


def test_global_pre_hook_gets_no_kwargs_and_global_forward_kwargs():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        hs = [
            gmod.register_module_forward_pre_hook(lambda mod, a: log.append(("gpre", a))),
            gmod.register_module_forward_hook(
                lambda mod, a, k, o: log.append(("gfwd", a, k, o)), with_kwargs=True
            ),
        ]
        try:
            m(1, k=3)
        finally:
            for h in hs:
                h.remove()
        stale = hs[1].id in gmod._global_forward_hooks_with_kwargs
        gmod._global_forward_hooks_with_kwargs.pop(hs[1].id, None)
        return log, stale

    log, stale = run_on_all(scenario)
    assert log[0] == ("gpre", (1,)) and log[-1] == ("gfwd", (1,), {"k": 3}, "out")
    assert stale  # torch leaves the with_kwargs id behind: harmless, ids are unique


# ---- always_call -------------------------------------------------------------------------------


def test_always_call_hooks_run_when_forward_raises():
    def scenario(nn, gmod):
        log = []

        class Boom(nn.Module):
            def forward(self, x):
                log.append("forward")
                raise ValueError("boom")

        m = Boom()
        hs = [
            gmod.register_module_forward_hook(
                lambda mod, a, o: log.append(("g-always", a, o)), always_call=True
            ),
            gmod.register_module_forward_hook(lambda mod, a, o: log.append("g-normal")),
        ]
        m.register_forward_pre_hook(lambda mod, a: (a[0] + 1,))
        m.register_forward_hook(lambda mod, a, o: log.append("normal"))
        m.register_forward_hook(
            lambda mod, a, k, o: log.append(("always-kw", a, k, o)), with_kwargs=True,
            always_call=True,
        )

        def failing(mod, a, o):
            raise KeyError("hook failed")

        m.register_forward_hook(failing, always_call=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                m(1)
            except ValueError as e:
                log.append(("raised", str(e)))
            finally:
                for h in hs:
                    h.remove()
        log.append([str(w.message) for w in caught])
        return log

    log = run_on_all(scenario)
    assert log[:4] == [
        "forward",
        ("g-always", (2,), None),
        ("always-kw", (2,), {}, None),
        ("raised", "boom"),
    ]
    assert log[4] == [
        "module forward hook with ``always_call=True`` raised an exception that was silenced as "
        "another error was raised in forward: 'hook failed'"
    ]


def test_always_call_hook_already_run_is_not_rerun():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        m.register_forward_hook(lambda mod, a, o: log.append("always"), always_call=True)

        def later(mod, a, o):
            raise RuntimeError("later")

        m.register_forward_hook(later)
        m.register_forward_hook(lambda mod, a, o: log.append("other-always"), always_call=True)
        try:
            m(0)
        except RuntimeError:
            log.append("raised")
        return log

    log = run_on_all(scenario)
    assert log == [("forward", (0,), ()), "always", "other-always", "raised"]


def test_pre_hook_failure_runs_always_call_with_current_args():
    def scenario(nn, gmod):
        log = []
        m = make_echo(nn, log)
        m.register_forward_pre_hook(lambda mod, a: (a[0] * 2,))

        def bad(mod, a):
            raise TypeError("pre failed")

        m.register_forward_pre_hook(bad)
        m.register_forward_hook(lambda mod, a, o: log.append(("always", a, o)), always_call=True)
        try:
            m(4)
        except TypeError as e:
            log.append(str(e))
        return log

    assert run_on_all(scenario) == [("always", (8,), None), "pre failed"]


def test_global_always_call_warning_text():
    def scenario(nn, gmod):
        def bad(mod, a, o):
            raise ValueError("g")

        class Boom(nn.Module):
            def forward(self):
                raise IndexError("x")

        h = gmod.register_module_forward_hook(bad, always_call=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                Boom()()
            except IndexError:
                pass
            finally:
                h.remove()
        return [str(w.message) for w in caught]

    assert run_on_all(scenario) == [
        "global module forward hook with ``always_call=True`` raised an exception that was "
        "silenced as another error was raised in forward: g"
    ]


# ---- fast path ---------------------------------------------------------------------------------


def test_fast_path_calls_forward_only_and_honours_instance_override():
    calls = []

    class M(mnn.Module):
        def forward(self, x, *, k=0):
            calls.append((x, k))
            return x + k

    m = M()
    assert m(1, k=2) == 3
    m.forward = lambda x: ("instance", x)
    assert m(5) == ("instance", 5)
    assert calls == [(1, 2)]


def test_stale_kwargs_ids_do_not_leave_the_fast_path():
    m = mnn.Module()
    m._forward_hooks_with_kwargs[123456789] = True
    m._forward_hooks_always_called[123456789] = True
    m.forward = lambda: "fast"
    assert m() == "fast"


def test_backward_hooks_are_stored_but_never_fire():
    fired = []
    m = mnn.Module()
    m.forward = lambda x: x
    h1 = m.register_full_backward_hook(lambda *a: fired.append("b1"))
    h2 = m.register_full_backward_hook(lambda *a: fired.append("b2"), prepend=True)
    h3 = m.register_full_backward_pre_hook(lambda *a: fired.append("bp"))
    h4 = m.register_full_backward_pre_hook(lambda *a: fired.append("bp0"), True)
    assert list(m._backward_hooks) == [h2.id, h1.id]
    assert list(m._backward_pre_hooks) == [h4.id, h3.id]
    assert m._is_full_backward_hook is True
    assert m(np.ones(2)).tolist() == [1.0, 1.0]
    assert fired == []
    doc = mnn.Module.register_full_backward_hook.__doc__ + mnn.Module.register_backward_hook.__doc__
    assert "never fires" in doc
    assert "never fires" in mnn.register_module_full_backward_hook.__doc__


def test_backward_hook_mixing_errors_local():
    def scenario(nn, gmod):
        out = []
        a = nn.Module()
        a.register_full_backward_hook(lambda *x: None)
        try:
            a.register_backward_hook(lambda *x: None)
        except RuntimeError as e:
            out.append(str(e))
        b = nn.Module()
        b.register_backward_hook(lambda *x: None)
        out.append(b._is_full_backward_hook)
        try:
            b.register_full_backward_hook(lambda *x: None)
        except RuntimeError as e:
            out.append(str(e))
        return out

    msg = (
        "Cannot use both regular backward hooks and full backward hooks on a single Module. "
        "Please use only one of them."
    )
    assert run_on_all(scenario) == [msg, False, msg]


def test_backward_hook_mixing_errors_global():
    def scenario(nn, gmod):
        out = []
        saved = gmod._global_is_full_backward_hook
        try:
            h = gmod.register_module_full_backward_hook(lambda *x: None)
            try:
                gmod.register_module_backward_hook(lambda *x: None)
            except RuntimeError as e:
                out.append(str(e))
            h.remove()
            gmod._global_is_full_backward_hook = None
            h = gmod.register_module_backward_hook(lambda *x: None)
            try:
                gmod.register_module_full_backward_hook(lambda *x: None)
            except RuntimeError as e:
                out.append(str(e))
            h.remove()
            h = gmod.register_module_full_backward_pre_hook(lambda *x: None)
            out.append(len(gmod._global_backward_pre_hooks))
            h.remove()
        finally:
            gmod._global_is_full_backward_hook = saved
        return out

    msg = (
        "Cannot use both regular backward hooks and full backward hooks as a global Module "
        "hook. Please use only one of them."
    )
    assert run_on_all(scenario) == [msg, msg, 1]


def test_global_backward_hook_takes_the_hooked_path_without_firing():
    fired = []
    h = mnn.register_module_full_backward_pre_hook(lambda *a: fired.append(1))
    try:
        m = mnn.Module()
        m.forward = lambda: "ok"
        assert m() == "ok"
    finally:
        h.remove()
    assert fired == []
