// Generic (portable C++) GEMM kernels: the baseline every platform compiles.
//
// Tile 6x8: 6 rows x 8 columns of accumulators, as 12 four-float vectors + 2 for the B row + 1 for
// the broadcast A value = 15 of the 16 xmm registers of the x86-64 baseline (SSE2); on NEON (32
// registers) the same code fits with room to spare. Written with GCC/Clang vector extensions so
// it is vector code on every target; other compilers get the plain loops.
#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm_config.h"
#include "kernels/gemm/inner_product.h"

namespace minimod::kernels {

namespace {

constexpr int kMr = 6;
constexpr int kNr = 8;

inline float finish_value(float v, const UkernelTile& t, int r, int j) {
  if (t.scale_row != nullptr) v *= t.scale_row[r];
  if (t.bias_row != nullptr) v += t.bias_row[r];
  if (t.bias_col != nullptr) v += t.bias_col[j];
  if (t.relu) v = v < 0.0f ? 0.0f : v;  // NaN stays NaN, as torch's relu
  return v;
}

#if defined(__GNUC__) || defined(__clang__)
// GCC/Clang vector extensions: 4 floats, one SSE2 or NEON register, with `vector * scalar`
// broadcasting. Plain loops over float acc[6][8] let the compiler choose lane shuffles and spill
// accumulators to the stack; these keep the 12 accumulators in registers.
typedef float v4f __attribute__((vector_size(16)));

inline v4f load4(const float* p) {
  v4f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <int R>
void f32_gemm_ukernel_6x8__generic(std::int64_t kc, const float* __restrict a,
                                   const float* __restrict b, float* __restrict c,
                                   std::int64_t ldc, int nc, const UkernelTile& t) {
  static_assert(R >= 1 && R <= kMr, "rows out of range");
  v4f acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = v4f{0.0f, 0.0f, 0.0f, 0.0f};
  for (std::int64_t k = 0; k < kc; ++k) {
    const v4f b0 = load4(b), b1 = load4(b + 4);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      acc[r][0] += b0 * a[r];
      acc[r][1] += b1 * a[r];
    }
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < R; ++r) {
    float row[kNr];
    std::memcpy(row, &acc[r][0], sizeof(v4f));
    std::memcpy(row + 4, &acc[r][1], sizeof(v4f));
    float* crow = c + r * ldc;
    for (int j = 0; j < nc; ++j) {
      float v = row[j];
      if (t.accumulate) v += crow[j];
      if (t.finish) v = finish_value(v, t, r, j);
      crow[j] = v;
    }
  }
}
#else
template <int R>
void f32_gemm_ukernel_6x8__generic(std::int64_t kc, const float* __restrict a,
                                   const float* __restrict b, float* __restrict c,
                                   std::int64_t ldc, int nc, const UkernelTile& t) {
  static_assert(R >= 1 && R <= kMr, "rows out of range");
  float acc[R][kNr] = {};
  for (std::int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < R; ++r) {
      const float av = a[r];
      for (int j = 0; j < kNr; ++j) acc[r][j] += av * b[j];
    }
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
    for (int j = 0; j < nc; ++j) {
      float v = acc[r][j];
      if (t.accumulate) v += crow[j];
      if (t.finish) v = finish_value(v, t, r, j);
      crow[j] = v;
    }
  }
}
#endif

// C = A * B, m small: row i of C is a sum of scaled rows of B (axpy form, unit stride over n).
void f32_gemm_small_nn__generic(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                                std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                                std::int64_t ldc, const float* scale_row,
                                const float* bias_row, const float* bias_col, bool relu) {
  for (std::int64_t i = 0; i < m; ++i) {
    float* crow = c + i * ldc;
    std::fill(crow, crow + n, 0.0f);
    const float* arow = a + i * lda;
    for (std::int64_t p = 0; p < k; ++p) {
      const float av = arow[p];
      const float* brow = b + p * ldb;
      for (std::int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
    }
    for (std::int64_t j = 0; j < n; ++j) {
      float v = crow[j];
      if (scale_row != nullptr) v *= scale_row[i];
      if (bias_row != nullptr) v += bias_row[i];
      if (bias_col != nullptr) v += bias_col[j];
      if (relu) v = v > 0.0f ? v : 0.0f;
      crow[j] = v;
    }
  }
}

// Twelve independent multiply-add chains (a multiply and an add each on the SSE2 baseline).
double fma_probe_generic(std::int64_t iters) {
#if defined(__GNUC__) || defined(__clang__)
  constexpr int kLanes = 4;
  v4f acc[12];
  const v4f y = {1e-3f, 1e-3f, 1e-3f, 1e-3f};
  for (int i = 0; i < 12; ++i) acc[i] = v4f{1.0f, 1.0f, 1.0f, 1.0f} * static_cast<float>(i);
  for (std::int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * 0.999f + y;
  }
  v4f sum = acc[0];
  for (int i = 1; i < 12; ++i) sum += acc[i];
  volatile float sink = sum[0] + sum[1] + sum[2] + sum[3];
#else
  constexpr int kLanes = 1;
  float acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = static_cast<float>(i);
  for (std::int64_t n = 0; n < iters; ++n) {
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * 0.999f + 1e-3f;
  }
  float sum = 0.0f;
  for (int i = 0; i < 12; ++i) sum += acc[i];
  volatile float sink = sum;
#endif
  (void)sink;
  return static_cast<double>(iters) * 12 * 2 * kLanes;
}

}  // namespace

void fill_gemm_kernels_generic(GemmKernels* t) {
  t->name = "generic";
  t->mr = kMr;
  t->nr = kNr;
  t->nr_step = kNr;
  t->mc = 120;  // A block 120 x 256 floats = 120 KiB: an L2-sized block
  t->kc = 256;  // B micro-panel 256 x 8 floats = 8 KiB: stays in L1 across the A panels
  t->nc = 2048;
  t->ukernel[0][0] = f32_gemm_ukernel_6x8__generic<1>;
  t->ukernel[1][0] = f32_gemm_ukernel_6x8__generic<2>;
  t->ukernel[2][0] = f32_gemm_ukernel_6x8__generic<3>;
  t->ukernel[3][0] = f32_gemm_ukernel_6x8__generic<4>;
  t->ukernel[4][0] = f32_gemm_ukernel_6x8__generic<5>;
  t->ukernel[5][0] = f32_gemm_ukernel_6x8__generic<6>;
  t->inner_nt = f32_inner_product_nt__generic;
  t->small_nn = f32_gemm_small_nn__generic;
  t->pack_bt = pack_bt_generic;
  t->pack_bn = pack_bn_generic;
  t->pack_a = pack_a_generic;
  t->fma_probe = fma_probe_generic;
}

}  // namespace minimod::kernels
