// The AVX2 pooling path: 8 float lanes; row tails through vmaskmovps (masked-off lanes are not
// read or written). Built with -mavx2 -mfma for this file only and reached only through
// pool.cpp's dispatch.
#include "kernels/simd/vec_avx2.h"
#include "kernels/pool/vec_pool.h"

namespace minimod {

const PoolKernels& pool_kernels_avx2() { return VecPool<Avx2>::table(); }

}  // namespace minimod
