// The per-ISA kernels of the pooling family, gathered in one table (chosen once per call in
// pool.cpp, the family's only dispatch point).
//
// Kernels here take pointers and sizes only: no threading, no allocation, no argument checks.
#pragma once

#include <cstdint>

#include "kernels/pool/pool.h"

namespace minimod {

struct PoolKernels {
  // Max pooling of the outputs [lo, hi) of one output row, every window of which lies wholly
  // inside the input horizontally (x from ox * sw - pw to ox * sw - pw + (kw - 1) dw, all in
  // [0, iw)). The window's rows are y0, y0 + dh, ... < y1 of the plane `xp` (already clipped,
  // y0 < y1). Taps are visited row by row, left to right, with torch's update rule (a strictly
  // larger value or a NaN takes over), so results match the scalar kernel bit for bit.
  void (*max_row_interior)(const float* xp, float* yr, std::int64_t y0, std::int64_t y1,
                           std::int64_t iw, std::int64_t lo, std::int64_t hi, const Pool2dWindow& w);
  // MaxPool2d(2): 2 x 2 windows at stride 2, no padding or dilation. `rows` output rows of `ow`
  // outputs each (at y, y + ow, ...); output row i reads input rows 2i and 2i + 1 of x (row stride
  // iw >= 2 ow). The taps in torch's order, with its update rule, as max_row_interior.
  void (*max_pool_2x2)(const float* x, std::int64_t iw, float* y, std::int64_t ow,
                       std::int64_t rows);
};

namespace {  // one private copy per translation unit: they are compiled with different ISA flags

// torch's rule for one tap: a strictly larger value or a NaN takes over.
inline float max_tap(float best, float v) { return ((v > best) | (v != v)) ? v : best; }

// One MaxPool2d(2) window, taps in torch's order (row by row, left to right). Starting from the
// first tap is the same as starting from -inf and taking it.
inline float max_2x2_window(const float* r0, const float* r1) {
  return max_tap(max_tap(max_tap(r0[0], r0[1]), r1[0]), r1[1]);
}

}  // namespace

const PoolKernels& pool_kernels_generic();
#if defined(MINIMOD_X86)
const PoolKernels& pool_kernels_avx2();
const PoolKernels& pool_kernels_avx512();
#endif

}  // namespace minimod
