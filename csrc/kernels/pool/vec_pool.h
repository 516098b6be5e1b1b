// Vector max pooling over a traits type S, instantiated per ISA (pool_avx2.cpp, pool_avx512.cpp).
//
// Included ONLY by the per-ISA translation units; everything sits in an anonymous namespace so
// each ISA file gets its own private copy compiled with its own flags (see eltwise/vec_math.h).
//
// S is kernels/simd/vec_avx2.h's or vec_avx512.h's vector type. Used here: V, W (lanes), set1,
// load_first(p, n) (lanes < n from p, the rest unspecified; never touches memory past p + n),
// store_first(p, v, n) (lanes < n only), max_keep_nan(best, v) (v where v > best or v is NaN,
// else best: torch's max-pool rule), even_lanes(a, b) / odd_lanes(a, b) (lanes 0, 2, 4, ... /
// 1, 3, 5, ... of the 2W-lane concatenation a:b).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/pool/ukernels.h"

namespace minimod {
namespace {

// The scalar rule, for strides the vector code does not cover.
inline void max_row_interior_scalar(const float* xp, float* yr, std::int64_t y0, std::int64_t y1,
                                    std::int64_t iw, std::int64_t lo, std::int64_t hi,
                                    const Pool2dWindow& w) {
  for (std::int64_t ox = lo; ox < hi; ++ox) {
    const std::int64_t x0 = ox * w.sw - w.pw;
    float best = -std::numeric_limits<float>::infinity();
    for (std::int64_t yy = y0; yy < y1; yy += w.dh) {
      const float* tap = xp + yy * iw + x0;
      for (std::int64_t j = 0; j < w.kw; ++j) {
        const float v = tap[j * w.dw];
        best = ((v > best) | (v != v)) ? v : best;
      }
    }
    yr[ox] = best;
  }
}

template <class S>
struct VecPool {
  using V = typename S::V;
  static constexpr int W = S::W;

  // `count` (1..W) outputs starting at yr[ox], tap origin p = first input of output ox's window.
  // Stride 1: tap j of W outputs is W consecutive floats. Stride 2: the even lanes of 2W floats,
  // of which only the first 2 count - 1 are read (so a row's last vector never reads past it).
  template <int kStride>
  static V window_max(const float* p, std::int64_t iw, std::int64_t rows, const Pool2dWindow& w,
                      int count) {
    V best = S::set1(-std::numeric_limits<float>::infinity());
    const std::int64_t row_step = w.dh * iw;
    for (std::int64_t r = 0; r < rows; ++r, p += row_step) {
      for (std::int64_t j = 0; j < w.kw; ++j) {
        const float* t = p + j * w.dw;
        V v;
        if (kStride == 1) {
          v = S::load_first(t, count);
        } else {
          const int used = 2 * count - 1;
          v = S::even_lanes(S::load_first(t, std::min(used, W)), S::load_first(t + W, std::max(used - W, 0)));
        }
        best = S::max_keep_nan(best, v);
      }
    }
    return best;
  }

  template <int kStride>
  static void row(const float* xp, float* yr, std::int64_t y0, std::int64_t y1, std::int64_t iw,
                  std::int64_t lo, std::int64_t hi, const Pool2dWindow& w) {
    const std::int64_t rows = (y1 - y0 + w.dh - 1) / w.dh;
    const float* origin = xp + y0 * iw - w.pw;
    std::int64_t ox = lo;
    for (; ox + W <= hi; ox += W) S::store_first(yr + ox, window_max<kStride>(origin + ox * kStride, iw, rows, w, W), W);
    if (ox < hi) {
      const int rest = static_cast<int>(hi - ox);
      S::store_first(yr + ox, window_max<kStride>(origin + ox * kStride, iw, rows, w, rest), rest);
    }
  }

  static void max_row_interior(const float* xp, float* yr, std::int64_t y0, std::int64_t y1,
                               std::int64_t iw, std::int64_t lo, std::int64_t hi, const Pool2dWindow& w) {
    if (w.sw == 1) return row<1>(xp, yr, y0, y1, iw, lo, hi, w);
    if (w.sw == 2) return row<2>(xp, yr, y0, y1, iw, lo, hi, w);
    max_row_interior_scalar(xp, yr, y0, y1, iw, lo, hi, w);
  }

  // MaxPool2d(2) rows: per W outputs, the even and odd lanes of 2W inputs of each of the two
  // rows are the window's four taps, reduced in torch's order.
  static void max_pool_2x2(const float* x, std::int64_t iw, float* y, std::int64_t ow,
                           std::int64_t rows) {
    for (std::int64_t i = 0; i < rows; ++i, x += 2 * iw, y += ow) {
      const float* r0 = x;
      const float* r1 = x + iw;
      std::int64_t ox = 0;
      for (; ox + W <= ow; ox += W) {
        const V a0 = S::load(r0 + 2 * ox), a1 = S::load(r0 + 2 * ox + W);
        const V b0 = S::load(r1 + 2 * ox), b1 = S::load(r1 + 2 * ox + W);
        V best = S::max_keep_nan(S::even_lanes(a0, a1), S::odd_lanes(a0, a1));
        best = S::max_keep_nan(best, S::even_lanes(b0, b1));
        S::store(y + ox, S::max_keep_nan(best, S::odd_lanes(b0, b1)));
      }
      for (; ox < ow; ++ox) y[ox] = max_2x2_window(r0 + 2 * ox, r1 + 2 * ox);
    }
  }

  static const PoolKernels& table() {
    static const PoolKernels t{max_row_interior, max_pool_2x2};
    return t;
  }
};

}  // namespace
}  // namespace minimod
