"""The Winograd band pipeline (csrc/kernels/conv/winograd.cpp): each band of tile rows runs its
input transform, GEMMs and output transform on one thread (with several threads, the rows are
first cut into one share per thread).

Oracles: the float64 numpy convolution of test_winograd.py (pad, sliding windows, einsum) and
torch. The pipeline computes every tile with the same arithmetic as the one-thread path, so its
output must also be bitwise identical to the one-thread result.
"""

from __future__ import annotations

import numpy as np
import pytest

from minimod import _core

from test_winograd import assert_close_relative, conv3x3_reference, realistic, winograd


# Shapes with enough tile rows for the pipeline at 2 threads (and a few at 3 and 4), odd sizes,
# partial tiles, asymmetric padding, batch > 1, channel counts around the panel heights.
PIPELINE_SHAPES = [
    # n, cin, cout, h, w, pad_before, pad_after
    (1, 64, 64, 56, 56, (1, 1), (1, 1)),  # W5b
    (1, 128, 128, 28, 28, (1, 1), (1, 1)),  # ResNet-18 layer2
    (2, 64, 17, 45, 39, (1, 1), (1, 1)),  # batch 2, odd sizes
    (1, 96, 30, 57, 33, (0, 2), (2, 0)),  # odd height: a half tile row in the last band
    (3, 72, 15, 33, 20, (2, 1), (0, 2)),  # several images, padding rows in the first band
    (1, 64, 9, 41, 13, (1, 6), (2, 7)),  # wide left / right padding: masked row copies
    (1, 64, 10, 60, 3, (1, 1), (1, 1)),  # a 2-tile row: every W-pass chunk is a masked tail
]


@pytest.mark.parametrize("shape", PIPELINE_SHAPES)
@pytest.mark.parametrize("threads", [2, 3, 4], indirect=True)
def test_pipeline_matches_float64_reference_and_one_thread(isa, threads, shape):
    n, cin, cout, h, w_, pb, pa = shape
    rng = np.random.default_rng(cin * 7 + h)
    x, w, b = realistic(rng, n, cin, cout, h, w_, bias=cout % 2 == 0)
    ref = conv3x3_reference(x, w, b, pb, pa)
    for relu in [False, True]:
        expect = np.maximum(ref, 0.0) if relu else ref
        out = winograd(x, w, b, pb, pa, relu=relu)
        assert_close_relative(out, expect)
        _core.set_num_threads(1)
        try:
            serial = winograd(x, w, b, pb, pa, relu=relu)
        finally:
            _core.set_num_threads(threads)
        np.testing.assert_array_equal(out, serial)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_pipeline_matches_torch(isa, threads):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(21)
    x, w, b = realistic(rng, 2, 64, 64, 56, 56)
    with torch.no_grad():
        ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                         torch.from_numpy(b), padding=1).numpy()
    out = winograd(x, w, b)
    assert np.abs(out - ref).max() <= 1e-4 * np.abs(ref).max()
