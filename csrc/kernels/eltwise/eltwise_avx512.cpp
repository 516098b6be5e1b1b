// The AVX-512 eltwise path: 16 float lanes, mask registers for compares. Built with -mavx512f
// (and friends) for this file only and reached only through dispatch.cpp after the CPU was checked.
#include <immintrin.h>

#include "kernels/eltwise/vec_kernels.h"

namespace minimod {

namespace {

struct Avx512 {
  using V = __m512;
  using M = __mmask16;
  static constexpr int W = 16;

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V fmsub(V a, V b, V c) { return _mm512_fmsub_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V xor_sign(V a, V s) {
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(INT32_MIN));
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), sign));
  }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
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

const EltwiseKernels& eltwise_kernels_avx512() { return VecKernels<Avx512>::table(); }

}  // namespace minimod
