// Pooling kernels (generic C++; the max-pool interior goes through the per-ISA table of
// ukernels.h). Each task is one output row of one plane; window bounds are
// clipped once per output cell, exactly as torch clips them, so sums see the same elements in the
// same order.
#include "kernels/pool/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/pool/ukernels.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

namespace minimod {

namespace {

// Window taps per task worth waking a pool thread for.
constexpr std::int64_t kRowGrainElems = 1 << 14;

std::int64_t row_grain(std::int64_t ow, std::int64_t window) {
  // Windows are clipped to the input, so cap the nominal size: a huge kernel (legal with enough
  // padding) must not overflow the product.
  window = std::min<std::int64_t>(std::max<std::int64_t>(window, 1), kRowGrainElems);
  return std::max<std::int64_t>(1, kRowGrainElems / std::max<std::int64_t>(1, ow * window));
}

// Taps per window, capped (the product of two huge kernel sides must not overflow).
std::int64_t window_taps(const Pool2dWindow& w) {
  return std::min(w.kh, kRowGrainElems) * std::min(w.kw, kRowGrainElems);
}

// Floor division for a possibly negative numerator and a positive denominator.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

inline std::int64_t adaptive_start(std::int64_t i, std::int64_t out, std::int64_t in) {
  return (i * in) / out;
}
inline std::int64_t adaptive_end(std::int64_t i, std::int64_t out, std::int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace

std::int64_t pool_output_size(std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t stride,
                              std::int64_t dilation, bool ceil_mode) {
  std::int64_t out =
      floor_div(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  // With ceil_mode the last window must still start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

namespace {

// One output row of max pooling. The update is written without a branch (select, not if): on
// real data "is this tap larger" is a coin flip, and mispredicted branches would cost more
// than the compares. kIndices = false drops the index bookkeeping from the common call.
template <bool kIndices>
void max_pool_row(const float* xp, float* yr, std::int64_t* ir, std::int64_t y0, std::int64_t y1,
                  std::int64_t iw, std::int64_t ow, const Pool2dWindow& w) {
  for (std::int64_t ox = 0; ox < ow; ++ox) {
    std::int64_t x0 = ox * w.sw - w.pw;
    const std::int64_t x1 = std::min(x0 + (w.kw - 1) * w.dw + 1, iw);
    while (x0 < 0) x0 += w.dw;
    std::int64_t best_at = y0 * iw + x0;
    float best = -std::numeric_limits<float>::infinity();
    for (std::int64_t yy = y0; yy < y1; yy += w.dh) {
      const float* row = xp + yy * iw;
      for (std::int64_t xx = x0; xx < x1; xx += w.dw) {
        const float v = row[xx];
        const bool take = (v > best) | (v != v);  // a NaN always takes over, as in torch
        best = take ? v : best;
        if (kIndices) best_at = take ? yy * iw + xx : best_at;
      }
    }
    yr[ox] = best;
    if (kIndices) ir[ox] = best_at;
  }
}

// The interior outputs [ox_lo, ox_hi) of a row: those whose window lies wholly inside the input
// horizontally, so the vector kernels need no bounds logic. The caller does the clipped edges.
void interior_range(std::int64_t iw, std::int64_t ow, const Pool2dWindow& w, std::int64_t& ox_lo,
                    std::int64_t& ox_hi) {
  const std::int64_t span = (w.kw - 1) * w.dw + 1;
  // First output whose window starts at x >= 0, and one past the last that ends at x <= iw.
  ox_lo = std::min<std::int64_t>(ow, (w.pw + w.sw - 1) / w.sw);
  const std::int64_t last_fit = iw + w.pw - span;  // ox * sw <= last_fit
  ox_hi = last_fit < 0 ? ox_lo : std::max(ox_lo, std::min<std::int64_t>(ow, last_fit / w.sw + 1));
}

// Generic interior kernel: reduced tap-major (tap (row, j) of every window, then the next tap),
// so the inner loop runs over outputs with no bounds logic and the compiler vectorises it. Taps
// are still visited row by row, left to right, per window, so NaN and tie handling match
// max_pool_row exactly.
void max_row_interior_generic(const float* xp, float* yr, std::int64_t y0, std::int64_t y1,
                              std::int64_t iw, std::int64_t lo, std::int64_t hi, const Pool2dWindow& w) {
  const std::int64_t n = hi - lo;
  if (n <= 0) return;
  float* out = yr + lo;
  const std::int64_t sw = w.sw;
  for (std::int64_t i = 0; i < n; ++i) out[i] = -std::numeric_limits<float>::infinity();
  for (std::int64_t yy = y0; yy < y1; yy += w.dh) {
    const float* base = xp + yy * iw + lo * sw - w.pw;
    for (std::int64_t j = 0; j < w.kw; ++j) {
      const float* tap = base + j * w.dw;
      for (std::int64_t i = 0; i < n; ++i) {
        out[i] = max_tap(out[i], tap[i * sw]);
      }
    }
  }
}

void max_pool_2x2_generic(const float* x, std::int64_t iw, float* y, std::int64_t ow,
                          std::int64_t rows) {
  for (std::int64_t i = 0; i < rows; ++i, x += 2 * iw, y += ow) {
    for (std::int64_t ox = 0; ox < ow; ++ox) y[ox] = max_2x2_window(x + 2 * ox, x + iw + 2 * ox);
  }
}

// MaxPool2d(2) (window 2 x 2, stride 2, no padding, no dilation): the common CNN down-sampling,
// run whole planes at a time by a dedicated kernel. The general path's per-row window logic
// costs more than the comparisons there.
bool is_2x2_stride_2(const Pool2dWindow& w) {
  return w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.ph == 0 && w.pw == 0 &&
         w.dh == 1 && w.dw == 1;
}

// The pooling family's one dispatch point: the kernel table of the active ISA.
const PoolKernels& kernels() {
  return MINIMOD_FOR_ACTIVE_ISA(pool_kernels);
}

// Global average pooling (adaptive output 1 x 1): the mean of each contiguous plane, as torch
// computes it (a mean reduction). Eight independent partial sums let the compiler keep them in
// vector registers and break the add latency chain; threads split over planes.
void global_avg_pool_f32(const float* x, float* y, std::int64_t planes, std::int64_t n) {
  constexpr int kLanes = 8;
  const std::int64_t grain = std::max<std::int64_t>(1, kRowGrainElems / std::max<std::int64_t>(1, n));
  parallel_for(planes, grain, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * n;
      float acc[kLanes] = {};
      std::int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += xp[i + l];
      float sum = 0.0f;
      for (int l = 0; l < kLanes; ++l) sum += acc[l];
      for (; i < n; ++i) sum += xp[i];
      y[p] = sum / static_cast<float>(n);
    }
  });
}

}  // namespace

void max_pool2d_f32(const float* x, float* y, std::int64_t* indices, std::int64_t planes,
                    std::int64_t ih, std::int64_t iw, std::int64_t oh, std::int64_t ow,
                    const Pool2dWindow& w) {
  const std::int64_t rows = planes * oh;
  const PoolKernels& k = kernels();
  if (indices == nullptr && is_2x2_stride_2(w) && 2 * oh <= ih && 2 * ow <= iw) {
    // (ceil_mode's partial last windows, 2 oh > ih, take the general path.) Output rows [r0, r1)
    // as one kernel call per plane they touch.
    parallel_for(rows, row_grain(ow, 4), [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1;) {
        const std::int64_t plane = r / oh, oy = r % oh;
        const std::int64_t count = std::min(r1 - r, oh - oy);
        k.max_pool_2x2(x + plane * ih * iw + 2 * oy * iw, iw, y + r * ow, ow, count);
        r += count;
      }
    });
    return;
  }
  std::int64_t lo = 0, hi = 0;
  interior_range(iw, ow, w, lo, hi);
  parallel_for(rows, row_grain(ow, window_taps(w)), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t plane = r / oh, oy = r % oh;
      std::int64_t y0 = oy * w.sh - w.ph;
      const std::int64_t y1 = std::min(y0 + (w.kh - 1) * w.dh + 1, ih);
      while (y0 < 0) y0 += w.dh;
      const float* xp = x + plane * ih * iw;
      if (indices == nullptr && y0 < y1) {
        // Without indices: a vector interior, scalar clipped edges.
        float* yr = y + r * ow;
        k.max_row_interior(xp, yr, y0, y1, iw, lo, hi, w);
        Pool2dWindow edge = w;
        max_pool_row<false>(xp, yr, nullptr, y0, y1, iw, lo, edge);
        if (hi < ow) {
          // Shift the window origin so output `hi` is computed as output 0 of the remainder.
          edge.pw = w.pw - hi * w.sw;
          max_pool_row<false>(xp, yr + hi, nullptr, y0, y1, iw, ow - hi, edge);
        }
        continue;
      }
      if (indices != nullptr) {
        max_pool_row<true>(xp, y + r * ow, indices + r * ow, y0, y1, iw, ow, w);
      } else {
        max_pool_row<false>(xp, y + r * ow, nullptr, y0, y1, iw, ow, w);
      }
    }
  });
}

void avg_pool2d_f32(const float* x, float* y, std::int64_t planes, std::int64_t ih, std::int64_t iw,
                    std::int64_t oh, std::int64_t ow, const Pool2dWindow& w, bool count_include_pad,
                    std::int64_t divisor) {
  const std::int64_t rows = planes * oh;
  parallel_for(rows, row_grain(ow, window_taps(w)), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t plane = r / oh, oy = r % oh;
      const float* xp = x + plane * ih * iw;
      float* yr = y + r * ow;
      std::int64_t y0 = oy * w.sh - w.ph;
      std::int64_t y1 = std::min(y0 + w.kh, ih + w.ph);
      const std::int64_t pool_h = y1 - y0;
      y0 = std::max<std::int64_t>(y0, 0);
      y1 = std::min(y1, ih);
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        std::int64_t x0 = ox * w.sw - w.pw;
        std::int64_t x1 = std::min(x0 + w.kw, iw + w.pw);
        const std::int64_t pool_w = x1 - x0;
        x0 = std::max<std::int64_t>(x0, 0);
        x1 = std::min(x1, iw);
        if (y0 >= y1 || x0 >= x1) {  // a window entirely in the padding (possible with ceil_mode)
          yr[ox] = 0.0f;
          continue;
        }
        float sum = 0.0f;
        for (std::int64_t yy = y0; yy < y1; ++yy)
          for (std::int64_t xx = x0; xx < x1; ++xx) sum += xp[yy * iw + xx];
        const std::int64_t div = divisor > 0 ? divisor : count_include_pad ? pool_h * pool_w : (y1 - y0) * (x1 - x0);
        yr[ox] = sum / static_cast<float>(div);
      }
    }
  });
}

void adaptive_avg_pool2d_f32(const float* x, float* y, std::int64_t planes, std::int64_t ih,
                             std::int64_t iw, std::int64_t oh, std::int64_t ow) {
  if (oh == 1 && ow == 1) {
    global_avg_pool_f32(x, y, planes, ih * iw);
    return;
  }
  const std::int64_t rows = planes * oh;
  const std::int64_t window = ((ih + oh - 1) / oh + 1) * ((iw + ow - 1) / ow + 1);
  parallel_for(rows, row_grain(ow, window), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t plane = r / oh, oy = r % oh;
      const float* xp = x + plane * ih * iw;
      const std::int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const std::int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
        float sum = 0.0f;
        for (std::int64_t yy = y0; yy < y1; ++yy)
          for (std::int64_t xx = x0; xx < x1; ++xx) sum += xp[yy * iw + xx];
        // Two divisions, as torch does, so results agree to the last bit.
        y[r * ow + ox] = sum / static_cast<float>(y1 - y0) / static_cast<float>(x1 - x0);
      }
    }
  });
}

void adaptive_max_pool2d_f32(const float* x, float* y, std::int64_t* indices, std::int64_t planes,
                             std::int64_t ih, std::int64_t iw, std::int64_t oh, std::int64_t ow) {
  const std::int64_t rows = planes * oh;
  const std::int64_t window = ((ih + oh - 1) / oh + 1) * ((iw + ow - 1) / ow + 1);
  parallel_for(rows, row_grain(ow, window), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t plane = r / oh, oy = r % oh;
      const float* xp = x + plane * ih * iw;
      const std::int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const std::int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
        std::int64_t best_at = y0 * iw + x0;
        float best = -std::numeric_limits<float>::infinity();
        for (std::int64_t yy = y0; yy < y1; ++yy) {
          for (std::int64_t xx = x0; xx < x1; ++xx) {
            const float v = xp[yy * iw + xx];
            if (v > best || std::isnan(v)) {
              best = v;
              best_at = yy * iw + xx;
            }
          }
        }
        y[r * ow + ox] = best;
        if (indices != nullptr) indices[r * ow + ox] = best_at;
      }
    }
  });
}

const PoolKernels& pool_kernels_generic() {
  static const PoolKernels t{max_row_interior_generic, max_pool_2x2_generic};
  return t;
}

}  // namespace minimod
