"""One scenario, two runtimes: torch.nn and minimod.nn must write the same log.

The scenario builds the same module tree (Module subclasses defined here, with Parameters,
persistent / non-persistent / integer buffers, a shared child and a None child), registers every
kind of hook (global and local, prepend, with_kwargs, always_call, state_dict pre/post, load
pre/post, backward hooks that only get stored), and records: hook firing order with arguments,
hook registry contents, state_dict keys and _metadata, named_modules / named_parameters /
named_buffers, repr, load results, and the exception type and message of many misuses.

The logs are compared after the spec's two normalisations (a tensor typename becomes
'numpy.ndarray', ``torch.Size([..])`` becomes a tuple repr). Hook ids are logged relative to the
first id the scenario got, since each runtime has its own process-wide counter.

Run as a script to print both logs and a diff:  python tests/nn/test_parity_log.py
"""

from __future__ import annotations

import difflib
import re
import sys
import warnings
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np

import minimod.nn as mnn
from minimod.nn import module as mm_module


def normalise(text: str) -> str:
    def size(m: re.Match) -> str:
        return repr(tuple(int(x) for x in m.group(1).split(",") if x.strip()))

    text = re.sub(r"torch\.Size\(\[([^\]]*)\]\)", size, text)
    return re.sub(r"torch\.\w+Tensor\b", "numpy.ndarray", text)


def minimod_runtime() -> SimpleNamespace:
    return SimpleNamespace(
        name="minimod",
        nn=mnn,
        g=mm_module,
        arange=lambda *shape: np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape),
        counter=lambda: np.zeros((), np.int64),
        as_list=lambda v: np.asarray(v).tolist(),
        dtype=lambda v: str(v.dtype),
    )


def torch_runtime() -> SimpleNamespace | None:
    try:
        import torch
        import torch.nn.modules.module as torch_module
    except ImportError:
        return None
    return SimpleNamespace(
        name="torch",
        nn=torch.nn,
        g=torch_module,
        arange=lambda *shape: torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape),
        counter=lambda: torch.zeros((), dtype=torch.int64),
        as_list=lambda v: v.tolist(),
        dtype=lambda v: str(v.dtype).replace("torch.", ""),
    )


def build_log(rt: SimpleNamespace) -> list[str]:  # noqa: C901, PLR0915 (one linear script)
    nn, g = rt.nn, rt.g
    log: list[str] = []
    first_id: list[int] = []

    def rec(*parts) -> None:
        log.append(normalise(" ".join(str(p) for p in parts)))

    def rel(handle) -> int:
        if not first_id:
            first_id.append(handle.id)
        return handle.id - first_id[0]

    def ids(registry) -> list[int]:
        return [k - first_id[0] for k in registry]

    # ---- the tree -----------------------------------------------------------------------
    class Block(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(rt.arange(n, 2))
            self.register_buffer("running", rt.arange(n))
            self.register_buffer("scratch", rt.arange(1), persistent=False)
            self.bias = nn.Parameter(rt.arange(n))
            self.register_buffer("steps", rt.counter())

        def forward(self, x, scale=1):
            rec("forward", type(self).__name__, x, scale)
            return x * scale

        def extra_repr(self) -> str:
            return f"n={self.weight.shape[0]}"

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.left = Block(2)
            self.right = Block(3)

        def forward(self, x):
            return self.right(self.left(x), scale=2)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("zfirst", rt.arange(2))  # registered first, saved after params
            self.pair = Pair()
            self.head = Block(1)
            self.alias = self.head  # shared: once in named_*, under both names in state_dict
            self.add_module("missing", None)
            self.scale = nn.Parameter(rt.arange(1))
            self.register_parameter("unused", None)

        def forward(self, x, *, extra=0):
            return self.head(self.pair(x)) + extra

    net = Net()

    # ---- structure ----------------------------------------------------------------------
    rec("repr", repr(net))
    rec("named_modules", [n for n, _ in net.named_modules()])
    rec("named_modules dup", [n for n, _ in net.named_modules(remove_duplicate=False)])
    rec("named_children", [n for n, _ in net.named_children()])
    rec("named_parameters", [(n, tuple(p.shape)) for n, p in net.named_parameters()])
    rec("named_buffers", [(n, tuple(b.shape), rt.dtype(b)) for n, b in net.named_buffers()])
    rec("dir has", [k for k in ("pair", "scale", "zfirst", "unused", "missing") if k in dir(net)])

    # ---- hooks --------------------------------------------------------------------------
    def pre(tag, ret=None):
        def hook(mod, args):
            rec("pre", tag, type(mod).__name__, args)
            return ret

        return hook

    def pre_kw(tag):
        def hook(mod, args, kwargs):
            rec("pre_kw", tag, type(mod).__name__, args, sorted(kwargs.items()))
            if kwargs.get("extra") == 1:
                return args, {"extra": 10}
            return None

        return hook

    def fwd(tag, ret=None):
        def hook(mod, args, out):
            rec("fwd", tag, type(mod).__name__, args, out)
            return ret

        return hook

    def fwd_kw(tag):
        def hook(mod, args, kwargs, out):
            rec("fwd_kw", tag, type(mod).__name__, args, sorted(kwargs.items()), out)
            return None

        return hook

    global_handles = [g.register_module_forward_pre_hook(pre("global"))]
    rel(global_handles[0])
    global_handles += [
        g.register_module_forward_hook(fwd("global")),
        g.register_module_forward_hook(fwd_kw("global-kw"), with_kwargs=True),
        g.register_module_forward_hook(fwd("global-always"), always_call=True),
    ]
    net.register_forward_pre_hook(pre("net-1"))
    net.register_forward_pre_hook(pre("net-prepended"), prepend=True)
    net.register_forward_pre_hook(pre_kw("net"), with_kwargs=True)
    net.register_forward_hook(fwd("net-1"))
    net.register_forward_hook(fwd_kw("net-kw-prepended"), prepend=True, with_kwargs=True)
    net.register_forward_hook(fwd("net-always", ret=None), always_call=True)
    h_head = net.head.register_forward_hook(fwd("head", ret=100))  # replaces head's output
    net.pair.register_forward_pre_hook(pre("pair-wraps", ret=7))  # non-tuple: wrapped
    for name, reg in (
        ("net pre", net._forward_pre_hooks),
        ("net pre kw", net._forward_pre_hooks_with_kwargs),
        ("net fwd", net._forward_hooks),
        ("net fwd kw", net._forward_hooks_with_kwargs),
        ("net always", net._forward_hooks_always_called),
        ("global fwd", g._global_forward_hooks),
        ("global kw", g._global_forward_hooks_with_kwargs),
        ("global always", g._global_forward_hooks_always_called),
    ):
        rec("ids", name, ids(reg))

    # Backward hooks: stored and ordered (no autograd in minimod, so nothing is run).
    bw = [
        net.pair.register_full_backward_hook(lambda *a: None),
        net.pair.register_full_backward_hook(lambda *a: None, prepend=True),
        net.pair.register_full_backward_pre_hook(lambda *a: None),
        net.pair.register_full_backward_pre_hook(lambda *a: None, True),
    ]
    rec("ids backward", ids(net.pair._backward_hooks), ids(net.pair._backward_pre_hooks),
        net.pair._is_full_backward_hook)
    for h in bw:
        h.remove()
    rec("ids backward removed", ids(net.pair._backward_hooks), ids(net.pair._backward_pre_hooks))

    # ---- calls --------------------------------------------------------------------------
    rec("result", net(1))
    rec("result kw", net(1, extra=1))
    h_head.remove()
    h_head.remove()  # idempotent
    rec("result after remove", net(2))

    class Boom(nn.Module):
        def forward(self, x):
            rec("forward Boom", x)
            raise ValueError("boom")

    boom = Boom()
    boom.register_forward_hook(fwd("boom-always"), always_call=True)

    def failing(mod, args, out):
        raise KeyError("always hook failed")

    boom.register_forward_hook(failing, always_call=True)
    boom.register_forward_hook(fwd("boom-normal"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            boom(3)
        except ValueError as e:
            rec("raised", type(e).__name__, e)
    rec("warnings", [str(w.message) for w in caught])

    for h in global_handles:
        h.remove()
    rec("global after remove", ids(g._global_forward_pre_hooks), ids(g._global_forward_hooks),
        ids(g._global_forward_hooks_always_called))
    for k in list(g._global_forward_hooks_with_kwargs):  # torch leaves this id behind
        if k >= first_id[0]:
            rec("stale kw id", k - first_id[0])
            del g._global_forward_hooks_with_kwargs[k]

    # ---- state_dict ---------------------------------------------------------------------
    net.pair.register_state_dict_pre_hook(lambda m, prefix, keep: rec("sd pre", prefix, keep))

    def sd_post(m, sd, prefix, meta):
        rec("sd post", prefix, dict(meta), len(sd))

    net.pair.register_state_dict_post_hook(sd_post)
    sd = net.state_dict()
    rec("state_dict keys", list(sd))
    rec("state_dict shapes", [(k, tuple(v.shape), rt.dtype(v)) for k, v in sd.items()])
    rec("metadata", sd._metadata)
    sd_p = net.state_dict(prefix="root.", keep_vars=True)
    rec("prefixed", list(sd_p)[:3], list(sd_p._metadata))
    rec("keep_vars types", [isinstance(v, nn.Parameter) for v in sd_p.values()])

    # ---- load_state_dict ------------------------------------------------------------------
    def load_pre(module, state_dict, prefix, meta, strict, missing, unexpected, errors):
        rec("load pre", type(module).__name__, prefix, dict(meta), strict, len(state_dict))

    def load_post(module, keys):
        rec("load post", type(module).__name__, list(keys.missing_keys), list(keys.unexpected_keys))

    net.register_load_state_dict_pre_hook(load_pre)
    net.pair.register_load_state_dict_pre_hook(load_pre)
    net.pair.right.register_load_state_dict_post_hook(load_post)
    net.register_load_state_dict_post_hook(load_post)

    fresh = OrderedDict((k, v + 1) for k, v in net.state_dict().items())
    fresh._metadata = net.state_dict()._metadata
    rec("load all", net.load_state_dict(fresh))
    rec("loaded values", [(n, rt.as_list(p)) for n, p in net.named_parameters()][:2])

    partial = OrderedDict(fresh)
    del partial["pair.left.bias"]
    partial["pair.extra"] = rt.arange(1)
    partial["missing.x"] = rt.arange(1)  # under a None child: ignored
    partial["unused"] = rt.arange(1)  # a None parameter: unexpected
    partial["pair.left.scratch"] = rt.arange(1)  # non-persistent: unexpected
    rec("load non-strict", net.load_state_dict(partial, strict=False))

    def attempt(label, fn):
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001
            text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            rec("error", label, type(e).__name__, text)
        else:
            rec("no error", label, out)

    attempt("load strict", lambda: net.load_state_dict(partial))
    bad_size = OrderedDict(fresh)
    bad_size["pair.right.weight"] = rt.arange(5, 2)
    attempt("load size non-strict", lambda: net.load_state_dict(bad_size, strict=False))
    bad_value = OrderedDict(fresh)
    bad_value["head.bias"] = [1.0]
    attempt("load bad value", lambda: net.load_state_dict(bad_value))
    attempt("load not mapping", lambda: net.load_state_dict([("a", 1)]))
    rec("values after failures", [(n, rt.as_list(p)) for n, p in net.named_parameters()][:2])

    # ---- misuses ---------------------------------------------------------------------------
    m = nn.Module()
    attempt("Module(3)", lambda: nn.Module(3))
    attempt("Module(k=1)", lambda: nn.Module(k=1))
    attempt("buffer name int", lambda: m.register_buffer(1, None))
    attempt("buffer name dot", lambda: m.register_buffer("a.b", None))
    attempt("buffer name empty", lambda: m.register_buffer("", None))
    attempt("buffer exists", lambda: m.register_buffer("training", None))
    attempt("buffer value", lambda: m.register_buffer("x", 3.5))
    attempt("param name dot", lambda: m.register_parameter("a.b", None))
    attempt("param value", lambda: m.register_parameter("p", rt.arange(2)))
    attempt("add_module value", lambda: m.add_module("c", 5))
    attempt("add_module dot", lambda: m.add_module("a.b", Block(1)))
    attempt("add_module exists", lambda: m.add_module("forward", Block(1)))
    attempt("module as param", lambda: setattr(net, "scale", Block(1)))
    attempt("array as param", lambda: setattr(net, "scale", rt.arange(1)))
    attempt("int as child", lambda: setattr(net, "pair", 1))
    attempt("str as buffer", lambda: setattr(net, "zfirst", "s"))
    attempt("getattr", lambda: net.nope)
    attempt("delattr", lambda: delattr(m, "zz"))
    attempt("get_submodule", lambda: net.get_submodule("pair.nope"))
    attempt("get_submodule param", lambda: net.get_submodule("scale.x"))
    attempt("get_parameter buffer", lambda: net.get_parameter("zfirst"))
    attempt("get_buffer param", lambda: net.get_buffer("pair.left.weight"))
    attempt("set_submodule", lambda: net.set_submodule("", Block(1)))
    attempt("set_submodule strict", lambda: net.set_submodule("pair.nope", Block(1), strict=True))
    attempt("train", lambda: net.train(0))
    attempt("no forward", lambda: nn.Module()(1))
    attempt("pre-hook kw return", lambda: _bad_pre_kw(nn))
    attempt("mix backward", lambda: _mix_backward(nn))
    attempt("sd post returns", lambda: _sd_post_returns(nn))
    attempt("private after public", lambda: _private_after_public(nn))
    attempt("load post returns", lambda: _load_post_returns(nn, rt))
    attempt("extra state", lambda: nn.Module().get_extra_state())

    # ---- modes ----------------------------------------------------------------------------
    net.eval()
    rec("eval", [mod.training for mod in net.modules()])
    net.pair.training = True
    rec("direct", [mod.training for mod in net.modules()])
    applied = []
    net.apply(lambda mod: applied.append(type(mod).__name__))
    rec("apply order", applied)
    return log


def _bad_pre_kw(nn):
    m = _echo(nn)
    m.register_forward_pre_hook(lambda mod, a, k: [a, k], with_kwargs=True)
    return m(1)


def _mix_backward(nn):
    m = nn.Module()
    m.register_backward_hook(lambda *a: None)
    m.register_full_backward_hook(lambda *a: None)


def _sd_post_returns(nn):
    m = nn.Module()
    m.register_state_dict_post_hook(lambda *a: {})
    return m.state_dict()


def _private_after_public(nn):
    def hook(*a):
        return None

    m = nn.Module()
    m.register_state_dict_post_hook(hook)
    m._register_state_dict_hook(hook)


def _load_post_returns(nn, rt):
    m = nn.Module()
    m.register_load_state_dict_post_hook(lambda mod, keys: keys)
    return m.load_state_dict({})


def _echo(nn):
    class Echo(nn.Module):
        def forward(self, *args):
            return args

    return Echo()


def logs() -> dict[str, list[str]]:
    out = {"minimod": build_log(minimod_runtime())}
    rt = torch_runtime()
    if rt is not None:
        out["torch"] = build_log(rt)
    return out


def test_parity_log():
    import pytest

    if torch_runtime() is None:
        pytest.skip("torch is not importable")
    result = logs()
    ours, theirs = result["minimod"], result["torch"]
    diff = "\n".join(difflib.unified_diff(theirs, ours, "torch", "minimod", lineterm=""))
    assert ours == theirs, diff
    assert sum(line.startswith("error ") for line in ours) >= 12
    assert not mm_module._global_forward_hooks and not mm_module._global_forward_pre_hooks


def test_log_is_deterministic_without_torch():
    assert build_log(minimod_runtime()) == build_log(minimod_runtime())


def main() -> int:
    result = logs()
    for name, lines in result.items():
        print(f"===== {name} ({len(lines)} lines) =====")
        print("\n".join(lines))
    if "torch" not in result:
        print("torch not importable: nothing to compare")
        return 0
    diff = list(difflib.unified_diff(result["torch"], result["minimod"], "torch", "minimod", lineterm=""))
    print("===== diff (torch -> minimod) =====")
    print("\n".join(diff) if diff else "IDENTICAL")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
