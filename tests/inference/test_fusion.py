"""minimod.nn.utils.fuse_* vs torch.nn.utils.fusion and vs a float64 conv -> bn reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy_reference import batch_norm_eval, conv_nd, linear, randomise_bn

import minimod.nn as nn
from minimod.nn.utils import (
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def conv_bn_pair(nd, rng, *, bias=True, affine=True, groups=1, stride=1, padding=1, dilation=1):
    conv = CONV[nd](4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups,
                    bias=bias)
    bn = BN[nd](6, eps=1e-3, affine=affine)
    randomise_bn(bn, rng)
    return conv.eval(), bn.eval()


def reference_conv_bn(conv, bn, x):
    y = conv_nd(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    return batch_norm_eval(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)


CASES = [
    dict(nd=nd, bias=bias, affine=affine, groups=groups, stride=stride, dilation=dilation)
    for nd, bias, affine, groups, stride, dilation in itertools.product(
        (1, 2, 3), (True, False), (True, False), (1, 2), (1, 2), (1, 2))
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_fused_conv_matches_float64_conv_then_bn(case):
    rng = np.random.default_rng(0)
    nd = case.pop("nd")
    conv, bn = conv_bn_pair(nd, rng, **case)
    x = rng.standard_normal((2, 4, *([7] * nd))).astype(np.float32)
    fused = fuse_conv_bn_eval(conv, bn)
    expect = reference_conv_bn(conv, bn, x)
    np.testing.assert_allclose(fused(x), expect, rtol=1e-5, atol=1e-5)
    # The unfused pair agrees with the same reference (the reference is not fitted to the fold).
    np.testing.assert_allclose(bn(conv(x)), expect, rtol=1e-5, atol=1e-5)


def test_fuse_conv_bn_eval_returns_new_module_and_leaves_inputs_alone():
    rng = np.random.default_rng(1)
    conv, bn = conv_bn_pair(2, rng, bias=False)
    before = {k: np.array(v) for k, v in {**conv.state_dict(), **bn.state_dict()}.items()}
    fused = fuse_conv_bn_eval(conv, bn)
    assert type(fused) is nn.Conv2d and fused is not conv
    assert conv.bias is None and isinstance(fused.bias, nn.Parameter)
    assert fused.weight.shape == conv.weight.shape and fused.bias.shape == (6,)
    assert fused.training is False
    for k, v in {**conv.state_dict(), **bn.state_dict()}.items():
        np.testing.assert_array_equal(v, before[k])
    assert not np.shares_memory(fused.weight, conv.weight)
    # The fused module is an ordinary Conv2d: its weights stay writable and are read at forward.
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    np.asarray(fused.weight)[...] = 0
    np.testing.assert_allclose(fused(x), np.broadcast_to(
        np.asarray(fused.bias).reshape(1, -1, 1, 1), (1, 6, 5, 5)), rtol=0, atol=0)


@pytest.mark.parametrize("which", ["conv", "bn"])
def test_fusion_requires_eval(which):
    conv, bn = conv_bn_pair(2, np.random.default_rng(2))
    (conv if which == "conv" else bn).train()
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        fuse_conv_bn_eval(conv, bn)
    lin, bn1 = nn.Linear(3, 6).eval(), nn.BatchNorm1d(6).eval()
    (lin if which == "conv" else bn1).train()
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        fuse_linear_bn_eval(lin, bn1)


def test_fusion_requires_running_stats():
    conv = nn.Conv2d(2, 3, 1).eval()
    bn = nn.BatchNorm2d(3, track_running_stats=False).eval()
    with pytest.raises(AssertionError, match="running_mean and bn.running_var must not be None"):
        fuse_conv_bn_eval(conv, bn)
    with pytest.raises(AssertionError, match="running_mean and bn.running_var must not be None"):
        fuse_linear_bn_eval(nn.Linear(2, 3).eval(), nn.BatchNorm1d(3, track_running_stats=False).eval())


def test_fuse_linear_bn_feature_mismatch():
    with pytest.raises(AssertionError, match="linear.out_features=4 and bn.num_features=3"):
        fuse_linear_bn_eval(nn.Linear(2, 4).eval(), nn.BatchNorm1d(3).eval())


@pytest.mark.parametrize(("out_features", "num_features", "bias"),
                         [(5, 5, True), (5, 5, False), (5, 1, True), (1, 1, False)])
def test_fused_linear_matches_float64_linear_then_bn(out_features, num_features, bias):
    rng = np.random.default_rng(3)
    lin = nn.Linear(7, out_features, bias=bias).eval()
    bn = nn.BatchNorm1d(num_features, eps=1e-4).eval()
    randomise_bn(bn, rng)
    x = rng.standard_normal((4, 7)).astype(np.float32)
    fused = fuse_linear_bn_eval(lin, bn)
    y = linear(x, lin.weight, lin.bias)
    # BatchNorm1d with one feature broadcasts its statistics over every column.
    mean, var = np.asarray(bn.running_mean, np.float64), np.asarray(bn.running_var, np.float64)
    expect = (y - mean) / np.sqrt(var + bn.eps) * np.asarray(bn.weight) + np.asarray(bn.bias)
    np.testing.assert_allclose(fused(x), expect, rtol=1e-5, atol=1e-5)
    if num_features == out_features:
        np.testing.assert_allclose(bn(lin(x)), expect, rtol=1e-5, atol=1e-5)


def test_weights_functions_return_parameters_with_torch_requires_grad():
    rng = np.random.default_rng(4)
    w = nn.Parameter(rng.standard_normal((6, 4, 3, 3)).astype(np.float32))
    rm, rv = np.zeros(6, np.float32), np.ones(6, np.float32)
    fw, fb = fuse_conv_bn_weights(w, None, rm, rv, 1e-5, None, None)
    assert isinstance(fw, nn.Parameter) and isinstance(fb, nn.Parameter)
    assert fw.requires_grad and not fb.requires_grad  # a missing bias stands in as zeros
    assert fw.dtype == np.float32 and fb.dtype == np.float32
    np.testing.assert_allclose(fw, np.asarray(w) / np.sqrt(1 + 1e-5), rtol=1e-6)
    np.testing.assert_array_equal(fb, np.zeros(6, np.float32))
    b = nn.Parameter(np.ones(6, np.float32), requires_grad=False)
    _, fb2 = fuse_linear_bn_weights(np.ones((6, 2), np.float32), b, rm, rv, 0.0, None, None)
    assert not fb2.requires_grad
    np.testing.assert_array_equal(fb2, np.ones(6, np.float32))


def test_transposed_weight_layout_scales_axis_one():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)  # (C_in, C_out, k, k)
    rm = rng.normal(size=6).astype(np.float32)
    rv = rng.uniform(0.5, 2, 6).astype(np.float32)
    g = rng.uniform(0.5, 2, 6).astype(np.float32)
    beta = rng.normal(size=6).astype(np.float32)
    fw, fb = fuse_conv_bn_weights(w, None, rm, rv, 1e-5, g, beta, transpose=True)
    scale = g.astype(np.float64) / np.sqrt(rv.astype(np.float64) + 1e-5)
    np.testing.assert_allclose(fw, w * scale.reshape(1, 6, 1, 1), rtol=1e-6)
    np.testing.assert_allclose(fb, -rm * scale + beta, rtol=1e-6, atol=1e-7)


# ---- torch parity -------------------------------------------------------------------------


def _to_torch_pair(torch, conv, bn, nd):
    tconv = getattr(torch.nn, f"Conv{nd}d")(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
        padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
        bias=conv.bias is not None)
    tbn = getattr(torch.nn, f"BatchNorm{nd}d")(bn.num_features, eps=bn.eps, affine=bn.affine)
    tconv.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in conv.state_dict().items()})
    tbn.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in bn.state_dict().items()})
    return tconv.eval(), tbn.eval()


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fuse_conv_bn_eval_matches_torch(nd, bias, affine):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import fusion as tfusion

    rng = np.random.default_rng(6)
    conv, bn = conv_bn_pair(nd, rng, bias=bias, affine=affine)
    tconv, tbn = _to_torch_pair(torch, conv, bn, nd)
    fused = fuse_conv_bn_eval(conv, bn)
    tfused = tfusion.fuse_conv_bn_eval(tconv, tbn)
    np.testing.assert_allclose(fused.weight, tfused.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fused.bias, tfused.bias.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert fused.weight.requires_grad == tfused.weight.requires_grad
    assert fused.bias.requires_grad == tfused.bias.requires_grad
    x = rng.standard_normal((2, 4, *([6] * nd))).astype(np.float32)
    np.testing.assert_allclose(fused(x), tfused(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("num_features", [5, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_fuse_linear_bn_eval_matches_torch(num_features, bias):
    torch = pytest.importorskip("torch")
    from torch.nn.utils import fusion as tfusion

    rng = np.random.default_rng(7)
    lin = nn.Linear(3, 5, bias=bias).eval()
    bn = nn.BatchNorm1d(num_features).eval()
    randomise_bn(bn, rng)
    tlin = torch.nn.Linear(3, 5, bias=bias).eval()
    tbn = torch.nn.BatchNorm1d(num_features).eval()
    tlin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in lin.state_dict().items()})
    tbn.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in bn.state_dict().items()})
    fused = fuse_linear_bn_eval(lin, bn)
    tfused = tfusion.fuse_linear_bn_eval(tlin, tbn)
    np.testing.assert_allclose(fused.weight, tfused.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fused.bias, tfused.bias.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert fused.bias.shape == tuple(tfused.bias.shape)
    assert fused.bias.requires_grad == tfused.bias.requires_grad
    x = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(fused(x), tfused(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_error_messages_match_torch():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import fusion as tfusion

    def message(fn, *args):
        with pytest.raises(AssertionError) as info:
            fn(*args)
        return str(info.value)

    assert message(fuse_conv_bn_eval, nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)) == message(
        tfusion.fuse_conv_bn_eval, torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    assert message(fuse_linear_bn_eval, nn.Linear(2, 4).eval(), nn.BatchNorm1d(3).eval()) == message(
        tfusion.fuse_linear_bn_eval, torch.nn.Linear(2, 4).eval(), torch.nn.BatchNorm1d(3).eval())
