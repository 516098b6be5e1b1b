"""nn.Conv1d/2d/3d vs torch.nn: outputs over a grid, attributes, repr, errors, init, pickling."""

from __future__ import annotations

import copy
import itertools
import math
import pickle

import numpy as np
import pytest

import minimod
import minimod.nn as nn

CLASSES = {1: "Conv1d", 2: "Conv2d", 3: "Conv3d"}
MODES = ["zeros", "reflect", "replicate", "circular"]


def pair(torch, nd, *args, **kwargs):
    """The same layer in minimod and torch, with torch's weights copied into minimod's."""
    t = getattr(torch.nn, CLASSES[nd])(*args, **kwargs)
    m = getattr(nn, CLASSES[nd])(*args, **kwargs)
    np.asarray(m.weight)[...] = t.weight.detach().numpy()
    if t.bias is not None:
        np.asarray(m.bias)[...] = t.bias.detach().numpy()
    return m, t


def compare(torch, m, t, x):
    out = m(x)
    expect = t(torch.from_numpy(np.ascontiguousarray(x))).detach().numpy()
    assert out.shape == expect.shape
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-5)


def grid(nd, count, seed):
    """Seeded configurations: kernel 1..7, stride 1..3, dilation 1..3, groups incl. depthwise,
    int / tuple / 'same' / 'valid' padding, every padding mode, non-square inputs."""
    rng = np.random.default_rng(seed)
    kmax = {1: 7, 2: 5, 3: 3}[nd]
    for _ in range(count):
        groups = int(rng.choice([1, 2, 3]))
        depthwise = rng.random() < 0.25
        cin = groups * (1 if depthwise else int(rng.integers(1, 4)))
        cout = groups * int(rng.integers(1, 4))
        k = tuple(int(rng.integers(1, kmax + 1)) for _ in range(nd))
        d = tuple(int(rng.integers(1, 4)) for _ in range(nd))
        form = rng.choice(["int", "tuple", "same", "valid"])
        mode = str(rng.choice(MODES))
        s = (1,) * nd if form == "same" else tuple(int(rng.integers(1, 4)) for _ in range(nd))
        if form == "int":
            padding = int(rng.integers(0, 3))
        elif form == "tuple":
            padding = tuple(int(rng.integers(0, 3)) for _ in range(nd))
        else:
            padding = str(form)
        if form == "same":
            before = [dd * (kk - 1) // 2 for kk, dd in zip(k, d)]
            after = [dd * (kk - 1) - b for kk, dd, b in zip(k, d, before)]
        elif form == "valid":
            before = after = [0] * nd
        else:
            before = after = [padding] * nd if isinstance(padding, int) else list(padding)
        size = []
        for i in range(nd):
            need = d[i] * (k[i] - 1) + 1 - before[i] - after[i]
            widest = max(before[i], after[i])
            lo = max(1, need, widest + 1 if mode == "reflect" else 1, widest if mode == "circular" else 1)
            size.append(lo + int(rng.integers(0, 5 if nd < 3 else 3)))
        batch = int(rng.choice([0, 1, 3, -1]))  # -1: unbatched
        bias = bool(rng.random() < 0.7)
        yield dict(cin=cin, cout=cout, k=k, s=s, padding=padding, d=d, groups=groups, bias=bias,
                   mode=mode, size=tuple(size), batch=batch)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_matches_torch_grid(nd):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nd)
    for cfg in grid(nd, 60, seed=10 + nd):
        m, t = pair(torch, nd, cfg["cin"], cfg["cout"], cfg["k"], stride=cfg["s"], padding=cfg["padding"],
                    dilation=cfg["d"], groups=cfg["groups"], bias=cfg["bias"], padding_mode=cfg["mode"])
        lead = () if cfg["batch"] < 0 else (cfg["batch"],)
        x = rng.standard_normal((*lead, cfg["cin"], *cfg["size"])).astype(np.float32)
        compare(torch, m, t, x)


def conv_reference64(x, w, b, stride, padding, dilation, groups, mode):
    """float64 convolution from the definition: pad (np.pad with the mode's numpy name), take
    dilated windows at the strides, contract each group's channels and taps."""
    nd = w.ndim - 2
    unbatched = x.ndim == nd + 1
    x = x[None] if unbatched else x
    k = w.shape[2:]
    if padding == "valid":
        before = after = [0] * nd
    elif padding == "same":
        total = [d * (kk - 1) for kk, d in zip(k, dilation)]
        before = [t // 2 for t in total]
        after = [t - t // 2 for t in total]
    else:
        before = after = [padding] * nd if isinstance(padding, int) else list(padding)
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0), *zip(before, after)], mode=np_mode)
    span = [d * (kk - 1) + 1 for kk, d in zip(k, dilation)]
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
    win = win[(slice(None), slice(None), *(slice(None, None, st) for st in stride), *(slice(None, None, d) for d in dilation))]
    cin_g, cout_g = x.shape[1] // groups, w.shape[0] // groups
    parts = [
        np.tensordot(win[:, g * cin_g : (g + 1) * cin_g], w[g * cout_g : (g + 1) * cout_g].astype(np.float64),
                     axes=([1, *range(2 + nd, 2 + 2 * nd)], [1, *range(2, 2 + nd)]))
        for g in range(groups)
    ]  # fmt: skip
    out = np.moveaxis(np.concatenate(parts, axis=-1), -1, 1)
    if b is not None:
        out = out + np.asarray(b, np.float64).reshape(1, -1, *([1] * nd))
    return out[0] if unbatched else out


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_grid_matches_float64_reference(nd):
    # The configurations of test_matches_torch_grid, checked without torch.
    rng = np.random.default_rng(nd)
    for cfg in grid(nd, 60, seed=10 + nd):
        m = getattr(nn, CLASSES[nd])(cfg["cin"], cfg["cout"], cfg["k"], stride=cfg["s"], padding=cfg["padding"],
                                     dilation=cfg["d"], groups=cfg["groups"], bias=cfg["bias"], padding_mode=cfg["mode"])
        lead = () if cfg["batch"] < 0 else (cfg["batch"],)
        x = rng.standard_normal((*lead, cfg["cin"], *cfg["size"])).astype(np.float32)
        want = conv_reference64(x, np.asarray(m.weight), None if m.bias is None else np.asarray(m.bias),
                                m.stride, m.padding, m.dilation, m.groups, m.padding_mode)
        out = m(x)
        assert out.shape == want.shape, cfg
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5, err_msg=str(cfg))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_padding_modes_and_layouts(nd, mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(20 + nd)
    for padding in [1, tuple(range(1, nd + 1)), "same"]:
        for k in [2, 3]:
            m, t = pair(torch, nd, 4, 6, k, padding=padding, padding_mode=mode, groups=2)
            base = rng.standard_normal((2, 4, *([7, 6, 5][:nd]))).astype(np.float32)
            for x in [base, np.asfortranarray(base), base[::-1], np.repeat(base, 2, axis=-1)[..., ::2], base[0]]:
                compare(torch, m, t, x)


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "g", "size"), [
    (64, 64, 3, 1, 1, 1, (56, 56)),      # W5b
    (256, 64, 1, 1, 0, 1, (56, 56)),     # W5c
    (128, 128, 3, 1, 1, 128, (56, 56)),  # W5e
    (3, 64, 7, 2, 3, 1, (64, 64)),       # ResNet stem
    (512, 512, 3, 1, 1, 1, (7, 7)),
])
def test_workload_shapes_match_torch(cin, cout, k, s, p, g, size):
    torch = pytest.importorskip("torch")
    m, t = pair(torch, 2, cin, cout, k, stride=s, padding=p, groups=g)
    x = np.random.default_rng(3).standard_normal((1, cin, *size)).astype(np.float32)
    compare(torch, m, t, x)


def test_without_torch_reference():
    # A 1x1 conv is a matrix product over channels: checked with numpy alone.
    rng = np.random.default_rng(4)
    m = nn.Conv2d(6, 4, 1)
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    w = np.asarray(m.weight)[:, :, 0, 0].astype(np.float64)
    expect = np.einsum("oc,nchw->nohw", w, x.astype(np.float64)) + np.asarray(m.bias)[None, :, None, None]
    np.testing.assert_allclose(m(x), expect, rtol=1e-5, atol=1e-5)


def attributes(layer):
    return {name: getattr(layer, name) for name in [
        "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "transposed",
        "output_padding", "groups", "padding_mode", "_reversed_padding_repeated_twice"]}


def test_attributes_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    configs = [
        (1, dict(in_channels=3, out_channels=6, kernel_size=5)),
        (1, dict(in_channels=4, out_channels=4, kernel_size=(2,), padding="same", padding_mode="reflect")),
        (2, dict(in_channels=3, out_channels=6, kernel_size=(3, 5), stride=2, padding=1, dilation=2, groups=3, bias=False, padding_mode="reflect")),
        (2, dict(in_channels=2, out_channels=4, kernel_size=(3, 4), padding="same", dilation=(2, 1))),
        (2, dict(in_channels=2, out_channels=4, kernel_size=3, padding="valid")),
        (2, dict(in_channels=2, out_channels=4, kernel_size=[3, 1], stride=[1, 2], padding=(1, 2))),
        (2, dict(in_channels=2, out_channels=4, kernel_size=3, padding=(0, 0), dilation=(1, 1))),
        (3, dict(in_channels=2, out_channels=2, kernel_size=3, padding=(1, 0, 2), groups=2, padding_mode="circular")),
        (3, dict(in_channels=1, out_channels=2, kernel_size=(1, 2, 3), padding="same", padding_mode="replicate")),
    ]
    for nd, kwargs in configs:
        m = getattr(nn, CLASSES[nd])(**kwargs)
        t = getattr(torch.nn, CLASSES[nd])(**kwargs)
        got, want = attributes(m), attributes(t)
        assert got == want
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in want.items()}
        assert m.extra_repr() == t.extra_repr()
        assert repr(m) == repr(t)
        assert m.weight.shape == tuple(t.weight.shape)
        assert (m.bias is None) == (t.bias is None)
    assert repr(nn.Conv2d(3, 6, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=3, bias=False, padding_mode="reflect")) == (
        "Conv2d(3, 6, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), dilation=(2, 2), groups=3, bias=False, padding_mode=reflect)")
    assert nn.Conv2d(3, 4, (3, 4), padding="same", dilation=(2, 1))._reversed_padding_repeated_twice == [1, 2, 2, 2]
    assert nn.Conv2d(3, 4, 3, padding=(1, 2))._reversed_padding_repeated_twice == (2, 2, 1, 1)


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    return None


def test_construction_errors_in_torch_order():
    torch = pytest.importorskip("torch")
    cases = [
        dict(in_channels=4, out_channels=4, kernel_size=3, groups=0),
        dict(in_channels=4, out_channels=4, kernel_size=3, groups=-2),
        dict(in_channels=3, out_channels=4, kernel_size=3, groups=2),                 # in % groups
        dict(in_channels=4, out_channels=3, kernel_size=3, groups=2),                 # out % groups
        dict(in_channels=3, out_channels=3, kernel_size=3, groups=2, padding="foo"),  # in % groups first
        dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, padding="same"),
        dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, padding="same", padding_mode="foo"),
        dict(in_channels=4, out_channels=-4, kernel_size=3),
        dict(in_channels=4, out_channels=4, kernel_size=-1),
    ]
    for kwargs in cases:
        want = _error(lambda: torch.nn.Conv2d(**kwargs))  # noqa: B023
        assert want is not None
        assert _error(lambda: nn.Conv2d(**kwargs)) == want, kwargs  # noqa: B023
    # Messages printing a Python set: compare the prefix (the set's order depends on the hash seed).
    for kwargs, prefix in [
        (dict(padding="foo"), "Invalid padding string 'foo', should be one of {"),
        (dict(padding_mode="bar"), "padding_mode must be one of {"),
    ]:
        with pytest.raises(ValueError) as e:
            nn.Conv2d(4, 4, 3, **kwargs)
        assert str(e.value).startswith(prefix)
        assert str(e.value).endswith("}" if "padding=" in str(kwargs) or "foo" in str(kwargs) else "padding_mode='bar'")
    with pytest.raises(ValueError, match="float32 only"):
        nn.Conv2d(2, 2, 3, dtype=np.float64)


def test_forward_errors_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (dict(in_channels=4, out_channels=8, kernel_size=3), np.zeros((5, 5), np.float32)),
        (dict(in_channels=4, out_channels=8, kernel_size=3), np.zeros((1, 3, 5, 5), np.float32)),
        (dict(in_channels=4, out_channels=8, kernel_size=3), np.zeros((3, 5, 5), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3), np.zeros((1, 3, 2, 2), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, padding=(0, 1)), np.zeros((1, 3, 2, 2), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, stride=0), np.zeros((1, 3, 5, 5), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, padding=-1), np.zeros((1, 3, 5, 5), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, dilation=0), np.zeros((1, 3, 5, 5), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=0), np.zeros((1, 3, 5, 5), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3), np.zeros((1, 3, 5, 5), np.float64)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, stride=(1, 2, 3)), np.zeros((1, 3, 5, 5), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, padding_mode="reflect", padding=3), np.zeros((1, 3, 3, 3), np.float32)),
        (dict(in_channels=3, out_channels=8, kernel_size=3, padding_mode="circular", padding=4), np.zeros((1, 3, 3, 3), np.float32)),
    ]
    for kwargs, x in cases:
        t = torch.nn.Conv2d(**kwargs)
        m = nn.Conv2d(**kwargs)
        want = _error(lambda: t(torch.from_numpy(x)))  # noqa: B023
        assert want is not None, kwargs
        assert _error(lambda: m(x)) == want, kwargs  # noqa: B023
    for nd, x in [(1, np.zeros(5, np.float32)), (3, np.zeros((5, 5, 5), np.float32))]:
        t = getattr(torch.nn, CLASSES[nd])(1, 1, 1)
        m = getattr(nn, CLASSES[nd])(1, 1, 1)
        assert _error(lambda: m(x)) == _error(lambda: t(torch.from_numpy(x)))  # noqa: B023


def test_reflect_and_circular_limits():
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding \(3, 3\) at dimension 3 of input \[1, 1, 3, 3\]"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(x)
    nn.Conv2d(1, 1, 3, padding=2, padding_mode="reflect")(x)
    nn.Conv2d(1, 1, 3, padding=3, padding_mode="circular")(x)
    with pytest.raises(RuntimeError, match="Padding value causes wrapping around more than once."):
        nn.Conv2d(1, 1, 3, padding=4, padding_mode="circular")(x)
    nn.Conv2d(1, 1, 3, padding=9, padding_mode="replicate")(x)


def test_default_init_bounds():
    minimod.manual_seed(1)
    for layer, fan_in in [(nn.Conv2d(16, 32, 3), 16 * 9), (nn.Conv2d(16, 32, (3, 5), groups=4), 4 * 15),
                          (nn.Conv1d(8, 8, 7), 56), (nn.Conv3d(2, 4, 2), 16)]:
        bound = 1 / math.sqrt(fan_in)
        w, b = np.asarray(layer.weight), np.asarray(layer.bias)
        assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(w).max() > 0.9 * bound
        assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    minimod.manual_seed(7)
    a = nn.Conv2d(3, 4, 3)
    minimod.manual_seed(7)
    b = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(np.asarray(a.weight), np.asarray(b.weight))
    np.testing.assert_array_equal(np.asarray(a.bias), np.asarray(b.bias))


def test_int_and_tuple_normalisation():
    torch = pytest.importorskip("torch")
    for nd, cls in CLASSES.items():
        for kwargs in [dict(kernel_size=3), dict(kernel_size=[2] * nd, stride=[1] * nd, padding=[0] * nd),
                       dict(kernel_size=range(1, nd + 1)), dict(kernel_size=3, padding=(1,) * nd, dilation=2)]:
            m = getattr(nn, cls)(2, 2, **kwargs)
            t = getattr(torch.nn, cls)(2, 2, **kwargs)
            assert attributes(m) == attributes(t)
    # no length check at construction: a wrong length fails at forward, as in torch
    m = nn.Conv2d(2, 2, 3, stride=(1, 1, 1))
    t = torch.nn.Conv2d(2, 2, 3, stride=(1, 1, 1))
    assert m.stride == t.stride
    x = np.zeros((1, 2, 5, 5), np.float32)
    assert _error(lambda: m(x)) == _error(lambda: t(torch.from_numpy(x)))


def test_setstate_defaults_padding_mode_and_pickle():
    m = nn.Conv2d(2, 3, 3, padding=1)
    state = {k: v for k, v in m.__dict__.items() if k != "padding_mode"}
    clone = nn.Conv2d.__new__(nn.Conv2d)
    clone.__setstate__(state)
    assert clone.padding_mode == "zeros"
    x = np.random.default_rng(5).standard_normal((1, 2, 6, 6)).astype(np.float32)
    for other in [pickle.loads(pickle.dumps(m)), copy.deepcopy(m)]:
        np.testing.assert_array_equal(other(x), m(x))


def test_weight_writes_are_seen():
    m = nn.Conv1d(1, 1, 2, bias=False)
    x = np.array([[[1, 2, 3]]], np.float32)
    np.asarray(m.weight)[...] = 1.0
    np.testing.assert_array_equal(m(x), [[[3, 5]]])
    np.asarray(m.weight)[..., 1] = 0.0
    np.testing.assert_array_equal(m(x), [[[1, 2]]])


def test_every_isa_path_matches_torch():
    torch = pytest.importorskip("torch")
    from minimod import _core

    order = ["generic", "avx2", "avx512"]
    before = _core.active_isa()
    try:
        for isa in order[: order.index(_core.detected_isa()) + 1]:
            _core._set_active_isa(isa)
            for g, k in itertools.product([1, 4], [1, 3]):
                m, t = pair(torch, 2, 8, 8, k, padding=k // 2, groups=g)
                compare(torch, m, t, np.random.default_rng(6).standard_normal((2, 8, 9, 10)).astype(np.float32))
    finally:
        _core._set_active_isa(before)
