// Batch normalisation kernels. The statistics are generic C++; the per-channel affine map, the
// whole of an eval-mode forward, goes through the per-ISA table of ukernels.h (the baseline
// build is SSE2 only, and there three operations per 4 floats cost as much as the memory).
#include "kernels/norm/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/norm/ukernels.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

namespace minimod {

namespace {

// Channels per statistics task. For (N, C) input (s == 1) a block walks each row of C floats
// contiguously, so blocks should span whole cache lines.
constexpr std::int64_t kChannelBlock = 16;
// Elements per task worth waking a pool thread for (torch's elementwise grain).
constexpr std::int64_t kGrainElems = 1 << 15;

// Sum of p[0..s) in double, four independent accumulators for instruction-level parallelism.
inline double sum_f64(const float* p, std::int64_t s) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::int64_t i = 0;
  for (; i + 4 <= s; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  for (; i < s; ++i) a0 += p[i];
  return (a0 + a1) + (a2 + a3);
}

// Sums of (p[i] - m) and (p[i] - m)^2 in double.
inline void centred_sums_f64(const float* p, std::int64_t s, double m, double* d1, double* d2) {
  double s0 = 0, s1 = 0, q0 = 0, q1 = 0;
  std::int64_t i = 0;
  for (; i + 2 <= s; i += 2) {
    const double u = p[i] - m;
    const double v = p[i + 1] - m;
    s0 += u;
    s1 += v;
    q0 += u * u;
    q1 += v * v;
  }
  for (; i < s; ++i) {
    const double u = p[i] - m;
    s0 += u;
    q0 += u * u;
  }
  *d1 += s0 + s1;
  *d2 += q0 + q1;
}

void affine_generic(const float* x, float* y, std::int64_t n, float center, float scale, float shift) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - center) * scale + shift;
}

// The normalisation family's one dispatch point: the kernel table of the active ISA.
const NormKernels& kernels() {
  return MINIMOD_FOR_ACTIVE_ISA(norm_kernels);
}

}  // namespace

const NormKernels& norm_kernels_generic() {
  static const NormKernels t{affine_generic};
  return t;
}

void batchnorm_stats_f32(const float* x, std::int64_t n, std::int64_t c, std::int64_t s, double* mean,
                         double* var) {
  if (c <= 0) return;
  const double count = static_cast<double>(n) * static_cast<double>(s);
  const std::int64_t blocks = (c + kChannelBlock - 1) / kChannelBlock;
  // Centred sums per channel; allocated here because parallel_for bodies must not throw.
  std::vector<double> d1(static_cast<std::size_t>(c), 0.0), d2(static_cast<std::size_t>(c), 0.0);
  // One task per channel block: every channel is reduced by one thread in a fixed order, so the
  // statistics do not depend on the thread count.
  const std::int64_t per_block = std::max<std::int64_t>(1, kChannelBlock * n * s);
  parallel_for(blocks, std::max<std::int64_t>(1, kGrainElems / per_block), [&](std::int64_t b0, std::int64_t b1) {
    const std::int64_t c0 = b0 * kChannelBlock;
    const std::int64_t c1 = std::min(c, b1 * kChannelBlock);
    for (std::int64_t ch = c0; ch < c1; ++ch) mean[ch] = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t ch = c0; ch < c1; ++ch) mean[ch] += sum_f64(x + (i * c + ch) * s, s);
    for (std::int64_t ch = c0; ch < c1; ++ch) mean[ch] /= count;

    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t ch = c0; ch < c1; ++ch)
        centred_sums_f64(x + (i * c + ch) * s, s, mean[ch], &d1[ch], &d2[ch]);
    for (std::int64_t ch = c0; ch < c1; ++ch) {
      const double a = d1[ch], q = d2[ch];
      var[ch] = std::max(0.0, (q - a * a / count) / count);
    }
  });
}

void batchnorm_coefficients(const double* mean, const double* var, const float* weight,
                            const float* bias, double eps, std::int64_t c, float* center,
                            float* scale, float* shift) {
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double w = weight != nullptr ? weight[ch] : 1.0;
    const double k = w / std::sqrt(var[ch] + eps);
    // The mean rounded to float loses up to half an ulp of |mean|, which is large next to a small
    // spread; that remainder goes into the shift, computed in double: y = (x - c) k + (b - r k).
    const float c_f = static_cast<float>(mean[ch]);
    const double rest = mean[ch] - static_cast<double>(c_f);
    center[ch] = c_f;
    scale[ch] = static_cast<float>(k);
    shift[ch] = static_cast<float>((bias != nullptr ? bias[ch] : 0.0) - rest * k);
  }
}

void batchnorm_apply_f32(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t s,
                         const float* center, const float* scale, const float* shift) {
  if (n <= 0 || c <= 0 || s <= 0) return;
  if (s == 1) {
    // (N, C): one task per group of rows, channels along the contiguous axis.
    const std::int64_t grain = std::max<std::int64_t>(1, kGrainElems / c);
    parallel_for(n, grain, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * c;
        float* yr = y + r * c;
        for (std::int64_t ch = 0; ch < c; ++ch) yr[ch] = (xr[ch] - center[ch]) * scale[ch] + shift[ch];
      }
    });
    return;
  }
  const NormKernels& k = kernels();
  const std::int64_t grain = std::max<std::int64_t>(1, kGrainElems / s);
  parallel_for(n * c, grain, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      const std::int64_t ch = p % c;
      k.affine(x + p * s, y + p * s, s, center[ch], scale[ch], shift[ch]);
    }
  });
}

}  // namespace minimod
