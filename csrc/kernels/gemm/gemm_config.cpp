// Fills the GEMM dispatch tables: the generic one always, the AVX ones only once the CPU is known
// to support them (their fill functions are compiled with AVX flags and may use AVX themselves).
#include "kernels/gemm/gemm_config.h"

#include <algorithm>
#include <chrono>

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

double fma_peak_gflops() {
  const FmaProbeFn probe = gemm_kernels().fma_probe;
  using Clock = std::chrono::steady_clock;
  std::int64_t iters = 1 << 12;
  double best = 0.0;
  // Many short runs, the best kept: on a shared machine some run finds the core to itself.
  for (int run = 0; run < 40; ++run) {
    const auto t0 = Clock::now();
    const double flops = probe(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s < 1e-3) {  // too short to time well: grow, do not count
      iters *= 4;
      continue;
    }
    best = std::max(best, flops / s * 1e-9);
  }
  return best;
}

}  // namespace minimod::kernels
