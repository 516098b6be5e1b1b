// The Winograd F(2x2, 3x3) transforms, included by winograd_transforms*.cpp inside an anonymous
// namespace so each ISA file keeps its own copy compiled with its own flags.
//
// Every transform is two 1-d passes (rows, then columns) written as loops over a whole row of
// tiles with a unit-stride innermost index, so the compiler vectorises them at each path's width
// without intrinsics:
//   input:  the 4 input rows under each tile row -> B^T along H (contiguous in x); then each row
//           is split into its 2 phases x = 2*tx + q, after which B^T along W is contiguous in the
//           tile index over the whole image (with one dummy tile per row, see winograd.h).
//   weight: vectorised across the mr output channels of one A panel, so its stores are the
//           contiguous mr-float rows of the panel.
//   output: A^T along the 4 rows of M then along its columns, contiguous in tx; then the 2x2
//           blocks are interleaved into the output rows with bias and ReLU.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/conv/winograd.h"

namespace minimod::kernels {
namespace {

// F(2x2, 3x3):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// Every coefficient is 0, +-1 or 1/2: the transforms add only a few exact-coefficient roundings,
// which keeps the result within a few ulps of direct convolution (F(4x4, 3x3), with coefficients
// up to 8 and 1/24, lost 4-8x more and broke the direct path's elementwise tolerances).
inline void bt_1d(const float* __restrict d0, const float* __restrict d1,
                  const float* __restrict d2, const float* __restrict d3, float* __restrict o0,
                  float* __restrict o1, float* __restrict o2, float* __restrict o3,
                  std::int64_t n) {
  for (std::int64_t x = 0; x < n; ++x) {
    const float a0 = d0[x], a1 = d1[x], a2 = d2[x], a3 = d3[x];
    o0[x] = a0 - a2;
    o1[x] = a1 + a2;
    o2[x] = a2 - a1;
    o3[x] = a1 - a3;
  }
}

inline void at_1d(const float* __restrict m0, const float* __restrict m1,
                  const float* __restrict m2, const float* __restrict m3, float* __restrict o0,
                  float* __restrict o1, std::int64_t n) {
  for (std::int64_t x = 0; x < n; ++x) {
    o0[x] = m0[x] + m1[x] + m2[x];
    o1[x] = m1[x] - m2[x] - m3[x];
  }
}

void winograd_input_impl(const WinogradGeometry& g, const float* xc, std::int64_t c,
                         std::int64_t tile0, float* v, float* work) {
  const std::int64_t TH = g.tiles_h, TW = g.tiles_w, pitch = TW + 1;  // + the dummy tile column
  const std::int64_t L = 2 * TW + 2, Hp = 2 * TH + 2, nr = g.nr;
  const std::int64_t tiles = TH * pitch;
  float* plane = work;             // the zero-padded input plane, Hp rows of L
  float* tmp = plane + Hp * L;     // B^T along H: [i][ty][x], 4 * TH rows of L
  float* ph = tmp + 4 * TH * L;    // one i: the 2 phases x = 2*tx + q, [q][ty * pitch + tx]
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
    const float* r = plane + 2 * ty * L;
    float* t = tmp + ty * L;
    bt_1d(r, r + L, r + 2 * L, r + 3 * L, t, t + is, t + 2 * is, t + 3 * is, L);
  }
  const std::int64_t P = tiles + 1;  // phase length (+1: the last tile reads one past its row)
  const std::int64_t panel_stride = g.channels * nr;
  const std::int64_t xs = g.xi_stride;
  for (int i = 0; i < 4; ++i) {
    for (std::int64_t ty = 0; ty < TH; ++ty) {
      const float* t = tmp + (i * TH + ty) * L;
      float* q0 = ph + ty * pitch;
      for (std::int64_t tx = 0; tx <= TW; ++tx) {
        q0[tx] = t[2 * tx];
        q0[P + tx] = t[2 * tx + 1];
      }
    }
    ph[tiles] = 0.0f;
    ph[P + tiles] = 0.0f;
    // B^T along W, contiguous in the tile index, written straight into the B panels: tile t of
    // this image is tile tile0 + t of the batch.
    for (std::int64_t t = 0; t < tiles;) {
      const std::int64_t bt = tile0 + t, lane = bt % nr;
      const std::int64_t n = lane + (tiles - t) < nr ? tiles - t : nr - lane;
      float* d = v + (bt / nr) * panel_stride + c * nr + lane + i * 4 * xs;
      const float* q = ph + t;
      bt_1d(q, q + P, q + 1, q + P + 1, d, d + xs, d + 2 * xs, d + 3 * xs, n);
      t += n;
    }
  }
}

// MR: the panel height known at compile time (the GEMM tables use 6 and 14), 0 for any.
template <int MR>
void winograd_weight_panel(const float* w, std::int64_t channels, std::int64_t k0, int rows,
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
    alignas(64) float t[4][3][kLanes];
    for (int col = 0; col < 3; ++col) {
      for (int r = 0; r < kLanes; ++r) {
        const float g0 = gk[col][r], g1 = gk[3 + col][r], g2 = gk[6 + col][r];
        t[0][col][r] = g0;
        t[1][col][r] = 0.5f * (g0 + g1 + g2);
        t[2][col][r] = 0.5f * (g0 - g1 + g2);
        t[3][col][r] = g2;
      }
    }
    float* uc = u + c * mr;
    for (int i = 0; i < 4; ++i) {
      alignas(64) float ui[4][kLanes];
      for (int r = 0; r < kLanes; ++r) {
        const float g0 = t[i][0][r], g1 = t[i][1][r], g2 = t[i][2][r];
        ui[0][r] = g0;
        ui[1][r] = 0.5f * (g0 + g1 + g2);
        ui[2][r] = 0.5f * (g0 - g1 + g2);
        ui[3][r] = g2;
      }
      for (int j = 0; j < 4; ++j) {
        float* d = uc + (i * 4 + j) * xs;
        for (int r = 0; r < mr; ++r) d[r] = ui[j][r];
      }
    }
  }
}

void winograd_weight_impl(const float* w, std::int64_t channels, std::int64_t k0, int rows, int mr,
                          float* u) {
  switch (mr) {
    case 14:
      return winograd_weight_panel<14>(w, channels, k0, rows, mr, u);
    case 6:
      return winograd_weight_panel<6>(w, channels, k0, rows, mr, u);
    default:
      return winograd_weight_panel<0>(w, channels, k0, rows, mr, u);
  }
}

void winograd_output_impl(const WinogradGeometry& g, const float* m, std::int64_t xs,
                          std::int64_t count, std::int64_t ty, std::int64_t tx0, float* yc,
                          float bias, bool relu, float* work) {
  const std::int64_t n = count;
  float* Z = work;           // A^T down the rows: [a][j], 8 rows of n
  float* Y = work + 8 * n;   // then along the columns: [a][b], 4 rows of n
  for (int j = 0; j < 4; ++j) {
    at_1d(m + j * xs, m + (4 + j) * xs, m + (8 + j) * xs, m + (12 + j) * xs, Z + j * n,
          Z + (4 + j) * n, n);
  }
  for (int a = 0; a < 2; ++a) {
    const float* z = Z + a * 4 * n;
    at_1d(z, z + n, z + 2 * n, z + 3 * n, Y + a * 2 * n, Y + (a * 2 + 1) * n, n);
  }
  const std::int64_t ow0 = 2 * tx0;
  std::int64_t full = n;  // tiles whose 2 columns are both inside the output
  if (2 * (tx0 + n) > g.out_w) full = (g.out_w - ow0) / 2;
  for (int a = 0; a < 2; ++a) {
    const std::int64_t oh = 2 * ty + a;
    if (oh >= g.out_h) break;
    float* row = yc + oh * g.out_w + ow0;
    const float* y0 = Y + a * 2 * n;
    const float* y1 = y0 + n;
    for (std::int64_t tx = 0; tx < full; ++tx) {
      float v0 = y0[tx] + bias, v1 = y1[tx] + bias;
      if (relu) {
        v0 = v0 < 0.0f ? 0.0f : v0;
        v1 = v1 < 0.0f ? 0.0f : v1;
      }
      row[2 * tx] = v0;
      row[2 * tx + 1] = v1;
    }
    if (full < n) {  // the last tile of a row with an odd width: its first column only
      float v0 = y0[full] + bias;
      if (relu && v0 < 0.0f) v0 = 0.0f;
      row[2 * full] = v0;
    }
  }
}

inline WinogradTransforms winograd_transforms_impl() {
  WinogradTransforms t;
  t.input = winograd_input_impl;
  t.weight = winograd_weight_impl;
  t.output = winograd_output_impl;
  return t;
}

}  // namespace
}  // namespace minimod::kernels
