// The per-ISA kernels of the normalisation family (chosen once per call in batchnorm.cpp, the
// family's only dispatch point). Pointers and counts only: no threading, no allocation.
#pragma once

#include <cstdint>

namespace minimod {

struct NormKernels {
  // y[i] = (x[i] - center) * scale + shift for i < n (the vector paths fuse the multiply-add:
  // results may differ from the generic path's in the last bit). y may alias x.
  void (*affine)(const float* x, float* y, std::int64_t n, float center, float scale, float shift);
};

const NormKernels& norm_kernels_generic();
#if defined(MINIMOD_X86)
const NormKernels& norm_kernels_avx2();
const NormKernels& norm_kernels_avx512();
#endif

}  // namespace minimod
