// Inner-product GEMM (inner_product.h), written once over a vector traits type S and instantiated
// by inner_product_avx2.cpp / inner_product_avx512.cpp.
//
// Included ONLY by those per-ISA translation units; everything sits in an anonymous namespace so
// each ISA file gets its own private copy compiled with its own flags (a shared inline function
// would be one linker symbol, and the linker could keep the AVX-512 copy for the AVX2 path).
//
// S provides:
//   V, Mask, kLanes                     the vector, a lane mask, lanes per vector
//   kMaxR, kMaxNw, kMaxAcc              the largest tile (x rows, weight rows, accumulators)
//   tile_nw(m), tile_r(m)               the full tile used for a call with m rows
//   zero(), load(p), load_masked(mk, p) (zeros where the mask is off; never touches memory
//                                       there), fmadd(a, b, c) = a * b + c, store_aligned(p, v)
//   lane_mask(n)                        the first n lanes, 0 <= n <= kLanes
//   reduce(v[kLanes]) -> V              lane j: the sum of the lanes of v[s] for the s with
//                                       reduce_slot(s) == j, every input summed by the same
//                                       sequence of adds whatever its position
#pragma once

#include <array>
#include <cstdint>
#include <utility>

namespace minimod::kernels {
namespace {

template <class S>
struct InnerProduct {
  using V = typename S::V;
  static constexpr int L = S::kLanes;

  // C[0:R, 0:NW] = A[0:R, :] * W[0:NW, :]^T (* scale) (+ bias) (then ReLU).
  template <int R, int NW>
  static void tile(std::int64_t k, const float* __restrict a, std::int64_t lda,
                   const float* __restrict w, std::int64_t ldw, float* __restrict c,
                   std::int64_t ldc, const float* scale_row, const float* bias_row,
                   const float* bias_col, bool relu) {
    static_assert(R >= 1 && R <= S::kMaxR && NW >= 1 && NW <= S::kMaxNw &&
                      R * NW <= S::kMaxAcc,
                  "tile");
    V acc[R][NW];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) acc[i][q] = S::zero();
    }
    // One step: the NW weight vectors go into registers, then each x vector is loaded and used
    // NW times (R * NW + NW + 1 registers at most, so no load is repeated inside the FMAs).
    auto step = [&](auto load) __attribute__((always_inline)) {
      V wv[NW];
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) wv[q] = load(w + q * ldw);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        const V av = load(a + i * lda);
#pragma GCC unroll 8
        for (int q = 0; q < NW; ++q) acc[i][q] = S::fmadd(av, wv[q], acc[i][q]);
      }
    };
    auto masked_step = [&](std::int64_t p, typename S::Mask mk) __attribute__((always_inline)) {
      step([p, mk](const float* row) { return S::load_masked(mk, row + p); });
    };
    // A first, partial step up to the weight rows' next L-float boundary, so every later weight
    // load is aligned (a load across two cache lines costs two). Only when ldw is a multiple of
    // L (the usual layer widths): then all rows share that boundary, and where a row's sum is
    // split depends on that row alone, not on which tile or thread computes it.
    std::int64_t p = 0;
    if (ldw % L == 0) {
      p = static_cast<std::int64_t>((0 - reinterpret_cast<std::uintptr_t>(w) / sizeof(float)) % L);
      if (p > k) p = k;
    }
    if (p > 0) masked_step(0, S::lane_mask(p));
    for (; p + L <= k; p += L) step([p](const float* row) { return S::load(row + p); });
    if (p < k) masked_step(p, S::lane_mask(k - p));

    // Reduce in groups of L (flat index i * NW + q), the last group padded with zeros.
    constexpr int kCount = R * NW;
    constexpr int kGroups = (kCount + L - 1) / L;
    alignas(64) float sums[kGroups * L];
#pragma GCC unroll 2
    for (int g = 0; g < kGroups; ++g) {
      V in[L];
#pragma GCC unroll 16
      for (int s = 0; s < L; ++s) {
        const int f = g * L + S::reduce_slot(s);
        in[s] = f < kCount ? acc[f / NW][f % NW] : S::zero();
      }
      S::store_aligned(sums + g * L, S::reduce(in));
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) {
        float v = sums[i * NW + q];
        if (scale_row != nullptr) v *= scale_row[i];
        if (bias_row != nullptr) v += bias_row[i];
        if (bias_col != nullptr) v += bias_col[q];
        if (relu && v < 0.0f) v = 0.0f;
        c[i * ldc + q] = v;
      }
    }
  }

  using TileFn = void (*)(std::int64_t, const float*, std::int64_t, const float*, std::int64_t,
                          float*, std::int64_t, const float*, const float*, const float*, bool);

  template <int R, int NW>
  static constexpr TileFn tile_fn() {
    if constexpr (R * NW <= S::kMaxAcc) {
      return &tile<R, NW>;
    } else {
      return nullptr;
    }
  }
  template <int R, int... Nw>
  static constexpr std::array<TileFn, S::kMaxNw> tile_row(std::integer_sequence<int, Nw...>) {
    return {tile_fn<R, Nw + 1>()...};
  }
  template <int... R>
  static constexpr std::array<std::array<TileFn, S::kMaxNw>, S::kMaxR> tile_table(
      std::integer_sequence<int, R...>) {
    return {tile_row<R + 1>(std::make_integer_sequence<int, S::kMaxNw>())...};
  }

  static void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                   std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                   std::int64_t ldc, const float* scale_row, const float* bias_row,
                   const float* bias_col, bool relu) {
    // kTiles[R - 1][NW - 1] (nullptr where R * NW > kMaxAcc: never selected).
    static constexpr auto kTiles = tile_table(std::make_integer_sequence<int, S::kMaxR>());
    const int nw_full = S::tile_nw(m);
    const int r_full = S::tile_r(m);
    for (std::int64_t j = 0; j < n; j += nw_full) {
      const int nw = static_cast<int>(n - j < nw_full ? n - j : nw_full);
      for (std::int64_t i = 0; i < m; i += r_full) {
        const int r = static_cast<int>(m - i < r_full ? m - i : r_full);
        kTiles[r - 1][nw - 1](k, a + i * lda, lda, w + j * ldw, ldw, c + i * ldc + j, ldc,
                              scale_row != nullptr ? scale_row + i : nullptr,
                              bias_row != nullptr ? bias_row + i : nullptr,
                              bias_col != nullptr ? bias_col + j : nullptr, relu);
      }
    }
  }
};

}  // namespace
}  // namespace minimod::kernels
