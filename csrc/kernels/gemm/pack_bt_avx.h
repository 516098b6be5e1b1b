// Packing B = W^T (W row-major, Linear's weight) with 8x8 AVX register transposes: eight W rows
// (eight panel columns) x eight k values are loaded as eight vectors, transposed in registers and
// stored as eight contiguous 8-column runs of panel rows. The scalar version writes one float
// per cache line touched; this one writes whole 32-byte runs. Included by ukernel_avx2.cpp and
// ukernel_avx512.cpp inside their anonymous namespaces (each compiled with its own flags).
//
// Requires: nr a multiple of 8, dst 32-byte aligned (panel rows are nr floats).

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
