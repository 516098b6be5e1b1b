// The per-channel affine map of batch norm over a traits type S (V, W, load, store, set1, sub,
// fmadd), instantiated per ISA. Included ONLY by the per-ISA translation units; it sits in an
// anonymous namespace so each ISA file keeps its own copy (see eltwise/vec_math.h for why).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/norm/ukernels.h"

namespace minimod {
namespace {

template <class S>
struct VecAffine {
  using V = typename S::V;
  static constexpr int W = S::W;

  // Four vectors per step keep loads and stores in flight. (x - m) k + b is one FMA after the
  // subtraction: a rounding fewer than the generic kernel's separate multiply and add (the
  // compiler would contract them in this file anyway), so paths may differ in the last bit.
  static void affine(const float* x, float* y, std::int64_t n, float center, float scale, float shift) {
    const V m = S::set1(center), k = S::set1(scale), b = S::set1(shift);
    std::int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      const V a0 = S::fmadd(S::sub(S::load(x + i), m), k, b);
      const V a1 = S::fmadd(S::sub(S::load(x + i + W), m), k, b);
      const V a2 = S::fmadd(S::sub(S::load(x + i + 2 * W), m), k, b);
      const V a3 = S::fmadd(S::sub(S::load(x + i + 3 * W), m), k, b);
      S::store(y + i, a0);
      S::store(y + i + W, a1);
      S::store(y + i + 2 * W, a2);
      S::store(y + i + 3 * W, a3);
    }
    for (; i + W <= n; i += W) S::store(y + i, S::fmadd(S::sub(S::load(x + i), m), k, b));
    if (i < n) {
      // The tail through a zero-padded vector, so it rounds exactly as the full vectors do.
      alignas(64) float buf[W] = {};
      const std::size_t rest = static_cast<std::size_t>(n - i);
      std::memcpy(buf, x + i, rest * sizeof(float));
      S::store(buf, S::fmadd(S::sub(S::load(buf), m), k, b));
      std::memcpy(y + i, buf, rest * sizeof(float));
    }
  }

  static const NormKernels& table() {
    static const NormKernels t{affine};
    return t;
  }
};

}  // namespace
}  // namespace minimod
