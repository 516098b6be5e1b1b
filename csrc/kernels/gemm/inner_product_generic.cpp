// Portable inner-product GEMM (inner_product.h): the baseline every platform compiles.
//
// Tile 4 x 4 outputs, each accumulated as 4 partial sums over k (lanes l = k mod 4), so the inner
// loop is 4-wide independent multiply-adds a compiler can keep in SSE2 / NEON registers, and a
// fixed pairwise sum at the end.
#include <cstdint>

#include "kernels/gemm/inner_product.h"

namespace minimod::kernels {

namespace {

constexpr int kMaxR = 4;
constexpr int kMaxNw = 4;
constexpr int kParts = 4;

template <int R, int NW>
void inner_tile(std::int64_t k, const float* a, std::int64_t lda, const float* w,
                std::int64_t ldw, float* c, std::int64_t ldc, const float* scale_row,
                const float* bias_row, const float* bias_col, bool relu) {
  float acc[R][NW][kParts] = {};
  std::int64_t p = 0;
  for (; p + kParts <= k; p += kParts) {
    for (int i = 0; i < R; ++i) {
      const float* ar = a + i * lda + p;
      for (int q = 0; q < NW; ++q) {
        const float* wr = w + q * ldw + p;
        for (int l = 0; l < kParts; ++l) acc[i][q][l] += ar[l] * wr[l];
      }
    }
  }
  for (int l = 0; p < k; ++p, ++l) {  // the k tail goes into the first lanes
    for (int i = 0; i < R; ++i) {
      for (int q = 0; q < NW; ++q) acc[i][q][l] += a[i * lda + p] * w[q * ldw + p];
    }
  }
  for (int i = 0; i < R; ++i) {
    for (int q = 0; q < NW; ++q) {
      float v = (acc[i][q][0] + acc[i][q][1]) + (acc[i][q][2] + acc[i][q][3]);
      if (scale_row != nullptr) v *= scale_row[i];
      if (bias_row != nullptr) v += bias_row[i];
      if (bias_col != nullptr) v += bias_col[q];
      if (relu && v < 0.0f) v = 0.0f;
      c[i * ldc + q] = v;
    }
  }
}

template <int R>
void tile_rows(int nw, std::int64_t k, const float* a, std::int64_t lda, const float* w,
               std::int64_t ldw, float* c, std::int64_t ldc, const float* scale_row,
               const float* bias_row, const float* bias_col, bool relu) {
  switch (nw) {
    case 1: return inner_tile<R, 1>(k, a, lda, w, ldw, c, ldc, scale_row, bias_row, bias_col, relu);
    case 2: return inner_tile<R, 2>(k, a, lda, w, ldw, c, ldc, scale_row, bias_row, bias_col, relu);
    case 3: return inner_tile<R, 3>(k, a, lda, w, ldw, c, ldc, scale_row, bias_row, bias_col, relu);
    default: return inner_tile<R, 4>(k, a, lda, w, ldw, c, ldc, scale_row, bias_row, bias_col, relu);
  }
}

}  // namespace

void f32_inner_product_nt__generic(std::int64_t m, std::int64_t n, std::int64_t k,
                                   const float* a, std::int64_t lda, const float* w,
                                   std::int64_t ldw, float* c, std::int64_t ldc,
                                   const float* scale_row, const float* bias_row,
                                   const float* bias_col, bool relu) {
  for (std::int64_t j = 0; j < n; j += kMaxNw) {
    const int nw = static_cast<int>(n - j < kMaxNw ? n - j : kMaxNw);
    for (std::int64_t i = 0; i < m; i += kMaxR) {
      const int r = static_cast<int>(m - i < kMaxR ? m - i : kMaxR);
      const float* ai = a + i * lda;
      const float* wj = w + j * ldw;
      float* cij = c + i * ldc + j;
      const float* sr = scale_row != nullptr ? scale_row + i : nullptr;
      const float* br = bias_row != nullptr ? bias_row + i : nullptr;
      const float* bc = bias_col != nullptr ? bias_col + j : nullptr;
      switch (r) {
        case 1: tile_rows<1>(nw, k, ai, lda, wj, ldw, cij, ldc, sr, br, bc, relu); break;
        case 2: tile_rows<2>(nw, k, ai, lda, wj, ldw, cij, ldc, sr, br, bc, relu); break;
        case 3: tile_rows<3>(nw, k, ai, lda, wj, ldw, cij, ldc, sr, br, bc, relu); break;
        default: tile_rows<4>(nw, k, ai, lda, wj, ldw, cij, ldc, sr, br, bc, relu); break;
      }
    }
  }
}

}  // namespace minimod::kernels
