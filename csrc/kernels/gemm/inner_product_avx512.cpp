// AVX-512 inner-product GEMM (inner_product.h, inner_product_vec.h). Compiled with -mavx512f...;
// called only when the CPU has AVX-512.
//
// Tile 4 x 6: 24 zmm accumulators + 6 weight vectors + 1 x vector = 31 of 32 registers. Per step
// of 16 k: 6 + 4 loads feed 24 FMAs (12 cycles on two FMA ports). At batch 1 and 2 the tile is
// 1 x 8 / 2 x 8: 8 and 16 independent chains cover the FMA latency with few x rows.

#include <cstdint>

#include "kernels/gemm/inner_product.h"
#include "kernels/gemm/inner_product_vec.h"
#include "kernels/simd/vec_avx512.h"

namespace minimod::kernels {

namespace {

// Avx512's vector operations (kernels/simd/vec_avx512.h) plus this kernel's tile and layout.
struct Avx512Ip : Avx512 {
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kMaxR = 4;
  static constexpr int kMaxNw = 8;
  static constexpr int kMaxAcc = 24;
  static int tile_nw(std::int64_t m) { return m <= 2 ? 8 : 6; }
  static int tile_r(std::int64_t m) { return m == 2 ? 2 : kMaxR; }

  static V load_masked(Mask mk, const float* p) { return _mm512_maskz_loadu_ps(mk, p); }
  static void store_aligned(float* p, V v) { _mm512_store_ps(p, v); }
  static Mask lane_mask(std::int64_t n) {
    return n >= kLanes ? static_cast<Mask>(0xFFFF) : static_cast<Mask>((1u << n) - 1u);
  }

  // The shuffle tree below leaves v[s]'s sum in lane 4 * (s % 4) + s / 4.
  static constexpr int reduce_slot(int s) { return 4 * (s % 4) + s / 4; }
  static V reduce(const V v[16]) {
    V t[8];
#pragma GCC unroll 8
    for (int p = 0; p < 8; ++p) {  // blocks (0 + 2, 1 + 3) of v[2p] | the same of v[2p + 1]
      const V a = v[2 * p], b = v[2 * p + 1];
      t[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
    V u[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {  // block b of u[q]: 4 partial sums of v[4q + b]
      const V x = t[2 * q], y = t[2 * q + 1];
      u[q] = _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
    }
    V w[2];
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r) {  // block b: 2 partial sums each of v[8r + b], v[8r + 4 + b]
      const V p = u[2 * r], q = u[2 * r + 1];
      w[r] = _mm512_add_ps(_mm512_unpacklo_ps(p, q), _mm512_unpackhi_ps(p, q));
    }
    const __m512d w0 = _mm512_castps_pd(w[0]), w1 = _mm512_castps_pd(w[1]);
    // Block b: the sums of v[b], v[4 + b], v[8 + b], v[12 + b].
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(w0, w1)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(w0, w1)));
  }
};

}  // namespace

void f32_inner_product_nt__avx512(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                  std::int64_t lda, const float* w, std::int64_t ldw, float* c,
                                  std::int64_t ldc, const float* scale_row, const float* bias_row,
                                  const float* bias_col, bool relu) {
  InnerProduct<Avx512Ip>::gemm(m, n, k, a, lda, w, ldw, c, ldc, scale_row, bias_row, bias_col,
                               relu);
}

}  // namespace minimod::kernels
