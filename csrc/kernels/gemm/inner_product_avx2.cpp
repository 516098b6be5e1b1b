// AVX2 inner-product GEMM (inner_product.h). Compiled with -mavx2 -mfma; called only when the
// CPU has them.
//
// Tile 4 x 3: 12 ymm accumulators + 3 weight vectors + 1 x vector = 16 of 16 registers. Per step
// of 8 k: 3 + 4 loads feed 12 FMAs. At batch 1 and 2 the tile is 1 x 8 / 2 x 4 (8 independent
// chains: enough to cover the FMA latency on two ports).
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

#include "kernels/gemm/inner_product.h"

namespace minimod::kernels {

namespace {

constexpr int kLanes = 8;
constexpr int kMaxR = 4;
constexpr int kMaxNw = 8;
constexpr int kMaxAcc = 12;

inline __m256i lane_mask(std::int64_t n) {  // the first n lanes (0 <= n <= 8)
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

// Lane j of the result is the sum of the 8 lanes of one input, with the inputs given in the order
// the tree leaves them: v[s] holds the accumulator for lane 4 * (s % 2) + s / 2. Every input is
// summed by the same sequence of adds, whatever its position.
inline __m256 reduce8(const __m256 v[8]) {
  __m256 t[4];
#pragma GCC unroll 4
  for (int p = 0; p < 4; ++p) {  // low half + high half of v[2p] | the same of v[2p + 1]
    const __m256 a = v[2 * p], b = v[2 * p + 1];
    t[p] = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
  }
  // hadd: per 128-bit half, (x0 + x1, x2 + x3, y0 + y1, y2 + y3).
  const __m256 h0 = _mm256_hadd_ps(t[0], t[1]);
  const __m256 h1 = _mm256_hadd_ps(t[2], t[3]);
  // Half 0: the sums of v[0], v[2], v[4], v[6]; half 1: of v[1], v[3], v[5], v[7].
  return _mm256_hadd_ps(h0, h1);
}

// C[0:R, 0:NW] = A[0:R, :] * W[0:NW, :]^T (+ bias) (then ReLU).
template <int R, int NW>
void inner_tile(std::int64_t k, const float* __restrict a, std::int64_t lda,
                const float* __restrict w, std::int64_t ldw, float* __restrict c,
                std::int64_t ldc, const float* bias_row, const float* bias_col, bool relu) {
  static_assert(R >= 1 && R <= kMaxR && NW >= 1 && NW <= kMaxNw && R * NW <= kMaxAcc, "tile");
  __m256 acc[R][NW];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) acc[i][q] = _mm256_setzero_ps();
  }
  auto full_step = [&](std::int64_t p) __attribute__((always_inline)) {
    __m256 wv[NW];
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) wv[q] = _mm256_loadu_ps(w + q * ldw + p);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m256 av = _mm256_loadu_ps(a + i * lda + p);
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) acc[i][q] = _mm256_fmadd_ps(av, wv[q], acc[i][q]);
    }
  };
  // Masked loads (zeros elsewhere) never touch memory outside a row.
  auto masked_step = [&](std::int64_t p, __m256i mk) __attribute__((always_inline)) {
    __m256 wv[NW];
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) wv[q] = _mm256_maskload_ps(w + q * ldw + p, mk);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m256 av = _mm256_maskload_ps(a + i * lda + p, mk);
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) acc[i][q] = _mm256_fmadd_ps(av, wv[q], acc[i][q]);
    }
  };
  // A first, partial step up to the weight rows' next 32-byte boundary, so every later weight
  // load is aligned, when ldw is a multiple of 8 (see inner_product_avx512.cpp).
  std::int64_t p = 0;
  if (ldw % kLanes == 0) {
    p = static_cast<std::int64_t>((0 - reinterpret_cast<std::uintptr_t>(w) / sizeof(float)) % kLanes);
    if (p > k) p = k;
  }
  if (p > 0) masked_step(0, lane_mask(p));
  for (; p + kLanes <= k; p += kLanes) full_step(p);
  if (p < k) masked_step(p, lane_mask(k - p));

  // Reduce in groups of 8 (flat index i * NW + q), the last group padded with zeros.
  constexpr int kCount = R * NW;
  constexpr int kGroups = (kCount + 7) / 8;
  alignas(32) float sums[kGroups * 8];
#pragma GCC unroll 2
  for (int g = 0; g < kGroups; ++g) {
    __m256 in[8];
#pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const int f = g * 8 + 4 * (s % 2) + s / 2;
      in[s] = f < kCount ? acc[f / NW][f % NW] : _mm256_setzero_ps();
    }
    _mm256_store_ps(sums + g * 8, reduce8(in));
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

void f32_inner_product_nt__avx2(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                                std::int64_t ldc, const float* bias_row, const float* bias_col,
                                bool relu) {
  const int nw_full = m == 1 ? 8 : m == 2 ? 4 : 3;
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
