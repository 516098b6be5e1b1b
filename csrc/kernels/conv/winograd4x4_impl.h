// The Winograd F(4x4, 3x3) transforms, included by winograd4x4_transforms*.cpp inside an
// anonymous namespace so each ISA file keeps its own copy compiled with its own flags. The driver
// (winograd.cpp) is shared with F(2x2, 3x3): only the tile side m = 4, the 36 tile matrices and
// these transforms differ. Not routed by default (accuracy: winograd.h).
//
// Each 4x4 block of outputs comes from the 6x6 input patch under it: 36 multiply-adds per tile
// and channel pair instead of the direct 9 x 16 = 144, 4x less (F(2x2): 2.25x).
//
// Interpolation points. The usual set {0, +-1, +-2, inf} makes the output transform's largest
// coefficient 8 on both +-2 columns; {0, +-1, 1/2, -2, inf} balances a large point with its
// reciprocal, and in float32 simulations of ResNet-like layers (64 channels, He-scaled weights,
// unit-variance inputs) it halves the maximum error against float64 direct convolution (about
// 2e-6 of max|y| against 6e-6; F(2x2): 4e-7). The matrices (Toom-Cook, denominators moved into G
// so that B^T stays small):
//   A^T = [1 1  1  1    1  0]      G = [ 1      0      0   ]
//         [0 1 -1  1/2 -2  0]          [ 1/6    1/6    1/6 ]
//         [0 1  1  1/4  4  0]          [ 1/6   -1/6    1/6 ]
//         [0 1 -1  1/8 -8  1]          [ 16/15  8/15   4/15]
//                                      [ 1/30  -1/15   2/15]
//                                      [ 0      0      1   ]
//   B^T = [1 -3/2 -2    3/2  1   0]
//         [0 -2    1    5    2   0]
//         [0 -2    5   -1   -2   0]
//         [0  2    1   -2   -1   0]
//         [0  1   -2   -1    2   0]
//         [0  1   -3/2 -2    3/2 1]
//
// The passes have the F(2x2) transforms' shape (winograd_impl.h): each is a loop over a whole
// range of tiles with a unit-stride (or, across a row of 6-wide windows 4 apart, stride-4)
// innermost index, which the compiler vectorises at each path's width. The constant matrices are
// applied by cdot, which after unrolling skips zero coefficients and folds +-1.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/conv/winograd.h"

namespace minimod::kernels {
namespace {

constexpr float kBt4[6][6] = {
    {1.0f, -1.5f, -2.0f, 1.5f, 1.0f, 0.0f},  {0.0f, -2.0f, 1.0f, 5.0f, 2.0f, 0.0f},
    {0.0f, -2.0f, 5.0f, -1.0f, -2.0f, 0.0f}, {0.0f, 2.0f, 1.0f, -2.0f, -1.0f, 0.0f},
    {0.0f, 1.0f, -2.0f, -1.0f, 2.0f, 0.0f},  {0.0f, 1.0f, -1.5f, -2.0f, 1.5f, 1.0f}};
constexpr float kG4[6][3] = {{1.0f, 0.0f, 0.0f},
                             {1.0f / 6, 1.0f / 6, 1.0f / 6},
                             {1.0f / 6, -1.0f / 6, 1.0f / 6},
                             {16.0f / 15, 8.0f / 15, 4.0f / 15},
                             {1.0f / 30, -1.0f / 15, 2.0f / 15},
                             {0.0f, 0.0f, 1.0f}};
constexpr float kAt4[4][6] = {{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
                              {0.0f, 1.0f, -1.0f, 0.5f, -2.0f, 0.0f},
                              {0.0f, 1.0f, 1.0f, 0.25f, 4.0f, 0.0f},
                              {0.0f, 1.0f, -1.0f, 0.125f, -8.0f, 1.0f}};

// sum_k c[k] * a[k] with the zero terms left out and +-1 as plain adds (c is a constant table,
// so after unrolling every test below folds away).
template <int N>
inline __attribute__((always_inline)) float cdot(const float (&c)[N], const float* a) {
  float acc = 0.0f;
  bool first = true;
#pragma GCC unroll 8
  for (int k = 0; k < N; ++k) {
    if (c[k] == 0.0f) continue;
    const float term = c[k] == 1.0f ? a[k] : c[k] == -1.0f ? -a[k] : c[k] * a[k];
    acc = first ? term : acc + term;
    first = false;
  }
  return acc;
}

// B^T down 6 rows r + k * rs (k = 0..5), n elements each, into 6 rows o + i * os.
inline void bt4_rows(const float* __restrict r, std::int64_t rs, float* __restrict o0,
                     float* __restrict o1, float* __restrict o2, float* __restrict o3,
                     float* __restrict o4, float* __restrict o5, std::int64_t n) {
  const float* __restrict r0 = r;
  const float* __restrict r1 = r + rs;
  const float* __restrict r2 = r + 2 * rs;
  const float* __restrict r3 = r + 3 * rs;
  const float* __restrict r4 = r + 4 * rs;
  const float* __restrict r5 = r + 5 * rs;
  for (std::int64_t x = 0; x < n; ++x) {
    const float a[6] = {r0[x], r1[x], r2[x], r3[x], r4[x], r5[x]};
    o0[x] = cdot(kBt4[0], a);
    o1[x] = cdot(kBt4[1], a);
    o2[x] = cdot(kBt4[2], a);
    o3[x] = cdot(kBt4[3], a);
    o4[x] = cdot(kBt4[4], a);
    o5[x] = cdot(kBt4[5], a);
  }
}

// B^T along a row of 6-wide windows 4 apart: window x is q[4x .. 4x + 5].
inline void bt4_stride4(const float* __restrict q, float* __restrict o0, float* __restrict o1,
                        float* __restrict o2, float* __restrict o3, float* __restrict o4,
                        float* __restrict o5, std::int64_t n) {
  for (std::int64_t x = 0; x < n; ++x) {
    float a[6];
#pragma GCC unroll 8
    for (int j = 0; j < 6; ++j) a[j] = q[4 * x + j];
    o0[x] = cdot(kBt4[0], a);
    o1[x] = cdot(kBt4[1], a);
    o2[x] = cdot(kBt4[2], a);
    o3[x] = cdot(kBt4[3], a);
    o4[x] = cdot(kBt4[4], a);
    o5[x] = cdot(kBt4[5], a);
  }
}

void winograd4x4_input_impl(const WinogradGeometry& g, const float* xc, std::int64_t c,
                            std::int64_t tile0, float* v, float* work) {
  const std::int64_t TH = g.tiles_h, TW = g.tiles_w;
  const std::int64_t L = 4 * TW + 4, Hp = 4 * TH + 2, nr = g.nr;
  float* plane = work;          // the zero-padded input plane, Hp rows of L
  float* tmp = plane + Hp * L;  // B^T along H: [i][ty][x], 6 * TH rows of L
  const std::int64_t lead = g.pad_left < L ? g.pad_left : L;  // zeros before input column 0
  for (std::int64_t y = 0; y < Hp; ++y) {
    float* row = plane + y * L;
    const std::int64_t ih = y - g.pad_top;
    if (ih < 0 || ih >= g.in_h) {
      std::memset(row, 0, sizeof(float) * L);
      continue;
    }
    std::int64_t n = g.in_w;
    if (lead + n > L) n = L - lead;
    std::memset(row, 0, sizeof(float) * lead);
    std::memcpy(row + lead, xc + ih * g.in_w, sizeof(float) * n);
    std::memset(row + lead + n, 0, sizeof(float) * (L - lead - n));
  }
  const std::int64_t is = TH * L;
  for (std::int64_t ty = 0; ty < TH; ++ty) {
    float* t = tmp + ty * L;
    bt4_rows(plane + 4 * ty * L, L, t, t + is, t + 2 * is, t + 3 * is, t + 4 * is, t + 5 * is, L);
  }
  // Tile (ty, tx) reads tmp_i[ty * L + 4 * tx + j], j = 0..5: B^T along W is a stride-4 loop
  // over each tile row, written straight into the B panels (tile ty * TW + tx of this image is
  // tile tile0 + ty * TW + tx of the batch), cut where a row crosses a panel boundary.
  const std::int64_t panel_stride = g.channels * nr;
  const std::int64_t xs = g.xi_stride;
  for (int i = 0; i < 6; ++i) {
    for (std::int64_t ty = 0; ty < TH; ++ty) {
      const float* ti = tmp + i * is + ty * L;
      for (std::int64_t tx = 0; tx < TW;) {
        const std::int64_t bt = tile0 + ty * TW + tx, lane = bt % nr;
        const std::int64_t n = lane + (TW - tx) < nr ? TW - tx : nr - lane;
        float* d = v + (bt / nr) * panel_stride + c * nr + lane + i * 6 * xs;
        bt4_stride4(ti + 4 * tx, d, d + xs, d + 2 * xs, d + 3 * xs, d + 4 * xs, d + 5 * xs, n);
        tx += n;
      }
    }
  }
}

// MR: the panel height known at compile time (the GEMM tables use 6 and 14), 0 for any.
template <int MR>
void winograd4x4_weight_panel(const float* w, std::int64_t channels, std::int64_t k0, int rows,
                              int mr_runtime, float* u) {
  constexpr int kLanes = 16;  // >= every mr
  const int mr = MR > 0 ? MR : mr_runtime;
  const std::int64_t xs = winograd_u_stride(channels, mr);
  alignas(64) float gk[9][kLanes] = {};
#if defined(__AVX512F__)
  // One hardware gather per tap: lane r reads row k0 + r (rows past `rows` repeat the last row:
  // finite, and never read by the microkernel for `rows` rows).
  const bool gather = channels * 9 * kLanes < (std::int64_t{1} << 30);
  alignas(64) std::int32_t idx[kLanes];
  for (int r = 0; r < kLanes; ++r) {
    idx[r] = static_cast<std::int32_t>((r < rows ? r : rows - 1) * channels * 9);
  }
  const __m512i vidx = _mm512_load_si512(idx);
#endif
  for (std::int64_t c = 0; c < channels; ++c) {
#if defined(__AVX512F__)
    if (gather) {
      const float* base = w + (k0 * channels + c) * 9;
      for (int tap = 0; tap < 9; ++tap) {
        _mm512_store_ps(gk[tap], _mm512_i32gather_ps(vidx, base + tap, 4));
      }
    } else
#endif
    {
      for (int r = 0; r < rows; ++r) {
        const float* wr = w + ((k0 + r) * channels + c) * 9;
        for (int tap = 0; tap < 9; ++tap) gk[tap][r] = wr[tap];
      }
    }
    // First down the kernel's rows (t = G g), then along its columns (U = t G^T).
    alignas(64) float t[6][3][kLanes];
    for (int col = 0; col < 3; ++col) {
      for (int r = 0; r < kLanes; ++r) {
        const float a[3] = {gk[col][r], gk[3 + col][r], gk[6 + col][r]};
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) t[i][col][r] = cdot(kG4[i], a);
      }
    }
    float* uc = u + c * mr;
    for (int i = 0; i < 6; ++i) {
      alignas(64) float ui[6][kLanes];
      for (int r = 0; r < kLanes; ++r) {
        const float a[3] = {t[i][0][r], t[i][1][r], t[i][2][r]};
#pragma GCC unroll 6
        for (int j = 0; j < 6; ++j) ui[j][r] = cdot(kG4[j], a);
      }
      for (int j = 0; j < 6; ++j) std::memcpy(uc + (i * 6 + j) * xs, ui[j], sizeof(float) * mr);
    }
  }
}

void winograd4x4_weight_impl(const float* w, std::int64_t channels, std::int64_t k0, int rows,
                             int mr, float* u) {
  switch (mr) {
    case 14:
      return winograd4x4_weight_panel<14>(w, channels, k0, rows, mr, u);
    case 6:
      return winograd4x4_weight_panel<6>(w, channels, k0, rows, mr, u);
    default:
      return winograd4x4_weight_panel<0>(w, channels, k0, rows, mr, u);
  }
}

// A^T M A of `n` <= kOutBlock tiles (N: n when known at compile time, 0 otherwise) into
// out[16][kOutBlock]. With the block's width a constant the compiler can tell the 16 output rows
// apart and vectorise across tiles (with `count`-strided rows of y it could not, and ran this
// scalar).
constexpr int kOutBlock = 16;

template <int N>
inline void at4_block(const float* __restrict m, std::int64_t xs, int n_runtime,
                      float (&out)[16][kOutBlock]) {
  const int n = N > 0 ? N : n_runtime;
  for (int x = 0; x < n; ++x) {
    float z[4][6];  // A^T down the columns of M: z[a][j]
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      float col[6];
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) col[i] = m[(6 * i + j) * xs + x];
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) z[a][j] = cdot(kAt4[a], col);
    }
#pragma GCC unroll 4
    for (int a = 0; a < 4; ++a) {
#pragma GCC unroll 4
      for (int b = 0; b < 4; ++b) out[4 * a + b][x] = cdot(kAt4[b], z[a]);
    }
  }
}

// A^T M A for `count` tiles: the 36 M[xi] streams in, the 16 output streams out.
void winograd4x4_output_tiles_impl(const float* m, std::int64_t xs, std::int64_t count,
                                   float* y16) {
  alignas(64) float out[16][kOutBlock];
  for (std::int64_t x0 = 0; x0 < count; x0 += kOutBlock) {
    const int n = count - x0 < kOutBlock ? static_cast<int>(count - x0) : kOutBlock;
    if (n == kOutBlock) {
      at4_block<kOutBlock>(m + x0, xs, n, out);
    } else {
      at4_block<0>(m + x0, xs, n, out);
    }
    for (int k = 0; k < 16; ++k) std::memcpy(y16 + k * count + x0, out[k], sizeof(float) * n);
  }
}

void winograd4x4_store_tiles_impl(const WinogradGeometry& g, const float* y16, std::int64_t ys,
                                  std::int64_t count, std::int64_t ty, std::int64_t tx0,
                                  float* yc, float bias, bool relu) {
  const std::int64_t n = count;
  const std::int64_t ow0 = 4 * tx0;
  std::int64_t full = n;  // tiles whose 4 columns are all inside the output
  if (4 * (tx0 + n) > g.out_w) full = (g.out_w - ow0) / 4;
  for (int a = 0; a < 4; ++a) {
    const std::int64_t oh = 4 * ty + a;
    if (oh >= g.out_h) break;
    float* __restrict row = yc + oh * g.out_w + ow0;
    const float* __restrict y0 = y16 + 4 * a * ys;
    const float* __restrict y1 = y0 + ys;
    const float* __restrict y2 = y0 + 2 * ys;
    const float* __restrict y3 = y0 + 3 * ys;
    if (relu) {
      for (std::int64_t tx = 0; tx < full; ++tx) {
        const float v0 = y0[tx] + bias, v1 = y1[tx] + bias;
        const float v2 = y2[tx] + bias, v3 = y3[tx] + bias;
        row[4 * tx] = v0 < 0.0f ? 0.0f : v0;
        row[4 * tx + 1] = v1 < 0.0f ? 0.0f : v1;
        row[4 * tx + 2] = v2 < 0.0f ? 0.0f : v2;
        row[4 * tx + 3] = v3 < 0.0f ? 0.0f : v3;
      }
    } else {
      for (std::int64_t tx = 0; tx < full; ++tx) {
        row[4 * tx] = y0[tx] + bias;
        row[4 * tx + 1] = y1[tx] + bias;
        row[4 * tx + 2] = y2[tx] + bias;
        row[4 * tx + 3] = y3[tx] + bias;
      }
    }
    if (full < n) {  // the last tile of a row whose width is not a multiple of 4
      const float* ys4[4] = {y0, y1, y2, y3};
      for (std::int64_t b = 0; b < g.out_w - (ow0 + 4 * full); ++b) {
        float v = ys4[b][full] + bias;
        if (relu && v < 0.0f) v = 0.0f;
        row[4 * full + b] = v;
      }
    }
  }
}

inline WinogradTransforms winograd4x4_transforms_impl() {
  WinogradTransforms t;
  t.m = 4;
  t.input = winograd4x4_input_impl;
  t.weight = winograd4x4_weight_impl;
  t.output_tiles = winograd4x4_output_tiles_impl;
  t.store_tiles = winograd4x4_store_tiles_impl;
  return t;
}

}  // namespace
}  // namespace minimod::kernels
