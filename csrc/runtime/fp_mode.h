// minimod's floating-point mode for its own kernel code.
//
// With set_flush_denormal(true) kernels run with flush-to-zero and denormals-are-zero (MXCSR
// FTZ|DAZ on x86): denormal arithmetic can be ~100x slower, and inference rarely needs it. The
// mode belongs to the thread, so it is set on entry to kernel code (every binding that runs a
// kernel, and every pool worker for its chunk) and restored on exit: the caller's mode is the
// same after any minimod call as before it. Off (the default) costs one relaxed atomic load.
#pragma once

#include "runtime/parallel.h"

#if defined(__SSE__) || defined(_M_X64) || defined(_M_IX86)
#include <xmmintrin.h>
#define MINIMOD_HAVE_MXCSR 1
#endif

namespace minimod {

class KernelFpScope {
 public:
  KernelFpScope() {
#if MINIMOD_HAVE_MXCSR
    if (get_flush_denormal()) {
      saved_ = _mm_getcsr();
      _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
      active_ = true;
    }
#endif
  }
  ~KernelFpScope() {
#if MINIMOD_HAVE_MXCSR
    if (active_) _mm_setcsr(saved_);
#endif
  }
  KernelFpScope(const KernelFpScope&) = delete;
  KernelFpScope& operator=(const KernelFpScope&) = delete;

 private:
  unsigned saved_ = 0;
  bool active_ = false;
};

}  // namespace minimod
