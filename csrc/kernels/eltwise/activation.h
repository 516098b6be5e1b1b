// Elementwise activations and softmax on float32 buffers: the public entry points of this family.
//
// Every entry point picks its kernel from one table chosen by active_isa() (generic C++, AVX2+FMA
// or AVX-512) and splits the work with parallel_for. Inputs and outputs are contiguous float32;
// `y == x` is allowed (in-place), partial overlap is not.
#pragma once

#include <cstdint>

namespace minimod {

enum class Activation : int {
  Relu = 0,
  Hardtanh,   // clamp to [a, b]; relu6 is hardtanh(0, 6)
  LeakyRelu,  // slope a
  GeluErf,    // 0.5 x (1 + erf(x / sqrt 2))
  GeluTanh,   // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  Silu,
  Sigmoid,
  Tanh,
  Hardswish,
};

// Scalar arguments of the parameterised activations (unused ones are ignored).
struct ActivationArgs {
  float a = 0.0f;
  float b = 0.0f;
};

// y[i] = f(x[i]) for i < n. NaN inputs give NaN outputs (torch propagates them too).
void activation_f32(Activation op, const float* x, float* y, std::int64_t n, ActivationArgs args);

// Softmax (or log-softmax) of a contiguous array viewed as (outer, dim, inner), along `dim`.
// Numerically stable: each slice is shifted by its maximum before exp.
void softmax_f32(const float* x, float* y, std::int64_t outer, std::int64_t dim, std::int64_t inner,
                 bool log);

}  // namespace minimod
