// How a binding enters kernel code.
//
// Every kernel call from Python runs in minimod's floating-point mode (runtime/fp_mode.h) and,
// when the work is worth it, without the GIL so other Python threads run meanwhile. Releasing and
// re-taking the GIL costs ~0.1-0.3 us (more when another thread waits for it), about what 16K
// FMAs take on one core, and nothing can run in parallel with a call that short anyway: below
// that a kernel keeps the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <utility>

#include "runtime/fp_mode.h"

namespace minimod::bindings {

// Multiply-adds (or elementwise operations / 4) below which a kernel runs with the GIL held.
inline constexpr double kGilReleaseWork = 16384.0;

// Scope of a kernel call that always releases the GIL. The FP mode is set after the release and
// restored before the re-acquire (members are destroyed in reverse order).
class KernelCall {
 public:
  KernelCall() = default;
  KernelCall(const KernelCall&) = delete;
  KernelCall& operator=(const KernelCall&) = delete;

 private:
  pybind11::gil_scoped_release nogil_;
  KernelFpScope fp_;
};

// fn() in the FP mode, without the GIL when `work` (multiply-adds) reaches kGilReleaseWork.
template <class Fn>
void run_kernel(double work, Fn&& fn) {
  if (work >= kGilReleaseWork) {
    KernelCall call;
    std::forward<Fn>(fn)();
  } else {
    KernelFpScope fp;
    std::forward<Fn>(fn)();
  }
}

}  // namespace minimod::bindings
