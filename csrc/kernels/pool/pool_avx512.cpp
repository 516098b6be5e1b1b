// The AVX-512 pooling path: 16 float lanes, masked loads and stores for row tails. Built with
// -mavx512f (and friends) for this file only and reached only through pool.cpp's dispatch.
#include <immintrin.h>

#include "kernels/pool/vec_pool.h"

namespace minimod {

namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int W = 16;

  static __mmask16 first(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  // Masked-off lanes are not read (faults suppressed), so a load may end exactly at a row's end.
  static V load_first(const float* p, int n) {
    return n >= W ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(first(n), p);
  }
  static void store_first(float* p, V v, int n) {
    if (n >= W) {
      _mm512_storeu_ps(p, v);
    } else {
      _mm512_mask_storeu_ps(p, first(n), v);
    }
  }
  static V update(V best, V v) {
    const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(take, best, v);
  }
  static V even_lanes(V a, V b) {
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, idx, b);
  }
};

}  // namespace

const PoolKernels& pool_kernels_avx512() { return VecPool<Avx512>::table(); }

}  // namespace minimod
