// The AVX-512 batch-norm path (16 lanes). Built with -mavx512f for this file only and reached
// only through batchnorm.cpp's dispatch.
#include "kernels/simd/vec_avx512.h"
#include "kernels/norm/vec_affine.h"

namespace minimod {

const NormKernels& norm_kernels_avx512() { return VecAffine<Avx512>::table(); }

}  // namespace minimod
