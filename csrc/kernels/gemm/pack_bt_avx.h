// Packing B = W^T (W row-major, Linear's weight) with 8x8 AVX register transposes: eight W rows
// (eight panel columns) x eight k values are loaded as eight vectors, transposed in registers and
// stored as eight contiguous 8-column runs of panel rows. The scalar version writes one float
// per cache line touched; this one writes whole 32-byte runs. Included by ukernel_avx2.cpp and
// ukernel_avx512.cpp inside their anonymous namespaces (each compiled with its own flags), after
// kernels/simd/transpose_avx.h at file scope.
//
// Requires: nr a multiple of 8, dst 32-byte aligned (panel rows are nr floats).

void pack_bt_avx(const float* w, std::int64_t ldw, std::int64_t k0, std::int64_t kc,
                 std::int64_t j0, std::int64_t nc, int nr, float* dst) {
  for (std::int64_t p = 0; p < nc; p += nr) {
    const std::int64_t cols = nc - p < nr ? nc - p : nr;
    float* d = dst + p * kc;
    const float* src = w + (j0 + p) * ldw + k0;
    std::int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const float* s = src + j * ldw;
      std::int64_t k = 0;
      for (; k + 8 <= kc; k += 8) {
        __m256 r0 = _mm256_loadu_ps(s + 0 * ldw + k), r1 = _mm256_loadu_ps(s + 1 * ldw + k);
        __m256 r2 = _mm256_loadu_ps(s + 2 * ldw + k), r3 = _mm256_loadu_ps(s + 3 * ldw + k);
        __m256 r4 = _mm256_loadu_ps(s + 4 * ldw + k), r5 = _mm256_loadu_ps(s + 5 * ldw + k);
        __m256 r6 = _mm256_loadu_ps(s + 6 * ldw + k), r7 = _mm256_loadu_ps(s + 7 * ldw + k);
        transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7);
        float* o = d + k * nr + j;
        _mm256_store_ps(o + 0 * nr, r0);
        _mm256_store_ps(o + 1 * nr, r1);
        _mm256_store_ps(o + 2 * nr, r2);
        _mm256_store_ps(o + 3 * nr, r3);
        _mm256_store_ps(o + 4 * nr, r4);
        _mm256_store_ps(o + 5 * nr, r5);
        _mm256_store_ps(o + 6 * nr, r6);
        _mm256_store_ps(o + 7 * nr, r7);
      }
      for (; k < kc; ++k) {
        for (int i = 0; i < 8; ++i) d[k * nr + j + i] = s[i * ldw + k];
      }
    }
    for (; j < cols; ++j) {
      const float* s = src + j * ldw;
      for (std::int64_t k = 0; k < kc; ++k) d[k * nr + j] = s[k];
    }
    if (cols < nr) {
      for (std::int64_t k = 0; k < kc; ++k) {
        for (std::int64_t i = cols; i < nr; ++i) d[k * nr + i] = 0.0f;
      }
    }
  }
}
