// An 8x8 float transpose in eight ymm registers (24 shuffles): the building block of the AVX
// packers that turn rows into columns (the GEMM's B = W^T pack and A pack, the Winograd weight
// panels). For files compiled with -mavx2 (or -mavx512f); the function sits in an anonymous
// namespace so each translation unit keeps its own copy compiled with its own flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace minimod {
namespace {

// On return r_i holds what was column i: lane j of r_i is lane i of the j-th input.
inline void transpose8x8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5,
                         __m256& r6, __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r0 = _mm256_permute2f128_ps(s0, s4, 0x20);
  r1 = _mm256_permute2f128_ps(s1, s5, 0x20);
  r2 = _mm256_permute2f128_ps(s2, s6, 0x20);
  r3 = _mm256_permute2f128_ps(s3, s7, 0x20);
  r4 = _mm256_permute2f128_ps(s0, s4, 0x31);
  r5 = _mm256_permute2f128_ps(s1, s5, 0x31);
  r6 = _mm256_permute2f128_ps(s2, s6, 0x31);
  r7 = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// dst[j * ldd + i] = src[i * lds + j] for i, j in [0, 8): one 8 x 8 block of a matrix transpose.
inline void transpose8x8_block(const float* src, std::int64_t lds, float* dst, std::int64_t ldd) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
  __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
  __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
  __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7);
  _mm256_storeu_ps(dst + 0 * ldd, r0);
  _mm256_storeu_ps(dst + 1 * ldd, r1);
  _mm256_storeu_ps(dst + 2 * ldd, r2);
  _mm256_storeu_ps(dst + 3 * ldd, r3);
  _mm256_storeu_ps(dst + 4 * ldd, r4);
  _mm256_storeu_ps(dst + 5 * ldd, r5);
  _mm256_storeu_ps(dst + 6 * ldd, r6);
  _mm256_storeu_ps(dst + 7 * ldd, r7);
}

}  // namespace
}  // namespace minimod
