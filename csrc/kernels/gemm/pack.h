// Packing helpers of the blocked GEMM path (the packed layouts are documented in pack.cpp).
#pragma once

#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace minimod::kernels {

// Packs rows [i0, i0 + mc) and columns [k0, k0 + kc) of A (strides rs, cs) into ceil(mc / mr)
// panels; panel p holds kc steps of mr floats (row r of step k at dst + p*mr*kc + k*mr + r).
void pack_a(const float* a, std::int64_t rs, std::int64_t cs, std::int64_t i0, std::int64_t mc,
            std::int64_t k0, std::int64_t kc, int mr, float* dst);

}  // namespace minimod::kernels
