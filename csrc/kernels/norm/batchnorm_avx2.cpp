// The AVX2 batch-norm path (8 lanes). Built with -mavx2 -mfma for this file only and reached only
// through batchnorm.cpp's dispatch.
#include <immintrin.h>

#include "kernels/norm/vec_affine.h"

namespace minimod {

namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int W = 8;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};

}  // namespace

const NormKernels& norm_kernels_avx2() { return VecAffine<Avx2>::table(); }

}  // namespace minimod
