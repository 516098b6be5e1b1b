"""Winograd F(4x4, 3x3) convolution (csrc/kernels/conv/winograd4x4_impl.h) on every ISA path.

Forced through the "winograd4x4" conv path. Oracles: the float64 numpy convolution of
test_winograd.py (pad, sliding windows, einsum) and torch's conv2d. F(4x4)'s transforms have
larger coefficients than F(2x2)'s (up to 8), so its rounding error is larger: the bar is the same
1e-4 of max|y| as F(2x2)'s, and at ResNet-like magnitudes the error is also checked against a
tighter 2e-5 (measured: 1e-6 to 9e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from minimod import _core

from test_winograd import assert_close_relative, conv3x3_reference, realistic, winograd

T = _core._testing


def winograd4(x, w, b, pb=(1, 1), pa=(1, 1), relu=False):
    return winograd(x, w, b, pb, pa, relu=relu, path="winograd4x4")


# Tiny images (1x1 .. 5x5 outputs), sizes that are not multiples of 4 (partial tiles: 1, 2 or 3
# columns / rows of the last tile), asymmetric and zero padding, channel counts 1, 3, 17, 64 and
# around the microkernel heights (6, 14), batch > 1 and empty batches.
SHAPES = [
    # n, cin, cout, h, w, pad_before, pad_after
    (1, 1, 1, 3, 3, (0, 0), (0, 0)),
    (1, 3, 5, 1, 1, (1, 1), (1, 1)),
    (1, 1, 3, 2, 2, (1, 1), (1, 1)),
    (2, 3, 4, 3, 3, (1, 1), (1, 1)),
    (1, 17, 6, 4, 4, (1, 1), (1, 1)),
    (1, 5, 14, 5, 5, (1, 1), (1, 1)),
    (2, 16, 20, 13, 11, (1, 1), (1, 1)),
    (1, 7, 29, 9, 17, (0, 2), (2, 0)),
    (3, 20, 15, 6, 5, (2, 1), (0, 2)),
    (1, 33, 14, 30, 30, (1, 1), (1, 1)),
    (2, 64, 17, 23, 26, (1, 1), (1, 1)),
    (0, 4, 4, 8, 8, (1, 1), (1, 1)),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_matches_float64_reference(isa, shape, relu):
    n, cin, cout, h, w_, pb, pa = shape
    rng = np.random.default_rng(cin * 100 + cout + h)
    x, w, b = realistic(rng, n, cin, cout, h, w_, bias=cout % 2 == 1)
    ref = conv3x3_reference(x, w, b, pb, pa)
    if relu:
        ref = np.maximum(ref, 0.0)
    out = winograd4(x, w, b, pb, pa, relu=relu)
    assert_close_relative(out, ref)
    if relu:
        assert (out >= 0).all()


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize(
    ("n", "cin", "cout", "h", "w_", "pb", "pa"),
    [
        (1, 64, 64, 56, 56, (1, 1), (1, 1)),  # W5b / ResNet-18 layer1: banded, the band pipeline
        (1, 128, 128, 28, 28, (1, 1), (1, 1)),  # layer2
        (2, 64, 20, 41, 37, (0, 2), (2, 0)),  # odd sizes, batch 2, several bands
        (1, 64, 16, 44, 44, (5, 1), (6, 1)),  # pad > 2: whole bands read only padding
        (1, 300, 300, 6, 6, (1, 1), (1, 1)),  # U over the up-front budget: per-unit transforms
    ],
)
def test_resnet_like_shapes_and_threads(isa, threads, n, cin, cout, h, w_, pb, pa):
    rng = np.random.default_rng(cin * 3 + h)
    x, w, b = realistic(rng, n, cin, cout, h, w_)
    ref = conv3x3_reference(x, w, b, pb, pa)
    for relu in [False, True]:
        expect = np.maximum(ref, 0.0) if relu else ref
        out = winograd4(x, w, b, pb, pa, relu=relu)
        assert_close_relative(out, expect, rel=2e-5)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_thread_count_does_not_change_the_result(isa, threads):
    rng = np.random.default_rng(11)
    for n, cin, cout, size in [(2, 24, 70, 20), (1, 64, 64, 56)]:
        x, w, b = realistic(rng, n, cin, cout, size, size)
        out = winograd4(x, w, b)
        _core.set_num_threads(1)
        try:
            other = winograd4(x, w, b)
        finally:
            _core.set_num_threads(threads)
        np.testing.assert_array_equal(out, other)


def test_large_image_beyond_the_old_workspace_budget(isa):
    # V of the whole image (16 * 64 * 65 * 66 floats for F(2x2)) exceeds 16 MiB: bands only.
    rng = np.random.default_rng(12)
    x, w, b = realistic(rng, 1, 64, 8, 130, 130)
    ref = conv3x3_reference(x, w, b, (1, 1), (1, 1))
    assert_close_relative(winograd4(x, w, b), ref, rel=2e-5)
    assert_close_relative(winograd(x, w, b), ref)


def test_large_magnitudes_and_nonfinite(isa):
    rng = np.random.default_rng(13)
    x, w, b = realistic(rng, 1, 16, 16, 12, 12)
    x *= 1e4
    assert_close_relative(winograd4(x, w, b), conv3x3_reference(x, w, b, (1, 1), (1, 1)))
    x[0, 3, 5, 5] = np.nan
    out = winograd4(x, w, b)
    # Input (5, 5) is read by output rows / columns 4..6 ...
    assert np.isnan(out[0, :, 4:7, 4:7]).all()
    # ... and, through the transforms, by every output of the 4x4 tiles whose 6x6 patch holds it
    # (tile rows / columns 1: outputs 4..7), but by no output of a tile that does not read it.
    assert np.isfinite(out[0, :, :4, :]).all() and np.isfinite(out[0, :, :, :4]).all()
    assert np.isfinite(out[0, :, 8:, :]).all() and np.isfinite(out[0, :, :, 8:]).all()


def test_matches_torch(isa):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    for n, cin, cout, size in [(1, 64, 64, 56), (1, 128, 128, 28), (2, 32, 48, 19)]:
        x, w, b = realistic(rng, n, cin, cout, size, size)
        with torch.no_grad():
            ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                             torch.from_numpy(b), padding=1).numpy()
        out = winograd4(x, w, b)
        assert np.abs(out - ref).max() <= 2e-5 * np.abs(ref).max()


def test_auto_route_never_picks_it():
    # F(4x4)'s rounding error exceeds the auto path's elementwise tolerance (winograd.h): it runs
    # only when asked for, even where it would be fastest.
    for n, c, s in [(1, 64, 56), (1, 64, 224), (4, 128, 28), (1, 128, 28)]:
        path = T.conv_path(np.zeros((n, c, s, s), np.float32), np.zeros((c, c, 3, 3), np.float32),
                           [1, 1], [1, 1], [1, 1], [1, 1], 1)
        assert path == "winograd"


def test_rejects_shapes_it_cannot_compute():
    x = np.zeros((1, 8, 8, 8), np.float32)
    for w, s, g in [(np.zeros((8, 8, 3, 3), np.float32), [2, 2], 1),
                    (np.zeros((8, 8, 5, 5), np.float32), [1, 1], 1),
                    (np.zeros((8, 4, 3, 3), np.float32), [1, 1], 2)]:
        with pytest.raises(ValueError, match="winograd4x4"):
            T.conv_nd(x, w, None, s, [1, 1], [1, 1], [1, 1], g, path="winograd4x4")
