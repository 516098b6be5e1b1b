// AVX-512 GEMM kernels (compiled with -mavx512f...; only called when the CPU has AVX-512).
//
// Register tile 14x32. AVX-512 has 32 zmm registers of 16 floats:
//   accumulators 14 rows x 2 vectors = 28 zmm
//   B row of the panel (32 floats)   =  2 zmm
//   A value broadcast                =  1 zmm (or folded into the FMA as an {1to16} memory operand)
//   total                            = 31/32
// Per k step: 2 vector loads + 14 broadcasts feed 28 FMAs, i.e. 14 cycles on the two FMA ports
// against ~16 loads (2-3 load ports): FMA-bound, which is the goal. 28 independent accumulator
// chains also cover the FMA latency (4 cycles x 2 ports = 8 chains needed).
// Ragged edges: every rows in 1..14 and 1 or 2 column vectors is its own instantiation, and the
// store is masked, so an edge tile costs only the FMAs it needs.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm/gemm_config.h"
#include "kernels/gemm/inner_product.h"
#include "kernels/simd/transpose_avx.h"

namespace minimod::kernels {

namespace {

#include "kernels/gemm/pack_bt_avx.h"

constexpr int kMr = 14;
constexpr int kNr = 32;
constexpr int kLanes = 16;

inline __mmask16 lane_mask(int n) {  // first n lanes (n clamped to 0..16)
  if (n >= kLanes) return static_cast<__mmask16>(0xFFFF);
  if (n <= 0) return 0;
  return static_cast<__mmask16>((1u << n) - 1u);
}

template <int R, int V>
void f32_gemm_ukernel_14x32__avx512(std::int64_t kc, const float* __restrict a,
                                    const float* __restrict b, float* __restrict c,
                                    std::int64_t ldc, int nc, const UkernelTile& t) {
  static_assert(R >= 1 && R <= kMr && V >= 1 && V <= 2, "tile out of range");
  // The C tile is read (later K blocks) and written only after the k loop: start fetching it
  // now so its lines (R rows, ldc apart) arrive while the FMAs run.
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + V * kLanes - 1), _MM_HINT_T0);
  }
  __m512 acc[R][V];
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  // One k step: V vector loads of B, R broadcasts of A, R*V FMAs.
  auto step = [&]() __attribute__((always_inline)) {
    __m512 bv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) bv[v] = _mm512_load_ps(b + v * kLanes);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += kMr;
    b += kNr;
  };
  // The first copy.count steps also copy one row of the next B panel; the first pf.count steps
  // fetch one line of a later panel's source into L2.
  const float* cp_src = t.copy.src;
  float* cp_dst = t.copy.dst;
  const std::int64_t cp_steps = t.copy.count < kc ? t.copy.count : kc;
  __mmask16 copy_mask[kNr / kLanes];
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
        _mm512_store_ps(cp_dst + v * kLanes, _mm512_maskz_loadu_ps(copy_mask[v], cp_src + v * kLanes));
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
  for (; k < kc; ++k) step();

  __mmask16 mask[V];
  __m512 bias_col[V];
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) {
    mask[v] = lane_mask(nc - v * kLanes);
    bias_col[v] = (t.finish && t.bias_col != nullptr)
                      ? _mm512_maskz_loadu_ps(mask[v], t.bias_col + v * kLanes)
                      : _mm512_setzero_ps();
  }
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 14
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      __m512 x = acc[r][v];
      if (t.accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], crow + v * kLanes));
      if (t.finish) {
        if (t.scale_row != nullptr) x = _mm512_mul_ps(x, _mm512_set1_ps(t.scale_row[r]));
        if (t.bias_row != nullptr) x = _mm512_add_ps(x, _mm512_set1_ps(t.bias_row[r]));
        x = _mm512_add_ps(x, bias_col[v]);
        if (t.relu) x = _mm512_max_ps(zero, x);  // max(0, NaN) is NaN, as torch's relu
      }
      _mm512_mask_storeu_ps(crow + v * kLanes, mask[v], x);
    }
  }
}

// Small M, C = A * B with B row-major: 32 columns (2 vectors) of C per pass, each a sum of k
// scaled B rows. M*2 <= 16 accumulators.
template <int M>
void small_nn(std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, const float* b,
              std::int64_t ldb, float* c, std::int64_t ldc, const float* scale_row,
              const float* bias_row, const float* bias_col, bool relu) {
  constexpr int V = 2;
  const __m512 zero = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < n; j += V * kLanes) {
    __mmask16 mask[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) mask[v] = lane_mask(static_cast<int>(n - j - v * kLanes));
    __m512 acc[M][V];
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[i][v] = zero;
    }
    const float* bp = b + j;
    for (std::int64_t p = 0; p < k; ++p, bp += ldb) {
      __m512 bv[V];
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) bv[v] = _mm512_maskz_loadu_ps(mask[v], bp + v * kLanes);
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        const __m512 av = _mm512_set1_ps(a[i * lda + p]);
#pragma GCC unroll 2
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) {
        __m512 x = acc[i][v];
        if (scale_row != nullptr) x = _mm512_mul_ps(x, _mm512_set1_ps(scale_row[i]));
        if (bias_row != nullptr) x = _mm512_add_ps(x, _mm512_set1_ps(bias_row[i]));
        if (bias_col != nullptr) {
          x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], bias_col + j + v * kLanes));
        }
        if (relu) x = _mm512_max_ps(x, zero);
        _mm512_mask_storeu_ps(c + i * ldc + j + v * kLanes, mask[v], x);
      }
    }
  }
}

void f32_gemm_small_nn__avx512(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
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

// Packs A into 14-row panels: for full panels of a row-major A, eight k columns at a time with
// two overlapping 8x8 register transposes (rows 0-7 and rows 6-13; rows 6 and 7 are written twice
// with the same values), so each k step is two 8-float stores instead of fourteen scalar ones.
void pack_a_avx512(const float* a, std::int64_t rs, std::int64_t cs, std::int64_t i0,
                   std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr, float* dst) {
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
      for (int half = 0; half < 2; ++half) {
        const float* s = src + (half ? 6 : 0) * rs + k;
        __m256 r0 = _mm256_loadu_ps(s + 0 * rs), r1 = _mm256_loadu_ps(s + 1 * rs);
        __m256 r2 = _mm256_loadu_ps(s + 2 * rs), r3 = _mm256_loadu_ps(s + 3 * rs);
        __m256 r4 = _mm256_loadu_ps(s + 4 * rs), r5 = _mm256_loadu_ps(s + 5 * rs);
        __m256 r6 = _mm256_loadu_ps(s + 6 * rs), r7 = _mm256_loadu_ps(s + 7 * rs);
        transpose8x8(r0, r1, r2, r3, r4, r5, r6, r7);
        float* o = d + k * kMr + (half ? 6 : 0);
        _mm256_storeu_ps(o + 0 * kMr, r0);
        _mm256_storeu_ps(o + 1 * kMr, r1);
        _mm256_storeu_ps(o + 2 * kMr, r2);
        _mm256_storeu_ps(o + 3 * kMr, r3);
        _mm256_storeu_ps(o + 4 * kMr, r4);
        _mm256_storeu_ps(o + 5 * kMr, r5);
        _mm256_storeu_ps(o + 6 * kMr, r6);
        _mm256_storeu_ps(o + 7 * kMr, r7);
      }
    }
    for (; k < kc; ++k) {
      for (int r = 0; r < kMr; ++r) d[k * kMr + r] = src[r * rs + k];
    }
  }
  if (p < mc) pack_a_generic(a, rs, cs, i0 + p, mc - p, k0, kc, mr, dst + p * kc);
}

// Packs row-major B (unit column stride, row stride ldb): each panel row is two 16-float loads
// of the source row (masked at the right edge, zeros beyond it) and two aligned stores.
void pack_bn_avx512(const float* b, std::int64_t ldb, std::int64_t k0, std::int64_t kc,
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
        _mm512_store_ps(d, _mm512_loadu_ps(s));
        _mm512_store_ps(d + kLanes, _mm512_loadu_ps(s + kLanes));
      }
    } else {
      const __mmask16 m0 = lane_mask(static_cast<int>(cols));
      const __mmask16 m1 = lane_mask(static_cast<int>(cols) - kLanes);
      for (std::int64_t k = 0; k < kc; ++k, s += ldb, d += kNr) {
        _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(d + kLanes, _mm512_maskz_loadu_ps(m1, s + kLanes));
      }
    }
  }
}

// Sixteen independent FMA chains: enough to fill two FMA ports at 4 cycles of latency.
double fma_probe_avx512(std::int64_t iters) {
  __m512 acc[16];
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-3f);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (std::int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 sum = acc[0];
#pragma GCC unroll 15
  for (int i = 1; i < 16; ++i) sum = _mm512_add_ps(sum, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(sum);
  (void)sink;
  return static_cast<double>(iters) * 16 * 2 * kLanes;
}

template <int R>
void set_row(GemmKernels* t) {
  t->ukernel[R - 1][0] = f32_gemm_ukernel_14x32__avx512<R, 1>;
  t->ukernel[R - 1][1] = f32_gemm_ukernel_14x32__avx512<R, 2>;
}

}  // namespace

void fill_gemm_kernels_avx512(GemmKernels* t) {
  t->name = "avx512";
  t->mr = kMr;
  t->nr = kNr;
  t->nr_step = kLanes;
  // B micro-panel kc x 32 floats = 32 KiB at kc = 256: it stays in L1 (48 KiB) while the
  // microkernel walks the A panels of the block; A block mc x kc = 224 x 256 floats = 224 KiB
  // sits in L2 (2 MiB per core here); B block kc x nc = 256 x 2048 floats = 2 MiB in L2/L3.
  t->mc = 16 * kMr;
  t->kc = 256;
  t->nc = 2048;
  set_row<1>(t);
  set_row<2>(t);
  set_row<3>(t);
  set_row<4>(t);
  set_row<5>(t);
  set_row<6>(t);
  set_row<7>(t);
  set_row<8>(t);
  set_row<9>(t);
  set_row<10>(t);
  set_row<11>(t);
  set_row<12>(t);
  set_row<13>(t);
  set_row<14>(t);
  t->inner_nt = f32_inner_product_nt__avx512;
  t->small_nn = f32_gemm_small_nn__avx512;
  t->bw_pack = f32_broadcast_weight_pack__avx512;
  t->bw_nt = f32_broadcast_weight_nt__avx512;
  t->bw_rows = 6;
  t->bw_lanes = 16;
  t->pack_bt = pack_bt_avx;
  t->pack_bn = pack_bn_avx512;
  t->fma_probe = fma_probe_avx512;
  t->copies_b = true;
  t->pack_a = pack_a_avx512;
}

}  // namespace minimod::kernels
