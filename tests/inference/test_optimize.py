"""optimize_for_inference: what is fused, what is left alone, and outputs equal to the original."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from models import build, randomise, torch_copy
from numpy_reference import batch_norm_eval, conv_nd, linear, randomise_bn

import minimod
import minimod.nn as nn
from minimod.inference import FoldedConv, FoldedLinear


def folded(model):
    return [m for m in model.modules() if isinstance(m, (FoldedConv, FoldedLinear))]


def state(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def assert_same_outputs(original, optimized, x):
    expect = original(x)
    got = optimized(x)
    assert got.shape == expect.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
    return got


# ---- the workload models -----------------------------------------------------------------


def test_small_cnn_is_fully_folded_and_matches_float64_reference():
    model = randomise(build("W3", nn), 0).eval()
    opt = minimod.optimize_for_inference(model)
    # Three Conv -> BN -> ReLU stages become three fused convs; BN and ReLU slots are Identity.
    kinds = [type(m).__name__ for m in opt.children()]
    assert kinds == ["FoldedConv", "Identity", "Identity", "MaxPool2d",
                     "FoldedConv", "Identity", "Identity", "MaxPool2d",
                     "FoldedConv", "Identity", "Identity",
                     "AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert all(m.relu for m in folded(opt))
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    got = assert_same_outputs(model, opt, x)

    # Independent float64 reference of the unfused network.
    h = x.astype(np.float64)
    seq = list(model.children())
    for i in (0, 4, 8):
        conv, bn = seq[i], seq[i + 1]
        h = conv_nd(h, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, 1)
        h = np.maximum(batch_norm_eval(h, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                       bn.eps), 0)
        if i < 8:
            n, c, hh, ww = h.shape
            h = h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    h = linear(h.mean(axis=(2, 3)), seq[-1].weight, seq[-1].bias)
    np.testing.assert_allclose(got, h, rtol=1e-4, atol=1e-5)


def test_small_cnn_matches_torch():
    torch = pytest.importorskip("torch")
    model = randomise(build("W3", nn), 2).eval()
    opt = minimod.optimize_for_inference(model)
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32)
    expect = torch_copy(torch, model, "W3")(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(opt(x), expect, rtol=1e-5, atol=1e-5)


def test_resnet18_matches_original_and_torch():
    model = randomise(build("W4", nn), 4).eval()
    opt = minimod.optimize_for_inference(model)
    # Only the downsample Sequentials hold Conv -> BN runs; the blocks call bn1(conv1(x))
    # from forward, which is left alone.
    assert len(folded(opt)) == 3
    assert all(type(m.downsample[0]) is FoldedConv for m in opt.modules()
               if getattr(m, "downsample", None) is not None)
    x = np.random.default_rng(5).standard_normal((1, 3, 64, 64)).astype(np.float32)
    got = assert_same_outputs(model, opt, x)
    torch = pytest.importorskip("torch")
    expect = torch_copy(torch, model, "W4")(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)


def test_mlp_linear_relu_runs_are_fused():
    model = build("W1", nn).eval()
    opt = minimod.optimize_for_inference(model)
    assert [type(m).__name__ for m in opt.children()] == [
        "FoldedLinear", "Identity", "FoldedLinear", "Identity", "Linear"]
    x = np.random.default_rng(6).standard_normal((3, 784)).astype(np.float32)
    assert_same_outputs(model, opt, x)


# ---- the original is untouched --------------------------------------------------------------


def test_original_model_is_untouched_and_stays_writable():
    model = randomise(build("W3", nn), 7).train()
    before = state(model)
    opt = minimod.optimize_for_inference(model)
    assert model.training and all(m.training for m in model.modules())
    assert not opt.training and not any(m.training for m in opt.modules())
    assert [type(m) for m in model.children()][:3] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    for k, v in state(model).items():
        np.testing.assert_array_equal(v, before[k])
    for p in model.parameters():
        assert type(p) is nn.Parameter and np.asarray(p).flags.writeable
    for p in opt.parameters():
        assert not any(np.shares_memory(p, q) for q in model.parameters())
    np.asarray(model[0].weight)[...] = 0  # the original keeps working as a plain model
    x = np.ones((1, 3, 32, 32), np.float32)
    model.eval()
    assert not np.allclose(model(x), opt(x))


def test_rejects_non_modules():
    with pytest.raises(TypeError, match="expects a minimod.nn.Module, but got int"):
        minimod.optimize_for_inference(3)


# ---- what is not fused ----------------------------------------------------------------------


def conv_bn_relu(cin=3, cout=4, seed=0):
    conv, bn, relu = nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()
    randomise_bn(bn, np.random.default_rng(seed))
    return conv, bn, relu


X = np.random.default_rng(11).standard_normal((2, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("hooked", [0, 1, 2])
@pytest.mark.parametrize("kind", ["forward", "forward_pre"])
def test_modules_with_hooks_keep_their_hooks(hooked, kind):
    model = nn.Sequential(*conv_bn_relu()).eval()
    seen = []
    target = model[hooked]
    if kind == "forward":
        target.register_forward_hook(lambda m, args, out: seen.append(np.array(out)))
    else:
        target.register_forward_pre_hook(lambda m, args: seen.append(np.array(args[0])))
    expect = model(X)
    opt = minimod.optimize_for_inference(model)
    seen.clear()
    np.testing.assert_allclose(opt(X), expect, rtol=1e-5, atol=1e-5)
    assert len(seen) == 1  # the hook fired, on the value the original module sees
    seen_opt = seen[0]
    seen.clear()
    model(X)
    np.testing.assert_allclose(seen_opt, seen[0], rtol=1e-5, atol=1e-5)
    # The hooked module is still there, unfused; the rest folds where it can.
    assert type(opt[hooked]) is type(model[hooked])
    if hooked == 2:  # conv and bn fold, the hooked ReLU stays separate
        assert type(opt[0]) is FoldedConv and not opt[0].relu and type(opt[1]) is nn.Identity
    else:
        assert not folded(opt)


def test_global_hook_disables_fusion():
    model = nn.Sequential(*conv_bn_relu()).eval()
    calls = []
    handle = nn.register_module_forward_hook(lambda m, a, o: calls.append(type(m).__name__))
    try:
        opt = minimod.optimize_for_inference(model)
        assert not folded(opt)
        calls.clear()
        opt(X)
        assert calls == ["Conv2d", "BatchNorm2d", "ReLU", "Sequential"]
    finally:
        handle.remove()
    np.testing.assert_allclose(opt(X), model(X), rtol=1e-5, atol=1e-5)


class Residual(nn.Module):
    """Nested Sequentials, a residual add, and a BatchNorm called directly from forward."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn_relu(3, 4, 1))
        self.body = nn.Sequential(
            nn.Sequential(*conv_bn_relu(4, 4, 2)),
            nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4)),
        )
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        randomise_bn(self.body[1][1], np.random.default_rng(3))
        randomise_bn(self.bn, np.random.default_rng(4))

    def forward(self, x):
        h = self.stem(x)
        y = self.body(h) + h
        return self.bn(self.conv(y)) + self.conv(y)  # conv output used twice: must not fold


def test_custom_tree_with_residual_nested_sequentials_and_direct_bn():
    model = Residual().eval()
    opt = minimod.optimize_for_inference(model)
    assert type(opt.stem[0]) is FoldedConv and opt.stem[0].relu
    assert type(opt.body[0][0]) is FoldedConv and opt.body[0][0].relu
    assert type(opt.body[1][0]) is FoldedConv and not opt.body[1][0].relu
    assert type(opt.conv) is nn.Conv2d and type(opt.bn) is nn.BatchNorm2d
    assert_same_outputs(model, opt, X)


def test_shared_modules_are_not_folded():
    conv, bn, relu = conv_bn_relu()
    conv2 = nn.Conv2d(4, 4, 3, padding=1)
    model = nn.Sequential(conv, bn, relu, conv2, bn2 := nn.BatchNorm2d(4), nn.Sequential(bn2))
    randomise_bn(bn2, np.random.default_rng(9))
    model.eval()
    opt = minimod.optimize_for_inference(model)
    assert type(opt[0]) is FoldedConv  # the first run is private
    assert type(opt[3]) is nn.Conv2d and type(opt[4]) is nn.BatchNorm2d  # bn2 is used twice
    assert opt[4] is opt[5][0]  # still one shared module in the copy
    assert_same_outputs(model, opt, X)


def test_subclasses_and_mismatched_layers_are_not_folded():
    class MyConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 2

    class MySequential(nn.Sequential):
        def forward(self, x):
            return super().forward(x) + 1

    rng = np.random.default_rng(12)
    bn_a, bn_b = nn.BatchNorm2d(4), nn.BatchNorm1d(4)
    randomise_bn(bn_a, rng)
    model = nn.Sequential(
        MyConv(3, 4, 1), bn_a,                          # subclass head
        MySequential(*conv_bn_relu(4, 4, 5)),           # custom container forward
        nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4, track_running_stats=False),  # no running stats
        nn.Conv2d(4, 4, 1), nn.ReLU6(),                 # not a ReLU
    ).eval()
    opt = minimod.optimize_for_inference(model)
    assert not folded(opt)
    assert_same_outputs(model, opt, X)
    # A BatchNorm of the wrong dimensionality is not folded either.
    lin_model = nn.Sequential(nn.Conv1d(3, 4, 1), bn_b).eval()
    randomise_bn(bn_b, rng)
    lin_opt = minimod.optimize_for_inference(lin_model)
    assert type(lin_opt[0]) is FoldedConv  # Conv1d + BatchNorm1d is a valid pair
    x1 = rng.standard_normal((2, 3, 5)).astype(np.float32)
    assert_same_outputs(lin_model, lin_opt, x1)
    mixed = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm1d(4)).eval()
    assert not folded(minimod.optimize_for_inference(mixed))


# ---- fold coverage: padding modes, groups, inputs the fold does not cover -----------------------


@pytest.mark.parametrize("kwargs", [
    dict(padding=1), dict(padding="same", dilation=2), dict(padding="valid", stride=2),
    dict(padding=2, padding_mode="reflect"), dict(padding=1, padding_mode="circular", groups=3),
    dict(padding=1, bias=False, groups=3),
])
def test_conv_variants_fold_exactly(kwargs):
    rng = np.random.default_rng(13)
    conv = nn.Conv2d(3, 6, 3, **kwargs)
    bn = nn.BatchNorm2d(6)
    randomise_bn(bn, rng)
    model = nn.Sequential(conv, bn, nn.ReLU()).eval()
    opt = minimod.optimize_for_inference(model)
    assert type(opt[0]) is FoldedConv
    assert_same_outputs(model, opt, rng.standard_normal((2, 3, 9, 7)).astype(np.float32))


def test_unbatched_and_odd_inputs_take_the_original_path():
    conv, bn, relu = conv_bn_relu()
    model = nn.Sequential(conv, bn, relu).eval()
    opt = minimod.optimize_for_inference(model)
    # Unbatched (C, H, W): BatchNorm2d rejects the 3-D conv output; so does the optimized model.
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        model(X[0])
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        opt(X[0])
    # float64 input: the same error as the original.
    with pytest.raises(RuntimeError) as want:
        model(X.astype(np.float64))
    with pytest.raises(RuntimeError) as got:
        opt(X.astype(np.float64))
    assert str(got.value) == str(want.value)


def test_linear_bn_folds_only_for_two_dimensional_input():
    rng = np.random.default_rng(14)
    bn = nn.BatchNorm1d(5)
    randomise_bn(bn, rng)
    model = nn.Sequential(nn.Linear(5, 5), bn, nn.ReLU()).eval()
    opt = minimod.optimize_for_inference(model)
    assert type(opt[0]) is FoldedLinear and opt[0].relu
    assert_same_outputs(model, opt, rng.standard_normal((4, 5)).astype(np.float32))
    # (N, L, features) with L == features: BatchNorm1d normalises dim 1 (L), not the features.
    x3 = rng.standard_normal((2, 5, 5)).astype(np.float32)
    assert_same_outputs(model, opt, x3)
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 1D input\)"):
        opt(x3[0, 0])


def test_linear_without_bias_folds_and_one_feature_batchnorm_does_not():
    rng = np.random.default_rng(15)
    bn = nn.BatchNorm1d(4)
    randomise_bn(bn, rng)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), bn).eval()
    opt = minimod.optimize_for_inference(model)
    assert type(opt[0]) is FoldedLinear and opt[0].bias.shape == (4,)
    assert_same_outputs(model, opt, rng.standard_normal((6, 3)).astype(np.float32))
    # BatchNorm1d(1) rejects a 4-feature input; folding it would hide that error.
    bn1 = nn.BatchNorm1d(1)
    odd = nn.Sequential(nn.Linear(3, 4), bn1).eval()
    opt_odd = minimod.optimize_for_inference(odd)
    assert not folded(opt_odd)
    with pytest.raises(RuntimeError, match="should contain 4 elements not 1"):
        opt_odd(rng.standard_normal((6, 3)).astype(np.float32))


def test_train_mode_on_a_fused_layer_raises():
    opt = minimod.optimize_for_inference(nn.Sequential(*conv_bn_relu()))
    opt.train()
    with pytest.raises(RuntimeError, match="eval mode only"):
        opt(X)
    opt.eval()
    opt(X)


def test_copies_and_pickles_of_an_optimized_model():
    model = nn.Sequential(*conv_bn_relu()).eval()
    opt = minimod.optimize_for_inference(model)
    expect = opt(X)
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        np.testing.assert_array_equal(clone(X), expect)
        for p in clone.parameters():
            assert not np.asarray(p).flags.writeable
            with pytest.raises(minimod.inference.ReadOnlyModelError):
                p[...] = 0
        with pytest.raises(RuntimeError, match="optimize_for_inference"):
            clone.load_state_dict(opt.state_dict())


def test_state_dict_of_optimized_model_loads_into_a_plain_model():
    model = nn.Sequential(*conv_bn_relu()).eval()
    opt = minimod.optimize_for_inference(model)
    sd = opt.state_dict()
    assert list(sd) == ["0.weight", "0.bias"]
    plain = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    plain.load_state_dict(sd)
    np.testing.assert_allclose(plain(X), model(X), rtol=1e-5, atol=1e-5)


def test_concurrent_calls_are_bitwise_equal_to_serial():
    from concurrent.futures import ThreadPoolExecutor

    opt = minimod.optimize_for_inference(randomise(build("W3", nn), 16).eval())
    rng = np.random.default_rng(17)
    inputs = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(16)]
    serial = [opt(x) for x in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(opt, inputs))
    for a, b in zip(serial, concurrent):
        np.testing.assert_array_equal(a, b)
