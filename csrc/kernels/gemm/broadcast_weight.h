// Broadcast-weight GEMM for Linear at moderate batch: C = A * W^T with W read in place.
//
// Computed as C^T = W * A^T: A (m x k, the batch) is transposed once per call into At (k rows of
// m_pad floats, shared by all threads), and the kernel is an outer product whose broadcast
// operand is W, read in its natural layout (each weight row is a sequential stream along k, one
// scalar broadcast per element), and whose vector operand is a row of At. At m <= 64 a whole
// At row is kTileV vectors (AVX-512), so every weight is loaded exactly once per call and
// nothing of W is rearranged; the packed path (sgemm.cpp) must transpose W into K x NR panels on
// every call instead (weights are never cached packed), and the inner-product kernels
// (inner_product.h) re-read each row of x once per weight block and end every output in a
// horizontal reduction.
//
// Each output is one FMA chain over k in order, whatever the tile, thread count or N slice.
#pragma once

#include <cstdint>

namespace minimod::kernels {

// Linear-layout GEMMs (A row-major, B = W^T) with kInnerProductM < m <= kBroadcastWeightM
// that the inner-product path does not take come here when the ISA has the kernel.
inline constexpr std::int64_t kBroadcastWeightM = 64;

// At rows [0, kc) = A[0:m, k0 : k0 + kc]^T, each m_pad floats (zero past m).
using BroadcastWeightPackFn = void (*)(const float* a, std::int64_t lda, std::int64_t m,
                                       std::int64_t k0, std::int64_t kc, std::int64_t m_pad,
                                       float* at);
// C (m x n, row stride ldc) = (At^T * W^T) * scale_row[i] + bias_row[i] + bias_col[j] (each
// term only when not null), then ReLU when relu. At from the pack (64-byte aligned, m_pad a
// multiple of the lane count), W (n x k) with row stride ldw. `part`: scratch for the running
// sums, ceil(n / tile rows) * tile rows * m_pad floats, 64-byte aligned.
using BroadcastWeightFn = void (*)(std::int64_t m, std::int64_t n, std::int64_t k,
                                   const float* at, std::int64_t m_pad, const float* w,
                                   std::int64_t ldw, float* c, std::int64_t ldc, float* part,
                                   const float* scale_row, const float* bias_row,
                                   const float* bias_col, bool relu);

void f32_broadcast_weight_pack__avx2(const float* a, std::int64_t lda, std::int64_t m,
                                     std::int64_t k0, std::int64_t kc, std::int64_t m_pad,
                                     float* at);
void f32_broadcast_weight_nt__avx2(std::int64_t m, std::int64_t n, std::int64_t k,
                                   const float* at, std::int64_t m_pad, const float* w,
                                   std::int64_t ldw, float* c, std::int64_t ldc, float* part,
                                   const float* scale_row, const float* bias_row,
                                   const float* bias_col, bool relu);
void f32_broadcast_weight_pack__avx512(const float* a, std::int64_t lda, std::int64_t m,
                                       std::int64_t k0, std::int64_t kc, std::int64_t m_pad,
                                       float* at);
void f32_broadcast_weight_nt__avx512(std::int64_t m, std::int64_t n, std::int64_t k,
                                     const float* at, std::int64_t m_pad, const float* w,
                                     std::int64_t ldw, float* c, std::int64_t ldc, float* part,
                                     const float* scale_row, const float* bias_row,
                                     const float* bias_col, bool relu);

}  // namespace minimod::kernels
