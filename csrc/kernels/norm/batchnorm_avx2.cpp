// The AVX2 batch-norm path (8 lanes). Built with -mavx2 -mfma for this file only and reached only
// through batchnorm.cpp's dispatch.
#include "kernels/simd/vec_avx2.h"
#include "kernels/norm/vec_affine.h"

namespace minimod {

const NormKernels& norm_kernels_avx2() { return VecAffine<Avx2>::table(); }

}  // namespace minimod
