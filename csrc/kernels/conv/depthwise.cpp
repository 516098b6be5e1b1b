// Depthwise kernel: the generic build of depthwise_impl.h and the per-ISA choice.
#include "kernels/conv/depthwise.h"

#include "kernels/conv/depthwise_impl.h"
#include "runtime/cpu_features.h"

namespace minimod::kernels {

DepthwisePlaneFn depthwise_plane_generic() { return depthwise_plane_impl; }

DepthwisePlaneFn depthwise_plane() {
  return MINIMOD_FOR_ACTIVE_ISA(depthwise_plane);
}

}  // namespace minimod::kernels
