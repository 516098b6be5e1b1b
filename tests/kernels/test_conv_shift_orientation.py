"""The shifted-row conv GEMM in both orientations, each forced (kernels/conv/conv.cpp).

``shift_gemm`` picks an orientation by shape: output channels as GEMM rows and (phase) pixels as
columns, or, for small output planes where the ragged column panels waste work, output pixels as
GEMM rows (C^T = im2col^T * W^T). ``shift_gemm_columns`` / ``shift_gemm_pixel_rows`` force one, so
each is tested on every shape here, not only where routing picks it. References: a float64 numpy
convolution written independently of the kernels, and torch where installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from minimod import _core

T = _core._testing
ORIENTATIONS = ["shift_gemm_columns", "shift_gemm_pixel_rows"]


def reference(x, w, b, stride, pad_before, pad_after, dilation, groups, relu):
    """float64: zero-pad, take the dilated windows at the strided positions, contract per group."""
    nd = x.ndim - 2
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0), *zip(pad_before, pad_after)])
    k = w.shape[2:]
    span = [d * (kk - 1) + 1 for kk, d in zip(k, dilation)]
    win = sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
    win = win[(slice(None), slice(None), *(slice(None, None, s) for s in stride),
               *(slice(None, None, d) for d in dilation))]  # (N, C, *out, *k)
    cin_g, cout_g = x.shape[1] // groups, w.shape[0] // groups
    out = np.concatenate(
        [np.einsum(win[:, g * cin_g:(g + 1) * cin_g], list(range(2 + 2 * nd)),
                   w[g * cout_g:(g + 1) * cout_g].astype(np.float64),
                   [2 + 2 * nd, 1, *range(2 + nd, 2 + 2 * nd)],
                   [0, 2 + 2 * nd, *range(2, 2 + nd)])
         for g in range(groups)], axis=1)
    if b is not None:
        out = out + b.astype(np.float64).reshape(1, -1, *([1] * nd))
    return np.maximum(out, 0) if relu else out


def check(out, ref, fan_in):
    assert out.dtype == np.float32
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=2e-6 * max(1.0, np.sqrt(fan_in)) + 1e-6)


# (C_in, C_out, kernel, stride, pad_before, pad_after, dilation, groups, input size, batch)
CASES = [
    (64, 128, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, (8, 8), 1),    # W3 conv3
    (32, 64, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, (16, 16), 1),   # W3 conv2
    (3, 32, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, (32, 32), 1),    # W3 conv1
    (96, 80, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, (7, 7), 1),     # layer4-like, C_out ragged
    (40, 72, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1, (14, 13), 1),   # stride 2 into 7x7
    (12, 20, (3, 3), (3, 3), (2, 0), (1, 2), (1, 1), 1, (11, 10), 3),   # stride 3, asymmetric pad
    (8, 12, (3, 2), (1, 2), (2, 1), (2, 0), (2, 3), 1, (9, 13), 2),     # dilation, mixed strides
    (12, 18, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 3, (5, 6), 2),     # groups
    (6, 33, (1, 1), (1, 1), (1, 1), (0, 1), (1, 1), 1, (3, 5), 1),      # padded 1x1, odd C_out
    (5, 17, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 1, (3, 3), 1),      # one output pixel
    (7, 9, (4, 4), (1, 1), (0, 0), (0, 0), (1, 1), 1, (4, 4), 0),       # empty batch
    (16, 24, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, (23, 19), 1),   # panels cut mid-row
    (4, 40, (5, 5), (2, 1), (2, 3), (1, 0), (1, 1), 1, (61, 37), 1),    # wide, many panels
    (3, 8, (7, 7), (2, 2), (3, 3), (3, 3), (1, 1), 1, (112, 111), 1),   # stem: 12 phase images
    (5, 6, (3, 3), (2, 2), (0, 1), (1, 0), (1, 1), 1, (120, 97), 1),    # copy split mid-channel
]


def _inputs(seed, cin, cout, k, groups, size, batch, bias):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (batch, cin, *size)).astype(np.float32)
    w = rng.uniform(-1, 1, (cout, cin // groups, *k)).astype(np.float32)
    b = rng.uniform(-1, 1, cout).astype(np.float32) if bias else None
    return x, w, b


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("path", ORIENTATIONS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_orientation_matches_float64_reference(isa, threads, path, case):
    cin, cout, k, s, pb, pa, d, g, size, batch = CASES[case]
    for bias, relu in [(True, False), (False, True), (True, True)]:
        x, w, b = _inputs(case, cin, cout, k, g, size, batch, bias)
        ref = reference(x, w, b, s, pb, pa, d, g, relu)
        check(T.conv_nd(x, w, b, list(s), list(pb), list(pa), list(d), g, relu=relu, path=path),
              ref, w[0].size)


@pytest.mark.parametrize("path", ORIENTATIONS)
@pytest.mark.parametrize("nd", [1, 3])
def test_orientation_1d_3d(isa, path, nd):
    rng = np.random.default_rng(50 + nd)
    k, s, p, d = [3, 2, 2][:nd], [2, 1, 1][:nd], [1, 0, 1][:nd], [1, 2, 1][:nd]
    x = rng.uniform(-1, 1, (2, 6, *([9, 5, 6][:nd]))).astype(np.float32)
    w = rng.uniform(-1, 1, (10, 3, *k)).astype(np.float32)
    b = rng.uniform(-1, 1, 10).astype(np.float32)
    ref = reference(x, w, b, s, p, p, d, 2, relu=False)
    check(T.conv_nd(x, w, b, s, p, p, d, 2, path=path), ref, w[0].size)


@pytest.mark.parametrize("path", ORIENTATIONS)
def test_orientation_matches_torch(isa, path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(60)
    for cin, cout, k, s, p, size in [(64, 128, 3, 1, 1, 8), (96, 64, 3, 1, 1, 7),
                                     (48, 64, 3, 2, 1, 14), (32, 48, 3, 1, 1, 16)]:
        x = rng.standard_normal((1, cin, size, size)).astype(np.float32)
        w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        with torch.no_grad():
            ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                             torch.from_numpy(b), stride=s, padding=p).numpy()
        out = T.conv_nd(x, w, b, [s, s], [p, p], [p, p], [1, 1], 1, path=path)
        check(out, ref, w[0].size)


def test_orientation_is_a_shift_gemm_detail():
    """Routing still names the path shift_gemm; both orientations apply wherever it does."""
    z = np.zeros
    x = z((1, 64, 8, 8), np.float32)
    w = z((128, 64, 3, 3), np.float32)
    assert T.conv_path(x, w, [1, 1], [1, 1], [1, 1], [1, 1], 1) == "shift_gemm"
    for path in ORIENTATIONS:
        assert T.conv_nd(x, w, None, [1, 1], [1, 1], [1, 1], [1, 1], 1, path=path).shape == \
            (1, 128, 8, 8)
    with pytest.raises(ValueError, match="does not apply"):  # strides over 64: im2col only
        T.conv_nd(z((1, 2, 70, 3), np.float32), z((2, 2, 1, 1), np.float32), None, [65, 1],
                  [0, 0], [0, 0], [1, 1], 1, path="shift_gemm_pixel_rows")
