// 8-lane float vectors for the AVX2+FMA translation units: the one definition of the operations
// minimod's vector kernels are written against (eltwise/vec_kernels.h and vec_math.h,
// norm/vec_affine.h, pool/vec_pool.h, conv/depthwise_vec.h). vec_avx512.h defines the same
// names for 16 lanes, so a kernel template instantiates once per ISA.
//
// Include ONLY from a file compiled with -mavx2 -mfma. The struct sits in an anonymous namespace:
// each translation unit keeps a private copy, so no function compiled for AVX2 becomes the one
// copy the linker keeps for every path (see eltwise/vec_math.h).
#pragma once

#include <immintrin.h>
#include <math.h>

namespace minimod {
namespace {

// Stores lanes [0, n) of v (n >= 8: all; n <= 0: none) and touches nothing past them. Not
// vmaskmovps: its store form is microcoded on AMD Zen (measured ~6 ns per store on Zen3, against
// ~0.8 ns for a plain store or for this 4 + 2 + 1 split), and the GEMM packers and edge tiles
// issue it in loops.
inline void store_lanes(float* p, __m256 v, int n) {
  if (n >= 8) {
    _mm256_storeu_ps(p, v);
    return;
  }
  if (n <= 0) return;
  __m128 part = _mm256_castps256_ps128(v);
  if (n & 4) {
    _mm_storeu_ps(p, part);
    p += 4;
    part = _mm256_extractf128_ps(v, 1);
  }
  if (n & 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
    p += 2;
    part = _mm_movehl_ps(part, part);
  }
  if (n & 1) _mm_store_ss(p, part);
}

struct Avx2 {
  using V = __m256;
  using M = __m256;  // AVX2 compares produce all-ones lanes in a float vector
  static constexpr int W = 8;

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V zero() { return _mm256_setzero_ps(); }
  // The first n lanes (0 < n <= W): masked-off lanes are neither read nor written (a masked load,
  // store_lanes), so an access may end exactly at the end of a row.
  static __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_first(const float* p, int n) { return n >= W ? load(p) : _mm256_maskload_ps(p, first(n)); }
  static void store_first(float* p, V v, int n) { store_lanes(p, v, n); }

  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V fmsub(V a, V b, V c) { return _mm256_fmsub_ps(a, b, c); }
  // x86 semantics: the SECOND operand is returned when either is NaN.
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  // max(best, v) that takes a NaN v (and keeps a NaN best): torch's max pooling.
  static V max_keep_nan(V best, V v) {
    const V take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_ps(best, v, take);
  }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static V xor_sign(V a, V s) { return _mm256_xor_ps(a, _mm256_and_ps(s, _mm256_set1_ps(-0.0f))); }
  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // Lanes 0, 2, 4, ... of a then of b (stride-2 gathers).
  static V even_lanes(V a, V b) {
    // Within each 128-bit half pick lanes 0 and 2 of a then of b, then put the halves in order.
    const V mixed = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // Lanes 1, 3, 5, ... of a then of b.
  static V odd_lanes(V a, V b) {
    const V mixed = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));  // a1 a3 b1 b3 | a5 a7 b5 b7
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mixed), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static V pow2i(V n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
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
}  // namespace minimod
