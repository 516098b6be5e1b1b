// SGEMM: C = A * B (+ bias) (then ReLU), float32, on raw pointers.
//
// A is M x K and B is K x N, each given by a base pointer and two element strides (row stride,
// column stride), so one entry point serves every layout the layers need without copying:
//   Linear   y = x @ W^T : A = x (rs = K, cs = 1), B = W^T read in place (rs = 1, cs = K).
//   Conv 1x1 out = W * X : A = W (rs = K, cs = 1), B = the input image (rs = H*W, cs = 1).
// C is row-major with leading dimension ldc (unit column stride).
//
// The paths behind `sgemm`:
//   - Linear's layout (A row-major, B = W^T) with small M (use_inner_product: M <= 32, or
//     M <= 64 with N <= 128): the inner-product kernels (inner_product.h) read x and W in place,
//     no packing; every weight is read once per call.
//   - Linear's layout with 32 < M <= 64 and N > 128 on AVX2 / AVX-512: the broadcast-weight
//     kernels (broadcast_weight.h) transpose x once and read W in place as the broadcast
//     operand; every weight is read once per call.
//   - row-major B with M <= kSmallM: B is read in its natural layout, no packing (axpy form).
//   - otherwise the packed, cache-blocked path (sgemm.cpp): A into MR-row panels, B into
//     NR-column panels, register-tiled microkernels chosen by active_isa() (gemm_config.h).
// `sgemm_packed_b` is the packed path with a caller-supplied B packer: convolution packs its
// im2col panels straight from the image, so the column matrix never exists in memory.
//
// Work is split with parallel_for (runtime/parallel.h) along N when it has enough column panels
// (so even batch 1 uses every thread), otherwise along M.
#pragma once

#include <cstdint>

namespace minimod::kernels {

// What is fused into the store of C. The bias is indexed by output row (conv: one value per
// output channel) or by output column (linear: one value per output feature).
struct GemmEpilogue {
  enum class Bias : std::uint8_t { None, PerRow, PerCol };
  const float* bias = nullptr;
  Bias bias_kind = Bias::None;
  bool relu = false;
  // Per output row, applied to the sum before the bias: C = (A*B) * scale[i] + bias (conv with
  // BatchNorm's eval affine fused in: nn/_fusion.py). nullptr: no scaling.
  const float* scale = nullptr;
};

// Where a pack reads its source: `rows` runs of `span` bytes, `stride` bytes apart.
struct SourceLines {
  const void* first = nullptr;
  std::int64_t stride = 0;
  std::int64_t rows = 0;
  std::int64_t span = 0;
};

// Packs rows [k0, k0 + kc) and columns [j0, j0 + nc) of B into ceil(nc / nr) panels, one after
// the other. Panel p holds columns [j0 + p*nr, j0 + (p+1)*nr) as kc rows of nr contiguous floats
// (row k of the panel at dst + p*kc*nr + k*nr); columns past nc are zero. Must be thread-safe
// (const, no shared scratch): threads pack disjoint column ranges concurrently.
class BPacker {
 public:
  virtual ~BPacker() = default;
  virtual void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, int nr,
                    float* dst) const = 0;
  // The memory pack(k0, kc, j0, nc, ...) will read, so the driver can have it fetched while the
  // previous panel is computed; false (the default) when the packer cannot say.
  virtual bool source_lines(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
                            SourceLines* out) const {
    (void)k0, (void)kc, (void)j0, (void)nc, (void)out;
    return false;
  }
  // True when pack() is a plain copy of a row-major source, B(k, j) = base[k * row_stride + j]
  // (then the driver may have the microkernel do the copy); false (the default) otherwise.
  virtual bool row_major_source(const float** base, std::int64_t* row_stride) const {
    (void)base, (void)row_stride;
    return false;
  }
};

// B given by strides (the common case; also what sgemm uses internally). Uses the active ISA's
// transposing packer when B = W^T (unit row stride).
class StridedBPacker final : public BPacker {
 public:
  StridedBPacker(const float* b, std::int64_t rs, std::int64_t cs);
  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, int nr,
            float* dst) const override;
  bool source_lines(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
                    SourceLines* out) const override;
  bool row_major_source(const float** base, std::int64_t* row_stride) const override;

 private:
  using PackBtFn = void (*)(const float*, std::int64_t, std::int64_t, std::int64_t,
                            std::int64_t, std::int64_t, int, float*);
  const float* b_;
  std::int64_t rs_, cs_;
  PackBtFn pack_bt_;
  PackBtFn pack_bn_;  // row-major B (unit column stride)
};

struct GemmOptions {
  // False: run on the calling thread only (a caller that already parallelises, e.g. conv over
  // groups, must not nest parallel_for).
  bool parallel = true;
};

// Largest M served by the small-M (no packing) path for row-major B.
inline constexpr std::int64_t kSmallM = 8;

void sgemm(std::int64_t M, std::int64_t N, std::int64_t K,
           const float* a, std::int64_t a_rs, std::int64_t a_cs,
           const float* b, std::int64_t b_rs, std::int64_t b_cs,
           float* c, std::int64_t ldc, const GemmEpilogue& ep, const GemmOptions& opt = {});

void sgemm_packed_b(std::int64_t M, std::int64_t N, std::int64_t K,
                    const float* a, std::int64_t a_rs, std::int64_t a_cs, const BPacker& b,
                    float* c, std::int64_t ldc, const GemmEpilogue& ep,
                    const GemmOptions& opt = {});

// Naive reference (triple loop, float64 accumulation): the oracle for tests.
void sgemm_ref(std::int64_t M, std::int64_t N, std::int64_t K,
               const float* a, std::int64_t a_rs, std::int64_t a_cs,
               const float* b, std::int64_t b_rs, std::int64_t b_cs,
               float* c, std::int64_t ldc, const GemmEpilogue& ep);

}  // namespace minimod::kernels
