// The AVX-512 eltwise path: 16 float lanes, mask registers for compares. Built with -mavx512f
// (and friends) for this file only and reached only through dispatch.cpp after the CPU was checked.
#include "kernels/simd/vec_avx512.h"
#include "kernels/eltwise/vec_kernels.h"

namespace minimod {

const EltwiseKernels& eltwise_kernels_avx512() { return VecKernels<Avx512>::table(); }

}  // namespace minimod
