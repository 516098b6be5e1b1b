// The im2col panel packer of the strided convolution path and the copies of the shift GEMM (its
// shifted-row B packer, the polyphase input copy, the pixel-rows gather), compiled once per ISA
// (im2col_impl.h) so their copies and stride-2 gathers vectorise at each path's width; the
// accessors below pick by active_isa().
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

// Geometry of the shifted-row GEMM (conv.cpp has the derivation). The input is zero-padded and,
// along each strided dimension, split into its stride phases (polyphase): padded index
// i = r + s*q goes to phase r, position q. Only the phases some tap reads are kept (a 1x1 stride-2
// conv reads phase 0 only). Output (od, oh, ow) is indexed in phase coordinates,
// j = (od*Qh + oh)*Qw + ow, up to the last real output; tap k then reads its phase at
// j + a constant, as with unit strides.
struct ShiftGeometry {
  std::int64_t P[3];        // padded input extents
  std::int64_t Q[3];        // phase extents, ceil(P / stride)
  int phase_of[3][64];      // per dim: residue -> index among the kept phases (-1: not read)
  std::int64_t phases[3];   // kept phases per dim
  std::int64_t phase_plane; // Q[0] * Q[1] * Q[2]
  std::int64_t chan_plane;  // phases[0..2] * phase_plane: one channel of the copy
  std::int64_t J;           // GEMM columns: positions 0 .. (last output) in phase coordinates
  bool copy;                // padding or strides: B reads a polyphase copy, not the input itself
  bool direct_out;          // j is the output index itself (no discarded columns)
};

// Units [u0, u1) of the zero-padded polyphase copy of one (image, group) x (its first input
// channel) into dst (channel c at dst + c * chan_plane): unit u is phase image u % phases_total
// of channel u / phases_total, every element of it written once. Units, not channels, so that a
// 3-channel stem splits evenly over threads.
using PolyphaseCopyFn = void (*)(const ConvParams& p, const ShiftGeometry& g, const float* x,
                                 std::int64_t u0, std::int64_t u1, float* dst);

PolyphaseCopyFn polyphase_copy();

// Rows [k0, k1) of the pixel-rows orientation's im2col (K x P, row k at col + k*P): the real
// output pixels of the shifted run that starts at base + off[k] (phase columns past Wo and rows
// past Ho dropped).
using PixelRowsGatherFn = void (*)(const ConvParams& p, const ShiftGeometry& g, const float* base,
                                   const std::int64_t* off, std::int64_t k0, std::int64_t k1,
                                   float* col);

PixelRowsGatherFn pixel_rows_gather();

Im2colPackFn im2col_pack_generic();
Im2colPackFn im2col_pack_avx2();
Im2colPackFn im2col_pack_avx512();
ShiftRowsPackFn shift_rows_pack_generic();
ShiftRowsPackFn shift_rows_pack_avx2();
ShiftRowsPackFn shift_rows_pack_avx512();
PolyphaseCopyFn polyphase_copy_generic();
PolyphaseCopyFn polyphase_copy_avx2();
PolyphaseCopyFn polyphase_copy_avx512();
PixelRowsGatherFn pixel_rows_gather_generic();
PixelRowsGatherFn pixel_rows_gather_avx2();
PixelRowsGatherFn pixel_rows_gather_avx512();

}  // namespace minimod::kernels
