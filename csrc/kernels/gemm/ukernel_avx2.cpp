// AVX2 + FMA GEMM kernels (compiled with -mavx2 -mfma; only called when the CPU has them).
//
// Register tile 6x16. AVX2 has 16 ymm registers of 8 floats:
//   accumulators 6 rows x 2 vectors = 12 ymm
//   B row of the panel (16 floats)  =  2 ymm
//   A value broadcast               =  1 ymm
//   total                           = 15/16
// Per k step: 2 loads + 6 broadcasts feed 12 FMAs (6 cycles on two FMA ports), and 12
// independent chains cover the FMA latency (4-5 cycles x 2 ports). The classic Haswell tile.
// Ragged edges: every rows in 1..6 and 1 or 2 column vectors is its own instantiation; partial
// column vectors use maskload and store_lanes (simd/vec_avx2.h: not vmaskmovps, which is
// microcoded as a store on AMD Zen), so edge tiles never read or write past C's row.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm/gemm_config.h"
#include "kernels/gemm/inner_product.h"
#include "kernels/simd/transpose_avx.h"
#include "kernels/simd/vec_avx2.h"

namespace minimod::kernels {

namespace {

#include "kernels/gemm/pack_bt_avx.h"

constexpr int kMr = 6;
constexpr int kNr = 16;
constexpr int kLanes = 8;

alignas(64) const std::int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};

inline __m256i lane_mask(int n) {  // first n lanes (n clamped to 0..8)
  n = n < 0 ? 0 : (n > kLanes ? kLanes : n);
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + kLanes - n));
}

template <int R, int V>
void f32_gemm_ukernel_6x16__avx2(std::int64_t kc, const float* __restrict a,
                                 const float* __restrict b, float* __restrict c,
                                 std::int64_t ldc, int nc, const UkernelTile& t) {
  static_assert(R >= 1 && R <= kMr && V >= 1 && V <= 2, "tile out of range");
  // The C tile is read (later K blocks) and written only after the k loop: start fetching it
  // now so its lines arrive while the FMAs run.
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + V * kLanes - 1), _MM_HINT_T0);
  }
  __m256 acc[R][V];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  }
  // One k step: V vector loads of B, R broadcasts of A, R*V FMAs.
  auto step = [&]() __attribute__((always_inline)) {
    __m256 bv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) bv[v] = _mm256_load_ps(b + v * kLanes);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += kMr;
    b += kNr;
  };
  // The first copy.count steps also copy one row of the next B panel; the first pf.count steps
  // fetch one line of a later panel's source into L2.
  const float* cp_src = t.copy.src;
  float* cp_dst = t.copy.dst;
  const std::int64_t cp_steps = t.copy.count < kc ? t.copy.count : kc;
  __m256i copy_mask[kNr / kLanes];
#pragma GCC unroll 2
  for (int v = 0; v < kNr / kLanes; ++v) copy_mask[v] = lane_mask(t.copy.cols - v * kLanes);
  const char* pf_row = t.pf.row;
  int pf_line = t.pf.line;
  const std::int64_t pf_steps = t.pf.count < kc ? t.pf.count : kc;
  const std::int64_t extra_steps = cp_steps > pf_steps ? cp_steps : pf_steps;
  std::int64_t k = 0;
  for (; k < extra_steps; ++k) {
    step();
    if (k < cp_steps) {
      // Masked loads never touch the source past its last column; zeros fill the panel.
#pragma GCC unroll 2
      for (int v = 0; v < kNr / kLanes; ++v) {
        _mm256_store_ps(cp_dst + v * kLanes, _mm256_maskload_ps(cp_src + v * kLanes, copy_mask[v]));
      }
      cp_src += t.copy.src_stride;
      cp_dst += kNr;
    }
    if (k < pf_steps) {
      _mm_prefetch(pf_row + pf_line * 64, _MM_HINT_T1);
      if (++pf_line == t.pf.lines_per_row) {
        pf_line = 0;
        pf_row += t.pf.stride;
      }
    }
  }
  // Two steps per loop iteration: W5a 0.89-0.94 of its time, the 1x1 / 3x3 convs 0.92-0.98,
  // ResNet-18 0.97 against one step (paired, in place); four steps measured 1.06.
  for (; k + 2 <= kc; k += 2) {
    step();
    step();
  }
  if (k < kc) step();

  const bool full = nc >= V * kLanes;
  __m256i mask[V];
  __m256 bias_col[V];
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) {
    mask[v] = lane_mask(nc - v * kLanes);
    bias_col[v] = (t.finish && t.bias_col != nullptr)
                      ? _mm256_maskload_ps(t.bias_col + v * kLanes, mask[v])
                      : _mm256_setzero_ps();
  }
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      __m256 x = acc[r][v];
      if (t.accumulate) {
        x = _mm256_add_ps(x, full ? _mm256_loadu_ps(crow + v * kLanes)
                                  : _mm256_maskload_ps(crow + v * kLanes, mask[v]));
      }
      if (t.finish) {
        if (t.scale_row != nullptr) x = _mm256_mul_ps(x, _mm256_set1_ps(t.scale_row[r]));
        if (t.bias_row != nullptr) x = _mm256_add_ps(x, _mm256_set1_ps(t.bias_row[r]));
        x = _mm256_add_ps(x, bias_col[v]);
        if (t.relu) x = _mm256_max_ps(zero, x);  // max(0, NaN) is NaN, as torch's relu
      }
      store_lanes(crow + v * kLanes, x, nc - v * kLanes);
    }
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Small M, C = A * B with B row-major: V vectors of columns per pass; M*V <= 8 accumulators.
template <int M>
void small_nn(std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, const float* b,
              std::int64_t ldb, float* c, std::int64_t ldc, const float* scale_row,
              const float* bias_row, const float* bias_col, bool relu) {
  constexpr int V = M <= 4 ? 2 : 1;
  const __m256 zero = _mm256_setzero_ps();
  for (std::int64_t j = 0; j < n; j += V * kLanes) {
    __m256i mask[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) mask[v] = lane_mask(static_cast<int>(n - j - v * kLanes));
    __m256 acc[M][V];
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[i][v] = zero;
    }
    const float* bp = b + j;
    for (std::int64_t p = 0; p < k; ++p, bp += ldb) {
      __m256 bv[V];
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) bv[v] = _mm256_maskload_ps(bp + v * kLanes, mask[v]);
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        const __m256 av = _mm256_broadcast_ss(a + i * lda + p);
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) {
        __m256 x = acc[i][v];
        if (scale_row != nullptr) x = _mm256_mul_ps(x, _mm256_set1_ps(scale_row[i]));
        if (bias_row != nullptr) x = _mm256_add_ps(x, _mm256_set1_ps(bias_row[i]));
        if (bias_col != nullptr) {
          x = _mm256_add_ps(x, _mm256_maskload_ps(bias_col + j + v * kLanes, mask[v]));
        }
        if (relu) x = _mm256_max_ps(x, zero);
        store_lanes(c + i * ldc + j + v * kLanes, x, static_cast<int>(n - j - v * kLanes));
      }
    }
  }
}

void f32_gemm_small_nn__avx2(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                             std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                             std::int64_t ldc, const float* scale_row,
                               const float* bias_row, const float* bias_col,
                             bool relu) {
  switch (m) {
    case 1: return small_nn<1>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    case 2: return small_nn<2>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    case 3: return small_nn<3>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    case 4: return small_nn<4>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    case 5: return small_nn<5>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    case 6: return small_nn<6>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    case 7: return small_nn<7>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
    default: return small_nn<8>(n, k, a, lda, b, ldb, c, ldc, scale_row, bias_row, bias_col, relu);
  }
}

// Packs A into 6-row panels. Full panels of a column-major A: one six-float load per k step. Of a
// row-major A: eight k columns at a time with an 8x8 register transpose of the six rows (two lanes
// of padding). Either way each k step is one 8-lane store whose two padding lanes the next step's
// store overwrites, and the last one stores its six lanes only (store_lanes), so nothing is
// written past the panel. (A 6-lane vmaskmovps per step
// measured 25% of a 64->128 3x3 conv at 8x8 on Zen3, where that store is microcoded.)
void pack_a_avx2(const float* a, std::int64_t rs, std::int64_t cs, std::int64_t i0,
                 std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr, float* dst) {
  if (mr == kMr && rs == 1 && kc > 0) {
    // Column-major A (the pixel-rows conv's im2col^T): a panel's k step is six consecutive floats
    // of one column, one masked load (never past the column) and one store.
    const __m256i six = lane_mask(kMr);
    std::int64_t p = 0;
    for (; p + kMr <= mc; p += kMr) {
      const float* src = a + i0 + p + k0 * cs;
      float* d = dst + p * kc;
      for (std::int64_t k = 0; k + 1 < kc; ++k) {
        _mm256_storeu_ps(d + k * kMr, _mm256_maskload_ps(src + k * cs, six));
      }
      store_lanes(d + (kc - 1) * kMr, _mm256_maskload_ps(src + (kc - 1) * cs, six), kMr);
    }
    if (p < mc) pack_a_generic(a, rs, cs, i0 + p, mc - p, k0, kc, mr, dst + p * kc);
    return;
  }
  if (cs != 1 || mr != kMr) {
    pack_a_generic(a, rs, cs, i0, mc, k0, kc, mr, dst);
    return;
  }
  std::int64_t p = 0;
  for (; p + kMr <= mc; p += kMr) {
    const float* src = a + (i0 + p) * rs + k0;
    float* d = dst + p * kc;
    std::int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      const float* s = src + k;
      __m256 r0 = _mm256_loadu_ps(s + 0 * rs), r1 = _mm256_loadu_ps(s + 1 * rs);
      __m256 r2 = _mm256_loadu_ps(s + 2 * rs), r3 = _mm256_loadu_ps(s + 3 * rs);
      __m256 r4 = _mm256_loadu_ps(s + 4 * rs), r5 = _mm256_loadu_ps(s + 5 * rs);
      __m256 r6 = r5, r7 = r5;
      transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7);
      float* o = d + k * kMr;
      _mm256_storeu_ps(o + 0 * kMr, r0);
      _mm256_storeu_ps(o + 1 * kMr, r1);
      _mm256_storeu_ps(o + 2 * kMr, r2);
      _mm256_storeu_ps(o + 3 * kMr, r3);
      _mm256_storeu_ps(o + 4 * kMr, r4);
      _mm256_storeu_ps(o + 5 * kMr, r5);
      _mm256_storeu_ps(o + 6 * kMr, r6);
      store_lanes(o + 7 * kMr, r7, kMr);
    }
    for (; k < kc; ++k) {
      for (int r = 0; r < kMr; ++r) d[k * kMr + r] = src[r * rs + k];
    }
  }
  if (p < mc) pack_a_generic(a, rs, cs, i0 + p, mc - p, k0, kc, mr, dst + p * kc);
}

// Packs row-major B (unit column stride, row stride ldb): each panel row is two 8-float loads of
// the source row (masked at the right edge, zeros beyond it) and two aligned stores.
void pack_bn_avx2(const float* b, std::int64_t ldb, std::int64_t k0, std::int64_t kc,
                  std::int64_t j0, std::int64_t nc, int nr, float* dst) {
  if (nr != kNr) {
    pack_bn_generic(b, ldb, k0, kc, j0, nc, nr, dst);
    return;
  }
  for (std::int64_t p = 0; p < nc; p += kNr) {
    const std::int64_t cols = nc - p < kNr ? nc - p : kNr;
    float* d = dst + p * kc;
    const float* s = b + k0 * ldb + j0 + p;
    if (cols == kNr) {
      for (std::int64_t k = 0; k < kc; ++k, s += ldb, d += kNr) {
        _mm256_store_ps(d, _mm256_loadu_ps(s));
        _mm256_store_ps(d + kLanes, _mm256_loadu_ps(s + kLanes));
      }
    } else {
      const __m256i m0 = lane_mask(static_cast<int>(cols));
      const __m256i m1 = lane_mask(static_cast<int>(cols) - kLanes);
      for (std::int64_t k = 0; k < kc; ++k, s += ldb, d += kNr) {
        _mm256_store_ps(d, _mm256_maskload_ps(s, m0));
        _mm256_store_ps(d + kLanes, _mm256_maskload_ps(s + kLanes, m1));
      }
    }
  }
}

// Twelve independent FMA chains: enough to fill two FMA ports at 4-5 cycles of latency.
double fma_probe_avx2(std::int64_t iters) {
  __m256 acc[12];
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
#pragma GCC unroll 12
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (std::int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 sum = acc[0];
#pragma GCC unroll 11
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  volatile float sink = hsum(sum);
  (void)sink;
  return static_cast<double>(iters) * 12 * 2 * kLanes;
}

template <int R>
void set_row(GemmKernels* t) {
  t->ukernel[R - 1][0] = f32_gemm_ukernel_6x16__avx2<R, 1>;
  t->ukernel[R - 1][1] = f32_gemm_ukernel_6x16__avx2<R, 2>;
}

}  // namespace

void fill_gemm_kernels_avx2(GemmKernels* t) {
  t->name = "avx2";
  t->mr = kMr;
  t->nr = kNr;
  t->nr_step = kLanes;
  // Deep K blocks: a B micro-panel of kc x 16 floats is 32 KiB at kc = 512, more than L1 keeps
  // beside the A panel's lines, but C is read and written once per K block, and on Zen3 that
  // traffic cost more: against kc = 256 (2 threads, paired in one process) W5a ran 0.97-0.975 of
  // its time and W3 0.97 (ResNet-18 and W5c within noise); kc = 1024 gave W5a 0.94, but one FMA
  // chain over all of K = 576 tripled the error of a 3x3 conv against float64 (to torch's own
  // 1e-6 of max|y|; 512: 5e-7; tests/kernels/test_winograd.py holds the direct path to 1e-6).
  // Blocked path: A block 96 x 512 floats = 192 KiB (L2), B block 512 x 1024 floats = 2 MiB (L3).
  t->mc = 16 * kMr;
  t->kc = 512;
  t->nc = 1024;
  set_row<1>(t);
  set_row<2>(t);
  set_row<3>(t);
  set_row<4>(t);
  set_row<5>(t);
  set_row<6>(t);
  t->inner_nt = f32_inner_product_nt__avx2;
  t->small_nn = f32_gemm_small_nn__avx2;
  t->bw_pack = f32_broadcast_weight_pack__avx2;
  t->bw_nt = f32_broadcast_weight_nt__avx2;
  t->bw_rows = 4;
  t->bw_lanes = 8;
  t->pack_bt = pack_bt_avx;
  t->pack_bn = pack_bn_avx2;
  t->fma_probe = fma_probe_avx2;
  t->copies_b = true;
  t->pack_a = pack_a_avx2;
}

}  // namespace minimod::kernels
