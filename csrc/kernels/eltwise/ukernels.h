// The per-ISA kernels of the eltwise family, gathered in one table (see dispatch.cpp).
//
// Kernels here take pointers and counts only: no threading, no allocation. The dispatcher splits
// work into chunks and hands each chunk to the table of the active ISA.
#pragma once

#include <cstdint>

#include "kernels/eltwise/activation.h"

namespace minimod {

struct EltwiseKernels {
  // y[i] = op(x[i]) for i < n.
  void (*activation)(Activation op, const float* x, float* y, std::int64_t n, ActivationArgs args);
  // `rows` contiguous rows of length `dim` (softmax along the last axis).
  void (*softmax_rows)(const float* x, float* y, std::int64_t rows, std::int64_t dim, bool log);
  // `cols` adjacent columns of a (dim, stride) slab: softmax down each column. x and y point at the
  // first column; element (d, j) is at d * stride + j.
  void (*softmax_cols)(const float* x, float* y, std::int64_t dim, std::int64_t stride,
                       std::int64_t cols, bool log);
};

const EltwiseKernels& eltwise_kernels_generic();
#if defined(MINIMOD_X86)
const EltwiseKernels& eltwise_kernels_avx2();
const EltwiseKernels& eltwise_kernels_avx512();
#endif

}  // namespace minimod
