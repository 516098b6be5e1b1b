// Packing helpers of the blocked GEMM path (the packed layouts are documented in pack.cpp).
#pragma once

#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace minimod::kernels {

// d[0, NR) = s[0, cols) then zeros: one panel row. A fixed trip count the compiler unrolls into
// vector moves (a library memcpy call costs more than the copy for 32-128 bytes).
template <int NR>
inline void copy_panel_row(float* d, const float* s, std::int64_t cols) {
  if (cols == NR) {
    for (int i = 0; i < NR; ++i) d[i] = s[i];
    return;
  }
  std::int64_t i = 0;
  for (; i < cols; ++i) d[i] = s[i];
  for (; i < NR; ++i) d[i] = 0.0f;
}

// The packed A layout: rows [i0, i0 + mc) and columns [k0, k0 + kc) of A (strides rs, cs) go into
// ceil(mc / mr) panels; panel p holds kc steps of mr floats (row r of step k at
// dst + p*mr*kc + k*mr + r). The packers are per ISA: GemmKernels::pack_a (gemm_config.h).

}  // namespace minimod::kernels
