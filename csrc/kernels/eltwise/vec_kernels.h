// Vector activation and softmax kernels over a traits type S (see vec_math.h for S and for why
// everything sits in an anonymous namespace). Included only by the per-ISA translation units.
#pragma once

// The scalar tails call the C library's expf/logf, not std::exp/std::log: those are inline
// wrappers, and an inline function emitted in this AVX-compiled file could be the copy the
// linker keeps for everyone (see vec_math.h).
#include <math.h>
#include <cstdint>
#include <cstring>

#include "kernels/eltwise/ukernels.h"
#include "kernels/eltwise/vec_math.h"

namespace minimod {
namespace {

template <class S>
struct VecKernels {
  using V = typename S::V;
  using Math = VecMath<S>;
  static constexpr int W = S::W;

  // Applies f to n floats: full vectors, then the tail through a zero-padded stack buffer (the
  // padding lanes are computed and dropped, so f never reads past x + n).
  template <class F>
  static void map(const float* x, float* y, std::int64_t n, F f) {
    std::int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {  // two vectors per step: hides the FMA latency chains
      const V a = f(S::load(x + i));
      const V b = f(S::load(x + i + W));
      S::store(y + i, a);
      S::store(y + i + W, b);
    }
    for (; i + W <= n; i += W) S::store(y + i, f(S::load(x + i)));
    if (i < n) {
      alignas(64) float buf[W] = {};
      const std::size_t rest = static_cast<std::size_t>(n - i);
      std::memcpy(buf, x + i, rest * sizeof(float));
      S::store(buf, f(S::load(buf)));
      std::memcpy(y + i, buf, rest * sizeof(float));
    }
  }

  static void activation(Activation op, const float* x, float* y, std::int64_t n, ActivationArgs args) {
    switch (op) {
      case Activation::Relu:
        // max(0, x): x is the second operand, so a NaN x is returned as is.
        return map(x, y, n, [z = S::set1(0.0f)](V v) { return S::max(z, v); });
      case Activation::Hardtanh:
        return map(x, y, n, [lo = S::set1(args.a), hi = S::set1(args.b)](V v) {
          return S::min(hi, S::max(lo, v));
        });
      case Activation::LeakyRelu:
        return map(x, y, n, [s = S::set1(args.a), z = S::set1(0.0f)](V v) {
          return S::select(S::gt(v, z), v, S::mul(v, s));
        });
      case Activation::GeluErf:
        return map(x, y, n, [](V v) { return Math::gelu_erf(v); });
      case Activation::GeluTanh:
        return map(x, y, n, [](V v) { return Math::gelu_tanh(v); });
      case Activation::Silu:
        return map(x, y, n, [](V v) { return Math::silu(v); });
      case Activation::Sigmoid:
        return map(x, y, n, [](V v) { return Math::sigmoid(v); });
      case Activation::Tanh:
        return map(x, y, n, [](V v) { return Math::tanh(v); });
      case Activation::Hardswish:
        // x * clamp(x + 3, 0, 6) / 6 in torch's order; NaN survives the clamp (operand order).
        return map(x, y, n, [three = S::set1(3.0f), zero = S::set1(0.0f), six = S::set1(6.0f)](V v) {
          return S::div(S::mul(v, S::min(six, S::max(zero, S::add(v, three)))), six);
        });
    }
  }

  // Softmax along contiguous rows: vector max, then e^(x - max) stored and summed, then scaled
  // by 1/sum (log: x - max - log(sum)). The last dim % W elements use the scalar library exp.
  static void softmax_rows(const float* x, float* y, std::int64_t rows, std::int64_t dim, bool log) {
    const std::int64_t full = dim - dim % W;
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      float* yr = y + r * dim;
      float m = -INFINITY;
      if (full > 0) {
        V vm = S::set1(-INFINITY);
        for (std::int64_t i = 0; i < full; i += W) vm = S::max(vm, S::load(xr + i));
        m = S::hmax(vm);
      }
      for (std::int64_t i = full; i < dim; ++i) m = xr[i] > m ? xr[i] : m;
      const V vmax = S::set1(m);
      V vsum = S::set1(0.0f);
      float sum = 0.0f;
      if (log) {
        for (std::int64_t i = 0; i < full; i += W) vsum = S::add(vsum, Math::exp(S::sub(S::load(xr + i), vmax)));
        for (std::int64_t i = full; i < dim; ++i) sum += expf(xr[i] - m);
        const float shift = m + logf(S::hsum(vsum) + sum);
        const V vshift = S::set1(shift);
        for (std::int64_t i = 0; i < full; i += W) S::store(yr + i, S::sub(S::load(xr + i), vshift));
        for (std::int64_t i = full; i < dim; ++i) yr[i] = xr[i] - shift;
        continue;
      }
      for (std::int64_t i = 0; i < full; i += W) {
        const V e = Math::exp(S::sub(S::load(xr + i), vmax));
        S::store(yr + i, e);
        vsum = S::add(vsum, e);
      }
      for (std::int64_t i = full; i < dim; ++i) {
        yr[i] = expf(xr[i] - m);
        sum += yr[i];
      }
      const float inv = 1.0f / (S::hsum(vsum) + sum);
      const V vinv = S::set1(inv);
      for (std::int64_t i = 0; i < full; i += W) S::store(yr + i, S::mul(S::load(yr + i), vinv));
      for (std::int64_t i = full; i < dim; ++i) yr[i] *= inv;
    }
  }

  // Softmax down W columns at a time of a (dim, stride) slab; leftover columns go to the generic
  // kernel. Max and sum are per lane, so each column is reduced exactly as a row would be.
  static void softmax_cols(const float* x, float* y, std::int64_t dim, std::int64_t stride,
                           std::int64_t cols, bool log) {
    std::int64_t j = 0;
    for (; j + W <= cols; j += W) {
      V vm = S::set1(-INFINITY);
      for (std::int64_t d = 0; d < dim; ++d) vm = S::max(vm, S::load(x + d * stride + j));
      // A lane whose max is NaN would stay NaN anyway (its sum is NaN); the max(vm, v) order only
      // decides which finite value we subtract, which is what stability needs.
      V vsum = S::set1(0.0f);
      if (log) {
        for (std::int64_t d = 0; d < dim; ++d)
          vsum = S::add(vsum, Math::exp(S::sub(S::load(x + d * stride + j), vm)));
        alignas(64) float sums[W];
        alignas(64) float maxs[W];
        S::store(sums, vsum);
        S::store(maxs, vm);
        for (int l = 0; l < W; ++l) sums[l] = maxs[l] + logf(sums[l]);
        const V vshift = S::load(sums);
        for (std::int64_t d = 0; d < dim; ++d)
          S::store(y + d * stride + j, S::sub(S::load(x + d * stride + j), vshift));
        continue;
      }
      for (std::int64_t d = 0; d < dim; ++d) {
        const V e = Math::exp(S::sub(S::load(x + d * stride + j), vm));
        S::store(y + d * stride + j, e);
        vsum = S::add(vsum, e);
      }
      const V vinv = S::div(S::set1(1.0f), vsum);
      for (std::int64_t d = 0; d < dim; ++d)
        S::store(y + d * stride + j, S::mul(S::load(y + d * stride + j), vinv));
    }
    if (j < cols) eltwise_kernels_generic().softmax_cols(x + j, y + j, dim, stride, cols - j, log);
  }

  static const EltwiseKernels& table() {
    static const EltwiseKernels t{activation, softmax_rows, softmax_cols};
    return t;
  }
};

}  // namespace
}  // namespace minimod
