// The AVX-512 batch-norm path (16 lanes). Built with -mavx512f for this file only and reached
// only through batchnorm.cpp's dispatch.
#include <immintrin.h>

#include "kernels/norm/vec_affine.h"

namespace minimod {

namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int W = 16;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
};

}  // namespace

const NormKernels& norm_kernels_avx512() { return VecAffine<Avx512>::table(); }

}  // namespace minimod
