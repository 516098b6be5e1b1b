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
};

const PoolKernels& pool_kernels_generic();
#if defined(MINIMOD_X86)
const PoolKernels& pool_kernels_avx2();
const PoolKernels& pool_kernels_avx512();
#endif

}  // namespace minimod
