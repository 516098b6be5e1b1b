// Inner-product GEMM for Linear at small and moderate batch: C = A * W^T with neither operand
// packed.
//
// y[i, j] = dot(x[i, :], W[j, :]): a row of x and a row of W are both contiguous along K in the
// layouts Linear already has, so the kernel reads them in place. The packed path (sgemm.cpp)
// must transpose W into K x NR panels on every call (weights are never cached packed: a plain
// module sees every write to its parameters), and for a narrow layer (N = 10) it packs all of x
// for one or two panels; here every weight is read exactly once and nothing is rearranged.
//
// Register tile: R rows of x by NW rows of W, one SIMD accumulator per pair, the whole K loop in
// registers, then one horizontal reduction per tile (a shuffle tree that reduces 16 accumulators
// at once: ~3 instructions per output instead of ~9 for one at a time). Loop order: for each
// block of NW weight rows (L1-resident, NW * K * 4 bytes), every row group of x (x stays in L2),
// so the weights stream from memory once.
//
// No software prefetch: fetching the next weight block (into L1 or L2, one or two blocks ahead,
// spread over the row groups) measured no faster with the weights in L3, and slower at batch 1.
//
// The caller (sgemm.cpp) splits N over threads, so each core streams only its own weight rows.
// Each output is one fixed sequence of operations whatever the tile, M or thread count.
#pragma once

#include <cstdint>

namespace minimod::kernels {

// Which Linear-layout GEMMs (A row-major, B = W^T) come here instead of the packed path: every
// one with M <= kInnerProductM, and narrow ones (N <= kInnerProductNarrowN) up to
// kInnerProductNarrowM. Measured (AVX-512, one core, weights in L2): at N = 512 this path is
// 1.1-2x the packed one's GFLOP/s up to M = 32 and level with it at M = 64, where the packed
// path's prefetching of the weight panels wins once the weights have dropped to L3 (the MLP
// benchmark after its pause); at N <= 128 the packed path packs all of x for a few panels and
// loses up to 3x (N = 10: 21 us against 7 us at M = 64, K = 512). The wide ones between
// M = 32 and 64 go to the broadcast-weight kernels where the ISA has them (broadcast_weight.h).
inline constexpr std::int64_t kInnerProductM = 32;
inline constexpr std::int64_t kInnerProductNarrowM = 64;
inline constexpr std::int64_t kInnerProductNarrowN = 128;

inline bool use_inner_product(std::int64_t m, std::int64_t n) {
  return m <= kInnerProductM || (m <= kInnerProductNarrowM && n <= kInnerProductNarrowN);
}

// C (m x n, row stride ldc) = A (m x k, row stride lda) * W^T, W (n x k, row stride ldw), times
// scale_row[i], plus bias_row[i] / bias_col[j] (each only when not null), then ReLU when relu.
// Any m >= 1, n >= 1, k >= 1. One template (inner_product_vec.h) serves AVX2 and AVX-512.
void f32_inner_product_nt__generic(std::int64_t m, std::int64_t n, std::int64_t k,
                                   const float* a, std::int64_t lda, const float* w,
                                   std::int64_t ldw, float* c, std::int64_t ldc,
                                   const float* scale_row, const float* bias_row,
                                   const float* bias_col, bool relu);
void f32_inner_product_nt__avx2(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                                std::int64_t ldc, const float* scale_row, const float* bias_row,
                                const float* bias_col, bool relu);
void f32_inner_product_nt__avx512(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                  std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                                  std::int64_t ldc, const float* scale_row, const float* bias_row,
                                  const float* bias_col, bool relu);

}  // namespace minimod::kernels
