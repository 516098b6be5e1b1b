// The AVX2+FMA eltwise path: 8 float lanes. Built with -mavx2 -mfma for this file only and
// reached only through dispatch.cpp after the CPU was checked.
#include "kernels/simd/vec_avx2.h"
#include "kernels/eltwise/vec_kernels.h"

namespace minimod {

const EltwiseKernels& eltwise_kernels_avx2() { return VecKernels<Avx2>::table(); }

}  // namespace minimod
