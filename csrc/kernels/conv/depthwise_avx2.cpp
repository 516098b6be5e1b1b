// Depthwise kernel compiled for avx2 (this file gets the avx2 flags; see depthwise_impl.h).
#include "kernels/conv/depthwise.h"
#include "kernels/conv/depthwise_impl.h"

namespace minimod::kernels {

DepthwisePlaneFn depthwise_plane_avx2() { return depthwise_plane_impl; }

}  // namespace minimod::kernels
