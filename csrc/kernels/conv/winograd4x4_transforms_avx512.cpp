// Winograd F(4x4, 3x3) transforms compiled for avx512 (this file gets the avx512 flags; see
// winograd4x4_impl.h).
#include "kernels/conv/winograd.h"
#include "kernels/conv/winograd4x4_impl.h"

namespace minimod::kernels {

WinogradTransforms winograd4x4_transforms_avx512() { return winograd4x4_transforms_impl(); }

}  // namespace minimod::kernels
