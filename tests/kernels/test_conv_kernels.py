"""Convolution kernels (csrc/kernels/conv) against a float64 numpy reference, on every ISA path.

The reference below is independent of the kernels: zero-pad with np.pad, take strided/dilated
windows with sliding_window_view, contract each group with tensordot in float64. Every routed
path (depthwise direct, 1x1 GEMM, im2col + GEMM) and the naive C++ reference are compared with it,
through ``_core._testing.conv_nd(..., path=...)`` and through ``minimod.nn.functional``.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import minimod.nn.functional as F
from minimod import _core

T = _core._testing
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv_reference(x, w, b, stride, pad_before, pad_after, dilation, groups):
    nd = x.ndim - 2
    x = np.pad(x.astype(np.float64), [(0, 0), (0, 0), *zip(pad_before, pad_after)])
    w = w.astype(np.float64)
    k = w.shape[2:]
    span = [d * (kk - 1) + 1 for kk, d in zip(k, dilation)]
    win = sliding_window_view(x, span, axis=tuple(range(2, 2 + nd)))  # (N, C, *L', *span)
    index = (slice(None), slice(None), *(slice(None, None, s) for s in stride),
             *(slice(None, None, d) for d in dilation))
    win = win[index]  # (N, C, *out, *k)
    cin_g, cout_g = x.shape[1] // groups, w.shape[0] // groups
    outs = []
    for g in range(groups):
        xg = win[:, g * cin_g:(g + 1) * cin_g]
        wg = w[g * cout_g:(g + 1) * cout_g]
        axes_x = [1, *range(2 + nd, 2 + 2 * nd)]
        axes_w = [1, *range(2, 2 + nd)]
        outs.append(np.tensordot(xg, wg, axes=(axes_x, axes_w)))  # (N, *out, cout_g)
    out = np.moveaxis(np.concatenate(outs, axis=-1), -1, 1)
    if b is not None:
        out = out + b.astype(np.float64).reshape(1, -1, *([1] * nd))
    return out


def check(out, ref, fan_in):
    assert out.dtype == np.float32
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6 * max(1.0, np.sqrt(fan_in)) + 1e-6)


def random_config(rng, nd):
    """One random convolution: shapes chosen so that the output is at least 1 wide."""
    kmax = {1: 7, 2: 5, 3: 3}[nd]
    groups = int(rng.choice([1, 1, 2, 3]))
    cin_g, cout_g = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    k = [int(rng.integers(1, kmax + 1)) for _ in range(nd)]
    s = [int(rng.integers(1, 4)) for _ in range(nd)] if rng.random() < 0.5 else [1] * nd
    d = [int(rng.integers(1, 4)) for _ in range(nd)]
    pb = [int(rng.integers(0, 3)) for _ in range(nd)]
    pa = [int(rng.integers(0, 3)) for _ in range(nd)]
    size = [max(1, dd * (kk - 1) + 1 - p0 - p1) + int(rng.integers(0, 6 if nd < 3 else 3))
            for kk, dd, p0, p1 in zip(k, d, pb, pa)]
    batch = int(rng.choice([0, 1, 3]))
    x = rng.uniform(-1, 1, (batch, cin_g * groups, *size)).astype(np.float32)
    w = rng.uniform(-1, 1, (cout_g * groups, cin_g, *k)).astype(np.float32)
    b = rng.uniform(-1, 1, cout_g * groups).astype(np.float32) if rng.random() < 0.7 else None
    return x, w, b, s, pb, pa, d, groups


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_random_grid_every_path(isa, nd):
    rng = np.random.default_rng(100 + nd)
    for _ in range(40):
        x, w, b, s, pb, pa, d, g = random_config(rng, nd)
        ref = conv_reference(x, w, b, s, pb, pa, d, g)
        fan_in = w[0].size
        for path in ["auto", "reference", "im2col_gemm", "shift_gemm"]:
            check(T.conv_nd(x, w, b, s, pb, pa, d, g, path=path), ref, fan_in)
        if x.shape[1] == g:
            check(T.conv_nd(x, w, b, s, pb, pa, d, g, path="depthwise"), ref, fan_in)


@pytest.mark.parametrize("pads", [(0, 0), (1, 2), (9, 3), (17, 20)])
def test_depthwise_padding_wider_than_a_vector(isa, pads):
    # The depthwise path copies each plane into a zero-padded buffer; pads of 8, 16 or more
    # columns (asymmetric too) are zeroed in several vector stores.
    rng = np.random.default_rng(7)
    pb, pa = pads
    x = rng.uniform(-1, 1, (2, 3, 6, 11)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 1, 3, 5)).astype(np.float32)
    b = rng.uniform(-1, 1, 3).astype(np.float32)
    args = ([1, 1], [pb, pb], [pa, pa], [1, 1], 3)
    ref = conv_reference(x, w, b, *args)
    check(T.conv_nd(x, w, b, *args, path="depthwise"), ref, w[0].size)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_relu_epilogue(isa, nd):
    rng = np.random.default_rng(200 + nd)
    for _ in range(10):
        x, w, b, s, pb, pa, d, g = random_config(rng, nd)
        ref = np.maximum(conv_reference(x, w, b, s, pb, pa, d, g), 0)
        for path in ["auto", "reference", "im2col_gemm", "shift_gemm"]:
            check(T.conv_nd(x, w, b, s, pb, pa, d, g, relu=True, path=path), ref, w[0].size)


def test_routing_table():
    x = np.zeros((1, 8, 6, 6), np.float32)
    route = lambda w, s=(1, 1), p=(0, 0), g=1, d=(1, 1): T.conv_path(x, w, s, p, p, d, g)  # noqa: E731
    assert route(np.zeros((16, 8, 1, 1), np.float32)) == "gemm_1x1"
    # strided 1x1: im2col's strided gather, no copy
    assert route(np.zeros((16, 8, 1, 1), np.float32), s=(2, 2)) == "im2col_gemm"
    assert route(np.zeros((16, 8, 1, 1), np.float32), p=(1, 0)) == "shift_gemm"
    assert route(np.zeros((16, 4, 1, 1), np.float32), g=2) == "gemm_1x1"
    assert route(np.zeros((16, 8, 3, 3), np.float32)) == "shift_gemm"
    assert route(np.zeros((16, 8, 3, 3), np.float32), p=(1, 1)) == "shift_gemm"
    # strided, more than one tap: the shifted rows of a polyphase copy
    assert route(np.zeros((16, 8, 3, 3), np.float32), s=(1, 2)) == "shift_gemm"
    assert route(np.zeros((16, 8, 2, 2), np.float32), s=(2, 2)) == "shift_gemm"
    # 6x6 -> 6x6 through an 18x18 padded image: the padded-width grid would be > 2x the work
    assert route(np.zeros((16, 8, 5, 5), np.float32), p=(6, 6), d=(3, 3)) == "im2col_gemm"
    assert route(np.zeros((8, 1, 3, 3), np.float32), g=8) == "depthwise"
    assert route(np.zeros((24, 1, 3, 3), np.float32), g=8) == "depthwise"  # multiplier 3
    assert route(np.zeros((8, 1, 1, 1), np.float32), g=8) == "depthwise"
    with pytest.raises(ValueError, match="does not apply"):
        T.conv_nd(x, np.zeros((16, 8, 3, 3), np.float32), None, (1, 1), (0, 0), (0, 0), (1, 1), 1,
                  path="gemm_1x1")


@pytest.mark.parametrize(
    ("cin", "cout", "k", "s", "p", "g", "size"),
    [
        (64, 64, 3, 1, 1, 1, (56, 56)),      # W5b
        (256, 64, 1, 1, 0, 1, (56, 56)),     # W5c
        (128, 128, 3, 1, 1, 128, (56, 56)),  # W5e
        (3, 64, 7, 2, 3, 1, (40, 37)),       # ResNet stem, smaller image
        (64, 128, 1, 2, 0, 1, (14, 15)),     # ResNet downsample
        (512, 512, 3, 1, 1, 1, (7, 7)),      # ResNet last stage: N = 49 < M
        (32, 64, 3, 1, 1, 4, (11, 13)),      # grouped
        (16, 48, 5, 1, 2, 16, (9, 21)),      # depthwise, multiplier 3
        (1, 32, 3, 1, 1, 1, (28, 28)),       # one input channel: the direct kernel
    ],
)
def test_workload_shapes(isa, cin, cout, k, s, p, g, size):
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (1, cin, *size)).astype(np.float32)
    w = rng.uniform(-1, 1, (cout, cin // g, k, k)).astype(np.float32)
    b = rng.uniform(-1, 1, cout).astype(np.float32)
    ref = conv_reference(x, w, b, (s, s), (p, p), (p, p), (1, 1), g)
    check(F.conv2d(x, w, b, s, p, 1, g), ref, w[0].size)


@pytest.mark.parametrize("threads", [1, 2, 3], indirect=True)
def test_thread_splits(isa, threads):
    rng = np.random.default_rng(8)
    for cin, cout, k, g, batch, size in [(16, 32, 3, 1, 1, (20, 30)), (16, 32, 3, 4, 3, (9, 9)),
                                         (8, 8, 3, 8, 2, (17, 5)), (32, 16, 1, 1, 3, (12, 12))]:
        x = rng.uniform(-1, 1, (batch, cin, *size)).astype(np.float32)
        w = rng.uniform(-1, 1, (cout, cin // g, k, k)).astype(np.float32)
        b = rng.uniform(-1, 1, cout).astype(np.float32)
        ref = conv_reference(x, w, b, (1, 1), (1, 1), (1, 1), (1, 1), g)
        check(F.conv2d(x, w, b, 1, 1, 1, g), ref, w[0].size)


# --- through minimod.nn.functional: padding forms, layouts, unbatched ------------------------


def _padding_of(padding, k, d, nd):
    if padding == "valid":
        return [0] * nd, [0] * nd
    if padding == "same":
        total = [dd * (kk - 1) for kk, dd in zip(k, d)]
        return [t // 2 for t in total], [t - t // 2 for t in total]
    p = [padding] * nd if isinstance(padding, int) else list(padding)
    return p, p


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 2, "same", "valid", "tuple"])
def test_functional_padding_forms(isa, nd, padding):
    rng = np.random.default_rng(300 + nd)
    for even in [False, True]:
        k = [4 if even else 3, 2, 3][:nd]
        d = [1, 2, 1][:nd]
        pad = tuple(range(1, nd + 1)) if padding == "tuple" else padding
        x = rng.uniform(-1, 1, (2, 4, *([9, 8, 7][:nd]))).astype(np.float32)
        w = rng.uniform(-1, 1, (6, 2, *k)).astype(np.float32)
        b = rng.uniform(-1, 1, 6).astype(np.float32)
        pb, pa = _padding_of(pad, k, d, nd)
        ref = conv_reference(x, w, b, [1] * nd, pb, pa, d, 2)
        out = CONV[nd](x, w, b, 1, pad, d, 2)
        check(out, ref, w[0].size)
        if padding == "same":
            assert out.shape[2:] == x.shape[2:]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_functional_layouts_and_unbatched(isa, nd):
    rng = np.random.default_rng(400 + nd)
    base = rng.uniform(-1, 1, (3, 4, *([10, 9, 8][:nd]))).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 4, *([3, 2, 3][:nd]))).astype(np.float32)
    b = rng.uniform(-1, 1, 5).astype(np.float32)
    conv = CONV[nd]
    ref = conv_reference(base, w, b, [2] * nd, [1] * nd, [1] * nd, [1] * nd, 1)
    views = {
        "fortran": np.asfortranarray(base),
        "negative": base[::-1][::-1].copy()[..., ::-1][..., ::-1],
        "reversed_view": base[::-1],
        "sliced": np.repeat(base, 2, axis=-1)[..., ::2],
    }
    for name, xv in views.items():
        expect = ref[::-1] if name == "reversed_view" else ref
        check(conv(xv, w, b, 2, 1), expect, w[0].size)
    # non-contiguous weight too
    check(conv(base, np.asfortranarray(w), b, 2, 1), ref, w[0].size)
    # unbatched: (C, *S) in, (C_out, *S') out
    check(conv(base[1], w, b, 2, 1), ref[1], w[0].size)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_functional_zero_batch(isa, nd):
    x = np.zeros((0, 4, *([6] * nd)), np.float32)
    w = np.ones((3, 4, *([3] * nd)), np.float32)
    out = CONV[nd](x, w, None, 1, 1)
    assert out.shape == (0, 3, *([6] * nd))


def test_torch_tensor_input(isa):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32)
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 1, 1)
    check(out, conv_reference(x, w, None, (1, 1), (1, 1), (1, 1), (1, 1), 1), 27)


# --- pad: reflect / replicate / circular against index-map references ----------------------


def _index_pad(x, pads, mode):
    """Pads the trailing dims by gathering with explicit index maps (independent of np.pad)."""
    out = x
    npad = len(pads) // 2
    for i in range(npad):
        dim = x.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        n = out.shape[dim]
        idx = np.arange(-lo, n + hi)
        if mode == "reflect":
            idx = np.abs(idx)
            idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
        elif mode == "replicate":
            idx = np.clip(idx, 0, n - 1)
        elif mode == "circular":
            idx = idx % n
        out = np.take(out, idx, axis=dim)
    return out


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pad_modes(mode, nd):
    rng = np.random.default_rng(500 + nd)
    for batched in [True, False]:
        shape = ([2] if batched else []) + [3] + [5, 4, 3][:nd]
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        sizes = shape[-nd:][::-1]
        for _ in range(6):
            hi_lim = [s - 1 if mode == "reflect" else s for s in sizes]
            pads = []
            for lim in hi_lim:
                pads += [int(rng.integers(0, lim + 1)), int(rng.integers(0, lim + 1))]
            np.testing.assert_array_equal(F.pad(x, tuple(pads), mode=mode), _index_pad(x, pads, mode))


def test_pad_constant():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    out = F.pad(x, (1, 2), value=-1.5)
    assert out.shape == (1, 3, 7)
    np.testing.assert_array_equal(out[..., 1:5], x)
    assert (out[..., [0, 5, 6]] == -1.5).all()
    np.testing.assert_array_equal(F.pad(x, (-1, 1, 1, 0)), np.pad(x, [(0, 0), (1, 0), (0, 1)])[..., 1:])
    assert F.pad(x, ()).shape == x.shape


def test_pad_errors():
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding \(3, 3\) at dimension 3 of input \[1, 1, 3, 3\]"):
        F.pad(x, (3, 3, 0, 0), mode="reflect")
    with pytest.raises(RuntimeError, match=r"Argument #6: .* padding \(0, 3\) at dimension 2 of input"):
        F.pad(x, (0, 0, 0, 3), mode="reflect")
    with pytest.raises(RuntimeError, match="Padding value causes wrapping around more than once."):
        F.pad(x, (4, 0, 0, 0), mode="circular")
    F.pad(x, (3, 3, 3, 3), mode="circular")  # pad == size is allowed
    F.pad(x, (30, 30, 30, 30), mode="replicate")  # any size
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times"):
        F.pad(x[0, 0], (1, 1, 1, 1, 1, 1))
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 4D input tensor."):
        F.pad(x, (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode foo"):
        F.pad(x, (1, 1), mode="foo")
    with pytest.raises(RuntimeError, match="doesn't take in value argument"):
        F.pad(x, (1, 1, 1, 1), mode="reflect", value=1.0)
    with pytest.raises(RuntimeError, match="possibly 0 batch size and other non-zero dimensions"):
        F.pad(np.zeros((1, 0, 3), np.float32), (1, 1), mode="replicate")
    with pytest.raises(TypeError):
        F.pad(x, (1.0, 1))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_every_group_count(isa, nd):
    # groups = every divisor of C_in (6), with channel multipliers 1 and 2: depthwise included.
    rng = np.random.default_rng(600 + nd)
    size = [7, 6, 5][:nd]
    for groups in [1, 2, 3, 6]:
        for mult in [1, 2]:
            x = rng.uniform(-1, 1, (2, 6, *size)).astype(np.float32)
            cout = groups * mult
            w = rng.uniform(-1, 1, (cout, 6 // groups, *([3] * nd))).astype(np.float32)
            b = rng.uniform(-1, 1, cout).astype(np.float32)
            ref = conv_reference(x, w, b, [1] * nd, [1] * nd, [1] * nd, [1] * nd, groups)
            check(CONV[nd](x, w, b, 1, 1, 1, groups), ref, w[0].size)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_padding_mode_then_conv(isa, nd, mode):
    # What Conv*d does for a non-zero padding mode: F.pad, then a convolution without padding;
    # the reference pads with the index maps above.
    rng = np.random.default_rng(700 + nd)
    x = rng.uniform(-1, 1, (2, 4, *([6, 5, 4][:nd]))).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 4, *([3] * nd))).astype(np.float32)
    pads = []
    for _ in range(nd):
        pads += [1, 2]
    padded = _index_pad(x, pads, mode)
    ref = conv_reference(padded, w, None, [1] * nd, [0] * nd, [0] * nd, [1] * nd, 1)
    check(CONV[nd](F.pad(x, tuple(pads), mode=mode), w), ref, w[0].size)


@pytest.mark.parametrize("length", [15, 17, 31, 33, 63])
def test_stride2_runs_end_at_the_last_input(isa, length):
    # A stride-2 run whose last output reads the input's very last element: vector gathers must
    # not read past it (caught by the CI's AddressSanitizer pass).
    rng = np.random.default_rng(length)
    x = rng.uniform(-1, 1, (1, 1, length)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 1, 1)).astype(np.float32)
    x2 = np.concatenate([x, x], axis=1)  # two channels: the im2col path, not depthwise
    w2 = rng.uniform(-1, 1, (3, 2, 1)).astype(np.float32)
    for xi, wi in [(x, w), (x2, w2)]:
        ref = conv_reference(xi, wi, None, [2], [0], [0], [1], 1)
        check(T.conv_nd(xi, wi, None, [2], [0], [0], [1], 1, path="im2col_gemm"), ref, wi[0].size)


# --- strided convolutions through the polyphase shifted-row GEMM ------------------------------


@pytest.mark.parametrize(
    ("cin", "cout", "k", "s", "pb", "pa", "d", "size"),
    [
        ((64, 128, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), (28, 28))),  # ResNet stage entry
        ((3, 64, (7, 7), (2, 2), (3, 3), (3, 3), (1, 1), (45, 38))),  # ResNet stem, odd sizes
        ((16, 24, (1, 1), (2, 2), (0, 0), (0, 0), (1, 1), (15, 14))),  # downsample: phase 0 only
        ((8, 8, (3, 3), (2, 3), (0, 2), (2, 1), (1, 1), (13, 17))),  # mixed strides, asymmetric pad
        ((8, 8, (3, 3), (2, 2), (2, 2), (2, 2), (2, 2), (11, 12))),  # dilation = stride: 1 phase
        ((8, 8, (3, 2), (3, 2), (1, 0), (0, 1), (2, 3), (16, 9))),  # dilation and stride coprime
        ((5, 7, (4, 4), (4, 4), (0, 0), (0, 0), (1, 1), (16, 19))),  # patchify: kernel = stride
        ((4, 6, (2, 2), (3, 3), (5, 5), (5, 5), (1, 1), (4, 4))),  # pad > stride: zero phases
    ],
)
def test_strided_shift_gemm(isa, cin, cout, k, s, pb, pa, d, size):
    rng = np.random.default_rng(cin * 7 + cout)
    x = rng.uniform(-1, 1, (2, cin, *size)).astype(np.float32)
    w = rng.uniform(-1, 1, (cout, cin, *k)).astype(np.float32)
    b = rng.uniform(-1, 1, cout).astype(np.float32)
    ref = conv_reference(x, w, b, s, pb, pa, d, 1)
    for relu in [False, True]:
        expect = np.maximum(ref, 0) if relu else ref
        check(T.conv_nd(x, w, b, s, pb, pa, d, 1, relu=relu, path="shift_gemm"), expect, w[0].size)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("nd", [1, 3])
def test_strided_shift_gemm_1d_3d(isa, threads, nd):
    rng = np.random.default_rng(40 + nd)
    k, s, p = [3, 1, 2][:nd], [2, 1, 3][:nd], [1, 0, 1][:nd]
    x = rng.uniform(-1, 1, (3, 6, *([20, 7, 11][:nd]))).astype(np.float32)
    w = rng.uniform(-1, 1, (10, 3, *k)).astype(np.float32)
    ref = conv_reference(x, w, None, s, p, p, [1] * nd, 2)
    check(T.conv_nd(x, w, None, s, p, p, [1] * nd, 2, path="shift_gemm"), ref, w[0].size)
    check(CONV[nd](x, w, None, s, p, 1, 2), ref, w[0].size)


def test_strided_matches_torch(isa):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(41)
    for cin, cout, k, s, p, size in [(3, 64, 7, 2, 3, 64), (64, 128, 3, 2, 1, 28),
                                     (128, 256, 1, 2, 0, 14)]:
        x = rng.standard_normal((1, cin, size, size)).astype(np.float32)
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        with torch.no_grad():
            ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=s,
                                             padding=p).numpy()
        check(F.conv2d(x, w, None, s, p), ref, w[0].size)
        check(T.conv_nd(x, w, None, (s, s), (p, p), (p, p), (1, 1), 1, path="shift_gemm"), ref,
              w[0].size)
