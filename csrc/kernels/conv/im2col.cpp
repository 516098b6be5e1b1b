// im2col and shifted-row packers: the generic build of im2col_impl.h and the per-ISA choice.
#include "kernels/conv/im2col.h"

#include "kernels/conv/im2col_impl.h"
#include "runtime/cpu_features.h"

namespace minimod::kernels {

Im2colPackFn im2col_pack_generic() { return im2col_pack_impl; }
ShiftRowsPackFn shift_rows_pack_generic() { return shift_rows_pack_impl; }

Im2colPackFn im2col_pack() {
#if defined(MINIMOD_X86)
  switch (active_isa()) {
    case Isa::Avx512:
      return im2col_pack_avx512();
    case Isa::Avx2:
      return im2col_pack_avx2();
    default:
      break;
  }
#endif
  return im2col_pack_generic();
}

ShiftRowsPackFn shift_rows_pack() {
#if defined(MINIMOD_X86)
  switch (active_isa()) {
    case Isa::Avx512:
      return shift_rows_pack_avx512();
    case Isa::Avx2:
      return shift_rows_pack_avx2();
    default:
      break;
  }
#endif
  return shift_rows_pack_generic();
}

}  // namespace minimod::kernels
