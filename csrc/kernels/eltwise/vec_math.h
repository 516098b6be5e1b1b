// Vector float32 transcendentals, written once over a traits type S and instantiated per ISA.
//
// Included ONLY by the per-ISA translation units (*_avx2.cpp, *_avx512.cpp). Everything here sits
// in an anonymous namespace on purpose: each ISA file gets its own private copy compiled with its
// own flags. A shared inline function would be one linker symbol, and the linker could keep the
// AVX-512 build of it for the AVX2 path, which would fault on an AVX2-only CPU.
//
// S (kernels/simd/vec_avx2.h or vec_avx512.h) provides: V (vector), M (comparison mask),
// W (lanes), load, store, set1, hsum, hmax, add, sub, mul, div, fmadd(a,b,c)
// = a*b+c, fnmadd(a,b,c) = c-a*b, fmsub(a,b,c) = a*b-c, max, min (x86 semantics: the SECOND
// operand is returned when either is NaN), abs, xor_sign(a, s) (flip a's sign where s is
// negative), lt, gt, select(m, a, b) = m ? a : b, round (to nearest integer), ldexp(p, n) = p 2^n
// for integral n in [-160, 160] (one rounding, to a subnormal, 0 or inf as the product needs),
// rcp (an approximate reciprocal, relative error <= 1.5 * 2^-12), finite (mask of finite lanes),
// kReciprocalBeatsDivider (div_by_normal below refines rcp instead of dividing).
//
// Accuracy, measured against a double reference on dense sweeps of [-110, 110] and random
// inputs (and asserted by tests/kernels/test_eltwise.py on every ISA):
//   sigmoid  <= 2.3 ulp wherever its value is a normal float (no early flush to 0);
//   silu     <= 3 ulp where |y| > 1e-30 (below, x e / (1 + e) inherits a subnormal e^x);
//   tanh     <= 1.3 ulp;
//   GELU     <= 5.3e-7 relative wherever its value is a normal float;
//   GELU tanh form <= 3e-6 relative where |y| > 1e-7. Further out its value is e^(-2u) with
//            |2u| large, and the float rounding of u is amplified (1e-5 relative at |y| ~ 1e-30:
//            an absolute error far below any float32 tolerance).
//
// Polynomial coefficients were fitted by weighted least squares (relative error) at 800 Chebyshev
// nodes against mpmath at 40 digits, then checked in float32 evaluation; GELU's erfcx polynomial
// by reweighted least squares (towards minimax relative error) at 4000 Chebyshev nodes in t
// against scipy.special.erfcx (float64), then checked in float32 evaluation the same way.
#pragma once

namespace minimod {
namespace {

template <class S>
struct VecMath {
  using V = typename S::V;

  // e^x. Range reduction x = n ln2 + r, |r| <= ln2/2, with ln2 split in two so n*ln2_hi is exact;
  // e^r = 1 + r + r^2 P(r) (degree-5 P, relative error 3e-9), scaled by 2^n through S::ldexp, which
  // rounds once into the subnormals (gradual underflow) or to +inf. x is clamped to [-110, hi]:
  // below -110 the product is 0 whatever p is, above hi it is +inf.
  static V exp(V x) {
    const V hi = S::set1(88.72283935546875f);  // just above ln(FLT_MAX): rounds to +inf
    x = S::min(hi, S::max(S::set1(-110.0f), x));  // operand order keeps NaN
    const V n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
    V r = S::fnmadd(n, S::set1(0.693359375f), x);
    r = S::fnmadd(n, S::set1(-2.12194440e-4f), r);
    V p = S::set1(1.984951851e-04f);
    p = S::fmadd(p, r, S::set1(1.393358128e-03f));
    p = S::fmadd(p, r, S::set1(8.333373128e-03f));
    p = S::fmadd(p, r, S::set1(4.166646572e-02f));
    p = S::fmadd(p, r, S::set1(1.666666650e-01f));
    p = S::fmadd(p, r, S::set1(5.000000013e-01f));
    const V e = S::add(S::fmadd(S::mul(r, r), p, r), S::set1(1.0f));
    return S::ldexp(e, n);
  }

  // num / d for d in [1, 2^30] (a positive normal float far from overflow), without the divider:
  // the approximate reciprocal refined by one Newton step (relative error ~2^-23), the quotient,
  // then one correction with its exact FMA residual, which leaves it within a rounding or so of
  // the true quotient (the test sweeps hold the ulp bounds above). A non-finite quotient (num
  // infinite or NaN) is returned as the product gives it: its residual would be NaN. Used only
  // where S says it wins: a 16-lane divide is slow, an 8-lane one is cheaper than these 8 ops.
  static V div_by_normal(V num, V d) {
    if constexpr (!S::kReciprocalBeatsDivider) return S::div(num, d);
    V r = S::rcp(d);
    r = S::fmadd(S::fnmadd(d, r, S::set1(1.0f)), r, r);
    const V q = S::mul(num, r);
    const V residual = S::fnmadd(d, q, num);
    return S::select(S::finite(q), S::fmadd(residual, r, q), q);
  }

  // sigmoid from e = e^-|x|, which never overflows: 1 / (1 + e) for x >= 0 and e / (1 + e)
  // for x < 0, so the far negative side keeps full relative accuracy down to the subnormals
  // (1 / (1 + e^-x) would overflow e^-x to inf and flush to 0 already below x = -88.7).
  static V sigmoid(V x) {
    const V one = S::set1(1.0f);
    const V e = exp(S::xor_sign(S::abs(x), S::set1(-1.0f)));
    const V num = S::select(S::lt(x, S::set1(0.0f)), e, one);
    return div_by_normal(num, S::add(one, e));
  }

  // x * sigmoid(x) with the same e = e^-|x|: x / (1 + e) for x >= 0, x e / (1 + e) for x < 0
  // (one division, no separate sigmoid rounding). silu(-inf) is -inf * 0 = NaN, as torch's
  // x / (1 + e^-x) gives.
  static V silu(V x) {
    const V e = exp(S::xor_sign(S::abs(x), S::set1(-1.0f)));
    const V num = S::select(S::lt(x, S::set1(0.0f)), S::mul(x, e), x);
    return div_by_normal(num, S::add(S::set1(1.0f), e));
  }

  // tanh: an odd polynomial for |x| < 0.625 (where 1 - 2/(e^2x + 1) would cancel), else the
  // exp form with the sign restored. Both are computed and blended: no per-lane branching.
  static V tanh(V x) {
    const V ax = S::abs(x);
    const V z = S::mul(x, x);
    V p = S::set1(-6.138849559e-03f);
    p = S::fmadd(p, z, S::set1(2.103317249e-02f));
    p = S::fmadd(p, z, S::set1(-5.386097053e-02f));
    p = S::fmadd(p, z, S::set1(1.333286945e-01f));
    p = S::fmadd(p, z, S::set1(-3.333333124e-01f));
    const V small = S::fmadd(S::mul(x, z), p, x);
    // Beyond |x| = 9.02, tanh rounds to +-1 in float: clamping there keeps e + 1 <= e^20 (a
    // valid divisor for div_by_normal) and maps inf to 1; NaN passes the min unchanged.
    const V e = exp(S::add(S::min(S::set1(10.0f), ax), S::min(S::set1(10.0f), ax)));
    const V one = S::set1(1.0f);
    const V large = S::sub(one, div_by_normal(S::set1(2.0f), S::add(e, one)));
    const V signed_large = S::xor_sign(large, x);
    return S::select(S::lt(ax, S::set1(0.625f)), small, signed_large);
  }

  // 0.5 x (1 + erf(z)), z = x / sqrt 2, from one function on a = |z|: erfc(a) = e^(-a^2) R(a),
  // R (erfcx) = t P(t) with t = 1 / (1 + 0.3 a) and P of degree 8 (fitted for relative error,
  // 2e-8, on a in [0, 10.5]; beyond, erfc underflows float anyway). Then 1 + erf(z) = erfc(a)
  // for z < 0 and 2 - erfc(a) for z >= 0: the negative tail keeps its relative accuracy instead
  // of cancelling against 1, and near 0 an absolute error in erfc is a relative one in 2 - erfc,
  // so no separate small-|z| branch is needed (one polynomial, one reciprocal, one exp).
  static V gelu_erf(V x) {
    const V hx = S::mul(x, S::set1(0.5f));
    const V z = S::mul(x, S::set1(0.70710678118654752f));
    const V a = S::min(S::set1(10.5f), S::abs(z));  // keeps NaN
    const V t = div_by_normal(S::set1(1.0f), S::fmadd(a, S::set1(0.3f), S::set1(1.0f)));
    V p = S::set1(-1.295661777e-01f);
    p = S::fmadd(p, t, S::set1(4.857879579e-01f));
    p = S::fmadd(p, t, S::set1(-5.127781630e-01f));
    p = S::fmadd(p, t, S::set1(5.483415127e-01f));
    p = S::fmadd(p, t, S::set1(-9.512188286e-02f));
    p = S::fmadd(p, t, S::set1(2.151488364e-01f));
    p = S::fmadd(p, t, S::set1(1.482751071e-01f));
    p = S::fmadd(p, t, S::set1(1.707254499e-01f));
    p = S::fmadd(p, t, S::set1(1.691873074e-01f));
    const V r = S::mul(t, p);
    // a^2 = x^2 / 2 exactly as a float pair (x^2 rounded, plus its FMA residual; halving is
    // exact), so the large argument of e^(-a^2) carries no rounding from x / sqrt 2. |x| is
    // capped where e^(-a^2) is already 0 in float, keeping the residual finite.
    const V xc = S::min(S::set1(15.0f), S::abs(x));
    const V xx = S::mul(xc, xc);
    const V t2 = S::mul(xx, S::set1(0.5f));
    const V t2_lo = S::mul(S::fmsub(xc, xc, xx), S::set1(0.5f));
    V e = exp(S::xor_sign(t2, S::set1(-1.0f)));
    e = S::fnmadd(e, t2_lo, e);  // e^(-t2 - t2_lo) ~= e^(-t2) (1 - t2_lo)
    const V erfc = S::mul(e, r);
    const V neg = S::mul(hx, erfc);
    const V pos = S::mul(hx, S::sub(S::set1(2.0f), erfc));
    return S::select(S::lt(z, S::set1(0.0f)), neg, pos);
  }

  // 0.5 x (1 + tanh(u)) == x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3): the same
  // function without cancellation for negative x.
  static V gelu_tanh(V x) {
    const V x2 = S::mul(x, x);
    const V inner = S::mul(x, S::fmadd(x2, S::set1(0.044715f), S::set1(1.0f)));
    const V m2u = S::mul(inner, S::set1(-2.0f * 0.7978845608028654f));
    return S::div(x, S::add(S::set1(1.0f), exp(m2u)));
  }
};

}  // namespace
}  // namespace minimod
