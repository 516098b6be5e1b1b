// im2col and shift-GEMM copies: the generic build of im2col_impl.h and the per-ISA choice.
#include "kernels/conv/im2col.h"

#include "kernels/conv/im2col_impl.h"
#include "runtime/cpu_features.h"

namespace minimod::kernels {

Im2colPackFn im2col_pack_generic() { return im2col_pack_impl; }
ShiftRowsPackFn shift_rows_pack_generic() { return shift_rows_pack_impl; }
PolyphaseCopyFn polyphase_copy_generic() { return polyphase_copy_impl; }
PixelRowsGatherFn pixel_rows_gather_generic() { return pixel_rows_gather_impl; }

Im2colPackFn im2col_pack() {
  return MINIMOD_FOR_ACTIVE_ISA(im2col_pack);
}

ShiftRowsPackFn shift_rows_pack() {
  return MINIMOD_FOR_ACTIVE_ISA(shift_rows_pack);
}

PolyphaseCopyFn polyphase_copy() {
  return MINIMOD_FOR_ACTIVE_ISA(polyphase_copy);
}

PixelRowsGatherFn pixel_rows_gather() {
  return MINIMOD_FOR_ACTIVE_ISA(pixel_rows_gather);
}

}  // namespace minimod::kernels
