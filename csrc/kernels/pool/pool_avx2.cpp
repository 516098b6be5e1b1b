// The AVX2 pooling path: 8 float lanes; row tails through vmaskmovps (masked-off lanes are not
// read or written). Built with -mavx2 -mfma for this file only and reached only through
// pool.cpp's dispatch.
#include <immintrin.h>

#include "kernels/pool/vec_pool.h"

namespace minimod {

namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int W = 8;

  static __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V load_first(const float* p, int n) {
    return n >= W ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, first(n));
  }
  static void store_first(float* p, V v, int n) {
    if (n >= W) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, first(n), v);
    }
  }
  static V update(V best, V v) {
    const V take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_ps(best, v, take);
  }
  static V even_lanes(V a, V b) {
    // Within each 128-bit half pick lanes 0 and 2 of a then of b, then put the halves in order.
    const V mixed = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
  }
};

}  // namespace

const PoolKernels& pool_kernels_avx2() { return VecPool<Avx2>::table(); }

}  // namespace minimod
