// The AVX-512 depthwise path: depthwise_vec.h over 16 float lanes. Built with this ISA's flags for
// this file only and reached only through depthwise.cpp's dispatch.
#include "kernels/simd/vec_avx512.h"
#include "kernels/conv/depthwise_vec.h"

namespace minimod::kernels {

DepthwisePlaneFn depthwise_plane_avx512() { return DepthwiseVec<Avx512>::plane; }

}  // namespace minimod::kernels
