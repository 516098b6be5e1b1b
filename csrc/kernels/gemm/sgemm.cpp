// SGEMM driver: routing (small M vs packed), cache blocking, and the split across threads.
//
// Packed path, loop nest (BLIS order), per thread on its slice of C:
//   jc over N by NC            B block kc x nc packed once per (jc, pc), reused by every A panel
//    pc over K by KC           the epilogue (bias, ReLU) is applied by the last K block only
//     ic over M by MC          A block mc x kc packed, L2 resident
//      jr over nc by NR        B micro-panel kc x NR, L1 resident across the ir loop
//       ir over mc by MR       microkernel on an MR x NR tile of C
// Threads take disjoint slices of C, along N when the B panels outnumber the threads and A is the
// smaller operand to re-pack per thread, otherwise along M. No synchronisation inside a GEMM.
#include <algorithm>
#include <cstring>

#include "common/aligned.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_config.h"
#include "kernels/gemm/pack.h"
#include "runtime/parallel.h"

namespace minimod::kernels {

namespace {

// Below this many multiply-adds a GEMM runs on one thread: waking a worker costs more.
constexpr std::int64_t kMinParallelWork = std::int64_t{1} << 18;

// Per-thread packing buffers, grown on demand and kept: no allocation in steady state.
struct PackBuffers {
  AlignedPtr<float> a, b;
  std::size_t a_cap = 0, b_cap = 0;

  float* get_a(std::size_t n) { return grow(a, a_cap, n); }
  float* get_b(std::size_t n) { return grow(b, b_cap, n); }

 private:
  static float* grow(AlignedPtr<float>& p, std::size_t& cap, std::size_t n) {
    if (n > cap) {
      p = aligned_array<float>(n);
      cap = n;
    }
    return p.get();
  }
};

PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Splits `total` into equal blocks of at most `block`, each a multiple of `unit`.
std::int64_t balanced_block(std::int64_t total, std::int64_t block, std::int64_t unit) {
  const std::int64_t nblocks = ceil_div(total, block);
  return ceil_div(ceil_div(total, nblocks), unit) * unit;
}

int threads_for(std::int64_t M, std::int64_t N, std::int64_t K, const GemmOptions& opt) {
  if (!opt.parallel) return 1;
  if (M * N * std::max<std::int64_t>(K, 1) < kMinParallelWork) return 1;
  return std::max(1, get_num_threads());
}

// C = bias (then ReLU) when K == 0: the empty sum is zero.
void epilogue_only(std::int64_t M, std::int64_t N, float* c, std::int64_t ldc,
                   const GemmEpilogue& ep) {
  for (std::int64_t i = 0; i < M; ++i) {
    float* crow = c + i * ldc;
    for (std::int64_t j = 0; j < N; ++j) {
      float v = 0.0f;
      if (ep.bias_kind == GemmEpilogue::Bias::PerRow) v = ep.bias[i];
      if (ep.bias_kind == GemmEpilogue::Bias::PerCol) v = ep.bias[j];
      if (ep.relu && v < 0.0f) v = 0.0f;
      crow[j] = v;
    }
  }
}

// The packed path on rows [m0, m1) and columns [n0, n1) of C, on the calling thread.
void packed_slice(const GemmKernels& kt, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                  std::int64_t n1, std::int64_t K, const float* a, std::int64_t a_rs,
                  std::int64_t a_cs, const BPacker& bp, float* c, std::int64_t ldc,
                  const GemmEpilogue& ep) {
  const int MR = kt.mr, NR = kt.nr;
  const std::int64_t M = m1 - m0, N = n1 - n0;
  if (M <= 0 || N <= 0) return;
  const std::int64_t KC = balanced_block(K, kt.kc, 1);
  const std::int64_t MC = balanced_block(M, kt.mc, MR);
  const std::int64_t NC = balanced_block(N, kt.nc, NR);
  PackBuffers& buf = pack_buffers();
  float* abuf = buf.get_a(static_cast<std::size_t>(MC * KC));
  float* bbuf = buf.get_b(static_cast<std::size_t>(NC * KC));
  const float* bias_row = ep.bias_kind == GemmEpilogue::Bias::PerRow ? ep.bias : nullptr;
  const float* bias_col = ep.bias_kind == GemmEpilogue::Bias::PerCol ? ep.bias : nullptr;

  for (std::int64_t jc = n0; jc < n1; jc += NC) {
    const std::int64_t nc = std::min(NC, n1 - jc);
    for (std::int64_t pc = 0; pc < K; pc += KC) {
      const std::int64_t kc = std::min(KC, K - pc);
      bp.pack(pc, kc, jc, nc, NR, bbuf);
      UkernelTile tile{};
      tile.accumulate = pc > 0;
      tile.finish = pc + kc == K;
      tile.relu = ep.relu;
      for (std::int64_t ic = m0; ic < m1; ic += MC) {
        const std::int64_t mc = std::min(MC, m1 - ic);
        pack_a(a, a_rs, a_cs, ic, mc, pc, kc, MR, abuf);
        for (std::int64_t jr = 0; jr < nc; jr += NR) {
          const int cols = static_cast<int>(std::min<std::int64_t>(NR, nc - jr));
          const int vsel = (cols + kt.nr_step - 1) / kt.nr_step - 1;
          const float* bpanel = bbuf + jr * kc;
          tile.bias_col = bias_col ? bias_col + jc + jr : nullptr;
          for (std::int64_t ir = 0; ir < mc; ir += MR) {
            const int rows = static_cast<int>(std::min<std::int64_t>(MR, mc - ir));
            tile.bias_row = bias_row ? bias_row + ic + ir : nullptr;
            kt.ukernel[rows - 1][vsel](kc, abuf + ir * kc, bpanel, c + (ic + ir) * ldc + jc + jr,
                                       ldc, cols, tile);
          }
        }
      }
    }
  }
}

void packed(const GemmKernels& kt, std::int64_t M, std::int64_t N, std::int64_t K,
            const float* a, std::int64_t a_rs, std::int64_t a_cs, const BPacker& bp, float* c,
            std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt) {
  const int T = threads_for(M, N, K, opt);
  const std::int64_t n_panels = ceil_div(N, kt.nr), m_panels = ceil_div(M, kt.mr);
  if (T == 1 || (n_panels == 1 && m_panels == 1)) {
    packed_slice(kt, 0, M, 0, N, K, a, a_rs, a_cs, bp, c, ldc, ep);
    return;
  }
  // Re-packing cost per extra thread: A (M x K) when splitting N, B (K x N) when splitting M.
  const bool split_n = n_panels >= T && (M <= N || m_panels < T);
  const std::int64_t panels = split_n ? n_panels : m_panels;
  const std::int64_t unit = split_n ? kt.nr : kt.mr;
  const std::int64_t extent = split_n ? N : M;
  const std::int64_t parts = std::min<std::int64_t>(T, panels);
  parallel_for(parts, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      const std::int64_t lo = std::min(extent, panels * t / parts * unit);
      const std::int64_t hi = std::min(extent, panels * (t + 1) / parts * unit);
      if (split_n) {
        packed_slice(kt, 0, M, lo, hi, K, a, a_rs, a_cs, bp, c, ldc, ep);
      } else {
        packed_slice(kt, lo, hi, 0, N, K, a, a_rs, a_cs, bp, c, ldc, ep);
      }
    }
  });
}

// The small-M path split along N (each thread reads its own rows / columns of B once).
void small_m(GemmSmallFn fn, bool nt, std::int64_t M, std::int64_t N, std::int64_t K,
             const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
             std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt) {
  const float* bias_row = ep.bias_kind == GemmEpilogue::Bias::PerRow ? ep.bias : nullptr;
  const float* bias_col = ep.bias_kind == GemmEpilogue::Bias::PerCol ? ep.bias : nullptr;
  constexpr std::int64_t kUnit = 32;  // columns per chunk boundary: whole vectors
  const std::int64_t units = ceil_div(N, kUnit);
  const std::int64_t parts = std::min<std::int64_t>(threads_for(M, N, K, opt), units);
  auto run = [&](std::int64_t j0, std::int64_t j1) {
    if (j1 <= j0) return;
    const float* bj = nt ? b + j0 * ldb : b + j0;
    fn(M, j1 - j0, K, a, lda, bj, ldb, c + j0, ldc, bias_row, bias_col ? bias_col + j0 : nullptr,
       ep.relu);
  };
  if (parts <= 1) {
    run(0, N);
    return;
  }
  parallel_for(parts, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      run(std::min(N, units * t / parts * kUnit), std::min(N, units * (t + 1) / parts * kUnit));
    }
  });
}

}  // namespace

void sgemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* a, std::int64_t a_rs,
           std::int64_t a_cs, const float* b, std::int64_t b_rs, std::int64_t b_cs, float* c,
           std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    epilogue_only(M, N, c, ldc, ep);
    return;
  }
  const GemmKernels& kt = gemm_kernels();
  if (M <= kSmallM && a_cs == 1) {
    if (b_rs == 1) {  // B = W^T, W row-major with row stride b_cs
      small_m(kt.small_nt, /*nt=*/true, M, N, K, a, a_rs, b, b_cs, c, ldc, ep, opt);
      return;
    }
    if (b_cs == 1) {
      small_m(kt.small_nn, /*nt=*/false, M, N, K, a, a_rs, b, b_rs, c, ldc, ep, opt);
      return;
    }
  }
  StridedBPacker bp(b, b_rs, b_cs);
  packed(kt, M, N, K, a, a_rs, a_cs, bp, c, ldc, ep, opt);
}

void sgemm_packed_b(std::int64_t M, std::int64_t N, std::int64_t K, const float* a,
                    std::int64_t a_rs, std::int64_t a_cs, const BPacker& b, float* c,
                    std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    epilogue_only(M, N, c, ldc, ep);
    return;
  }
  packed(gemm_kernels(), M, N, K, a, a_rs, a_cs, b, c, ldc, ep, opt);
}

}  // namespace minimod::kernels
