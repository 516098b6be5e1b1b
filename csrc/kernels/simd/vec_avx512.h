// 16-lane float vectors for the AVX-512 translation units: the same operations as vec_avx2.h
// (read it first), with mask registers for compares and masked loads and stores.
//
// Include ONLY from a file compiled with -mavx512f (and friends); anonymous namespace for the
// reason vec_avx2.h gives.
#pragma once

#include <immintrin.h>
#include <stdint.h>

namespace minimod {
namespace {

struct Avx512 {
  using V = __m512;
  using M = __mmask16;
  static constexpr int W = 16;

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V zero() { return _mm512_setzero_ps(); }
  // The first n lanes (0 < n <= W): masked-off lanes are not read (faults suppressed) or written.
  static __mmask16 first(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V load_first(const float* p, int n) { return n >= W ? load(p) : _mm512_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, V v, int n) {
    if (n >= W) {
      store(p, v);
    } else {
      _mm512_mask_storeu_ps(p, first(n), v);
    }
  }

  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V fmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max_keep_nan(V best, V v) {
    const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(take, best, v);
  }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V xor_sign(V a, V s) {
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), sign));
  }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V even_lanes(V a, V b) {
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, idx, b);
  }
  static V odd_lanes(V a, V b) {
    const __m512i idx = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_permutex2var_ps(a, idx, b);
  }
  // vscalefps: p 2^n with a single rounding, including into the subnormals and to 0 or inf.
  static V ldexp(V p, V n) { return _mm512_scalef_ps(p, n); }
  static constexpr bool kReciprocalBeatsDivider = true;  // measured: see vec_math.h div_by_normal
  static V rcp(V a) { return _mm512_rcp14_ps(a); }
  static M finite(V a) {
    // fpclass categories 0x01 QNaN, 0x08 +inf, 0x10 -inf, 0x80 SNaN: finite is none of them.
    return static_cast<M>(~_mm512_fpclass_ps_mask(a, 0x01 | 0x08 | 0x10 | 0x80));
  }
  static float hsum(V a) { return _mm512_reduce_add_ps(a); }
  static float hmax(V a) { return _mm512_reduce_max_ps(a); }
};

}  // namespace
}  // namespace minimod
