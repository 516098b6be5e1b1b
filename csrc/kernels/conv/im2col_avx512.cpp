// im2col and shift-GEMM copies compiled for avx512 (this file gets the avx512 flags; see im2col_impl.h).
#include "kernels/conv/im2col.h"
#include "kernels/conv/im2col_impl.h"

namespace minimod::kernels {

Im2colPackFn im2col_pack_avx512() { return im2col_pack_impl; }
ShiftRowsPackFn shift_rows_pack_avx512() { return shift_rows_pack_impl; }
PolyphaseCopyFn polyphase_copy_avx512() { return polyphase_copy_impl; }
PixelRowsGatherFn pixel_rows_gather_avx512() { return pixel_rows_gather_impl; }

}  // namespace minimod::kernels
