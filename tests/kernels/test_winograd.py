"""Winograd F(2x2, 3x3) convolution (csrc/kernels/conv/winograd.cpp) on every ISA path.

Oracles: a float64 numpy convolution written here (pad, sliding windows, einsum) and torch's
conv2d. Winograd's transforms add rounding that direct convolution does not have, so the
tolerance is stated relative to the output's magnitude: within 1e-4 of max|y| (the issue's bar),
which holds with room to spare at realistic magnitudes (ResNet-like unit-variance activations,
He-scaled weights).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import minimod
from minimod import _core

T = _core._testing


def conv3x3_reference(x, w, b, pad_before, pad_after):
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0), *zip(pad_before, pad_after)])
    win = sliding_window_view(xp, (3, 3), axis=(2, 3))  # (N, C, Ho, Wo, 3, 3)
    out = np.einsum("nchwij,kcij->nkhw", win, w.astype(np.float64))
    if b is not None:
        out = out + b.astype(np.float64)[None, :, None, None]
    return out


def winograd(x, w, b, pb=(1, 1), pa=(1, 1), relu=False, path="winograd"):
    return T.conv_nd(x, w, b, [1, 1], list(pb), list(pa), [1, 1], 1, relu=relu, path=path)


def assert_close_relative(out, ref, rel=1e-4):
    assert out.dtype == np.float32 and out.shape == ref.shape
    scale = max(float(np.abs(ref).max()) if ref.size else 0.0, 1e-30)
    err = float(np.abs(out.astype(np.float64) - ref).max()) if ref.size else 0.0
    assert err <= rel * scale, f"max error {err:.3g} vs {rel:g} * max|ref| {scale:.3g}"


def realistic(rng, n, cin, cout, h, w_, bias=True):
    x = rng.standard_normal((n, cin, h, w_)).astype(np.float32)
    w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (9 * cin))).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) * 0.1 if bias else None
    return x, w, b


# Edge shapes: sizes that are not multiples of 4 (partial tiles), 1x1 outputs, asymmetric and
# zero padding, channel counts around the microkernel heights (6, 14) and B panel widths.
SHAPES = [
    # n, cin, cout, h, w, pad_before, pad_after
    (1, 1, 1, 3, 3, (0, 0), (0, 0)),
    (1, 3, 5, 1, 1, (1, 1), (1, 1)),
    (2, 16, 20, 13, 11, (1, 1), (1, 1)),
    (1, 7, 29, 9, 17, (0, 2), (2, 0)),
    (3, 20, 15, 6, 5, (2, 1), (0, 2)),
    (1, 33, 14, 30, 30, (1, 1), (1, 1)),
    (0, 4, 4, 8, 8, (1, 1), (1, 1)),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_matches_float64_reference(isa, shape, relu):
    n, cin, cout, h, w_, pb, pa = shape
    rng = np.random.default_rng(cin * 100 + cout)
    x, w, b = realistic(rng, n, cin, cout, h, w_, bias=cout % 2 == 1)
    ref = conv3x3_reference(x, w, b, pb, pa)
    if relu:
        ref = np.maximum(ref, 0.0)
    out = winograd(x, w, b, pb, pa, relu=relu)
    assert_close_relative(out, ref)
    if relu:
        assert (out >= 0).all()


def test_resnet_layer_shape_and_routing(isa):
    # ResNet-18 layer1 / W5b: 64 -> 64 channels at 56x56, routed to Winograd by default.
    rng = np.random.default_rng(5)
    x, w, b = realistic(rng, 1, 64, 64, 56, 56)
    assert T.conv_path(x, w, [1, 1], [1, 1], [1, 1], [1, 1], 1) == "winograd"
    ref = conv3x3_reference(x, w, b, (1, 1), (1, 1))
    assert_close_relative(winograd(x, w, b, path="auto"), ref)
    # The direct path agrees too (and much more tightly): the reference is not the problem.
    assert_close_relative(winograd(x, w, b, path="shift_gemm"), ref, rel=1e-6)


def test_routing_only_where_it_wins(isa):
    route = lambda x, w, s=(1, 1), p=(1, 1), d=(1, 1), g=1: T.conv_path(x, w, s, p, p, d, g)  # noqa: E731
    z = np.zeros
    assert route(z((1, 128, 28, 28), np.float32), z((128, 128, 3, 3), np.float32)) == "winograd"
    assert route(z((1, 256, 14, 14), np.float32), z((256, 256, 3, 3), np.float32)) == "winograd"
    # The rule is measured per ISA (winograd_wins): on AVX2 (AMD Zen3) Winograd also wins at 32
    # channels (W3's 32->64 16x16) and at 16 tiles with >= 256 channels (ResNet-18's layer4 at
    # batch 1); on AVX-512 those ran faster as GEMMs.
    avx2 = isa == "avx2"
    assert route(z((1, 32, 16, 16), np.float32), z((64, 32, 3, 3), np.float32)) == (
        "winograd" if avx2 else "shift_gemm"
    )
    assert route(z((1, 512, 7, 7), np.float32), z((512, 512, 3, 3), np.float32)) == (
        "winograd" if avx2 else "shift_gemm"
    )
    # Too few tiles per weight transform, or too few channels for 16 tiles: GEMM on every ISA.
    assert route(z((1, 512, 5, 5), np.float32), z((512, 512, 3, 3), np.float32)) == "shift_gemm"
    assert route(z((1, 64, 8, 8), np.float32), z((128, 64, 3, 3), np.float32)) == "shift_gemm"
    assert route(z((1, 16, 16, 16), np.float32), z((32, 16, 3, 3), np.float32)) == "shift_gemm"
    # Large images run in bands: no workspace limit on the image size.
    assert route(z((1, 64, 256, 256), np.float32), z((64, 64, 3, 3), np.float32)) == "winograd"
    # Not Winograd's shape: strided, dilated, grouped, 5x5, too few channels.
    x = z((1, 64, 56, 56), np.float32)
    w = z((64, 64, 3, 3), np.float32)
    assert route(x, w, s=(2, 2)) == "shift_gemm"
    assert route(x, w, d=(2, 2), p=(2, 2)) != "winograd"
    assert route(x, z((64, 32, 3, 3), np.float32), g=2) != "winograd"
    assert route(x, z((64, 64, 5, 5), np.float32), p=(2, 2)) != "winograd"
    assert route(z((1, 3, 56, 56), np.float32), z((64, 3, 3, 3), np.float32)) != "winograd"


def test_path_rejects_shapes_it_cannot_compute():
    x = np.zeros((1, 8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="winograd"):
        T.conv_nd(x, np.zeros((8, 8, 3, 3), np.float32), None, [2, 2], [1, 1], [1, 1], [1, 1], 1,
                  path="winograd")
    with pytest.raises(ValueError, match="winograd"):
        T.conv_nd(x, np.zeros((8, 8, 5, 5), np.float32), None, [1, 1], [1, 1], [1, 1], [1, 1], 1,
                  path="winograd")
    with pytest.raises(ValueError, match="winograd"):
        T.conv_nd(x, np.zeros((8, 4, 3, 3), np.float32), None, [1, 1], [1, 1], [1, 1], [1, 1], 2,
                  path="winograd")


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_thread_count_does_not_change_the_result(isa, threads):
    rng = np.random.default_rng(11)
    x, w, b = realistic(rng, 2, 24, 70, 20, 20)
    out = winograd(x, w, b)
    _core.set_num_threads(3 - threads)
    try:
        other = winograd(x, w, b)
    finally:
        _core.set_num_threads(threads)
    np.testing.assert_array_equal(out, other)
    assert_close_relative(out, conv3x3_reference(x, w, b, (1, 1), (1, 1)))


def test_images_processed_in_batches(isa):
    # 9 images of 64 channels at 56x56 exceed the transformed-input budget of one batch, so the
    # driver runs several image batches; every image must still match.
    rng = np.random.default_rng(12)
    x, w, b = realistic(rng, 9, 64, 16, 56, 56)
    assert_close_relative(winograd(x, w, b), conv3x3_reference(x, w, b, (1, 1), (1, 1)))


def test_large_magnitudes_and_nonfinite(isa):
    rng = np.random.default_rng(13)
    x, w, b = realistic(rng, 1, 16, 16, 12, 12)
    x *= 1e4
    assert_close_relative(winograd(x, w, b), conv3x3_reference(x, w, b, (1, 1), (1, 1)))
    x[0, 3, 5, 5] = np.nan
    out = winograd(x, w, b)
    assert np.isnan(out[0, :, 4:7, 4:7]).all()  # every output that reads the NaN
    assert np.isfinite(out[0, :, :, :4]).all()  # columns whose tiles do not read it


def test_matches_torch(isa):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    for n, cin, cout, size in [(1, 64, 64, 56), (1, 128, 128, 28), (2, 32, 48, 19)]:
        x, w, b = realistic(rng, n, cin, cout, size, size)
        with torch.no_grad():
            ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                             torch.from_numpy(b), padding=1).numpy()
        out = winograd(x, w, b)
        scale = np.abs(ref).max()
        assert np.abs(out - ref).max() <= 1e-4 * scale


def test_module_sees_every_weight_write(isa):
    # Nothing is cached between calls: an in-place write to the weight is used by the next call.
    conv = minimod.nn.Conv2d(64, 64, 3, padding=1)
    x = np.random.default_rng(15).standard_normal((1, 64, 16, 16)).astype(np.float32)
    assert T.conv_path(x, np.asarray(conv.weight), [1, 1], [1, 1], [1, 1], [1, 1], 1) == "winograd"
    first = conv(x)
    w = np.asarray(conv.weight)
    w[...] = -2.0 * w
    second = conv(x)
    b = np.asarray(conv.bias)
    assert_close_relative(second, conv3x3_reference(x, w, b, (1, 1), (1, 1)))
    assert_close_relative(first, conv3x3_reference(x, -0.5 * w, b, (1, 1), (1, 1)))


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize(
    ("cin", "cout", "size"),
    [
        (64, 64, 56),  # U transformed once up front; V read in several L2-sized tile ranges
        (40, 300, 9),  # 300 x 40: U still shared, 22 output-channel panels, one tile range
        (300, 300, 6),  # U over the up-front budget: each unit transforms its own panel
    ],
)
def test_weight_transform_strategies(isa, threads, cin, cout, size):
    rng = np.random.default_rng(cin + cout + size)
    x, w, b = realistic(rng, 1, cin, cout, size, size)
    ref = conv3x3_reference(x, w, b, (1, 1), (1, 1))
    assert_close_relative(winograd(x, w, b, relu=True), np.maximum(ref, 0.0))


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize(
    ("n", "cin", "cout", "h", "w_", "pb", "pa"),
    [
        # V of one image over the band budget (1 MiB): the image runs in bands of tile rows
        (1, 64, 64, 56, 56, (1, 1), (1, 1)),  # W5b
        (2, 64, 20, 41, 37, (0, 2), (2, 0)),  # odd height: a half tile row in the last band
        (1, 70, 29, 47, 40, (2, 1), (0, 2)),  # first band reads two padding rows
        (1, 64, 16, 44, 44, (5, 1), (6, 1)),  # pad > 2: whole bands read only padding
    ],
)
def test_bands_of_tile_rows(isa, threads, n, cin, cout, h, w_, pb, pa):
    rng = np.random.default_rng(cin * 3 + h)
    x, w, b = realistic(rng, n, cin, cout, h, w_)
    tiles = ((h + pb[0] + pa[0] - 2 + 1) // 2) * ((w_ + pb[1] + pa[1] - 2 + 1) // 2 + 1)
    assert 16 * cin * tiles > 1 << 18  # really banded
    ref = conv3x3_reference(x, w, b, pb, pa)
    for relu in [False, True]:
        expect = np.maximum(ref, 0.0) if relu else ref
        assert_close_relative(winograd(x, w, b, pb, pa, relu=relu), expect)


def test_bands_match_torch(isa):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    x, w, b = realistic(rng, 2, 64, 48, 50, 45)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                         torch.from_numpy(b), padding=(2, 1)).numpy()
    out = winograd(x, w, b, (2, 1), (2, 1))
    assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()


# Shapes for the two GEMM orientations forced: output-channel counts around the B panel widths
# (8, 16, 32) and the A panel heights (6, 14), tile counts around them, partial tiles, batches.
ORIENTATION_SHAPES = SHAPES + [
    # n, cin, cout, h, w, pad_before, pad_after
    (1, 32, 32, 14, 14, (1, 1), (1, 1)),  # 49 tiles: the tile-rows orientation's case
    (1, 24, 40, 14, 14, (1, 1), (1, 1)),  # a partial last channel panel (40 = 32 + 8)
    (2, 16, 17, 13, 14, (1, 1), (1, 1)),  # 17 channels: 16 + 1
    (1, 9, 1, 10, 10, (1, 1), (1, 1)),  # one output channel
    (3, 8, 100, 7, 7, (1, 1), (1, 1)),  # several images per panel of tiles
    (1, 300, 33, 10, 10, (1, 1), (1, 1)),  # U over the up-front budget only for ...
    (1, 40, 300, 9, 9, (1, 1), (1, 1)),  # ... one of the orientations
]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("shape", ORIENTATION_SHAPES)
def test_both_gemm_orientations(isa, threads, shape):
    n, cin, cout, h, w_, pb, pa = shape
    rng = np.random.default_rng(cin * 7 + cout + h)
    x, w, b = realistic(rng, n, cin, cout, h, w_, bias=cout % 2 == 1)
    ref = np.maximum(conv3x3_reference(x, w, b, pb, pa), 0.0)
    tile_rows = winograd(x, w, b, pb, pa, relu=True, path="winograd_tile_rows")
    channel_rows = winograd(x, w, b, pb, pa, relu=True, path="winograd_channel_rows")
    assert_close_relative(tile_rows, ref)
    assert_close_relative(channel_rows, ref)
    # Same transforms, same sums per output, only the GEMM's blocking differs.
    assert_close_relative(tile_rows, channel_rows.astype(np.float64), rel=1e-5)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("path", ["winograd", "winograd_tile_rows", "winograd_channel_rows"])
def test_resnet_winograd_shapes_match_torch_both_orientations(isa, threads, path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    for cin, size in [(256, 14), (128, 28), (64, 56)]:  # ResNet-18 layers 3, 2, 1
        x, w, b = realistic(rng, 1, cin, cin, size, size)
        with torch.no_grad():
            ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                             torch.from_numpy(b), padding=1).numpy()
        out = winograd(x, w, b, path=path)
        assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()
        assert_close_relative(out, conv3x3_reference(x, w, b, (1, 1), (1, 1)))


def test_orientation_paths_reject_shapes_they_cannot_compute():
    x = np.zeros((1, 8, 8, 8), np.float32)
    for path in ["winograd_tile_rows", "winograd_channel_rows"]:
        with pytest.raises(ValueError, match=path):
            T.conv_nd(x, np.zeros((8, 8, 3, 3), np.float32), None, [2, 2], [1, 1], [1, 1],
                      [1, 1], 1, path=path)
