// Depthwise kernel compiled for avx512 (this file gets the avx512 flags; see depthwise_impl.h).
#include "kernels/conv/depthwise.h"
#include "kernels/conv/depthwise_impl.h"

namespace minimod::kernels {

DepthwisePlaneFn depthwise_plane_avx512() { return depthwise_plane_impl; }

}  // namespace minimod::kernels
