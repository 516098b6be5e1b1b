// The AVX-512 pooling path: 16 float lanes, masked loads and stores for row tails. Built with
// -mavx512f (and friends) for this file only and reached only through pool.cpp's dispatch.
#include "kernels/simd/vec_avx512.h"
#include "kernels/pool/vec_pool.h"

namespace minimod {

const PoolKernels& pool_kernels_avx512() { return VecPool<Avx512>::table(); }

}  // namespace minimod
