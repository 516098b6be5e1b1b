// The AVX2 depthwise path: depthwise_vec.h over 8 float lanes. Built with this ISA's flags for
// this file only and reached only through depthwise.cpp's dispatch.
#include "kernels/simd/vec_avx2.h"
#include "kernels/conv/depthwise_vec.h"

namespace minimod::kernels {

DepthwisePlaneFn depthwise_plane_avx2() { return DepthwiseVec<Avx2>::plane; }

}  // namespace minimod::kernels
