// The generic eltwise path: plain C++ for every CPU, and the reference the vector paths are tested
// against. Transcendentals are evaluated in double with the C library, so this path is accurate
// to the final float rounding; it trades speed for that (the vector paths are the fast ones).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/eltwise/ukernels.h"

namespace minimod {

namespace {

// sqrt(2/pi) and the cubic coefficient of the tanh form of GELU (as torch defines it).
constexpr double kGeluBeta = 0.7978845608028654;
constexpr double kGeluKappa = 0.044715;
constexpr double kSqrtHalf = 0.7071067811865476;

// Comparisons are written so that NaN falls through to the "pass x" branch, as in torch.
inline float relu(float x) { return x < 0.0f ? 0.0f : x; }
inline float hardtanh(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
inline float leaky_relu(float x, float slope) { return x > 0.0f ? x : x * slope; }

inline float gelu_erf(float x) {
  // 1 + erf(z) == erfc(-z) without the cancellation for negative z.
  const double xd = x;
  return static_cast<float>(0.5 * xd * std::erfc(-xd * kSqrtHalf));
}

inline float gelu_tanh(float x) {
  // 0.5 (1 + tanh(u)) == 1 / (1 + exp(-2u)): same function, no cancellation for negative u.
  const double xd = x;
  const double u = kGeluBeta * (xd + kGeluKappa * xd * xd * xd);
  return static_cast<float>(xd / (1.0 + std::exp(-2.0 * u)));
}

inline float silu(float x) {
  const double xd = x;
  return static_cast<float>(xd / (1.0 + std::exp(-xd)));
}

inline float sigmoid(float x) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x)))); }

inline float tanh_(float x) { return static_cast<float>(std::tanh(static_cast<double>(x))); }

// Same operation order as torch (x * clamp(x + 3, 0, 6) / 6), so results agree bit for bit.
inline float hardswish(float x) { return x * std::min(std::max(x + 3.0f, 0.0f), 6.0f) / 6.0f; }

template <class F>
void map(const float* x, float* y, std::int64_t n, F f) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

void activation_generic(Activation op, const float* x, float* y, std::int64_t n, ActivationArgs args) {
  switch (op) {
    case Activation::Relu:
      return map(x, y, n, relu);
    case Activation::Hardtanh:
      return map(x, y, n, [lo = args.a, hi = args.b](float v) { return hardtanh(v, lo, hi); });
    case Activation::LeakyRelu:
      return map(x, y, n, [s = args.a](float v) { return leaky_relu(v, s); });
    case Activation::GeluErf:
      return map(x, y, n, gelu_erf);
    case Activation::GeluTanh:
      return map(x, y, n, gelu_tanh);
    case Activation::Silu:
      return map(x, y, n, silu);
    case Activation::Sigmoid:
      return map(x, y, n, sigmoid);
    case Activation::Tanh:
      return map(x, y, n, tanh_);
    case Activation::Hardswish:
      return map(x, y, n, hardswish);
  }
}

// One softmax slice of `dim` elements `stride` apart. The maximum is a plain float compare: a NaN
// anywhere makes the sum NaN, so the whole slice is NaN regardless of the maximum (as in torch).
void softmax_slice(const float* x, float* y, std::int64_t dim, std::int64_t stride, bool log) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t d = 0; d < dim; ++d) m = x[d * stride] > m ? x[d * stride] : m;
  double sum = 0.0;
  if (log) {
    for (std::int64_t d = 0; d < dim; ++d) sum += std::exp(static_cast<double>(x[d * stride]) - m);
    const double shift = m + std::log(sum);
    for (std::int64_t d = 0; d < dim; ++d)
      y[d * stride] = static_cast<float>(static_cast<double>(x[d * stride]) - shift);
    return;
  }
  for (std::int64_t d = 0; d < dim; ++d) {
    const double e = std::exp(static_cast<double>(x[d * stride]) - m);
    y[d * stride] = static_cast<float>(e);
    sum += e;
  }
  const double inv = 1.0 / sum;
  for (std::int64_t d = 0; d < dim; ++d)
    y[d * stride] = static_cast<float>(static_cast<double>(y[d * stride]) * inv);
}

void softmax_rows_generic(const float* x, float* y, std::int64_t rows, std::int64_t dim, bool log) {
  for (std::int64_t r = 0; r < rows; ++r) softmax_slice(x + r * dim, y + r * dim, dim, 1, log);
}

void softmax_cols_generic(const float* x, float* y, std::int64_t dim, std::int64_t stride,
                          std::int64_t cols, bool log) {
  for (std::int64_t j = 0; j < cols; ++j) softmax_slice(x + j, y + j, dim, stride, log);
}

}  // namespace

const EltwiseKernels& eltwise_kernels_generic() {
  static const EltwiseKernels table{activation_generic, softmax_rows_generic, softmax_cols_generic};
  return table;
}

}  // namespace minimod
