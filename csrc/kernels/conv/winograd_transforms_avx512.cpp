// Winograd transforms compiled for avx512 (this file gets the avx512 flags; see winograd_impl.h).
#include "kernels/conv/winograd.h"
#include "kernels/conv/winograd_impl.h"

namespace minimod::kernels {

WinogradTransforms winograd_transforms_avx512() { return winograd_transforms_impl(); }

}  // namespace minimod::kernels
