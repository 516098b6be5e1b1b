// AVX-512 broadcast-weight GEMM (broadcast_weight.h). Compiled with -mavx512f...; called only
// when the CPU has AVX-512.
//
// Tile 6 weight rows x 4 vectors (64 batch rows): 24 zmm accumulators + 4 At vectors + 1
// broadcast = 29 of 32 registers. Per k: 4 loads + 6 broadcasts feed 24 FMAs (12 cycles on two
// FMA ports), so the loads have slack.

#include "kernels/gemm/broadcast_weight.h"
#include "kernels/gemm/broadcast_weight_vec.h"
#include "kernels/simd/vec_avx512.h"

namespace minimod::kernels {

namespace {

// Avx512's vector operations (kernels/simd/vec_avx512.h) plus this kernel's tile and layout.
struct Avx512Bw : Avx512 {
  using IndexV = __m512i;
  static constexpr int kLanes = 16;
  static constexpr int kTileW = 6;
  static constexpr std::int64_t kAtBlockBytes = 24 * 1024;  // of 48 / 32 KiB L1
  static constexpr int kTileV = 4;
  // At panels and the partial-sum scratch are 64-byte aligned.
  static V load(const float* p) { return _mm512_load_ps(p); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
  static IndexV iota_scaled(int step) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32(step));
  }
  static V gather(const float* base, IndexV idx) { return _mm512_i32gather_ps(idx, base, 4); }
  static constexpr bool kPackByTranspose = false;
  static void transpose8(const float*, std::int64_t, float*, std::int64_t) {}
};

using Kernel = BroadcastWeight<Avx512Bw>;

}  // namespace

void f32_broadcast_weight_pack__avx512(const float* a, std::int64_t lda, std::int64_t m,
                                       std::int64_t k0, std::int64_t kc, std::int64_t m_pad,
                                       float* at) {
  Kernel::pack_at(a, lda, m, k0, kc, m_pad, at);
}

void f32_broadcast_weight_nt__avx512(std::int64_t m, std::int64_t n, std::int64_t k,
                                     const float* at, std::int64_t m_pad, const float* w,
                                     std::int64_t ldw, float* c, std::int64_t ldc, float* part,
                                     const float* scale_row, const float* bias_row,
                                     const float* bias_col, bool relu) {
  Kernel::gemm(m, n, k, at, m_pad, w, ldw, c, ldc, part, scale_row, bias_row, bias_col, relu);
}

}  // namespace minimod::kernels
