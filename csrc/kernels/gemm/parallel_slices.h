// parallel_slices: dynamic work claiming on top of runtime/parallel.h.
//
// parallel_for cuts [0, n) into one fixed chunk per thread; if the OS delays one worker (a shared
// machine), the whole call waits for it. Here each thread repeatedly claims the next slice from
// an atomic counter, so the threads that run take the slices of the one that does not. Slices
// are fixed by the caller (from the shape and the thread count), so which thread runs a slice
// never changes the result.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>

#include "runtime/parallel.h"

namespace minimod::kernels {

// Slices per thread for kernels that can cut their work finely (GEMM column panels, planes).
inline constexpr int kSlicesPerThread = 4;

inline void parallel_slices(std::int64_t slices, const std::function<void(std::int64_t)>& body) {
  if (slices <= 0) return;
  const int threads = get_num_threads();
  if (threads <= 1 || slices == 1) {
    for (std::int64_t i = 0; i < slices; ++i) body(i);
    return;
  }
  std::atomic<std::int64_t> next{0};
  parallel_for(std::min<std::int64_t>(threads, slices), 1, [&](std::int64_t, std::int64_t) {
    for (std::int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < slices;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      body(i);
    }
  });
}

}  // namespace minimod::kernels
