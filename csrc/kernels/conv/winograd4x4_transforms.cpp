// Winograd F(4x4, 3x3) transforms: the generic build of winograd4x4_impl.h.
#include "kernels/conv/winograd.h"
#include "kernels/conv/winograd4x4_impl.h"

namespace minimod::kernels {

WinogradTransforms winograd4x4_transforms_generic() { return winograd4x4_transforms_impl(); }

}  // namespace minimod::kernels
