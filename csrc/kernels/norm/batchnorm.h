// Batch normalisation on float32 (N, C, S) data: channel c of sample n is the S contiguous floats
// starting at (n * C + c) * S (S = product of the spatial sizes, 1 for (N, C) input).
//
// The Python layer owns the running statistics; these kernels only compute batch statistics and
// apply a per-channel affine map.
#pragma once

#include <cstdint>

namespace minimod {

// Per-channel mean and biased variance over the N * S values of each channel (N * S >= 1).
// Accumulated in double, in two passes: the mean, then the centred sum of squares, corrected by
// the centred sum (which would be 0 in exact arithmetic), so a large mean with a small spread
// keeps full precision.
void batchnorm_stats_f32(const float* x, std::int64_t n, std::int64_t c, std::int64_t s, double* mean,
                         double* var);

// Per-channel coefficients for batchnorm_apply_f32, computed in double: center = mean rounded to
// float, scale = weight / sqrt(var + eps), shift = bias - (mean - center) * scale. weight / bias
// may be null (1 and 0).
void batchnorm_coefficients(const double* mean, const double* var, const float* weight,
                            const float* bias, double eps, std::int64_t c, float* center,
                            float* scale, float* shift);

// y = (x - center[c]) * scale[c] + shift[c]. Subtracting the mean before scaling (rather than
// folding it into one multiply-add, x * scale + (shift - mean * scale)) keeps the result accurate
// when |mean| is large next to the spread; the extra subtraction is free in a memory-bound loop.
// y may alias x.
void batchnorm_apply_f32(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t s,
                         const float* center, const float* scale, const float* shift);

}  // namespace minimod
