// The im2col panel packer of the strided convolution path and the shifted-row packer of the shift
// GEMM, compiled once per ISA (im2col_impl.h) so their copies and stride-2 gathers vectorise at
// each path's width; im2col_pack() / shift_rows_pack() pick by active_isa().
#pragma once

#include <cstdint>

#include "kernels/conv/conv.h"

namespace minimod::kernels {

// Packs rows [k0, k0 + kc) and columns [j0, j0 + nc) of the column matrix of one (image, group)
// (x: its first input channel) into NR-column panels, the layout of BPacker::pack.
using Im2colPackFn = void (*)(const ConvParams& p, const float* x, std::int64_t k0,
                              std::int64_t kc, std::int64_t j0, std::int64_t nc, int nr,
                              float* dst);

Im2colPackFn im2col_pack();

// The shifted-row B of conv.cpp's shift GEMM: row k is the run of a (polyphase, padded) copy that
// starts at base + off[k]; column j is real output pixel j = (od*Ho + oh)*Wo + ow, read at
// (od*Qh + oh)*Qw + ow of the run (the phase columns past Wo and rows past Ho are skipped), or
// at j itself when `contiguous` (the runs are the output rows themselves).
struct ShiftRows {
  const float* base = nullptr;
  const std::int64_t* off = nullptr;
  std::int64_t Ho = 1, Wo = 1, Qh = 1, Qw = 1;
  bool contiguous = true;
};

// Packs rows [k0, k0 + kc) and columns [j0, j0 + nc) into NR-column panels (BPacker::pack).
using ShiftRowsPackFn = void (*)(const ShiftRows& s, std::int64_t k0, std::int64_t kc,
                                 std::int64_t j0, std::int64_t nc, int nr, float* dst);

ShiftRowsPackFn shift_rows_pack();

Im2colPackFn im2col_pack_generic();
Im2colPackFn im2col_pack_avx2();
Im2colPackFn im2col_pack_avx512();
ShiftRowsPackFn shift_rows_pack_generic();
ShiftRowsPackFn shift_rows_pack_avx2();
ShiftRowsPackFn shift_rows_pack_avx512();

}  // namespace minimod::kernels
