// The AVX2+FMA eltwise path: 8 float lanes. Built with -mavx2 -mfma for this file only and
// reached only through dispatch.cpp after the CPU was checked.
#include <immintrin.h>

#include "kernels/eltwise/vec_kernels.h"

namespace minimod {

namespace {

struct Avx2 {
  using V = __m256;
  using M = __m256;  // AVX2 compares produce all-ones lanes in a float vector
  static constexpr int W = 8;

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V fmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static V xor_sign(V a, V s) { return _mm256_xor_ps(a, _mm256_and_ps(s, _mm256_set1_ps(-0.0f))); }
  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p 2^n as two exact power-of-two factors 2^n1 2^n2 (|n1|, |n2| <= 80, each a normal float),
  // so n may reach -160 (gradual underflow, one rounding in the second product) or +128
  // (overflow to inf) without building an out-of-range exponent.
  static V ldexp(V p, V n) {
    const V n1 = round(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)));
    const V n2 = _mm256_sub_ps(n, n1);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2i(n1)), pow2i(n2));
  }
  static constexpr bool kReciprocalBeatsDivider = false;  // measured: see vec_math.h div_by_normal
  static V rcp(V a) { return _mm256_rcp_ps(a); }
  static M finite(V a) { return _mm256_cmp_ps(abs(a), _mm256_set1_ps(INFINITY), _CMP_LT_OQ); }
  static V pow2i(V n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static float hsum(V a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(V a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace

const EltwiseKernels& eltwise_kernels_avx2() { return VecKernels<Avx2>::table(); }

}  // namespace minimod
