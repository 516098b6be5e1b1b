"""Sequential's call-time Conv -> BatchNorm (eval) [-> ReLU] fusion (minimod.nn._fusion).

References: a float64 numpy convolution + batch norm + ReLU written here, and torch's unfused
Sequential (importorskip). `_testing.conv_bn_fused_runs()` counts fused runs, so every test also
says whether the run was fused: fusion must happen where it is unobservable and never elsewhere.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import minimod.nn as nn
from minimod import _core
from minimod.nn import module as module_mod

from call_outcome import assert_same_error, outcome
from write_routes import ROUTES

RTOL, ATOL = 2e-5, 2e-5


def fused_runs() -> int:
    return _core._testing.conv_bn_fused_runs()


# ---- float64 references -------------------------------------------------------------------------


def conv_ref(x, w, b, stride, padding, dilation, groups):
    """Direct N-d convolution in float64 (zero padding), x (N, C, *S), w (Co, C/g, *k)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    n, c = x.shape[:2]
    co = w.shape[0]
    cig, cog = c // groups, co // groups
    k = w.shape[2:]
    out_sz = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((n, co, *out_sz))
    for g in range(groups):
        for tap in itertools.product(*[range(kk) for kk in k]):
            sl = tuple(
                slice(tap[i] * dilation[i], tap[i] * dilation[i] + stride[i] * (out_sz[i] - 1) + 1, stride[i])
                for i in range(nd)
            )
            patch = xp[(slice(None), slice(g * cig, (g + 1) * cig), *sl)]  # (N, cig, *out)
            wt = w[(slice(g * cog, (g + 1) * cog), slice(None), *tap)]  # (cog, cig)
            y[:, g * cog:(g + 1) * cog] += np.einsum("oc,nc...->no...", wt, patch)
    if b is not None:
        y += np.asarray(b, np.float64).reshape((1, co) + (1,) * nd)
    return y


def bn_ref(y, mean, var, weight, bias, eps):
    shape = (1, -1) + (1,) * (y.ndim - 2)
    out = (y - np.asarray(mean, np.float64).reshape(shape)) / np.sqrt(np.asarray(var, np.float64).reshape(shape) + eps)
    if weight is not None:
        out = out * np.asarray(weight, np.float64).reshape(shape)
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape(shape)
    return out


def run_ref(conv, bn, relu, x):
    y = conv_ref(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    y = bn_ref(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)
    return np.maximum(y, 0) if relu else y


def randomize_bn(bn, rng):
    c = bn.num_features
    np.asarray(bn.running_mean)[...] = rng.uniform(-1, 1, c)
    np.asarray(bn.running_var)[...] = rng.uniform(0.3, 2.0, c)
    if bn.weight is not None:
        np.asarray(bn.weight)[...] = rng.uniform(-2, 2, c)
        np.asarray(bn.bias)[...] = rng.uniform(-1, 1, c)


CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}

# (nd, cin, cout, kernel, stride, padding, dilation, groups, spatial, expected conv path)
CASES = [
    (2, 3, 32, 3, 1, 1, 1, 1, 32, "shift_gemm"),  # W3's first layer
    (2, 16, 64, 3, 1, 1, 1, 1, 16, "shift_gemm"),  # (32 channels would be Winograd on AVX2)
    (2, 64, 64, 3, 1, 1, 1, 1, 56, "winograd"),
    (2, 16, 24, 1, 1, 0, 1, 1, 9, "gemm_1x1"),
    (2, 16, 5, 1, 1, 0, 1, 1, 9, "gemm_1x1"),  # 5 output channels: the small-M GEMM
    (2, 16, 24, 1, 2, 0, 1, 1, 11, "im2col_gemm"),
    (2, 8, 8, 3, 1, 1, 1, 8, 13, "depthwise"),
    (2, 8, 12, 3, 2, 1, 2, 4, 15, "shift_gemm"),
    (1, 4, 6, 5, 2, 2, 1, 2, 40, "shift_gemm"),
    (3, 3, 5, 3, 1, 1, 1, 1, 6, "shift_gemm"),
    (2, 32, 48, 3, 1, 1, 1, 1, 7, "shift_gemm"),  # a 7x7 plane: the pixels-as-rows orientation
]


def build(case, bias=True, affine=True, relu=True, rng=None):
    nd, cin, cout, k, s, p, d, g, _, _ = case
    conv = CONV[nd](cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    bn = BN[nd](cout, affine=affine, eps=1e-3)
    randomize_bn(bn, rng or np.random.default_rng(1))
    mods = [conv, bn] + ([nn.ReLU()] if relu else [])
    return nn.Sequential(*mods).eval()


def case_input(case, batch=2, seed=0):
    nd, cin = case[0], case[1]
    return np.random.default_rng(seed).standard_normal((batch, cin) + (case[8],) * nd).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}d-{c[9]}-{c[2]}")
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("relu", [True, False])
def test_fused_matches_float64_reference(case, bias, relu):
    seq = build(case, bias=bias, relu=relu)
    x = case_input(case)
    conv = seq[0]
    path = _core._testing.conv_path(x, conv.weight, list(conv.stride), list(conv.padding), list(conv.padding),
                                    list(conv.dilation), conv.groups)
    assert path == case[9]  # the case covers the path it is named after
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, run_ref(seq[0], seq[1], relu, x), rtol=1e-4, atol=1e-4)


def test_affine_false_and_batch_one():
    case = CASES[1]
    seq = build(case, affine=False)
    x = case_input(case, batch=1)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    np.testing.assert_allclose(out, run_ref(seq[0], seq[1], True, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("path", ["reference", "gemm_1x1", "shift_gemm", "shift_gemm_columns", "shift_gemm_pixel_rows",
                                  "depthwise", "im2col_gemm", "winograd", "winograd_tile_rows",
                                  "winograd_channel_rows"])
def test_conv_affine_every_forced_path(path):
    rng = np.random.default_rng(3)
    if path == "gemm_1x1":
        x, w, args = rng.standard_normal((2, 16, 7, 9)), rng.standard_normal((20, 16, 1, 1)), (1, 0, 1, 1)
    elif path == "depthwise":
        x, w, args = rng.standard_normal((2, 6, 9, 9)), rng.standard_normal((6, 1, 3, 3)), (1, 1, 1, 6)
    else:
        x, w, args = rng.standard_normal((2, 16, 12, 10)), rng.standard_normal((20, 16, 3, 3)), (1, 1, 1, 1)
    x, w = x.astype(np.float32), w.astype(np.float32)
    co = w.shape[0]
    scale = rng.uniform(-2, 2, co).astype(np.float32)
    shift = rng.uniform(-1, 1, co).astype(np.float32)
    s, p, d, g = args
    y = _core._testing.conv_affine(x, w, scale, shift, s, p, d, g, relu=True, path=path)
    ref = conv_ref(x, w, None, (s, s), (p, p), (d, d), g) * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(y, np.maximum(ref, 0), rtol=1e-4, atol=1e-4)
    y = _core._testing.conv_affine(x, w, scale, None, s, p, d, g, relu=False, path=path)
    np.testing.assert_allclose(y, ref - shift.reshape(1, -1, 1, 1), rtol=1e-4, atol=1e-4)


def test_conv_affine_rejects_what_it_cannot_do():
    x = np.zeros((1, 4, 5, 5), np.float32)
    w = np.zeros((4, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="does not apply"):
        _core._testing.conv_affine(x, w, np.ones(4, np.float32), None, 1, 1, 1, 1, path="gemm_1x1")
    with pytest.raises(ValueError, match="not a plain"):
        _core._testing.conv_affine(x, w, np.ones(3, np.float32), None, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="unknown conv path"):
        _core._testing.conv_affine(x, w, np.ones(4, np.float32), None, 1, 1, 1, 1, path="nope")


# ---- torch parity ----------------------------------------------------------------------------------


def to_torch(seq_mm, torch):
    """The same Sequential in torch, with the same parameters and buffers."""
    tn = torch.nn
    mods = []
    for m in seq_mm:
        name = type(m).__name__
        if name.startswith("Conv"):
            t = getattr(tn, name)(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                                  dilation=m.dilation, groups=m.groups, bias=m.bias is not None)
        elif name.startswith("BatchNorm"):
            t = getattr(tn, name)(m.num_features, eps=m.eps, affine=m.affine)
        else:
            t = getattr(tn, name)()
        mods.append(t)
    ts = tn.Sequential(*mods)
    ts.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in seq_mm.state_dict().items()})
    return ts.train(seq_mm.training)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}d-{c[9]}-{c[2]}")
def test_fused_matches_torch_unfused(case):
    torch = pytest.importorskip("torch")
    seq = build(case)
    ts = to_torch(seq, torch)
    x = case_input(case)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    with torch.no_grad():
        ref = ts(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, ref, rtol=RTOL * 5, atol=ATOL * 5)


def test_w3_network_matches_torch():
    torch = pytest.importorskip("torch")
    from minimod.bench.workloads import WORKLOADS

    w = WORKLOADS["W3"]
    tm = w.build(torch.nn).eval()
    rng = np.random.default_rng(7)
    for m in tm.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                for t, lo, hi in ((m.running_mean, -1, 1), (m.running_var, 0.3, 2), (m.weight, 0.5, 2), (m.bias, -1, 1)):
                    t.copy_(torch.from_numpy(rng.uniform(lo, hi, t.shape[0]).astype(np.float32)))
    mm = w.build(nn).eval()
    mm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal(w.input_shape).astype(np.float32)
    before = fused_runs()
    out = mm(x)
    assert fused_runs() == before + 3
    with torch.no_grad():
        ref = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_nan_and_inf_propagate_as_unfused():
    torch = pytest.importorskip("torch")
    case = CASES[3]  # 1x1: each output reads one input position
    seq = build(case)
    ts = to_torch(seq, torch)
    x = case_input(case)
    x[0, 0, 1, 2] = np.nan
    x[1, 3, 4, 4] = np.inf
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    with torch.no_grad():
        ref = ts(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


# ---- never stale ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("member", "name"), [(0, "weight"), (0, "bias"), (1, "running_mean"), (1, "running_var"),
                                              (1, "weight"), (1, "bias")])
def test_writes_are_seen_by_the_next_call(route, member, name):
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    seq(x)  # a first call: nothing may be kept from it
    mod = seq[member]
    old = np.array(getattr(mod, name))
    new = (old * 1.5 + 0.25).astype(np.float32) if name != "running_var" else (old + 0.5).astype(np.float32)
    route(mod, name, new)
    np.testing.assert_array_equal(np.asarray(getattr(mod, name)), new)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    np.testing.assert_allclose(out, run_ref(seq[0], seq[1], True, x), rtol=1e-4, atol=1e-4)


def test_eps_change_is_seen():
    case = CASES[0]
    seq = build(case)
    x = case_input(case, batch=1)
    seq(x)
    seq[1].eps = 0.5
    np.testing.assert_allclose(seq(x), run_ref(seq[0], seq[1], True, x), rtol=1e-4, atol=1e-4)


# ---- when not to fuse --------------------------------------------------------------------------------


def _unfused_ref(seq, x):
    for m in seq:
        x = m(x)
    return x


def test_training_mode_is_not_fused():
    torch = pytest.importorskip("torch")
    case = CASES[1]
    seq = build(case).train()
    ts = to_torch(seq, torch)
    x = case_input(case)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before
    ref = ts(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(seq[1].running_mean), ts[1].running_mean.numpy(), rtol=1e-5, atol=1e-6)
    assert int(np.asarray(seq[1].num_batches_tracked)) == 1


@pytest.mark.parametrize("member", [0, 1, 2])
def test_any_member_in_training_mode_disables_its_part(member):
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    expected = run_ref(seq[0], seq[1], True, x)
    seq[member].train()
    if member == 1:
        expected = None  # batch statistics: compare with the unfused path instead
    before = fused_runs()
    out = seq(x)
    # A ReLU in training mode still leaves conv -> BN fusable (ReLU then runs on its own).
    assert fused_runs() == before + (1 if member == 2 else 0)
    if expected is None:
        seq2 = build(case)
        seq2.load_state_dict(seq.state_dict())
        expected = _unfused_ref(seq2.train(), x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


HOOK_KINDS = [
    ("forward_pre", lambda m, log: m.register_forward_pre_hook(lambda *a: log.append("pre"))),
    ("forward_pre_kwargs",
     lambda m, log: m.register_forward_pre_hook(lambda *a: log.append("pre_kw"), with_kwargs=True)),
    ("forward", lambda m, log: m.register_forward_hook(lambda *a: log.append("fwd"))),
    ("forward_kwargs", lambda m, log: m.register_forward_hook(lambda *a: log.append("fwd_kw"), with_kwargs=True)),
    ("forward_always", lambda m, log: m.register_forward_hook(lambda *a: log.append("always"), always_call=True)),
    ("backward", lambda m, log: m.register_backward_hook(lambda *a: None)),
    ("full_backward", lambda m, log: m.register_full_backward_hook(lambda *a: None)),
    ("full_backward_pre", lambda m, log: m.register_full_backward_pre_hook(lambda *a: None)),
]


@pytest.mark.parametrize(("kind", "register"), HOOK_KINDS, ids=[k for k, _ in HOOK_KINDS])
@pytest.mark.parametrize("member", [0, 1, 2])
def test_a_hook_on_any_member_disables_fusion_and_fires(kind, register, member):
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    expected = run_ref(seq[0], seq[1], True, x)
    log: list[str] = []
    handle = register(seq[member], log)
    before = fused_runs()
    out = seq(x)
    # With the hook on the ReLU, conv -> BN alone may still fuse; the ReLU runs (and hooks) itself.
    assert fused_runs() == before + (1 if member == 2 else 0)
    if not kind.startswith(("backward", "full_backward")):
        assert len(log) == 1
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    handle.remove()
    before = fused_runs()
    seq(x)
    assert fused_runs() == before + 1


GLOBAL_HOOKS = [
    lambda log: module_mod.register_module_forward_pre_hook(lambda *a: log.append("gpre")),
    lambda log: module_mod.register_module_forward_hook(lambda *a: log.append("gfwd")),
    lambda log: module_mod.register_module_forward_hook(lambda *a: log.append("gfwd"), always_call=True),
    lambda log: module_mod.register_module_backward_hook(lambda *a: None),
    lambda log: module_mod.register_module_full_backward_hook(lambda *a: None),
    lambda log: module_mod.register_module_full_backward_pre_hook(lambda *a: None),
]


@pytest.mark.parametrize("register", GLOBAL_HOOKS)
def test_global_hooks_disable_fusion(register, monkeypatch):
    # Registering a global (non-full) backward hook pins the process to that kind: undo it.
    monkeypatch.setattr(module_mod, "_global_is_full_backward_hook", None)
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    expected = run_ref(seq[0], seq[1], True, x)
    log: list[str] = []
    handle = register(log)
    try:
        before = fused_runs()
        out = seq(x)
        assert fused_runs() == before
    finally:
        handle.remove()
    if log:
        assert len(log) == 4  # the Sequential and its three members
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_global_hook_registered_mid_forward_is_honoured():
    case = CASES[1]
    conv_bn = build(case)
    log: list[str] = []
    handles = []

    class Register(nn.Module):
        def forward(self, x):
            handles.append(module_mod.register_module_forward_hook(lambda *a: log.append(type(a[0]).__name__)))
            return x

    seq = nn.Sequential(Register(), *conv_bn).eval()
    try:
        before = fused_runs()
        seq(case_input(case, batch=1))
        assert fused_runs() == before
    finally:
        for h in handles:
            h.remove()
    # The Sequential's own call checked for hooks before its forward ran, as torch's does.
    assert log == ["Conv2d", "BatchNorm2d", "ReLU"]


def test_subclass_overrides_are_respected():
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    expected = run_ref(seq[0], seq[1], True, x)

    class HalfBN(nn.BatchNorm2d):
        def forward(self, input):
            return super().forward(input) * 0.5

    class PlainConv(nn.Conv2d):  # a subclass that overrides nothing: still not fused
        pass

    half = HalfBN(seq[1].num_features, eps=seq[1].eps)
    half.load_state_dict(seq[1].state_dict())
    seq2 = nn.Sequential(seq[0], half, nn.ReLU()).eval()
    before = fused_runs()
    np.testing.assert_allclose(seq2(x), np.maximum(expected, 0) * 0.5, rtol=1e-4, atol=1e-4)
    assert fused_runs() == before

    c = seq[0]
    pc = PlainConv(c.in_channels, c.out_channels, c.kernel_size, padding=c.padding)
    pc.load_state_dict(c.state_dict())
    seq3 = nn.Sequential(pc, seq[1], seq[2]).eval()
    np.testing.assert_allclose(seq3(x), expected, rtol=1e-4, atol=1e-4)
    assert fused_runs() == before


def test_instance_forward_is_respected():
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    expected = run_ref(seq[0], seq[1], True, x)
    seq[2].forward = lambda t: -t  # an instance attribute replaces ReLU's forward
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1  # conv -> BN still fuses; the ReLU runs its own forward
    np.testing.assert_allclose(out, -run_ref(seq[0], seq[1], False, x), rtol=1e-4, atol=1e-4)
    seq[1].forward = lambda t: t
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before
    conv_only = conv_ref(x, seq[0].weight, seq[0].bias, (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(out, -conv_only, rtol=1e-4, atol=1e-4)
    del expected


def test_patched_class_method_disables_fusion(monkeypatch):
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    calls = []
    original = nn.BatchNorm2d._check_input_dim

    def spy(self, input):
        calls.append(1)
        return original(self, input)

    monkeypatch.setattr(nn.BatchNorm2d, "_check_input_dim", spy)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before and calls == [1]
    np.testing.assert_allclose(out, run_ref(seq[0], seq[1], True, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("what", ["padding_mode", "no_running_stats", "zero_var", "float64_weight",
                                  "noncontiguous_input", "padding_same", "bn_size_mismatch"])
def test_unusual_runs_are_not_fused_and_match_unfused(what):
    case = CASES[1]
    seq = build(case)
    x = case_input(case, batch=1)
    conv, bn = seq[0], seq[1]
    if what == "padding_mode":
        conv.padding_mode = "reflect"
    elif what == "no_running_stats":
        bn.running_mean = None
        bn.running_var = None
    elif what == "zero_var":
        np.asarray(bn.running_var)[:3] = 0.0
        bn.eps = 0.0
    elif what == "float64_weight":
        conv.weight = nn.Parameter(np.asarray(conv.weight, np.float64))
    elif what == "noncontiguous_input":
        x = np.asfortranarray(x)
    elif what == "padding_same":
        conv.padding = "same"
    elif what == "bn_size_mismatch":
        seq = nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels + 1), nn.ReLU()).eval()
    before = fused_runs()
    out = outcome(seq, x)
    assert fused_runs() == before
    ref = outcome(_unfused_ref, seq, x)
    if isinstance(ref, Exception):
        assert_same_error(out, ref)
    else:
        np.testing.assert_array_equal(out, ref)


# ---- errors are the unfused path's (and torch's) ------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 5, 16, 16), (32, 16, 16), (1, 1, 32, 16, 16), (16, 16)])
def test_errors_match_torch(shape):
    torch = pytest.importorskip("torch")
    case = CASES[1]
    seq = build(case)
    ts = to_torch(seq, torch).eval()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with pytest.raises(Exception) as ours:
        seq(x)
    with pytest.raises(Exception) as theirs, torch.no_grad():
        ts(torch.from_numpy(x))
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_sequential_semantics_unchanged():
    # Non-module steps and an empty Sequential behave as before.
    assert nn.Sequential()(5) == 5
    seq = nn.Sequential(nn.Identity(), nn.Identity())
    obj = object()
    assert seq(obj) is obj

    class Boom(nn.Module):
        def forward(self, x):
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        nn.Sequential(nn.Identity(), Boom())(1)


# ---- ... -> MaxPool2d -------------------------------------------------------------------------------


def maxpool_ref(y, kh, kw, sh, sw):
    n, c, h, w = y.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.full((n, c, oh, ow), -np.inf)
    for a in range(kh):
        for b in range(kw):
            out = np.maximum(out, y[:, :, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw])
    return out


@pytest.fixture
def pool_fusion_on():
    yield
    _core._testing.set_conv_bn_pool_fusion(True)


@pytest.mark.parametrize(("spatial", "k", "s"), [(16, 2, None), (15, 2, None), (13, 3, 2), (9, (2, 3), (1, 2))])
def test_maxpool_after_the_run_matches_reference(spatial, k, s, pool_fusion_on):
    case = (2, 8, 12, 3, 1, 1, 1, 1, spatial, "")
    seq = build(case)
    pool = nn.MaxPool2d(k, s)
    seq.append(pool)
    x = case_input(case)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (pool.stride, pool.stride) if isinstance(pool.stride, int) else pool.stride
    ref = maxpool_ref(run_ref(seq[0], seq[1], True, x), kh, kw, sh, sw)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    # Bitwise what the run computes without the pool step (same conv, same pool kernel).
    _core._testing.set_conv_bn_pool_fusion(False)
    np.testing.assert_array_equal(seq(x), out)


@pytest.mark.parametrize("what", ["hook", "padding", "ceil_mode", "return_indices", "dilation", "too_big",
                                  "training_relu"])
def test_maxpool_not_taken_when_unusual(what, pool_fusion_on):
    case = (2, 8, 12, 3, 1, 1, 1, 1, 9, "")
    seq = build(case)
    kw = {"padding": dict(padding=1), "ceil_mode": dict(ceil_mode=True), "dilation": dict(dilation=2),
          "return_indices": dict(return_indices=True)}.get(what, {})
    seq.append(nn.MaxPool2d(20 if what == "too_big" else 3, 2, **kw))
    log = []
    if what == "hook":
        seq[3].register_forward_hook(lambda *a: log.append(1))
    if what == "training_relu":
        seq[2].train()
    x = case_input(case)
    before = fused_runs()
    out = outcome(seq, x)
    assert fused_runs() == before + 1  # conv -> BN -> ReLU still fuses; the pool runs itself
    assert log == ([1] if what == "hook" else [])
    _core._testing.set_conv_bn_pool_fusion(False)
    ref = outcome(_unfused_ref, seq, x)
    # (The reference runs conv, BN and ReLU unfused: equal up to rounding.)
    if isinstance(ref, Exception):
        assert_same_error(out, ref)
    elif isinstance(ref, tuple):
        np.testing.assert_allclose(out[0], ref[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(out[1], ref[1])
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_w3_with_and_without_pool_step_agree(pool_fusion_on):
    from minimod.bench.workloads import WORKLOADS

    w = WORKLOADS["W3"]
    mm = w.build(nn).eval()
    for m in mm:
        if isinstance(m, nn.BatchNorm2d):
            randomize_bn(m, np.random.default_rng(11))
    x = np.random.default_rng(12).standard_normal(w.input_shape).astype(np.float32)
    out = mm(x)
    _core._testing.set_conv_bn_pool_fusion(False)
    np.testing.assert_array_equal(mm(x), out)
    np.testing.assert_allclose(out, _unfused_ref(mm, x), rtol=1e-5, atol=1e-5)
