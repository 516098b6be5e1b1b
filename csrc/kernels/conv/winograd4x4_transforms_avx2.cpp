// Winograd F(4x4, 3x3) transforms compiled for avx2 (this file gets the avx2 flags; see
// winograd4x4_impl.h).
#include "kernels/conv/winograd.h"
#include "kernels/conv/winograd4x4_impl.h"

namespace minimod::kernels {

WinogradTransforms winograd4x4_transforms_avx2() { return winograd4x4_transforms_impl(); }

}  // namespace minimod::kernels
