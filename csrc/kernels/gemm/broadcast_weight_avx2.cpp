// AVX2 broadcast-weight GEMM (broadcast_weight.h). Compiled with -mavx2 -mfma; called only when
// the CPU has them.
//
// Tile 4 weight rows x 3 vectors (24 batch rows): 12 ymm accumulators + 3 At vectors + 1
// broadcast = 16 of 16 registers. At m = 64 a weight tile (4 rows) is reused by three column
// groups from L1, so each weight still comes from memory once.

#include "kernels/gemm/broadcast_weight.h"
#include "kernels/gemm/broadcast_weight_vec.h"
#include "kernels/simd/transpose_avx.h"
#include "kernels/simd/vec_avx2.h"

namespace minimod::kernels {

namespace {

// Avx2's vector operations (kernels/simd/vec_avx2.h) plus this kernel's tile and layout.
struct Avx2Bw : Avx2 {
  using IndexV = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kTileW = 4;
  // At blocks of up to 256 KiB (L2; W2's 784 x 64 in one block): the running sums go through
  // `part` once per block, which on Zen3 cost more than At's loads from L2 at 16 B per cycle.
  // Against 16 KiB (L1), paired in one process: W2 ran 0.95-0.96 of its time.
  static constexpr std::int64_t kAtBlockBytes = 256 * 1024;
  static constexpr int kTileV = 3;
  // At panels and the partial-sum scratch are 64-byte aligned.
  static V load(const float* p) { return _mm256_load_ps(p); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
  static IndexV iota_scaled(int step) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(step));
  }
  static V gather(const float* base, IndexV idx) { return _mm256_i32gather_ps(base, idx, 4); }
  // W2's pack (x^T of 64 x 784 and 64 x 512) by gathers was 7% of the workload on Zen3.
  static constexpr bool kPackByTranspose = true;
  static void transpose8(const float* src, std::int64_t lda, float* dst, std::int64_t ldd) {
    transpose8x8_block(src, lda, dst, ldd);
  }
};

using Kernel = BroadcastWeight<Avx2Bw>;

}  // namespace

void f32_broadcast_weight_pack__avx2(const float* a, std::int64_t lda, std::int64_t m,
                                     std::int64_t k0, std::int64_t kc, std::int64_t m_pad,
                                     float* at) {
  Kernel::pack_at(a, lda, m, k0, kc, m_pad, at);
}

void f32_broadcast_weight_nt__avx2(std::int64_t m, std::int64_t n, std::int64_t k,
                                   const float* at, std::int64_t m_pad, const float* w,
                                   std::int64_t ldw, float* c, std::int64_t ldc, float* part,
                                   const float* scale_row, const float* bias_row,
                                   const float* bias_col, bool relu) {
  Kernel::gemm(m, n, k, at, m_pad, w, ldw, c, ldc, part, scale_row, bias_row, bias_col, relu);
}

}  // namespace minimod::kernels
