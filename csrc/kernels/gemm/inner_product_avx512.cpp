// AVX-512 inner-product GEMM (inner_product.h). Compiled with -mavx512f...; called only when the
// CPU has AVX-512.
//
// Tile 4 x 6: 24 zmm accumulators + 6 weight vectors + 1 x vector = 31 of 32 registers. Per step
// of 16 k: 6 + 4 loads feed 24 FMAs (12 cycles on two FMA ports). At batch 1 and 2 the tile is
// 1 x 8 / 2 x 8: 8 and 16 independent chains cover the FMA latency with few x rows.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

#include "kernels/gemm/inner_product.h"

namespace minimod::kernels {

namespace {

constexpr int kLanes = 16;
constexpr int kMaxR = 4;
constexpr int kMaxNw = 8;
constexpr int kMaxAcc = 24;

inline __mmask16 lane_mask(std::int64_t n) {
  return n >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Lane j of the result is the sum of the 16 lanes of one input, with the inputs given in the
// order the shuffle tree leaves them: v[s] holds the accumulator for lane 4 * (s % 4) + s / 4.
// Every input is summed by the same sequence of adds, whatever its position.
inline __m512 reduce16(const __m512 v[16]) {
  __m512 t[8];
#pragma GCC unroll 8
  for (int p = 0; p < 8; ++p) {  // blocks (0 + 2, 1 + 3) of v[2p] | the same of v[2p + 1]
    const __m512 a = v[2 * p], b = v[2 * p + 1];
    t[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  }
  __m512 u[4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {  // block b of u[q]: 4 partial sums of v[4q + b]
    const __m512 x = t[2 * q], y = t[2 * q + 1];
    u[q] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  __m512 w[2];
#pragma GCC unroll 2
  for (int r = 0; r < 2; ++r) {  // block b: 2 partial sums each of v[8r + b], v[8r + 4 + b]
    const __m512 p = u[2 * r], q = u[2 * r + 1];
    w[r] = _mm512_add_ps(_mm512_unpacklo_ps(p, q), _mm512_unpackhi_ps(p, q));
  }
  const __m512d w0 = _mm512_castps_pd(w[0]), w1 = _mm512_castps_pd(w[1]);
  // Block b: the sums of v[b], v[4 + b], v[8 + b], v[12 + b].
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(w0, w1)),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(w0, w1)));
}

// C[0:R, 0:NW] = A[0:R, :] * W[0:NW, :]^T (+ bias) (then ReLU).
template <int R, int NW>
void inner_tile(std::int64_t k, const float* __restrict a, std::int64_t lda,
                const float* __restrict w, std::int64_t ldw, float* __restrict c,
                std::int64_t ldc, const float* bias_row, const float* bias_col, bool relu) {
  static_assert(R >= 1 && R <= kMaxR && NW >= 1 && NW <= kMaxNw && R * NW <= kMaxAcc, "tile");
  __m512 acc[R][NW];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) acc[i][q] = _mm512_setzero_ps();
  }
  // One step: the NW weight vectors go into registers, then each x vector is loaded and used NW
  // times (R * NW + NW + 1 <= 32 registers, so no load is repeated inside the FMAs).
  auto step = [&](std::int64_t p, __mmask16 mk) __attribute__((always_inline)) {
    __m512 wv[NW];
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) wv[q] = _mm512_maskz_loadu_ps(mk, w + q * ldw + p);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_maskz_loadu_ps(mk, a + i * lda + p);
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) acc[i][q] = _mm512_fmadd_ps(av, wv[q], acc[i][q]);
    }
  };
  // A first, partial step up to the weight rows' next 64-byte boundary, so every later weight
  // load is aligned (a load across two cache lines costs two). Only when ldw is a multiple of 16
  // (the usual layer widths): then all rows share that boundary, and where a row's sum is split
  // depends on that row alone, not on which tile or thread computes it. Masked loads never touch
  // memory outside a row.
  std::int64_t p = 0;
  if (ldw % kLanes == 0) {
    p = static_cast<std::int64_t>((0 - reinterpret_cast<std::uintptr_t>(w) / sizeof(float)) % kLanes);
    if (p > k) p = k;
  }
  if (p > 0) step(0, lane_mask(p));
  for (; p + kLanes <= k; p += kLanes) step(p, static_cast<__mmask16>(0xFFFF));
  if (p < k) step(p, lane_mask(k - p));

  // Reduce in groups of 16 (flat index i * NW + q), the last group padded with zeros.
  constexpr int kCount = R * NW;
  constexpr int kGroups = (kCount + 15) / 16;
  alignas(64) float sums[kGroups * 16];
#pragma GCC unroll 2
  for (int g = 0; g < kGroups; ++g) {
    __m512 in[16];
#pragma GCC unroll 16
    for (int s = 0; s < 16; ++s) {
      const int f = g * 16 + 4 * (s % 4) + s / 4;
      in[s] = f < kCount ? acc[f / NW][f % NW] : _mm512_setzero_ps();
    }
    _mm512_store_ps(sums + g * 16, reduce16(in));
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) {
      float v = sums[i * NW + q];
      if (bias_row != nullptr) v += bias_row[i];
      if (bias_col != nullptr) v += bias_col[q];
      if (relu && v < 0.0f) v = 0.0f;
      c[i * ldc + q] = v;
    }
  }
}

using TileFn = void (*)(std::int64_t, const float*, std::int64_t, const float*, std::int64_t,
                        float*, std::int64_t, const float*, const float*, bool);

template <int R, int NW>
constexpr TileFn tile_fn() {
  if constexpr (R * NW <= kMaxAcc) {
    return inner_tile<R, NW>;
  } else {
    return nullptr;
  }
}

template <int R, int... Nw>
constexpr std::array<TileFn, kMaxNw> tile_row(std::integer_sequence<int, Nw...>) {
  return {tile_fn<R, Nw + 1>()...};
}

template <int... R>
constexpr std::array<std::array<TileFn, kMaxNw>, kMaxR> tile_table(
    std::integer_sequence<int, R...>) {
  return {tile_row<R + 1>(std::make_integer_sequence<int, kMaxNw>())...};
}

// kTiles[R - 1][NW - 1] (nullptr where R * NW > kMaxAcc: never selected).
constexpr auto kTiles = tile_table(std::make_integer_sequence<int, kMaxR>());

}  // namespace

void f32_inner_product_nt__avx512(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                  std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                                  std::int64_t ldc, const float* bias_row, const float* bias_col,
                                  bool relu) {
  const int nw_full = m <= 2 ? 8 : 6;
  const int r_full = m == 2 ? 2 : kMaxR;
  for (std::int64_t j = 0; j < n; j += nw_full) {
    const int nw = static_cast<int>(n - j < nw_full ? n - j : nw_full);
    for (std::int64_t i = 0; i < m; i += r_full) {
      const int r = static_cast<int>(m - i < r_full ? m - i : r_full);
      kTiles[r - 1][nw - 1](k, a + i * lda, lda, w + j * ldw, ldw, c + i * ldc + j, ldc,
                            bias_row != nullptr ? bias_row + i : nullptr,
                            bias_col != nullptr ? bias_col + j : nullptr, relu);
    }
  }
}

}  // namespace minimod::kernels
