"""Property: for random Conv/Linear/BatchNorm/ReLU chains (some modules hooked), the optimized
model gives the original's outputs and fires the same hooks the same number of times."""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from numpy_reference import randomise_bn  # noqa: E402

import minimod  # noqa: E402
import minimod.nn as nn  # noqa: E402

MODES = ["zeros", "reflect", "replicate", "circular"]
# Each example deep-copies and folds a model: cap the count below the profile's default.
FEWER = settings(max_examples=min(150, settings().max_examples))


@st.composite
def conv_chains(draw):
    nd = draw(st.sampled_from([1, 2]))
    channels = draw(st.integers(1, 4))
    layers, hooked = [], []
    for _ in range(draw(st.integers(1, 3))):
        groups = draw(st.sampled_from([g for g in (1, 2) if channels % g == 0]))
        cout = groups * draw(st.integers(1, 3))
        k = draw(st.integers(1, 3))
        padding = draw(st.sampled_from([0, 1, "same", "valid"]))
        stride = 1 if padding == "same" else draw(st.integers(1, 2))
        mode = draw(st.sampled_from(MODES)) if padding not in (0, "valid") else "zeros"
        conv_type = nn.Conv1d if nd == 1 else nn.Conv2d
        layers.append(conv_type(channels, cout, k, stride=stride, padding=padding,
                                dilation=draw(st.integers(1, 2)), groups=groups,
                                bias=draw(st.booleans()), padding_mode=mode))
        if draw(st.booleans()):
            bn = (nn.BatchNorm1d if nd == 1 else nn.BatchNorm2d)(
                cout, eps=draw(st.sampled_from([1e-5, 1e-3])), affine=draw(st.booleans()))
            randomise_bn(bn, np.random.default_rng(draw(st.integers(0, 2**16))))
            layers.append(bn)
        if draw(st.booleans()):
            layers.append(nn.ReLU(inplace=draw(st.booleans())))
        channels = cout
    hooked = draw(st.lists(st.integers(0, len(layers) - 1), max_size=2, unique=True))
    size = draw(st.integers(7, 10))
    batch = draw(st.integers(1, 2))
    return nd, layers, hooked, (batch, layers[0].in_channels, *([size] * nd)), draw(st.integers(0, 99))


@FEWER
@given(conv_chains())
def test_random_conv_chains_match_the_original(chain):
    nd, layers, hooked, shape, seed = chain
    model = nn.Sequential(*layers).eval()
    calls = []
    for i in hooked:
        model[i].register_forward_hook(lambda m, a, o, i=i: calls.append(i))
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    opt = minimod.optimize_for_inference(model)
    try:
        expect = model(x)
    except Exception as e:  # noqa: BLE001 (the chain shrank the input too far)
        want_calls, calls[:] = list(calls), []
        with pytest.raises(type(e)) as info:
            opt(x)
        assert str(info.value) == str(e)
    else:
        want_calls, calls[:] = list(calls), []
        np.testing.assert_allclose(opt(x), expect, rtol=1e-5, atol=1e-5)
    assert calls == want_calls
    for i in hooked:
        assert type(opt[i]) is type(model[i])


@FEWER
@given(st.integers(1, 6), st.integers(1, 6), st.booleans(), st.booleans(), st.booleans(),
       st.integers(1, 5), st.integers(0, 99))
def test_random_linear_chains_match_the_original(fin, fout, bias, with_bn, with_relu, batch, seed):
    rng = np.random.default_rng(seed)
    layers = [nn.Linear(fin, fout, bias=bias)]
    if with_bn:
        bn = nn.BatchNorm1d(fout)
        randomise_bn(bn, rng)
        layers.append(bn)
    if with_relu:
        layers.append(nn.ReLU())
    model = nn.Sequential(*layers).eval()
    x = rng.standard_normal((batch, fin)).astype(np.float32)
    np.testing.assert_allclose(minimod.optimize_for_inference(model)(x), model(x),
                               rtol=1e-5, atol=1e-5)
