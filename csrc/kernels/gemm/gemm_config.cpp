// Fills the GEMM dispatch tables: the generic one always, the AVX ones only once the CPU is known
// to support them (their fill functions are compiled with AVX flags and may use AVX themselves).
#include "kernels/gemm/gemm_config.h"

namespace minimod::kernels {

namespace {

GemmKernels make(void (*fill)(GemmKernels*)) {
  GemmKernels t;
  fill(&t);
  return t;
}

}  // namespace

const GemmKernels& gemm_kernels(Isa isa) {
#if defined(MINIMOD_X86)
  if (isa == Isa::Avx512 && detected_isa() == Isa::Avx512) {
    static const GemmKernels t = make(fill_gemm_kernels_avx512);
    return t;
  }
  if (isa >= Isa::Avx2 && detected_isa() >= Isa::Avx2) {
    static const GemmKernels t = make(fill_gemm_kernels_avx2);
    return t;
  }
#endif
  static const GemmKernels t = make(fill_gemm_kernels_generic);
  return t;
}

const GemmKernels& gemm_kernels() { return gemm_kernels(active_isa()); }

}  // namespace minimod::kernels
