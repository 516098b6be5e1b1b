"""Sequential computes a plain Linear -> ReLU pair as one GEMM with the ReLU in its store.

The fused pair must be indistinguishable from calling the two modules: same values (checked
against a float64 numpy reference and torch), same errors, every hook firing, every write to the
parameters seen, and anything unusual (a hook, a subclass, an instance forward, a patched class,
a non-native argument) running the modules one by one.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod.nn as nn
from minimod import _core
from minimod.nn import module as module_mod

from call_outcome import assert_same_error, outcome
from write_routes import ROUTES


def fused_runs() -> int:
    return _core._testing.linear_relu_fused_runs()


def mlp(seed: int = 0, bias: bool = True) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    seq = nn.Sequential(nn.Linear(24, 40, bias=bias), nn.ReLU(), nn.Linear(40, 7, bias=bias))
    for lin in (seq[0], seq[2]):
        np.asarray(lin.weight)[...] = rng.standard_normal(lin.weight.shape).astype(np.float32)
        if bias:
            np.asarray(lin.bias)[...] = rng.standard_normal(lin.bias.shape).astype(np.float32)
    return seq


def reference(seq: nn.Sequential, x: np.ndarray, relu_after_first: bool = True) -> np.ndarray:
    """The pair and the last Linear in float64 numpy."""

    def lin(m: nn.Linear, v: np.ndarray) -> np.ndarray:
        y = v.astype(np.float64) @ np.asarray(m.weight, dtype=np.float64).T
        return y if m.bias is None else y + np.asarray(m.bias, dtype=np.float64)

    h = lin(seq[0], x)
    if relu_after_first:
        h = np.maximum(h, 0.0)
    return lin(seq[2], h)


def inputs(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(24,), (1, 24), (5, 24), (64, 24), (3, 4, 24)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("train", [False, True])
def test_fused_pair_matches_float64_reference(shape, bias, train):
    seq = mlp(bias=bias).train(train)
    x = inputs(shape)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1  # neither module's forward depends on the mode
    assert out.shape == shape[:-1] + (7,) and out.dtype == np.float32
    np.testing.assert_allclose(out, reference(seq, x), rtol=1e-5, atol=1e-5)


def test_mlp_matches_torch():
    torch = pytest.importorskip("torch")
    seq = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    tseq = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
    )
    seq.load_state_dict({k: v.detach().numpy() for k, v in tseq.state_dict().items()})
    for batch in (1, 64):
        x = inputs((batch, 784))
        before = fused_runs()
        out = seq(x)
        assert fused_runs() == before + 2
        with torch.no_grad():
            expected = tseq(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_nan_and_inf_propagate_as_unfused():
    seq = mlp()
    x = inputs((3, 24))
    x[0, 0] = np.nan
    x[1, 0] = np.inf
    out = seq(x)
    hooked = mlp()
    hooked[1].register_forward_hook(lambda *a: None)  # forces the modules one by one
    expected = hooked(x)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-6, atol=1e-6)


def test_inplace_relu_is_fused_with_the_same_values():
    seq = nn.Sequential(nn.Linear(24, 40), nn.ReLU(inplace=True))
    x = inputs((4, 24))
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    expected = np.maximum(x.astype(np.float64) @ np.asarray(seq[0].weight, np.float64).T + np.asarray(seq[0].bias), 0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["weight", "bias"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda f: f.__name__)
def test_writes_are_seen_by_the_next_call(name, route):
    seq = mlp()
    x = inputs((2, 24))
    seq(x)
    lin = seq[0]
    route(lin, name, inputs(getattr(lin, name).shape, seed=7))
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    np.testing.assert_allclose(out, reference(seq, x), rtol=1e-5, atol=1e-5)


HOOKS = [
    ("forward_pre", lambda m, log: m.register_forward_pre_hook(lambda *a: log.append("pre"))),
    ("forward", lambda m, log: m.register_forward_hook(lambda *a: log.append("fwd"))),
    ("forward_always", lambda m, log: m.register_forward_hook(lambda *a: log.append("always"), always_call=True)),
    ("full_backward", lambda m, log: m.register_full_backward_hook(lambda *a: None)),
]


@pytest.mark.parametrize(("kind", "register"), HOOKS, ids=[k for k, _ in HOOKS])
@pytest.mark.parametrize("member", [0, 1])
def test_a_hook_on_either_member_disables_fusion_and_fires(kind, register, member):
    seq = mlp()
    x = inputs((2, 24))
    log: list[str] = []
    handle = register(seq[member], log)
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before
    if kind != "full_backward":
        assert len(log) == 1
    np.testing.assert_allclose(out, reference(seq, x), rtol=1e-5, atol=1e-5)
    handle.remove()
    seq(x)
    assert fused_runs() == before + 1


def test_global_hook_disables_fusion():
    seq = mlp()
    x = inputs((2, 24))
    log: list[str] = []
    handle = module_mod.register_module_forward_hook(lambda *a: log.append(type(a[0]).__name__))
    try:
        before = fused_runs()
        out = seq(x)
        assert fused_runs() == before
    finally:
        handle.remove()
    assert log == ["Linear", "ReLU", "Linear", "Sequential"]
    np.testing.assert_allclose(out, reference(seq, x), rtol=1e-5, atol=1e-5)


def test_subclasses_instance_forward_and_patched_class_are_respected(monkeypatch):
    x = inputs((2, 24))

    class LeakyLinear(nn.Linear):  # overrides forward: its own result must come out
        def forward(self, input):
            return super().forward(input) - 100.0

    seq = mlp()
    sub = LeakyLinear(24, 40)
    sub.load_state_dict(seq[0].state_dict())
    seq_sub = nn.Sequential(sub, nn.ReLU(), seq[2])
    before = fused_runs()
    out = seq_sub(x)
    assert fused_runs() == before
    # Every hidden unit is below 0 after the subclass's -100, so only the last bias comes out.
    np.testing.assert_allclose(out, np.broadcast_to(np.asarray(seq[2].bias), out.shape), rtol=1e-5, atol=1e-5)

    seq2 = mlp()
    seq2[1].forward = lambda v: v  # an instance forward: no ReLU at all
    out = seq2(x)
    assert fused_runs() == before
    np.testing.assert_allclose(out, reference(seq2, x, relu_after_first=False), rtol=1e-5, atol=1e-5)

    seq3 = mlp()
    monkeypatch.setattr(nn.ReLU, "forward", lambda self, v: v)
    out = seq3(x)
    assert fused_runs() == before
    np.testing.assert_allclose(out, reference(seq3, x, relu_after_first=False), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "x",
    [
        np.ones((2, 24), np.float64),  # converted by F.linear, not native
        np.ones((2, 23), np.float32),  # wrong features: Linear's error
        np.ones((2, 24), np.float32)[:, ::2],  # wrong features through a view
        [[1.0] * 24],  # not an array: F.linear's error or conversion
    ],
    ids=["float64", "bad_features", "strided_bad_features", "list"],
)
def test_non_native_inputs_behave_as_unfused(x):
    seq = mlp()
    hooked = mlp()
    hooked[1].register_forward_pre_hook(lambda *a: None)  # forces the modules one by one
    before = fused_runs()
    out = outcome(seq, x)
    ref = outcome(hooked, x)
    assert fused_runs() == before
    if isinstance(ref, Exception):
        assert_same_error(out, ref)
    else:
        np.testing.assert_array_equal(out, ref)


def test_strided_float32_input_is_fused_and_correct():
    seq = mlp()
    x = inputs((4, 48))[:, ::2]  # float32, non-contiguous: Linear's native path copies it
    before = fused_runs()
    out = seq(x)
    assert fused_runs() == before + 1
    np.testing.assert_allclose(out, reference(seq, np.ascontiguousarray(x)), rtol=1e-5, atol=1e-5)
