// The im2col panel packer of the strided convolution path, compiled once per ISA (im2col_impl.h)
// so its copies and stride-2 gathers vectorise at each path's width; im2col_pack() picks by
// active_isa().
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

Im2colPackFn im2col_pack_generic();
Im2colPackFn im2col_pack_avx2();
Im2colPackFn im2col_pack_avx512();

}  // namespace minimod::kernels
