// Depthwise kernel: the generic build of depthwise_impl.h and the per-ISA choice.
#include "kernels/conv/depthwise.h"

#include "kernels/conv/depthwise_impl.h"
#include "runtime/cpu_features.h"

namespace minimod::kernels {

DepthwisePlaneFn depthwise_plane_generic() { return depthwise_plane_impl; }

DepthwisePlaneFn depthwise_plane() {
#if defined(MINIMOD_X86)
  switch (active_isa()) {
    case Isa::Avx512:
      return depthwise_plane_avx512();
    case Isa::Avx2:
      return depthwise_plane_avx2();
    default:
      break;
  }
#endif
  return depthwise_plane_generic();
}

}  // namespace minimod::kernels
