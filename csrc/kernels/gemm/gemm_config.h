// The GEMM dispatch table: one struct of function pointers and tile sizes per ISA path.
//
// Each per-ISA file (ukernel_generic.cpp, ukernel_avx2.cpp, ukernel_avx512.cpp) fills one table;
// gemm_config.cpp fills the tables the CPU supports, once, and gemm_kernels() returns the one for
// active_isa() at every call (one atomic load), so `_core._set_active_isa` takes effect on the
// next GEMM. Nothing compiled with AVX flags runs before the CPU was found to support it.
//
// Microkernel naming follows XNNPACK's grammar: f32_gemm_ukernel_<MR>x<NR>__<isa>.
#pragma once

#include <cstdint>

#include "kernels/gemm/broadcast_weight.h"
#include "runtime/cpu_features.h"

namespace minimod::kernels {

// Cache lines a microkernel fetches into L2 while it computes, one per k step: the source of the
// B micro-panel the driver packs next (SourceLines, gemm.h, cut into one share per A panel).
// Packing reads its source with a large stride (conv: one image row per k; Linear: one weight row
// per panel column), a pattern the hardware prefetchers do not follow, so without this every
// pack waits on L3 for hundreds of lines while the FMA ports idle.
struct PrefetchStream {
  const char* row = nullptr;  // the current source row, rounded down to its cache line
  std::int64_t stride = 0;    // bytes from one source row to the next
  int lines_per_row = 0;
  int line = 0;               // the next line within the row
  int count = 0;              // lines this call fetches (0: none; at most kc)
};

// Rows of the next B micro-panel a microkernel copies into its packed buffer, one row per k step,
// while it computes on the current panel: for row-major B the pack is a plain row copy, and done
// this way its loads and stores fill idle load/store slots beside the FMAs instead of running
// between microkernel calls. Row r of the share: src + r * src_stride -> dst + r * NR (NR floats,
// columns from `cols` on zero-filled).
struct PanelCopy {
  const float* src = nullptr;
  std::int64_t src_stride = 0;
  float* dst = nullptr;
  int cols = 0;
  int count = 0;  // rows this call copies (0: none; at most kc)
};

// The part of the epilogue one microkernel call applies to its tile.
struct UkernelTile {
  bool accumulate;        // C += A*B (a later K block); otherwise C = A*B
  bool finish;            // the last K block: scale, add the bias, then ReLU
  bool relu;
  const float* bias_row;  // bias of this tile's first row (per-row bias), or nullptr
  const float* bias_col;  // bias of this tile's first column (per-column bias), or nullptr
  const float* scale_row = nullptr;  // per-row factor applied before the bias, or nullptr
  PrefetchStream pf;      // lines to fetch into L2 during the k loop
  PanelCopy copy;         // rows of the next B panel to pack during the k loop
};

// C[0:rows, 0:nc] (op)= A_panel * B_panel over kc. `a` is a packed A panel (kc steps of MR
// floats), `b` a packed B panel (kc steps of NR floats, 64-byte aligned); rows and the number
// of column vectors are template parameters of each instantiation; nc (<= NR) masks the store.
using GemmUkernelFn = void (*)(std::int64_t kc, const float* a, const float* b, float* c,
                               std::int64_t ldc, int nc, const UkernelTile& tile);

// The unpacked small-M paths:
//   inner_nt: C (m x n) = A (m x k, row stride lda, unit column stride) * W^T, W (n x k) with
//             row stride ldb (Linear's weight as stored), m <= kInnerProductM: inner_product.h.
//   small_nn: C (m x n) = A (m x k, row stride lda) * B (k x n, row stride ldb, unit columns),
//             m <= kSmallM.
// C is scaled by scale_row[i] before the biases are added. scale_row / bias_row / bias_col are
// already offset to this call's rows / columns (or nullptr).
using GemmSmallFn = void (*)(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                             std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                             std::int64_t ldc, const float* scale_row, const float* bias_row,
                             const float* bias_col, bool relu);

// Packs B = W^T for W row-major with row stride ldw (see BPacker::pack for the panel layout).
using GemmPackBtFn = void (*)(const float* w, std::int64_t ldw, std::int64_t k0, std::int64_t kc,
                              std::int64_t j0, std::int64_t nc, int nr, float* dst);

// Packs row-major B (unit column stride, row stride ldb) into the same panel layout.
using GemmPackBnFn = GemmPackBtFn;

// Packs rows [i0, i0 + mc) and columns [k0, k0 + kc) of A (strides rs, cs) into MR-row panels
// (pack.h has the layout).
using GemmPackAFn = void (*)(const float* a, std::int64_t rs, std::int64_t cs, std::int64_t i0,
                             std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr,
                             float* dst);

void pack_a_generic(const float* a, std::int64_t rs, std::int64_t cs, std::int64_t i0,
                    std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr, float* dst);

void pack_bt_generic(const float* w, std::int64_t ldw, std::int64_t k0, std::int64_t kc,
                     std::int64_t j0, std::int64_t nc, int nr, float* dst);

void pack_bn_generic(const float* b, std::int64_t ldb, std::int64_t k0, std::int64_t kc,
                     std::int64_t j0, std::int64_t nc, int nr, float* dst);

// Runs `iters` rounds of independent multiply-adds in registers only and returns the FLOPs
// done: the arithmetic peak of the path's instructions on this core, which benchmarks quote
// kernel speeds against (no memory, no dependency chains longer than the FMA latency).
using FmaProbeFn = double (*)(std::int64_t iters);

inline constexpr int kMaxMr = 16;
inline constexpr int kMaxNrSteps = 4;

struct GemmKernels {
  const char* name = "";
  int mr = 0;        // rows of the register tile (the A panel height)
  int nr = 0;        // columns of the register tile (the B panel width)
  int nr_step = 0;   // column granularity of the narrower variants (one SIMD vector)
  std::int64_t mc = 0, kc = 0, nc = 0;  // cache blocks: A block mc x kc (L2), B block kc x nc
  // ukernel[rows - 1][ceil(cols / nr_step) - 1]: a tile of `rows` <= mr rows and at most
  // that many vectors of columns, so ragged edges cost what they compute, not a full tile.
  GemmUkernelFn ukernel[kMaxMr][kMaxNrSteps] = {};
  GemmSmallFn inner_nt = nullptr;  // B = W^T, m <= kInnerProductM (inner_product.h)
  GemmSmallFn small_nn = nullptr;  // row-major B, m <= kSmallM
  // B = W^T, kInnerProductM < m <= kBroadcastWeightM (broadcast_weight.h); nullptr: not on
  // this path. bw_rows: weight rows per tile (N slices are cut in multiples of it); bw_lanes:
  // the At row padding unit.
  BroadcastWeightPackFn bw_pack = nullptr;
  BroadcastWeightFn bw_nt = nullptr;
  int bw_rows = 0;
  int bw_lanes = 0;
  GemmPackBtFn pack_bt = nullptr;
  GemmPackBnFn pack_bn = nullptr;
  GemmPackAFn pack_a = nullptr;
  FmaProbeFn fma_probe = nullptr;
  bool copies_b = false;  // the microkernels carry out UkernelTile::copy (else it must be empty)
};

// The measured multiply-add peak of the active path on one core, GFLOP/s (the best of ~40
// runs of fma_probe of >= 1 ms each).
double fma_peak_gflops();

// The table for active_isa().
const GemmKernels& gemm_kernels();
// The table for a given path (must be <= detected_isa()).
const GemmKernels& gemm_kernels(Isa isa);

// Filled by the per-ISA files.
void fill_gemm_kernels_generic(GemmKernels* t);
void fill_gemm_kernels_avx2(GemmKernels* t);
void fill_gemm_kernels_avx512(GemmKernels* t);

}  // namespace minimod::kernels
