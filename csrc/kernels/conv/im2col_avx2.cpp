// im2col and shift-GEMM copies compiled for avx2 (this file gets the avx2 flags; see im2col_impl.h).
#include "kernels/conv/im2col.h"
#include "kernels/conv/im2col_impl.h"

namespace minimod::kernels {

Im2colPackFn im2col_pack_avx2() { return im2col_pack_impl; }
ShiftRowsPackFn shift_rows_pack_avx2() { return shift_rows_pack_impl; }
PolyphaseCopyFn polyphase_copy_avx2() { return polyphase_copy_impl; }
PixelRowsGatherFn pixel_rows_gather_avx2() { return pixel_rows_gather_impl; }

}  // namespace minimod::kernels
