// The Winograd F(2x2, 3x3) transforms, included by winograd_transforms*.cpp inside an anonymous
// namespace so each ISA file keeps its own copy compiled with its own flags.
//
// Every transform is two 1-d passes (rows, then columns) written as loops over a whole row of
// tiles with a unit-stride innermost index, so the compiler vectorises them at each path's width
// without intrinsics:
//   input:  the 4 input rows under each tile row -> B^T along H (contiguous in x); then B^T
//           along W, a stride-2 loop over each tile row's tiles (deinterleaved with permutes).
//   weight: vectorised across the mr output channels of one A panel, so its stores are the
//           contiguous mr-float rows of the panel.
//   output: A^T M A over a whole range of tiles of one output channel (contiguous in the tile
//           index), then each tile row's 2x2 blocks interleaved into the output rows with bias
//           and ReLU.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__AVX2__)
#include "kernels/simd/transpose_avx.h"
#include "kernels/simd/vec_avx2.h"  // store_lanes
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
// up to 8, lost about 6x more: winograd.h).
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

// B^T along a row of 4-wide windows 2 apart: window x is q[2x .. 2x + 3].
inline void bt_1d_stride2(const float* __restrict q, float* __restrict o0, float* __restrict o1,
                          float* __restrict o2, float* __restrict o3, std::int64_t n) {
  for (std::int64_t x = 0; x < n; ++x) {
    const float a0 = q[2 * x], a1 = q[2 * x + 1], a2 = q[2 * x + 2], a3 = q[2 * x + 3];
    o0[x] = a0 - a2;
    o1[x] = a1 + a2;
    o2[x] = a2 - a1;
    o3[x] = a1 - a3;
  }
}

#if defined(__AVX512F__)
// The lanes [0, k) of a 16-lane mask (k clamped to [0, 16]).
inline __mmask16 lanes_below(std::int64_t k) {
  return k <= 0 ? __mmask16{0} : k >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << k) - 1);
}

// bt_1d_stride2 with explicit AVX-512: the short rows of a band (a few dozen tiles, often cut at
// a panel boundary) left the compiled loop mostly in its scalar tail. Per 16 tiles: four masked
// loads (no read past q[2n + 1]), two-source permutes for the even / odd windows, masked stores.
inline void bt_1d_stride2_avx512(const float* q, float* o0, float* o1, float* o2, float* o3,
                                 std::int64_t n) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (std::int64_t x = 0; x < n; x += 16) {
    const std::int64_t lanes = n - x < 16 ? n - x : 16;
    const std::int64_t need = 2 * lanes + 2;  // floats p[0 .. need) are read
    const float* p = q + 2 * x;
    const __m512 a = _mm512_maskz_loadu_ps(lanes_below(need), p);
    const __m512 b = _mm512_maskz_loadu_ps(lanes_below(need - 16), p + 16);
    const __m512 c = _mm512_maskz_loadu_ps(lanes_below(need - 2), p + 2);
    const __m512 d = _mm512_maskz_loadu_ps(lanes_below(need - 18), p + 18);
    const __m512 a0 = _mm512_permutex2var_ps(a, even, b), a1 = _mm512_permutex2var_ps(a, odd, b);
    const __m512 a2 = _mm512_permutex2var_ps(c, even, d), a3 = _mm512_permutex2var_ps(c, odd, d);
    const __mmask16 m = lanes_below(lanes);
    _mm512_mask_storeu_ps(o0 + x, m, _mm512_sub_ps(a0, a2));
    _mm512_mask_storeu_ps(o1 + x, m, _mm512_add_ps(a1, a2));
    _mm512_mask_storeu_ps(o2 + x, m, _mm512_sub_ps(a2, a1));
    _mm512_mask_storeu_ps(o3 + x, m, _mm512_sub_ps(a1, a3));
  }
}

// One zero-padded plane row: L floats, input columns [0, n) of src at [lead, lead + n), zeros
// elsewhere, by masked loads (zeroing lanes outside the input) and stores, without the three
// libc calls per row the generic build makes.
inline void padded_row_avx512(const float* src, std::int64_t lead, std::int64_t n, float* row,
                              std::int64_t L) {
  for (std::int64_t j = 0; j < L; j += 16) {
    const __mmask16 valid = static_cast<__mmask16>(lanes_below(lead + n - j) & ~lanes_below(lead - j));
    const __m512 v = valid ? _mm512_maskz_loadu_ps(valid, src + (j - lead)) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(row + j, lanes_below(L - j), v);
  }
}
#endif

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
  const std::int64_t TH = g.tiles_h, TW = g.tiles_w;
  const std::int64_t L = 2 * TW + 2, Hp = 2 * TH + 2, nr = g.nr;
  float* plane = work;             // the zero-padded input plane, Hp rows of L
  float* tmp = plane + Hp * L;     // B^T along H: [i][ty][x], 4 * TH rows of L
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
#if defined(__AVX512F__)
    padded_row_avx512(xc + ih * g.in_w, lead, n, row, L);
#else
    std::memset(row, 0, sizeof(float) * lead);
    std::memcpy(row + lead, xc + ih * g.in_w, sizeof(float) * n);
    std::memset(row + lead + n, 0, sizeof(float) * (L - lead - n));
#endif
  }
  const std::int64_t is = TH * L;
  for (std::int64_t ty = 0; ty < TH; ++ty) {
    const float* r = plane + 2 * ty * L;
    float* t = tmp + ty * L;
    bt_1d(r, r + L, r + 2 * L, r + 3 * L, t, t + is, t + 2 * is, t + 3 * is, L);
  }
  // Tile (ty, tx) reads tmp_i[ty * L + 2 * tx + j], j = 0..3: B^T along W is a stride-2 loop
  // over each tile row, written straight into the B panels (tile ty * TW + tx of this image is
  // tile tile0 + ty * TW + tx of the batch), cut where a row crosses a panel boundary.
  const std::int64_t panel_stride = g.channels * nr;
  const std::int64_t xs = g.xi_stride;
  for (int i = 0; i < 4; ++i) {
    for (std::int64_t ty = 0; ty < TH; ++ty) {
      const float* ti = tmp + i * is + ty * L;
      for (std::int64_t tx = 0; tx < TW;) {
        const std::int64_t bt = tile0 + ty * TW + tx, lane = bt % nr;
        const std::int64_t n = lane + (TW - tx) < nr ? TW - tx : nr - lane;
        float* d = v + (bt / nr) * panel_stride + c * nr + lane + i * 4 * xs;
#if defined(__AVX512F__)
        bt_1d_stride2_avx512(ti + 2 * tx, d, d + xs, d + 2 * xs, d + 3 * xs, n);
#else
        bt_1d_stride2(ti + 2 * tx, d, d + xs, d + 2 * xs, d + 3 * xs, n);
#endif
        tx += n;
      }
    }
  }
}

// Sixteen float lanes as one value (GCC vector extension): a zmm on AVX-512, two ymm on AVX2,
// four xmm in the generic build, so the weight transform below stays in registers on every path.
typedef float WinogradLanes __attribute__((vector_size(64)));

// U = G g G^T along one dimension, for 16 independent lanes: (g0, g1, g2) -> the 4 transformed
// values. G's rows are (1 0 0), (1/2 1/2 1/2), (1/2 -1/2 1/2), (0 0 1); the halves are exact.
// Lanes: WinogradLanes, or one __m256 (a GCC vector type too) on the AVX2 path.
template <class Lanes>
inline void g_1d(const Lanes& g0, const Lanes& g1, const Lanes& g2, Lanes* o) {
  const Lanes half = 0.5f - Lanes{};
  const Lanes s = half * (g0 + g2), h = half * g1;
  o[0] = g0;
  o[1] = s + h;
  o[2] = s - h;
  o[3] = g2;
}

// MR: the floats per input channel in the panel known at compile time (the GEMM tables' A panel
// heights 6 and 14, or B panel widths 8, 16 and 32), 0 for any; min(MR, 16) of them are written
// (a 32-wide B panel is written in two calls, u and u + 16; `rows` <= 16).
// Lane r of every vector is output channel k0 + r; per input channel the 9 taps are loaded into
// 9 vectors (one hardware gather each on AVX-512), transformed in registers and stored as the 16
// mr-float rows of the panel. (The earlier version staged the taps and both 1-d passes through
// stack arrays; that round trip cost about twice the gathers: a quarter of ResNet-18 layer3's
// Winograd time at 1 thread.)
template <int MR>
void winograd_weight_panel(const float* w, std::int64_t channels, std::int64_t k0, int rows,
                           int mr_runtime, float* u) {
  const int mr = MR > 0 ? MR : mr_runtime;
  const int lanes = mr < 16 ? mr : 16;  // written per input channel (WinogradLanes has 16)
  const std::int64_t xs = winograd_u_stride(channels, mr);
  const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(lanes);
  // Lanes past `rows` stay zero (finite; the microkernel for `rows` rows never reads them).
  WinogradLanes g[9];
  for (int tap = 0; tap < 9; ++tap) g[tap] = WinogradLanes{};
#if defined(__AVX512F__)
  // One hardware gather per tap: lane r reads row k0 + r (rows past `rows` repeat the last row).
  constexpr int kLanes = 16;
  constexpr std::int64_t kAhead = 9 * 16;  // floats: 16 channels
  const bool gather = channels * 9 * kLanes < (std::int64_t{1} << 30);
  alignas(64) std::int32_t idx[kLanes];
  for (int r = 0; r < kLanes; ++r) {
    idx[r] = static_cast<std::int32_t>((r < rows ? r : rows - 1) * channels * 9);
  }
  const __m512i vidx = _mm512_load_si512(idx);
  const __mmask16 row_mask = static_cast<__mmask16>((1u << lanes) - 1u);
#elif defined(__AVX2__)
  // Eight rows at a time: each row's taps 0..7 are one load, an 8x8 register transpose turns them
  // into the tap vectors (lane r = row r), and tap 8 is one gather. (Filling the lanes one float
  // at a time went through the stack with store-forwarding stalls: 10% of ResNet-18 on Zen3.)
  // Lanes past `rows` repeat the last row, as the AVX-512 gather does.
  const int halves = (lanes + 7) / 8;
  const std::int64_t row_stride = channels * 9;
  const bool gather = row_stride * 16 < (std::int64_t{1} << 31);
  const float* row_at[16];
  __m256i tap8_index[2];
  for (int h = 0; h < 2; ++h) {
    alignas(32) std::int32_t idx[8];
    for (int r = 0; r < 8; ++r) {
      const int row = 8 * h + r < rows ? 8 * h + r : rows - 1;
      row_at[8 * h + r] = w + (k0 + row) * row_stride;
      idx[r] = static_cast<std::int32_t>((row - (8 * h < rows ? 8 * h : rows - 1)) * row_stride);
    }
    tap8_index[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
  }
#endif
  for (std::int64_t c = 0; c < channels; ++c) {
#if defined(__AVX2__) && !defined(__AVX512F__)
    if (gather) {
      for (int h = 0; h < halves; ++h) {
        const float* const* rp = row_at + 8 * h;
        const std::int64_t o = c * 9;
        __m256 tap[9];
        for (int r = 0; r < 8; ++r) tap[r] = _mm256_loadu_ps(rp[r] + o);  // row r's taps 0..7
        transpose8x8(tap[0], tap[1], tap[2], tap[3], tap[4], tap[5], tap[6], tap[7]);
        tap[8] = _mm256_i32gather_ps(rp[0] + o + 8, tap8_index[h], 4);
        // The two 1-d passes as below, on this half's eight lanes in registers.
        __m256 t[3][4];
        for (int col = 0; col < 3; ++col) g_1d(tap[col], tap[3 + col], tap[6 + col], t[col]);
        // Whole 8-lane stores even where fewer lanes belong to this channel (mr = 6: two of
        // eight): the surplus lanes (finite, repeated rows) land on the next channel's first
        // floats, which its own stores overwrite next, or for the last channel in the 16 floats
        // of padding that end each xi plane (winograd_u_stride). A 4 + 2 split per row measured
        // 1-6% more of ResNet-18's time (paired), whose 512ch 7x7 panels are six rows wide.
        float* uc = u + c * mr + 8 * h;
        for (int i = 0; i < 4; ++i) {
          __m256 ui[4];
          g_1d(t[0][i], t[1][i], t[2][i], ui);
          for (int j = 0; j < 4; ++j) _mm256_storeu_ps(uc + (i * 4 + j) * xs, ui[j]);
        }
      }
      continue;
    }
#endif
#if defined(__AVX512F__)
    if (gather) {
      const float* base = w + (k0 * channels + c) * 9;
      // The rows are 9 * channels floats apart: 14 streams in as many pages, fetched ahead here
      // (every other channel moves 72 bytes, about a line) rather than left to the hardware.
      if ((c & 1) == 0) {
        for (int r = 0; r < rows; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(base + r * channels * 9 + kAhead),
                       _MM_HINT_T0);
        }
      }
      for (int tap = 0; tap < 9; ++tap) {
        g[tap] = reinterpret_cast<WinogradLanes>(_mm512_i32gather_ps(vidx, base + tap, 4));
      }
    } else
#endif
    {
      for (int r = 0; r < rows; ++r) {
        const float* wr = w + ((k0 + r) * channels + c) * 9;
        for (int tap = 0; tap < 9; ++tap) g[tap][r] = wr[tap];
      }
    }
    // Down the kernel's rows (t = G g: t[i][col]), then along its columns (U = t G^T).
    WinogradLanes t[3][4];
    for (int col = 0; col < 3; ++col) g_1d(g[col], g[3 + col], g[6 + col], t[col]);
    float* uc = u + c * mr;
    for (int i = 0; i < 4; ++i) {
      WinogradLanes ui[4];
      g_1d(t[0][i], t[1][i], t[2][i], ui);
      for (int j = 0; j < 4; ++j) {
        float* d = uc + (i * 4 + j) * xs;
#if defined(__AVX512F__)
        _mm512_mask_storeu_ps(d, row_mask, reinterpret_cast<__m512>(ui[j]));
#else
        std::memcpy(d, &ui[j], row_bytes);
#endif
      }
    }
  }
  (void)row_bytes;
}

void winograd_weight_impl(const float* w, std::int64_t channels, std::int64_t k0, int rows, int mr,
                          float* u) {
  switch (mr) {
    case 14:
      return winograd_weight_panel<14>(w, channels, k0, rows, mr, u);
    case 6:
      return winograd_weight_panel<6>(w, channels, k0, rows, mr, u);
    case 32:
      return winograd_weight_panel<32>(w, channels, k0, rows, mr, u);
    case 16:
      return winograd_weight_panel<16>(w, channels, k0, rows, mr, u);
    case 8:
      return winograd_weight_panel<8>(w, channels, k0, rows, mr, u);
    default:
      return winograd_weight_panel<0>(w, channels, k0, rows, mr, u);
  }
}

// A^T M A for `count` tiles at once: one loop over the tiles with the 16 M[xi] streams in and the
// 4 output streams out (2 x 2 outputs per tile), long enough to vectorise well.
void winograd_output_tiles_impl(const float* __restrict m, std::int64_t xs, std::int64_t count,
                                float* __restrict y4) {
  const float* m0 = m;
  float* __restrict y0 = y4;
  float* __restrict y1 = y4 + count;
  float* __restrict y2 = y4 + 2 * count;
  float* __restrict y3 = y4 + 3 * count;
  for (std::int64_t x = 0; x < count; ++x) {
    float z0[4], z1[4];
    for (int j = 0; j < 4; ++j) {
      const float a0 = m0[j * xs + x], a1 = m0[(4 + j) * xs + x];
      const float a2 = m0[(8 + j) * xs + x], a3 = m0[(12 + j) * xs + x];
      z0[j] = a0 + a1 + a2;
      z1[j] = a1 - a2 - a3;
    }
    y0[x] = z0[0] + z0[1] + z0[2];
    y1[x] = z0[1] - z0[2] - z0[3];
    y2[x] = z1[0] + z1[1] + z1[2];
    y3[x] = z1[1] - z1[2] - z1[3];
  }
}

// The same A^T M A with M transposed (tiles as the GEMM's rows): element (channel r, tile t) of
// M[xi] at m + xi * xs + t * ts + r, for `count` tiles and `channels` (<= ts) channels, vectorised
// across 16 channels; channel r's 4 output rows go to y4 + 4 * count * r (the layout
// output_tiles writes for one channel).
void winograd_output_columns_impl(const float* __restrict m, std::int64_t xs, std::int64_t ts,
                                  std::int64_t count, int channels, float* __restrict y4) {
  for (int h = 0; h < channels; h += 16) {
    const int lanes = channels - h < 16 ? channels - h : 16;
    for (std::int64_t t = 0; t < count; ++t) {
      const float* mt = m + t * ts + h;
      WinogradLanes a[16];
      for (int xi = 0; xi < 16; ++xi) {
        if (lanes == 16) {
          std::memcpy(&a[xi], mt + xi * xs, sizeof(WinogradLanes));
        } else {
          a[xi] = WinogradLanes{};
          for (int l = 0; l < lanes; ++l) a[xi][l] = mt[xi * xs + l];
        }
      }
      WinogradLanes z0[4], z1[4];
      for (int j = 0; j < 4; ++j) {
        z0[j] = a[j] + a[4 + j] + a[8 + j];
        z1[j] = a[4 + j] - a[8 + j] - a[12 + j];
      }
      const WinogradLanes o0 = z0[0] + z0[1] + z0[2], o1 = z0[1] - z0[2] - z0[3];
      const WinogradLanes o2 = z1[0] + z1[1] + z1[2], o3 = z1[1] - z1[2] - z1[3];
      float* y = y4 + 4 * count * h + t;
      for (int l = 0; l < lanes; ++l) {
        float* yl = y + 4 * count * l;
        yl[0] = o0[l];
        yl[count] = o1[l];
        yl[2 * count] = o2[l];
        yl[3 * count] = o3[l];
      }
    }
  }
}

void winograd_store_tiles_impl(const WinogradGeometry& g, const float* y4, std::int64_t ys,
                               std::int64_t count, std::int64_t ty, std::int64_t tx0, float* yc,
                               float scale, float bias, bool relu) {
  const std::int64_t n = count;
  const std::int64_t ow0 = 2 * tx0;
  std::int64_t full = n;  // tiles whose 2 columns are both inside the output
  if (2 * (tx0 + n) > g.out_w) full = (g.out_w - ow0) / 2;
  for (int a = 0; a < 2; ++a) {
    const std::int64_t oh = 2 * ty + a;
    if (oh >= g.out_h) break;
    float* __restrict row = yc + oh * g.out_w + ow0;
    const float* __restrict y0 = y4 + a * 2 * ys;
    const float* __restrict y1 = y0 + ys;
    if (relu) {
      for (std::int64_t tx = 0; tx < full; ++tx) {
        const float v0 = y0[tx] * scale + bias, v1 = y1[tx] * scale + bias;
        row[2 * tx] = v0 < 0.0f ? 0.0f : v0;
        row[2 * tx + 1] = v1 < 0.0f ? 0.0f : v1;
      }
    } else {
      for (std::int64_t tx = 0; tx < full; ++tx) {
        row[2 * tx] = y0[tx] * scale + bias;
        row[2 * tx + 1] = y1[tx] * scale + bias;
      }
    }
    if (full < n) {  // the last tile of a row with an odd width: its first column only
      float v0 = y0[full] * scale + bias;
      if (relu && v0 < 0.0f) v0 = 0.0f;
      row[2 * full] = v0;
    }
  }
}

inline WinogradTransforms winograd_transforms_impl() {
  WinogradTransforms t;
  t.m = 2;
  t.input = winograd_input_impl;
  t.weight = winograd_weight_impl;
  t.output_tiles = winograd_output_tiles_impl;
  t.output_columns = winograd_output_columns_impl;
  t.store_tiles = winograd_store_tiles_impl;
  return t;
}

}  // namespace
}  // namespace minimod::kernels
