// Depthwise convolution (one input channel per group): a direct kernel, one output plane at a
// time. The generic path is the loop of depthwise_impl.h; the AVX2 and AVX-512 files have
// register-blocked kernels over a zero-padded copy of the plane (and fall back to their own
// build of the generic loop for strides along W); depthwise_plane() picks by active_isa().
#pragma once

#include "kernels/conv/conv.h"

namespace minimod::kernels {

// One output plane: y (out_size) = conv(x (in_size, one channel), w (kernel)) + bias, ReLU.
using DepthwisePlaneFn = void (*)(const ConvParams& p, const float* x, const float* w, float bias,
                                  bool relu, float* y);

DepthwisePlaneFn depthwise_plane();

DepthwisePlaneFn depthwise_plane_generic();
DepthwisePlaneFn depthwise_plane_avx2();
DepthwisePlaneFn depthwise_plane_avx512();

}  // namespace minimod::kernels
