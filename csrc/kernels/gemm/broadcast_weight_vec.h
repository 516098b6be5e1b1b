// Broadcast-weight GEMM (broadcast_weight.h), written once over a vector traits type S and
// instantiated by broadcast_weight_avx2.cpp / broadcast_weight_avx512.cpp.
//
// Included ONLY by those per-ISA translation units; everything sits in an anonymous namespace so
// each ISA file gets its own private copy compiled with its own flags (a shared inline function
// would be one linker symbol, and the linker could keep the AVX-512 copy for the AVX2 path).
//
// S provides: V (vector), kLanes, load(p), store(p, v) (64-byte aligned p), set1(x), zero(),
// fmadd(a, b, c) = a * b + c, add, max (x86 semantics: the second operand when either is NaN),
// gather(base, index vector of int32 element offsets) and IndexV / iota_scaled(step) for the
// pack, the register budget kTileW x kTileV, and kAtBlockBytes (the At block kept in L1).
// kPackByTranspose: the pack transposes 8 x 8 blocks with transpose8(src, lda, dst, ldd) instead
// of gathering (AVX2: an 8-lane vgatherdps costs about as much as eight scalar loads on AMD Zen).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

namespace minimod::kernels {
namespace {

template <class S>
struct BroadcastWeight {
  using V = typename S::V;
  static constexpr int L = S::kLanes;
  static constexpr int kW = S::kTileW;  // weight rows per tile (broadcast operand)
  static constexpr int kV = S::kTileV;  // vectors of A^T columns per tile (vector operand)
  static constexpr int kLine = 16;      // floats per cache line

  // At (k rows of m_pad floats) = A^T for A rows [0, m) and columns [k0, k0 + kc): At row p - k0
  // holds A[0:m, p], zero from m to m_pad.
  static void pack_at(const float* a, std::int64_t lda, std::int64_t m, std::int64_t k0,
                      std::int64_t kc, std::int64_t m_pad, float* at) {
    const std::int64_t full = m / L * L;
    std::int64_t p = 0;
    if constexpr (S::kPackByTranspose) {
      const std::int64_t full8 = m / 8 * 8;
      for (; p + 8 <= kc; p += 8) {
        for (std::int64_t i = 0; i < full8; i += 8) {
          S::transpose8(a + i * lda + k0 + p, lda, at + p * m_pad + i, m_pad);
        }
        for (std::int64_t q = p; q < p + 8; ++q) {
          float* row = at + q * m_pad;
          for (std::int64_t i = full8; i < m; ++i) row[i] = a[i * lda + k0 + q];
          for (std::int64_t i = m; i < m_pad; ++i) row[i] = 0.0f;
        }
      }
    }
    // Gather offsets are int32: use them while every offset of a row group fits.
    const bool gather_ok = lda <= (std::int64_t{1} << 31) / (L + 1);
    for (; p < kc; ++p) {
      float* row = at + p * m_pad;
      const float* src = a + k0 + p;
      std::int64_t i = 0;
      if (gather_ok) {
        const typename S::IndexV idx = S::iota_scaled(static_cast<int>(lda));
        for (; i < full; i += L) S::store(row + i, S::gather(src + i * lda, idx));
      }
      for (; i < m; ++i) row[i] = src[i * lda];
      for (; i < m_pad; ++i) row[i] = 0.0f;
    }
  }

  // Tile: C[i0 : i0 + NV*L, j0 : j0 + NW] (rows past m dropped) from At columns [i0, ...) and
  // W rows [j0, j0 + NW), over one K block of kc steps. acc[q][v] lane l is C[i0 + v*L + l,
  // j0 + q]: per k step NV vector loads of At and NW broadcasts of W feed NW * NV FMAs. The
  // accumulators continue from `part` unless `first`, and go back there unless `last` (then the
  // epilogue stores C), so every output is one FMA chain over k in order, whatever the tile
  // shape, the K blocking or how N is cut between threads. next_w: the weight segment the next
  // tile reads (kW rows from there, kc floats each), fetched meanwhile; nullptr: none.
  template <int NW, int NV>
  static void tile(std::int64_t kc, const float* __restrict at, std::int64_t m_pad,
                   const float* __restrict w, std::int64_t ldw, const float* next_w,
                   float* __restrict part, bool first, bool last, float* __restrict c, std::int64_t ldc, int rows,
                   const float* scale_row, const float* bias_row, const float* bias_col,
                   bool relu) {
    V acc[NW][NV];
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[q][v] = first ? S::zero() : S::load(part + (q * NV + v) * L);
    }
    auto step = [&](std::int64_t p) __attribute__((always_inline)) {
      V xv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) xv[v] = S::load(at + p * m_pad + v * L);
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) {
        const V wb = S::set1(w[q * ldw + p]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[q][v] = S::fmadd(wb, xv[v], acc[q][v]);
      }
    };
    // Every 16 steps (one cache line of each weight row), the matching line of each row of the
    // next tile's weight segment is fetched: a K block reads only a few lines of each row, too
    // short a run for the hardware prefetchers, and after the bench's pause the weights come
    // from L3 or memory.
    std::int64_t p = 0;
    for (; p + kLine <= kc; p += kLine) {
      if (next_w != nullptr) {
#pragma GCC unroll 8
        for (int q = 0; q < kW; ++q) __builtin_prefetch(next_w + q * ldw + p, 0, 3);
      }
#pragma GCC unroll 4
      for (int s = 0; s < kLine; ++s) step(p + s);
    }
    for (; p < kc; ++p) step(p);
    if (next_w != nullptr) {  // the line holding the last element (rows need not be aligned)
#pragma GCC unroll 8
      for (int q = 0; q < kW; ++q) __builtin_prefetch(next_w + q * ldw + kc - 1, 0, 3);
    }
    // Linear's epilogue (column bias, ReLU) on the vectors, before the transpose: then the
    // transposed copy into C is plain loads and stores. A per-row scale or bias (conv) varies
    // along the lanes, past m too, so it stays scalar.
    const bool vector_epilogue = last && scale_row == nullptr && bias_row == nullptr;
#pragma GCC unroll 8
    for (int q = 0; q < NW; ++q) {
      const V bq = vector_epilogue && bias_col != nullptr ? S::set1(bias_col[q]) : S::zero();
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        V y = acc[q][v];
        if (vector_epilogue) {
          if (bias_col != nullptr) y = S::add(y, bq);
          if (relu) y = S::max(S::zero(), y);  // zero first: a NaN sum stays NaN
        }
        S::store(part + (q * NV + v) * L, y);
      }
    }
    if (!last) return;
    if (vector_epilogue) {
      for (int i = 0; i < rows; ++i) {
        float* crow = c + i * ldc;
#pragma GCC unroll 8
        for (int q = 0; q < NW; ++q) crow[q] = part[q * NV * L + i];
      }
      return;
    }
    for (int i = 0; i < rows; ++i) {
      float* crow = c + i * ldc;
      const float s = scale_row != nullptr ? scale_row[i] : 1.0f;
      const float br = bias_row != nullptr ? bias_row[i] : 0.0f;
#pragma GCC unroll 8
      for (int q = 0; q < NW; ++q) {
        float y = part[q * NV * L + i];
        if (scale_row != nullptr) y *= s;
        if (bias_row != nullptr) y += br;
        if (bias_col != nullptr) y += bias_col[q];
        crow[q] = relu && y < 0.0f ? 0.0f : y;
      }
    }
  }

  using TileFn = void (*)(std::int64_t, const float*, std::int64_t, const float*, std::int64_t,
                          const float*, float*, bool, bool, float*, std::int64_t, int, const float*,
                          const float*, const float*, bool);

  template <int NW, int... Vs>
  static constexpr auto tile_row(std::integer_sequence<int, Vs...>) {
    return std::array<TileFn, kV>{&tile<NW, Vs + 1>...};
  }
  template <int... Ws>
  static constexpr auto tile_table(std::integer_sequence<int, Ws...>) {
    return std::array<std::array<TileFn, kV>, kW>{
        tile_row<Ws + 1>(std::make_integer_sequence<int, kV>())...};
  }

  // C (m x n) = A * W^T (+ epilogue) with A given as At (pack_at, all of k). K blocks
  // outermost, each block of At (kc x m_pad, S::kAtBlockBytes) passed by every weight tile of
  // the slice: kept in L1 on AVX-512 (At streamed from L2 at every k step starved the FMAs
  // there: ~50% of peak), in L2 on AVX2 (on Zen3 the running sums' trips through `part`
  // between blocks cost more). Within a block, tiles of kW weight rows by kV vectors of A^T columns, weight rows
  // outer, so a tile's weight segment is fetched from memory once and reused from L1 by every
  // column group. `part` holds the running sums between K blocks: ceil(n / kW) * kW * m_pad
  // floats, 64-byte aligned.
  static void gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* at,
                   std::int64_t m_pad, const float* w, std::int64_t ldw, float* c,
                   std::int64_t ldc, float* part, const float* scale_row, const float* bias_row,
                   const float* bias_col, bool relu) {
    static constexpr auto kTiles = tile_table(std::make_integer_sequence<int, kW>());
    constexpr std::int64_t kGroup = std::int64_t{kV} * L;
    const std::int64_t kc_max =
        std::max<std::int64_t>(16, S::kAtBlockBytes / (m_pad * std::int64_t{sizeof(float)}));
    const std::int64_t blocks = (k + kc_max - 1) / kc_max;
    for (std::int64_t b = 0; b < blocks; ++b) {
      // Equal blocks: where a block ends depends only on k and m_pad.
      const std::int64_t p0 = k * b / blocks, p1 = k * (b + 1) / blocks;
      for (std::int64_t j = 0; j < n; j += kW) {
        const int nw = static_cast<int>(n - j < kW ? n - j : kW);
        // The next tile: the following rows in this block, else the first rows in the next.
        const float* next_w = j + kW < n ? w + (j + kW) * ldw + p0
                              : b + 1 < blocks ? w + p1 : nullptr;
        for (std::int64_t i = 0; i < m; i += kGroup, next_w = nullptr) {
          const std::int64_t cols = m - i < kGroup ? m - i : kGroup;
          const int nv = static_cast<int>((cols + L - 1) / L);
          kTiles[nw - 1][nv - 1](p1 - p0, at + p0 * m_pad + i, m_pad, w + j * ldw + p0, ldw,
                                 next_w, part + j * m_pad + i * kW, b == 0, b + 1 == blocks,
                                 c + i * ldc + j, ldc, static_cast<int>(cols),
                                 scale_row != nullptr ? scale_row + i : nullptr,
                                 bias_row != nullptr ? bias_row + i : nullptr,
                                 bias_col != nullptr ? bias_col + j : nullptr, relu);
        }
      }
    }
  }
};

}  // namespace
}  // namespace minimod::kernels
