// Naive reference GEMM: three loops, float64 accumulation. The oracle the tests compare every
// ISA path against (exposed as _core._testing.sgemm(..., reference=True)).
#include "kernels/gemm/gemm.h"

namespace minimod::kernels {

void sgemm_ref(std::int64_t M, std::int64_t N, std::int64_t K, const float* a,
               std::int64_t a_rs, std::int64_t a_cs, const float* b, std::int64_t b_rs,
               std::int64_t b_cs, float* c, std::int64_t ldc, const GemmEpilogue& ep) {
  for (std::int64_t i = 0; i < M; ++i) {
    for (std::int64_t j = 0; j < N; ++j) {
      double s = 0.0;
      for (std::int64_t k = 0; k < K; ++k) {
        s += static_cast<double>(a[i * a_rs + k * a_cs]) * static_cast<double>(b[k * b_rs + j * b_cs]);
      }
      if (ep.bias_kind == GemmEpilogue::Bias::PerRow) s += ep.bias[i];
      if (ep.bias_kind == GemmEpilogue::Bias::PerCol) s += ep.bias[j];
      if (ep.relu && s < 0.0) s = 0.0;
      c[i * ldc + j] = static_cast<float>(s);
    }
  }
}

}  // namespace minimod::kernels
