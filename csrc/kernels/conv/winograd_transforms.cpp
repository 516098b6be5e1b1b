// Winograd transforms: the generic build of winograd_impl.h.
#include "kernels/conv/winograd.h"
#include "kernels/conv/winograd_impl.h"

namespace minimod::kernels {

WinogradTransforms winograd_transforms_generic() { return winograd_transforms_impl(); }

}  // namespace minimod::kernels
