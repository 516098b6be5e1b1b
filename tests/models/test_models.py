"""Two whole models, written once (model_zoo.py) and built with torch.nn and minimod.nn.

minimod loads torch's state_dict (BatchNorm statistics randomised so eval mode is not an
identity) and its eval outputs must agree with torch's to 1e-4 relative (max |diff| / max |ref|).
Without torch the same models are checked against float64 numpy forward passes
(model_numpy_reference.py) computed from minimod's own state_dict.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod
import minimod.nn as mnn
import model_zoo
import model_numpy_reference as numpy_reference


def _rel_err(got: np.ndarray, want: np.ndarray) -> float:
    want = np.asarray(want, np.float64)
    return float(np.max(np.abs(np.asarray(got, np.float64) - want)) / np.max(np.abs(want)))


def _randomise_minimod_batchnorm(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, mnn.BatchNorm2d):
            c = m.num_features
            np.asarray(m.weight)[...] = rng.uniform(0.5, 1.5, c)
            np.asarray(m.bias)[...] = rng.uniform(-0.5, 0.5, c)
            np.asarray(m.running_mean)[...] = rng.uniform(-0.5, 0.5, c)
            np.asarray(m.running_var)[...] = rng.uniform(0.5, 2.0, c)


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------------- without torch


@pytest.mark.parametrize("batch", [1, 3])
def test_small_cnn_matches_float64_numpy(batch):
    minimod.manual_seed(0)
    model = model_zoo.small_cnn(mnn)
    _randomise_minimod_batchnorm(model)
    model.eval()
    x = _input((batch, 3, 32, 32))
    y = model(x)
    assert y.shape == (batch, 10) and y.dtype == np.float32
    assert _rel_err(y, numpy_reference.small_cnn(model.state_dict(), x)) < 1e-4


def test_resnet18_matches_float64_numpy():
    minimod.manual_seed(1)
    model = model_zoo.resnet18(mnn)
    _randomise_minimod_batchnorm(model, seed=1)
    model.eval()
    x = _input((1, 3, 64, 64), seed=1)
    y = model(x)
    assert y.shape == (1, 1000) and y.dtype == np.float32
    assert _rel_err(y, numpy_reference.resnet18(model.state_dict(), x)) < 1e-4


def test_resnet18_structure():
    model = model_zoo.resnet18(mnn)
    state = model.state_dict()
    assert len(state) == 122  # torchvision's resnet18 has 122 state_dict entries
    assert sum(np.asarray(p).size for p in model.parameters()) == 11_689_512
    assert list(state)[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]
    assert "layer2.0.downsample.0.weight" in state and "layer1.0.downsample.0.weight" not in state


# ----------------------------------------------------------------------------------- torch parity


def _pair(build, seed):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    theirs = build(torch.nn)
    model_zoo.randomise_batchnorm(torch, theirs, seed)
    ours = build(mnn)
    result = ours.load_state_dict(theirs.state_dict())
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    assert repr(ours) == repr(theirs).replace("torch.nn", "minimod.nn")
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    return torch, ours.eval(), theirs.eval()


@pytest.mark.parametrize("batch", [1, 4])
def test_small_cnn_matches_torch(batch):
    torch, ours, theirs = _pair(model_zoo.small_cnn, seed=2)
    x = _input((batch, 3, 32, 32), seed=batch)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert _rel_err(ours(x), want) < 1e-4
    # And both agree with the float64 reference built from torch's state_dict.
    ref = numpy_reference.small_cnn({k: v.numpy() for k, v in theirs.state_dict().items()}, x)
    assert _rel_err(want, ref) < 1e-4


def test_small_cnn_train_step_updates_the_same_running_stats():
    torch, ours, theirs = _pair(model_zoo.small_cnn, seed=3)
    ours.train()
    theirs.train()
    x = _input((4, 3, 32, 32), seed=7)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert _rel_err(ours(x), want) < 1e-4
    ours_state = ours.state_dict()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours_state[key], np.float64), value.numpy(), rtol=1e-4, atol=1e-5, err_msg=key)


def test_resnet18_matches_torch_64():
    torch, ours, theirs = _pair(model_zoo.resnet18, seed=4)
    x = _input((1, 3, 64, 64), seed=4)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert got.shape == (1, 1000)
    assert _rel_err(got, want) < 1e-4


@pytest.mark.slow
def test_resnet18_matches_torch_224_batch_2():
    torch, ours, theirs = _pair(model_zoo.resnet18, seed=5)
    x = _input((2, 3, 224, 224), seed=5)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert _rel_err(ours(x), want) < 1e-4
