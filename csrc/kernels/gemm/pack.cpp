// Packing for the blocked GEMM path.
//
// Packed B: columns of NR elements are made physically contiguous, one k row after the other, so
// the microkernel streams a panel with aligned vector loads; columns past the matrix edge are
// zero-filled (the microkernel computes full vectors and masks only the store). Packed A: rows
// of MR elements per k, so the microkernel broadcasts A values from one contiguous run.
#include "kernels/gemm/pack.h"

#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm_config.h"

namespace minimod::kernels {

StridedBPacker::StridedBPacker(const float* b, std::int64_t rs, std::int64_t cs)
    : b_(b), rs_(rs), cs_(cs), pack_bt_(gemm_kernels().pack_bt), pack_bn_(gemm_kernels().pack_bn) {}

void pack_bt_generic(const float* w, std::int64_t ldw, std::int64_t k0, std::int64_t kc,
                     std::int64_t j0, std::int64_t nc, int nr, float* dst) {
  for (std::int64_t p = 0; p < nc; p += nr) {
    const int cols = static_cast<int>(std::min<std::int64_t>(nr, nc - p));
    float* d = dst + p * kc;
    const float* src = w + (j0 + p) * ldw + k0;
    // Eight W rows at a time: eight sequential read streams, one 32-byte run written per k.
    int j = 0;
    for (; j + 8 <= cols; j += 8) {
      const float* s = src + j * ldw;
      for (std::int64_t k = 0; k < kc; ++k) {
        for (int i = 0; i < 8; ++i) d[k * nr + j + i] = s[i * ldw + k];
      }
    }
    for (; j < cols; ++j) {
      const float* s = src + j * ldw;
      for (std::int64_t k = 0; k < kc; ++k) d[k * nr + j] = s[k];
    }
    if (cols < nr) {
      for (std::int64_t k = 0; k < kc; ++k) {
        std::memset(d + k * nr + cols, 0, sizeof(float) * (nr - cols));
      }
    }
  }
}

void StridedBPacker::pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
                          int nr, float* dst) const {
  if (rs_ == 1 && cs_ != 1) {
    // B = W^T with W row-major (Linear): each panel column is a contiguous run of a W row; the
    // ISA's packer transposes 8x8 blocks in registers.
    pack_bt_(b_, cs_, k0, kc, j0, nc, nr, dst);
    return;
  }
  if (cs_ == 1) {
    // Row-major B: each panel row is a contiguous run of the source row.
    pack_bn_(b_, rs_, k0, kc, j0, nc, nr, dst);
    return;
  }
  for (std::int64_t p = 0; p < nc; p += nr) {
    const int cols = static_cast<int>(std::min<std::int64_t>(nr, nc - p));
    float* d = dst + p * kc;
    const float* src = b_ + k0 * rs_ + (j0 + p) * cs_;
    for (std::int64_t k = 0; k < kc; ++k) {
      for (int j = 0; j < cols; ++j) d[k * nr + j] = src[k * rs_ + j * cs_];
      for (int j = cols; j < nr; ++j) d[k * nr + j] = 0.0f;
    }
  }
}

void pack_bn_generic(const float* b, std::int64_t ldb, std::int64_t k0, std::int64_t kc,
                     std::int64_t j0, std::int64_t nc, int nr, float* dst) {
  for (std::int64_t p = 0; p < nc; p += nr) {
    const std::int64_t cols = std::min<std::int64_t>(nr, nc - p);
    float* d = dst + p * kc;  // panel p / nr starts after p / nr panels of kc * nr floats
    const float* src = b + k0 * ldb + (j0 + p);
    for (std::int64_t k = 0; k < kc; ++k) {
      if (nr == 32) {
        copy_panel_row<32>(d + k * nr, src + k * ldb, cols);
      } else if (nr == 16) {
        copy_panel_row<16>(d + k * nr, src + k * ldb, cols);
      } else if (nr == 8) {
        copy_panel_row<8>(d + k * nr, src + k * ldb, cols);
      } else {
        for (std::int64_t j = 0; j < nr; ++j) d[k * nr + j] = j < cols ? src[k * ldb + j] : 0.0f;
      }
    }
  }
}

bool StridedBPacker::source_lines(std::int64_t k0, std::int64_t kc, std::int64_t j0,
                                  std::int64_t nc, SourceLines* out) const {
  if (kc <= 0 || nc <= 0) return false;
  if (cs_ == 1) {  // row-major B: kc rows of nc floats
    *out = {b_ + k0 * rs_ + j0, rs_ * static_cast<std::int64_t>(sizeof(float)), kc,
            nc * static_cast<std::int64_t>(sizeof(float))};
    return true;
  }
  if (rs_ == 1) {  // B = W^T: nc rows of W, kc floats each
    *out = {b_ + j0 * cs_ + k0, cs_ * static_cast<std::int64_t>(sizeof(float)), nc,
            kc * static_cast<std::int64_t>(sizeof(float))};
    return true;
  }
  return false;
}

bool StridedBPacker::row_major_source(const float** base, std::int64_t* row_stride) const {
  if (cs_ != 1) return false;
  *base = b_;
  *row_stride = rs_;
  return true;
}

void pack_a_generic(const float* a, std::int64_t rs, std::int64_t cs, std::int64_t i0, std::int64_t mc,
            std::int64_t k0, std::int64_t kc, int mr, float* dst) {
  for (std::int64_t p = 0; p < mc; p += mr) {
    const int rows = static_cast<int>(std::min<std::int64_t>(mr, mc - p));
    float* d = dst + p * kc;
    const float* src = a + (i0 + p) * rs + k0 * cs;
    if (cs == 1) {
      for (int r = 0; r < rows; ++r) {
        const float* s = src + r * rs;
        for (std::int64_t k = 0; k < kc; ++k) d[k * mr + r] = s[k];
      }
    } else {
      for (std::int64_t k = 0; k < kc; ++k) {
        for (int r = 0; r < rows; ++r) d[k * mr + r] = src[r * rs + k * cs];
      }
    }
    // Rows past the edge are never read (the microkernel for `rows` rows reads only those), but
    // keep the panel fully defined.
    if (rows < mr) {
      for (std::int64_t k = 0; k < kc; ++k) {
        for (int r = rows; r < mr; ++r) d[k * mr + r] = 0.0f;
      }
    }
  }
}

}  // namespace minimod::kernels
