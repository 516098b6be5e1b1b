"""Atomic state changes, and no stale state, on the real layers and on nested models.

A failed load_state_dict(strict=True) of every kind, or a failed minimod.load, leaves every
parameter and buffer of the whole tree bitwise as it was (and the next forward unchanged). A
write through any public route is seen by the very next forward, checked against a float64
reference computed from the values written.
"""

from __future__ import annotations

import numpy as np
import pytest

import minimod
import minimod.nn as nn
from minimod.nn import init
from reliability_models import build, inputs


def _snapshot(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def _assert_unchanged(model, before):
    now = model.state_dict()
    assert list(now) == list(before)
    for k, v in before.items():
        got = np.asarray(now[k])
        assert got.dtype == v.dtype and got.shape == v.shape and np.array_equal(got, v), k


def _new_values(model, seed=1):
    rng = np.random.default_rng(seed)
    sd = {}
    for k, v in model.state_dict().items():
        v = np.asarray(v)
        new = rng.uniform(0.5, 1.5, v.shape) if v.dtype.kind == "f" else v + 1
        sd[k] = np.asarray(new, dtype=v.dtype)
    return sd


def _break(sd, kind, key):
    sd = dict(sd)
    if kind == "missing":
        del sd[key]
    elif kind == "unexpected":
        sd[key.rsplit(".", 1)[0] + ".surprise" if "." in key else "surprise"] = np.zeros(1, np.float32)
    elif kind == "wrong shape":
        sd[key] = np.zeros(np.asarray(sd[key]).shape + (2,), np.float32)
    elif kind == "wrong dtype":
        sd[key] = np.full(np.asarray(sd[key]).shape, "text")
    elif kind == "unconvertible":
        sd[key] = object()
    elif kind == "complex":
        sd[key] = np.asarray(sd[key]) + 1j
    return sd


KINDS = ["missing", "unexpected", "wrong shape", "wrong dtype", "unconvertible"]
MODELS = ["Linear", "Conv2d", "BatchNorm2d", "W3-cnn-small", "resnet18-reduced"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_failed_strict_load_changes_nothing(name, kind):
    model = build(name)
    x = inputs(name, 1)[0]
    out_before = np.array(model(x), copy=True)
    before = _snapshot(model)
    good = _new_values(model)
    # break the LAST key (the deepest, latest-visited module of a nested model), so that every
    # other entry is valid and would have been written by a non-atomic loader
    key = [k for k in good if not k.endswith("num_batches_tracked")][-1]
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        model.load_state_dict(_break(good, kind, key), strict=True)
    _assert_unchanged(model, before)
    assert np.array_equal(model(x), out_before)
    # and the same model then takes the good checkpoint completely
    model.load_state_dict(good)
    for k, v in model.state_dict().items():
        assert np.array_equal(np.asarray(v), good[k]), k


@pytest.mark.parametrize("corruption", ["truncated", "garbage", "missing file", "empty"])
def test_failed_minimod_load_changes_nothing(tmp_path, corruption):
    model = build("W3-cnn-small")
    path = tmp_path / "model.pt"
    minimod.save(_new_values(model), str(path))
    if corruption == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif corruption == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif corruption == "missing file":
        path = tmp_path / "absent.pt"
    else:
        path.write_bytes(b"")
    on_disk = path.read_bytes() if path.exists() else None
    before = _snapshot(model)
    with pytest.raises(Exception) as info:  # noqa: PT011 - each corruption has its own type
        model.load_state_dict(minimod.load(str(path)))
    assert str(info.value).strip()
    assert not isinstance(info.value, (SystemError, MemoryError))
    _assert_unchanged(model, before)
    if on_disk is not None:
        assert path.read_bytes() == on_disk  # loading never writes the file


# ---------------------------------------------------------------------------------------------
# Every write route is seen by the next forward
# ---------------------------------------------------------------------------------------------


def _reference(model, x):
    """float64 forward of Linear / Conv2d (3x3, padding 1) / BatchNorm2d (eval) from current values."""
    x = x.astype(np.float64)
    sd = {k: np.asarray(v, np.float64) for k, v in model.state_dict().items()}
    if isinstance(model, nn.Linear):
        return x @ sd["weight"].T + sd["bias"]
    if isinstance(model, nn.Conv2d):
        w = sd["weight"]
        xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
        h, wd = x.shape[2:]
        out = np.zeros((x.shape[0], w.shape[0], h, wd))
        for a in range(3):
            for b in range(3):
                out += np.einsum("nchw,oc->nohw", xp[:, :, a:a + h, b:b + wd], w[:, :, a, b])
        return out + sd["bias"][None, :, None, None]
    shape = (1, -1, 1, 1)
    return ((x - sd["running_mean"].reshape(shape)) / np.sqrt(sd["running_var"].reshape(shape) + model.eps)
            * sd["weight"].reshape(shape) + sd["bias"].reshape(shape))


def _routes():
    def assign(m, name, value):
        setattr(m, name, nn.Parameter(value) if name in dict(m.named_parameters()) else value)

    def data(m, name, value):
        target = getattr(m, name)
        if isinstance(target, nn.Parameter):
            target.data = value
        else:  # buffers are plain numpy arrays (ndarray.data is the raw buffer): write in place
            target[...] = value

    def asarray_write(m, name, value):
        np.asarray(getattr(m, name))[...] = value

    def state_dict_load(m, name, value):
        sd = dict(m.state_dict())
        sd[name] = value
        m.load_state_dict(sd)

    def state_dict_view_write(m, name, value):
        m.state_dict()[name][...] = value  # state_dict values alias the module's storage

    return {"assignment": assign, ".data": data, "np.asarray(p)[...]=": asarray_write,
            "load_state_dict": state_dict_load, "state_dict()[k][...]=": state_dict_view_write}


ROUTES = _routes()
LAYERS = {
    "Linear": (lambda: nn.Linear(6, 4), (3, 6), ["weight", "bias"]),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 5), ["weight", "bias"]),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3).eval(), (2, 3, 4, 4), ["weight", "bias", "running_mean", "running_var"]),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_write_route_is_seen_by_the_next_forward(layer, route):
    make, shape, names = LAYERS[layer]
    model = make()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    model(x)  # a first forward: anything a layer might cache or pre-pack exists now
    for i, name in enumerate(names):
        current = np.asarray(getattr(model, name))
        value = rng.uniform(0.5, 1.5, current.shape).astype(np.float32)
        ROUTES[route](model, name, value)
        assert np.array_equal(np.asarray(getattr(model, name)), value), (name, "value not stored")
        np.testing.assert_allclose(model(x), _reference(model, x), rtol=1e-5, atol=1e-5,
                                   err_msg=f"{layer}.{name} written by {route} not seen (write {i})")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_nn_init_writes_are_seen_by_the_next_forward(layer):
    make, shape, names = LAYERS[layer]
    model = make()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    model(x)
    for fn in (lambda p: init.uniform_(p, 0.5, 1.5), lambda p: init.constant_(p, 0.75), lambda p: init.ones_(p),
               lambda p: init.normal_(p, 1.0, 0.1)):
        for name in names:
            fn(getattr(model, name))
        np.testing.assert_allclose(model(x), _reference(model, x), rtol=1e-5, atol=1e-5)
