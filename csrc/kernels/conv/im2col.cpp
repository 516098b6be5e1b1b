// im2col and shifted-row packers: the generic build of im2col_impl.h and the per-ISA choice.
#include "kernels/conv/im2col.h"

#include "kernels/conv/im2col_impl.h"
#include "runtime/cpu_features.h"

namespace minimod::kernels {

Im2colPackFn im2col_pack_generic() { return im2col_pack_impl; }
ShiftRowsPackFn shift_rows_pack_generic() { return shift_rows_pack_impl; }

Im2colPackFn im2col_pack() {
  return MINIMOD_FOR_ACTIVE_ISA(im2col_pack);
}

ShiftRowsPackFn shift_rows_pack() {
  return MINIMOD_FOR_ACTIVE_ISA(shift_rows_pack);
}

}  // namespace minimod::kernels
