// Packing B = W^T (W row-major, Linear's weight) with 8x8 AVX register transposes: eight W rows
// (eight panel columns) x eight k values are loaded as eight vectors, transposed in registers and
// stored as eight contiguous 8-column runs of panel rows. The scalar version writes one float
// per cache line touched; this one writes whole 32-byte runs. Included by ukernel_avx2.cpp and
// ukernel_avx512.cpp inside their anonymous namespaces (each compiled with its own flags), after
// kernels/simd/transpose_avx.h at file scope.
//
// Requires: nr a multiple of 8.

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
      for (; k + 8 <= kc; k += 8) transpose8x8_block(s + k, ldw, d + k * nr + j, nr);
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
