// AVX2 inner-product GEMM (inner_product.h, inner_product_vec.h). Compiled with -mavx2 -mfma;
// called only when the CPU has them.
//
// Tile 4 x 3: 12 ymm accumulators + 3 weight vectors + 1 x vector = 16 of 16 registers. Per step
// of 8 k: 3 + 4 loads feed 12 FMAs. At batch 1 and 2 the tile is 1 x 8 / 2 x 4 (8 independent
// chains: enough to cover the FMA latency on two ports).

#include <cstdint>

#include "kernels/gemm/inner_product.h"
#include "kernels/gemm/inner_product_vec.h"
#include "kernels/simd/vec_avx2.h"

namespace minimod::kernels {

namespace {

// Avx2's vector operations (kernels/simd/vec_avx2.h) plus this kernel's tile and layout.
struct Avx2Ip : Avx2 {
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kMaxR = 4;
  static constexpr int kMaxNw = 8;
  static constexpr int kMaxAcc = 12;
  static int tile_nw(std::int64_t m) { return m == 1 ? 8 : m == 2 ? 4 : 3; }
  static int tile_r(std::int64_t m) { return m == 2 ? 2 : kMaxR; }

  static V load_masked(Mask mk, const float* p) { return _mm256_maskload_ps(p, mk); }
  static void store_aligned(float* p, V v) { _mm256_store_ps(p, v); }
  static Mask lane_mask(std::int64_t n) {  // the first n lanes (0 <= n <= 8)
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
  }

  // The tree below leaves v[s]'s sum in lane 4 * (s % 2) + s / 2.
  static constexpr int reduce_slot(int s) { return 4 * (s % 2) + s / 2; }
  static V reduce(const V v[8]) {
    V t[4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {  // low half + high half of v[2p] | the same of v[2p + 1]
      const V a = v[2 * p], b = v[2 * p + 1];
      t[p] = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    }
    // hadd: per 128-bit half, (x0 + x1, x2 + x3, y0 + y1, y2 + y3).
    const V h0 = _mm256_hadd_ps(t[0], t[1]);
    const V h1 = _mm256_hadd_ps(t[2], t[3]);
    // Half 0: the sums of v[0], v[2], v[4], v[6]; half 1: of v[1], v[3], v[5], v[7].
    return _mm256_hadd_ps(h0, h1);
  }
};

}  // namespace

void f32_inner_product_nt__avx2(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                                std::int64_t ldc, const float* scale_row, const float* bias_row,
                                const float* bias_col, bool relu) {
  InnerProduct<Avx2Ip>::gemm(m, n, k, a, lda, w, ldw, c, ldc, scale_row, bias_row, bias_col,
                             relu);
}

}  // namespace minimod::kernels
