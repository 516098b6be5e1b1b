// SGEMM driver: routing (inner-product / small M vs packed), cache blocking, and the split
// across threads.
//
// The packed path has two shapes of loop nest.
//
// Shared-operand order (the common case: conv, Linear up to moderate sizes). The operand every
// slice of C needs (A when C is split along N, B when split along M) is packed once, whole, by
// all threads together (<= 4 MiB); then each slice walks its part of the other operand one
// micro-panel at a time:
//   pc over K by KC           the shared K block (m_pad x kc); the epilogue (bias, ReLU) is
//                             applied by the last K block only. kc is per ISA (gemm_config.h):
//                             deeper on AVX2, where C's traffic per K block cost more than
//                             keeping the blocks in L1 / L2 saved (ukernel_avx2.cpp)
//    jr over the slice by NR  (split along N)
//     pack the B micro-panel  kc x NR into a small buffer, consumed at once (row-major
//                             B: already copied there by the previous panel's microkernels)
//      ir over M by MR        microkernel on an MR x NR tile of C
// A packed B element is read from cache by every A panel right after it is written, which is what
// keeps small-M GEMMs (conv: M = C_out) from paying a memory round trip per B element. The
// source of the next micro-panel is fetched into L2 by the microkernel calls of the current one
// (PrefetchStream, one line per k step, shared out over the A panels): the packer's strided reads
// (an image row per k, a weight row per column) are a pattern the hardware prefetchers miss.
// (Packing several micro-panels per call, or reading row-major B in place without packing,
// measured no faster for the conv shapes, with and without that prefetch.)
//
// Blocked order (BLIS), when neither operand fits: per slice,
//   jc over N by NC            B block kc x nc (L2)
//    pc over K by KC
//     ic over M by MC          A block mc x kc
//      jr over nc by NR        B micro-panel, L1 resident across the ir loop
//       ir over mc by MR
//
// Threads take slices of C (parallel_slices.h: own slices first, then unclaimed ones), along N
// when the B panels outnumber the threads and A is the smaller operand, otherwise along M. Every output element is computed
// by one thread in one fixed order, so results never depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/aligned.h"
#include "kernels/gemm/broadcast_weight.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_config.h"
#include "kernels/gemm/inner_product.h"
#include "kernels/gemm/pack.h"
#include "kernels/gemm/parallel_slices.h"
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

// An operand packed whole and shared by all slices is at most this many floats (4 MiB); it is
// consumed one K block at a time (m_pad x kc or n_pad x kc).
constexpr std::int64_t kSharedFloats = std::int64_t{1} << 20;

struct Tile {
  const GemmKernels& kt;
  const GemmEpilogue& ep;
  float* c;
  std::int64_t ldc;

  // C[i0:i0+rows, j0:j0+cols] (op)= A panel * B panel over one K block [pc, pc + kc).
  void run(const float* apanel, const float* bpanel, std::int64_t i0, int rows, std::int64_t j0,
           int cols, std::int64_t pc, std::int64_t kc, std::int64_t K,
           const PrefetchStream& pf = {}, const PanelCopy& copy = {}) const {
    UkernelTile t;
    t.pf = pf;
    t.copy = copy;
    t.accumulate = pc > 0;
    t.finish = pc + kc == K;
    t.relu = ep.relu;
    t.bias_row = ep.bias_kind == GemmEpilogue::Bias::PerRow ? ep.bias + i0 : nullptr;
    t.bias_col = ep.bias_kind == GemmEpilogue::Bias::PerCol ? ep.bias + j0 : nullptr;
    t.scale_row = ep.scale != nullptr ? ep.scale + i0 : nullptr;
    const int vsel = (cols + kt.nr_step - 1) / kt.nr_step - 1;
    kt.ukernel[rows - 1][vsel](kc, apanel, bpanel, c + i0 * ldc + j0, ldc, cols, t);
  }
};

// The source lines of the next B micro-panel, to be fetched by the microkernel calls of the
// current one: `lines` cache lines, `lines_per_row` per source row.
struct PanelPrefetch {
  const char* first = nullptr;
  std::int64_t stride = 0;
  int lines_per_row = 0;
  std::int64_t lines = 0;

  // Lines that ceil(lines / n) at a time, the i-th of n microkernel calls fetches (at most kc).
  PrefetchStream share(std::int64_t i, std::int64_t n, std::int64_t kc) const {
    PrefetchStream s;
    if (lines == 0) return s;
    const std::int64_t per = ceil_div(lines, n);
    const std::int64_t begin = std::min(lines, i * per);
    s.row = first + begin / lines_per_row * stride;
    s.stride = stride;
    s.lines_per_row = lines_per_row;
    s.line = static_cast<int>(begin % lines_per_row);
    s.count = static_cast<int>(std::min({per, lines - begin, kc}));
    return s;
  }
};

PanelPrefetch panel_prefetch(const BPacker& bp, std::int64_t k0, std::int64_t kc,
                             std::int64_t j0, std::int64_t nc) {
  PanelPrefetch p;
  SourceLines src;
  if (nc <= 0 || kc <= 0 || !bp.source_lines(k0, kc, j0, nc, &src) || src.rows <= 0) return p;
  constexpr std::int64_t kLine = 64;
  const auto addr = reinterpret_cast<std::uintptr_t>(src.first);
  const std::int64_t offset = static_cast<std::int64_t>(addr % kLine);
  std::int64_t per_row;
  if (src.stride % kLine == 0) {  // every row has the first one's alignment: start at its line
    p.first = static_cast<const char*>(src.first) - offset;
    per_row = ceil_div(offset + src.span, kLine);
  } else {  // one line more than the span needs covers any alignment
    p.first = static_cast<const char*>(src.first);
    per_row = ceil_div(src.span, kLine) + 1;
  }
  if (per_row > (std::int64_t{1} << 20)) return PanelPrefetch{};
  p.stride = src.stride;
  p.lines_per_row = static_cast<int>(per_row);
  p.lines = per_row * src.rows;
  return p;
}

// Packs all of A (M x K) as K blocks of m_pad x kc, block pc at dst + m_pad * pc; the panel
// groups are packed in parallel when `parallel`.
void pack_whole_a(const GemmKernels& kt, std::int64_t M, std::int64_t K, std::int64_t KC,
                  const float* a, std::int64_t a_rs, std::int64_t a_cs, float* dst,
                  bool parallel) {
  const std::int64_t panels = ceil_div(M, kt.mr), kblocks = ceil_div(K, KC);
  const std::int64_t m_pad = panels * kt.mr;
  const std::int64_t groups = parallel ? std::min<std::int64_t>(panels, 8) : 1;
  auto job = [&](std::int64_t t) {
    const std::int64_t b = t / groups, g = t % groups;
    const std::int64_t pc = b * KC, kc = std::min(KC, K - pc);
    const std::int64_t i0 = panels * g / groups * kt.mr;
    const std::int64_t i1 = std::min(M, panels * (g + 1) / groups * kt.mr);
    if (i1 > i0) kt.pack_a(a, a_rs, a_cs, i0, i1 - i0, pc, kc, kt.mr, dst + m_pad * pc + i0 * kc);
  };
  if (parallel) {
    parallel_slices(kblocks * groups, job);
  } else {
    for (std::int64_t t = 0; t < kblocks * groups; ++t) job(t);
  }
}

// Packs all of B (K x N) as K blocks of n_pad x kc, block pc at dst + n_pad * pc.
void pack_whole_b(const GemmKernels& kt, std::int64_t N, std::int64_t K, std::int64_t KC,
                  const BPacker& bp, float* dst, bool parallel) {
  const std::int64_t panels = ceil_div(N, kt.nr), kblocks = ceil_div(K, KC);
  const std::int64_t n_pad = panels * kt.nr;
  const std::int64_t groups = parallel ? std::min<std::int64_t>(panels, 8) : 1;
  auto job = [&](std::int64_t t) {
    const std::int64_t b = t / groups, g = t % groups;
    const std::int64_t pc = b * KC, kc = std::min(KC, K - pc);
    const std::int64_t j0 = panels * g / groups * kt.nr;
    const std::int64_t j1 = std::min(N, panels * (g + 1) / groups * kt.nr);
    if (j1 > j0) bp.pack(pc, kc, j0, j1 - j0, kt.nr, dst + n_pad * pc + j0 * kc);
  };
  if (parallel) {
    parallel_slices(kblocks * groups, job);
  } else {
    for (std::int64_t t = 0; t < kblocks * groups; ++t) job(t);
  }
}

// Columns [n0, n1) with all of A already packed (pack_whole_a). K blocks outermost: every B
// micro-panel of the slice passes the A block of a K step (m_pad x kc).
void slice_shared_a(const Tile& tile, std::int64_t M, std::int64_t K, std::int64_t KC,
                    const float* apacked, const BPacker& bp, std::int64_t n0, std::int64_t n1) {
  const GemmKernels& kt = tile.kt;
  const std::int64_t m_pad = ceil_div(M, kt.mr) * kt.mr;
  const std::int64_t a_panels = ceil_div(M, kt.mr);
  // Row-major B: the microkernel calls of one panel copy the next panel into the other buffer.
  const float* row_src = nullptr;
  std::int64_t row_stride = 0;
  const bool fused_copy = kt.copies_b && bp.row_major_source(&row_src, &row_stride);
  const std::size_t panel_floats = static_cast<std::size_t>(kt.nr * KC);
  float* buffers = pack_buffers().get_b(fused_copy ? 2 * panel_floats : panel_floats);
  for (std::int64_t pc = 0; pc < K; pc += KC) {
    const std::int64_t kc = std::min(KC, K - pc);
    const float* ablock = apacked + m_pad * pc;
    int parity = 0;
    for (std::int64_t jr = n0; jr < n1; jr += kt.nr, parity ^= 1) {
      const int cols = static_cast<int>(std::min<std::int64_t>(kt.nr, n1 - jr));
      float* bpanel = buffers + (fused_copy ? parity * panel_floats : 0);
      // The first panel of a K block is packed here; with fused_copy every later one was
      // copied by the previous panel's microkernel calls.
      if (!fused_copy || jr == n0) bp.pack(pc, kc, jr, cols, kt.nr, bpanel);
      const bool has_next = jr + kt.nr < n1;
      PanelCopy copy;
      if (fused_copy && has_next) {
        copy.src = row_src + pc * row_stride + jr + kt.nr;
        copy.src_stride = row_stride;
        copy.dst = buffers + (parity ^ 1) * panel_floats;
        copy.cols = static_cast<int>(std::min<std::int64_t>(kt.nr, n1 - jr - kt.nr));
      }
      // Lines to fetch: the panel after the one being copied (fused_copy), else the next one;
      // past the slice's last panel, the first of the next K block.
      const std::int64_t ahead = jr + (fused_copy ? 2 : 1) * kt.nr;
      PanelPrefetch next;
      if (ahead < n1) {
        next = panel_prefetch(bp, pc, kc, ahead, std::min<std::int64_t>(kt.nr, n1 - ahead));
      } else if (!has_next && pc + kc < K) {
        next = panel_prefetch(bp, pc + kc, std::min(KC, K - pc - kc), n0,
                              std::min<std::int64_t>(kt.nr, n1 - n0));
      }
      const std::int64_t copy_per = ceil_div(kc, a_panels);  // rows per microkernel call
      for (std::int64_t ir = 0, i = 0; ir < M; ir += kt.mr, ++i) {
        const int rows = static_cast<int>(std::min<std::int64_t>(kt.mr, M - ir));
        PanelCopy share;
        if (copy.dst != nullptr) {
          const std::int64_t r0 = std::min(kc, i * copy_per);
          share = copy;
          share.src = copy.src + r0 * row_stride;
          share.dst = copy.dst + r0 * kt.nr;
          share.count = static_cast<int>(std::min(copy_per, kc - r0));
        }
        tile.run(ablock + ir * kc, bpanel, ir, rows, jr, cols, pc, kc, K,
                 next.share(i, a_panels, kc), share);
      }
    }
  }
}

// Rows [m0, m1) with all of B already packed (pack_whole_b), K blocks outermost likewise.
void slice_shared_b(const Tile& tile, std::int64_t N, std::int64_t K, std::int64_t KC,
                    const float* a, std::int64_t a_rs, std::int64_t a_cs, const float* bpacked,
                    std::int64_t m0, std::int64_t m1) {
  const GemmKernels& kt = tile.kt;
  const std::int64_t n_pad = ceil_div(N, kt.nr) * kt.nr;
  float* apanel = pack_buffers().get_a(static_cast<std::size_t>(kt.mr * KC));
  for (std::int64_t pc = 0; pc < K; pc += KC) {
    const std::int64_t kc = std::min(KC, K - pc);
    const float* bblock = bpacked + n_pad * pc;
    for (std::int64_t ir = m0; ir < m1; ir += kt.mr) {
      const int rows = static_cast<int>(std::min<std::int64_t>(kt.mr, m1 - ir));
      kt.pack_a(a, a_rs, a_cs, ir, rows, pc, kc, kt.mr, apanel);
      for (std::int64_t jr = 0; jr < N; jr += kt.nr) {
        const int cols = static_cast<int>(std::min<std::int64_t>(kt.nr, N - jr));
        tile.run(apanel, bblock + jr * kc, ir, rows, jr, cols, pc, kc, K);
      }
    }
  }
}

// Rows [m0, m1) x columns [n0, n1), BLIS blocking with this slice's own packs.
void slice_blocked(const Tile& tile, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                   std::int64_t n1, std::int64_t K, std::int64_t KC, const float* a,
                   std::int64_t a_rs, std::int64_t a_cs, const BPacker& bp) {
  const GemmKernels& kt = tile.kt;
  const std::int64_t M = m1 - m0, N = n1 - n0;
  if (M <= 0 || N <= 0) return;
  const std::int64_t MC = balanced_block(M, kt.mc, kt.mr);
  const std::int64_t NC = balanced_block(N, kt.nc, kt.nr);
  PackBuffers& buf = pack_buffers();
  float* abuf = buf.get_a(static_cast<std::size_t>(MC * KC));
  float* bbuf = buf.get_b(static_cast<std::size_t>(NC * KC));
  for (std::int64_t jc = n0; jc < n1; jc += NC) {
    const std::int64_t nc = std::min(NC, n1 - jc);
    for (std::int64_t pc = 0; pc < K; pc += KC) {
      const std::int64_t kc = std::min(KC, K - pc);
      bp.pack(pc, kc, jc, nc, kt.nr, bbuf);
      for (std::int64_t ic = m0; ic < m1; ic += MC) {
        const std::int64_t mc = std::min(MC, m1 - ic);
        kt.pack_a(a, a_rs, a_cs, ic, mc, pc, kc, kt.mr, abuf);
        for (std::int64_t jr = 0; jr < nc; jr += kt.nr) {
          const int cols = static_cast<int>(std::min<std::int64_t>(kt.nr, nc - jr));
          for (std::int64_t ir = 0; ir < mc; ir += kt.mr) {
            const int rows = static_cast<int>(std::min<std::int64_t>(kt.mr, mc - ir));
            tile.run(abuf + ir * kc, bbuf + jr * kc, ic + ir, rows, jc + jr, cols, pc, kc, K);
          }
        }
      }
    }
  }
}

void packed(const GemmKernels& kt, std::int64_t M, std::int64_t N, std::int64_t K,
            const float* a, std::int64_t a_rs, std::int64_t a_cs, const BPacker& bp, float* c,
            std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt) {
  const Tile tile{kt, ep, c, ldc};
  const int T = threads_for(M, N, K, opt);
  const std::int64_t KC = balanced_block(K, kt.kc, 1);
  const std::int64_t n_panels = ceil_div(N, kt.nr), m_panels = ceil_div(M, kt.mr);
  const bool a_fits = m_panels * kt.mr * K <= kSharedFloats;
  const bool b_fits = n_panels * kt.nr * K <= kSharedFloats;
  PackBuffers& buf = pack_buffers();  // the caller's: shared packs live here

  // Along N when there are enough column panels and A is the cheaper operand to share.
  const bool split_n = T == 1 || (n_panels >= T && (M <= N || m_panels < T));
  const std::int64_t panels = split_n ? n_panels : m_panels;
  // A few slices per thread: a thread the OS delays loses slices to the others instead of
  // holding up the call (parallel_slices.h).
  const std::int64_t slices =
      T == 1 ? 1 : std::min<std::int64_t>(panels, std::int64_t{kSlicesPerThread} * T);
  const std::int64_t unit = split_n ? kt.nr : kt.mr;
  const std::int64_t extent = split_n ? N : M;
  auto bounds = [&](std::int64_t t, std::int64_t count) {
    return std::make_pair(std::min(extent, panels * t / count * unit),
                          std::min(extent, panels * (t + 1) / count * unit));
  };

  if (split_n && a_fits) {
    float* apacked = buf.get_a(static_cast<std::size_t>(m_panels * kt.mr * K));
    pack_whole_a(kt, M, K, KC, a, a_rs, a_cs, apacked, T > 1);
    parallel_slices(slices, [&](std::int64_t t) {
      const auto [lo, hi] = bounds(t, slices);
      slice_shared_a(tile, M, K, KC, apacked, bp, lo, hi);
    });
  } else if (!split_n && b_fits) {
    float* bpacked = buf.get_b(static_cast<std::size_t>(n_panels * kt.nr * K));
    pack_whole_b(kt, N, K, KC, bp, bpacked, T > 1);
    parallel_slices(slices, [&](std::int64_t t) {
      const auto [lo, hi] = bounds(t, slices);
      slice_shared_b(tile, N, K, KC, a, a_rs, a_cs, bpacked, lo, hi);
    });
  } else {
    // Each slice packs its own blocks: one slice per thread, to pack as little twice as we can.
    const std::int64_t count = std::min<std::int64_t>(panels, T);
    parallel_slices(count, [&](std::int64_t t) {
      const auto [lo, hi] = bounds(t, count);
      if (split_n) {
        slice_blocked(tile, 0, M, lo, hi, K, KC, a, a_rs, a_cs, bp);
      } else {
        slice_blocked(tile, lo, hi, 0, N, K, KC, a, a_rs, a_cs, bp);
      }
    });
  }
}

// The unpacked paths (inner-product, small-M) split along N (each thread reads its own rows /
// columns of B once); a narrow inner-product layer (one chunk of columns: a classifier head)
// along M instead, in whole row groups (each thread reads all of W, which is small then).
void small_m(GemmSmallFn fn, bool nt, std::int64_t M, std::int64_t N, std::int64_t K,
             const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
             std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt) {
  const float* bias_row = ep.bias_kind == GemmEpilogue::Bias::PerRow ? ep.bias : nullptr;
  const float* bias_col = ep.bias_kind == GemmEpilogue::Bias::PerCol ? ep.bias : nullptr;
  constexpr std::int64_t kUnit = 32;  // columns per chunk boundary: whole vectors
  const std::int64_t units = ceil_div(N, kUnit);
  const int T = threads_for(M, N, K, opt);
  auto run = [&](std::int64_t j0, std::int64_t j1) {
    if (j1 <= j0) return;
    const float* bj = nt ? b + j0 * ldb : b + j0;
    fn(M, j1 - j0, K, a, lda, bj, ldb, c + j0, ldc, ep.scale, bias_row,
       bias_col ? bias_col + j0 : nullptr, ep.relu);
  };
  constexpr std::int64_t kRowGroup = 8;  // rows per M chunk boundary: whole register tiles
  const std::int64_t row_groups = M / kRowGroup;
  if (nt && T > 1 && units < 2 && row_groups >= 2) {
    const std::int64_t slices = std::min<std::int64_t>(row_groups, T);
    parallel_slices(slices, [&](std::int64_t t) {
      const std::int64_t i0 = row_groups * t / slices * kRowGroup;
      const std::int64_t i1 = t + 1 == slices ? M : row_groups * (t + 1) / slices * kRowGroup;
      fn(i1 - i0, N, K, a + i0 * lda, lda, b, ldb, c + i0 * ldc, ldc,
         ep.scale != nullptr ? ep.scale + i0 : nullptr,
         bias_row != nullptr ? bias_row + i0 : nullptr, bias_col, ep.relu);
    });
    return;
  }
  if (T <= 1 || units < 2) {
    run(0, N);
    return;
  }
  const std::int64_t slices = std::min<std::int64_t>(units, std::int64_t{kSlicesPerThread} * T);
  parallel_slices(slices, [&](std::int64_t t) {
    run(std::min(N, units * t / slices * kUnit), std::min(N, units * (t + 1) / slices * kUnit));
  });
}

// Linear's layout with kInnerProductM < M <= kBroadcastWeightM (broadcast_weight.h): A is
// transposed once into At (the threads each take a K range), then the threads take slices of
// W's rows, whole tiles each.
void broadcast_weight(const GemmKernels& kt, std::int64_t M, std::int64_t N, std::int64_t K,
                      const float* a, std::int64_t lda, const float* w, std::int64_t ldw,
                      float* c, std::int64_t ldc, const GemmEpilogue& ep,
                      const GemmOptions& opt) {
  const int T = threads_for(M, N, K, opt);
  const std::int64_t m_pad = ceil_div(M, kt.bw_lanes) * kt.bw_lanes;
  float* at = pack_buffers().get_a(static_cast<std::size_t>(m_pad * K));
  auto pack = [&](std::int64_t k0, std::int64_t k1) {
    if (k1 > k0) kt.bw_pack(a, lda, M, k0, k1 - k0, m_pad, at + k0 * m_pad);
  };
  const float* bias_row = ep.bias_kind == GemmEpilogue::Bias::PerRow ? ep.bias : nullptr;
  const float* bias_col = ep.bias_kind == GemmEpilogue::Bias::PerCol ? ep.bias : nullptr;
  auto run = [&](std::int64_t j0, std::int64_t j1) {
    if (j1 <= j0) return;
    const std::int64_t rows = ceil_div(j1 - j0, kt.bw_rows) * kt.bw_rows;
    float* part = pack_buffers().get_b(static_cast<std::size_t>(rows * m_pad));
    kt.bw_nt(M, j1 - j0, K, at, m_pad, w + j0 * ldw, ldw, c + j0, ldc, part, ep.scale, bias_row,
             bias_col != nullptr ? bias_col + j0 : nullptr, ep.relu);
  };
  const std::int64_t units = ceil_div(N, kt.bw_rows);
  if (T <= 1 || units < 2) {
    pack(0, K);
    run(0, N);
    return;
  }
  parallel_slices(T, [&](std::int64_t t) { pack(K * t / T, K * (t + 1) / T); });
  const std::int64_t slices = std::min<std::int64_t>(units, std::int64_t{kSlicesPerThread} * T);
  parallel_slices(slices, [&](std::int64_t t) {
    run(std::min(N, units * t / slices * kt.bw_rows),
        std::min(N, units * (t + 1) / slices * kt.bw_rows));
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
  // Linear's layout (x row-major, B = W^T read in place): inner_product.h has the routing rule.
  if (use_inner_product(M, N) && a_cs == 1 && b_rs == 1 && kt.inner_nt != nullptr) {
    small_m(kt.inner_nt, /*nt=*/true, M, N, K, a, a_rs, b, b_cs, c, ldc, ep, opt);
    return;
  }
  if (M <= kBroadcastWeightM && a_cs == 1 && b_rs == 1 && kt.bw_nt != nullptr) {
    broadcast_weight(kt, M, N, K, a, a_rs, b, b_cs, c, ldc, ep, opt);
    return;
  }
  if (M <= kSmallM && a_cs == 1 && b_cs == 1) {
    small_m(kt.small_nn, /*nt=*/false, M, N, K, a, a_rs, b, b_rs, c, ldc, ep, opt);
    return;
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
