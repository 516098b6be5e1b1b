"""The lean native forwards of Conv*d and BatchNorm (eval): csrc/bindings/conv_hotpath.cpp.

A plain call (C-contiguous float32 arrays, int-tuple arguments, valid geometry) runs the kernel
straight from the module's forward; everything else must behave exactly as the checked F.* path.
References: float64 numpy (test_conv_bn_fusion's conv_ref / bn_ref) and torch (importorskip).
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod.nn as nn
import minimod.nn.functional as F
from minimod import _core

from call_outcome import assert_same_error, outcome
from test_conv_bn_fusion import bn_ref, conv_ref, randomize_bn

CONVS = [
    (nn.Conv1d, dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1), (2, 4, 17)),
    (nn.Conv2d, dict(in_channels=3, out_channels=8, kernel_size=3, padding=1), (1, 3, 12, 12)),
    (nn.Conv2d, dict(in_channels=8, out_channels=8, kernel_size=3, padding=2, dilation=2, groups=4), (2, 8, 9, 11)),
    (nn.Conv2d, dict(in_channels=6, out_channels=4, kernel_size=1, bias=False), (1, 6, 5, 5)),
    (nn.Conv3d, dict(in_channels=2, out_channels=3, kernel_size=(1, 3, 3), padding=(0, 1, 1)), (1, 2, 3, 6, 6)),
]


def _ref(conv, x):
    return conv_ref(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


@pytest.mark.parametrize(("cls", "kw", "shape"), CONVS)
def test_conv_plain_call_matches_references(cls, kw, shape):
    conv = cls(**kw)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = conv(x)
    assert type(out) is np.ndarray and out.dtype == np.float32
    np.testing.assert_allclose(out, _ref(conv, x), rtol=1e-5, atol=1e-5)
    # The checked functional path computes the very same values (same kernel).
    fn = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[cls]
    np.testing.assert_array_equal(out, fn(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups))


@pytest.mark.parametrize(("cls", "kw", "shape"), CONVS)
def test_conv_matches_torch(cls, kw, shape):
    torch = pytest.importorskip("torch")
    conv = cls(**kw)
    tconv = getattr(torch.nn, cls.__name__)(**kw)
    tconv.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in conv.state_dict().items()})
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = tconv(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(conv(x), ref, rtol=1e-5, atol=1e-5)
    # Unbatched input takes the checked path; same answer.
    with torch.no_grad():
        ref0 = tconv(torch.from_numpy(x[0])).numpy()
    np.testing.assert_allclose(conv(x[0]), ref0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["fortran", "strided", "list_stride", "padding_same", "padding_valid",
                                     "float64_both", "big_stride"])
def test_conv_non_plain_calls_take_the_checked_path(variant):
    conv = nn.Conv2d(4, 6, 3, padding=1)
    x = np.random.default_rng(2).standard_normal((2, 4, 10, 10)).astype(np.float32)
    if variant == "fortran":
        x = np.asfortranarray(x)
    elif variant == "strided":
        x = np.random.default_rng(2).standard_normal((2, 4, 10, 20)).astype(np.float32)[..., ::2]
    elif variant == "list_stride":
        conv.stride = [1, 1]
    elif variant == "padding_same":
        conv = nn.Conv2d(4, 6, 4, padding="same")
    elif variant == "padding_valid":
        conv = nn.Conv2d(4, 6, 3, padding="valid")
    elif variant == "float64_both":
        x = x.astype(np.float64)
        conv.weight = nn.Parameter(np.asarray(conv.weight, np.float64))
        conv.bias = nn.Parameter(np.asarray(conv.bias, np.float64))
    elif variant == "big_stride":
        conv.stride = (50, 50)
    out = outcome(conv, x)
    ref = outcome(F.conv2d, x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    if isinstance(ref, Exception):
        assert_same_error(out, ref)
    else:
        np.testing.assert_array_equal(out, ref)
        if variant != "float64_both":
            pad = conv.padding if not isinstance(conv.padding, str) else ((1, 1) if variant == "padding_same" else (0, 0))
            if variant == "padding_same":  # even kernel: torch pads (1, 2); compare shapes only
                assert out.shape == (2, 6, 10, 10)
            else:
                np.testing.assert_allclose(out, conv_ref(x, conv.weight, conv.bias, conv.stride, pad, conv.dilation,
                                                         conv.groups), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 5, 8, 8), (1, 4, 8), (1, 4, 2, 8, 8), (1, 4, 1, 1), (0, 4, 8, 8)])
def test_conv_errors_match_torch(shape):
    torch = pytest.importorskip("torch")
    conv = nn.Conv2d(4, 6, 3)
    tconv = torch.nn.Conv2d(4, 6, 3)
    x = np.zeros(shape, np.float32)
    ref = outcome(lambda: tconv(torch.from_numpy(x)).detach().numpy())
    if isinstance(ref, Exception):
        with pytest.raises(type(ref)) as ours:
            conv(x)
        assert str(ours.value) == str(ref)
    else:
        assert conv(x).shape == ref.shape


def test_conv_dtype_error_is_unchanged():
    conv = nn.Conv2d(2, 2, 1)
    with pytest.raises(RuntimeError, match="float32"):
        conv(np.zeros((1, 2, 3, 3), np.float64))


def test_conv_or_fallback_hands_odd_calls_to_the_fallback():
    seen = []

    def fallback(*args):
        seen.append(len(args))
        return "fb"

    f = _core._conv_or_fallback(fallback, 2)
    assert f(1, 2) == "fb"
    x = np.zeros((1, 2, 4, 4), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    assert f(x, w, None, (1, 1), (True, 0), (1, 1), 1) == "fb"  # a bool is not a plain int
    assert f(x, w, None, (1, 1), (0, 0), (1, 1), 2) == "fb"  # channels do not divide
    assert f(x, w, None, (1, 1), (0, 0), (1, 1), 1).shape == (1, 3, 2, 2)
    assert seen == [2, 7, 7]
    with pytest.raises(ValueError, match="nd must be"):
        _core._conv_or_fallback(fallback, 4)


def test_conv_sees_in_place_weight_writes():
    conv = nn.Conv2d(3, 4, 3)
    x = np.random.default_rng(3).standard_normal((1, 3, 6, 6)).astype(np.float32)
    conv(x)
    np.asarray(conv.weight)[...] *= -2.0
    np.testing.assert_allclose(conv(x), _ref(conv, x), rtol=1e-5, atol=1e-5)


# ---- BatchNorm eval ----------------------------------------------------------------------------------

BNS = [(nn.BatchNorm1d, (4, 6)), (nn.BatchNorm1d, (2, 6, 9)), (nn.BatchNorm2d, (2, 6, 5, 7)),
       (nn.BatchNorm3d, (1, 6, 3, 4, 5))]


@pytest.mark.parametrize(("cls", "shape"), BNS)
@pytest.mark.parametrize("affine", [True, False])
def test_bn_eval_matches_references(cls, shape, affine):
    bn = cls(6, affine=affine, eps=1e-3).eval()
    randomize_bn(bn, np.random.default_rng(4))
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    out = bn(x)
    np.testing.assert_allclose(out, bn_ref(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps),
                               rtol=1e-5, atol=1e-5)
    # Bitwise the checked functional path (same coefficients, same kernel).
    np.testing.assert_array_equal(out, F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                                    False, 0.1, bn.eps))


@pytest.mark.parametrize(("cls", "shape"), BNS)
def test_bn_eval_matches_torch(cls, shape):
    torch = pytest.importorskip("torch")
    bn = cls(6).eval()
    randomize_bn(bn, np.random.default_rng(6))
    tbn = getattr(torch.nn, cls.__name__)(6).eval()
    tbn.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in bn.state_dict().items()})
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = tbn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(bn(x), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cls", "shape"), [(nn.BatchNorm2d, (2, 6, 5)), (nn.BatchNorm1d, (1, 6, 2, 2)),
                                            (nn.BatchNorm3d, (2, 6, 3, 3)), (nn.BatchNorm2d, (1, 5, 3, 3))])
def test_bn_eval_errors_match_torch(cls, shape):
    torch = pytest.importorskip("torch")
    bn = cls(6).eval()
    tbn = getattr(torch.nn, cls.__name__)(6).eval()
    x = np.zeros(shape, np.float32)
    with pytest.raises(Exception) as theirs:
        tbn(torch.from_numpy(x))
    with pytest.raises(type(theirs.value)) as ours:
        bn(x)
    assert str(ours.value) == str(theirs.value)


def test_bn_eval_without_running_stats_uses_batch_statistics():
    torch = pytest.importorskip("torch")
    bn = nn.BatchNorm2d(3, track_running_stats=False).eval()
    tbn = torch.nn.BatchNorm2d(3, track_running_stats=False).eval()
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 4)).astype(np.float32)
    with torch.no_grad():
        ref = tbn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(bn(x), ref, rtol=1e-5, atol=1e-5)


def test_bn_subclass_and_patched_checks_run():
    calls = []

    class Strict(nn.BatchNorm2d):
        def _check_input_dim(self, input):
            calls.append(input.shape)
            if input.shape[0] != 1:
                raise ValueError("batch 1 only")

    bn = Strict(3).eval()
    x = np.ones((1, 3, 2, 2), np.float32)
    bn(x)
    assert calls == [(1, 3, 2, 2)]
    with pytest.raises(ValueError, match="batch 1 only"):
        bn(np.ones((2, 3, 2, 2), np.float32))


def test_bn_eval_sees_writes_and_changes_nothing():
    bn = nn.BatchNorm2d(4).eval()
    x = np.random.default_rng(9).standard_normal((1, 4, 3, 3)).astype(np.float32)
    bn(x)
    np.asarray(bn.running_mean)[...] = [1, 2, 3, 4]
    bn.eps = 0.25
    before = {k: np.array(v) for k, v in bn.state_dict().items()}
    np.testing.assert_allclose(bn(x), bn_ref(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, 0.25),
                               rtol=1e-5, atol=1e-5)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), before[k])


def test_bn_eval_or_none_declines_non_plain_arguments():
    f = _core._batch_norm_eval_or_none
    x = np.ones((1, 3, 2, 2), np.float32)
    v = np.ones(3, np.float32)
    assert f(x, v, v, None, None, 1e-5, 1 << 4) is not None
    assert f(x, v, v, None, None, 1e-5, 1 << 3) is None  # rank not allowed
    assert f(x.astype(np.float64), v, v, None, None, 1e-5, 1 << 4) is None
    assert f(x, v, None, None, None, 1e-5, 1 << 4) is None
    assert f(x, v, v, np.ones(4, np.float32), None, 1e-5, 1 << 4) is None
    assert f(x, v, v, None, None, -1.0, 1 << 4) is None
    assert f(x, v, v, None, None, float("nan"), 1 << 4) is None
    assert f(np.ones((0, 3, 2, 2), np.float32), v, v, None, None, 1e-5, 1 << 4) is None
    with pytest.raises(TypeError):
        f(x, v)
