// parallel_slices: work claiming on top of runtime/parallel.h that keeps cache affinity and
// survives a delayed thread.
//
// The caller cuts its work into `slices` (a few per thread, fixed by the shape and the thread
// count). parallel_for runs one chunk per thread; chunk c owns slices [c*S/T, (c+1)*S/T) and
// takes them first, in order, so in steady state each thread touches the same slices call after
// call (its share of a weight matrix stays in its own L2). A chunk that finishes its own slices
// then takes unclaimed slices from the others, so a thread the OS delays (a shared machine)
// loses its slices instead of holding up the call. Each slice is run exactly once, by one
// thread, so the result never depends on who ran what.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "runtime/parallel.h"

namespace minimod::kernels {

// Slices per thread for kernels that can cut their work finely (GEMM column panels, planes).
inline constexpr int kSlicesPerThread = 4;

inline void parallel_slices(std::int64_t slices, const std::function<void(std::int64_t)>& body) {
  if (slices <= 0) return;
  const std::int64_t chunks = std::min<std::int64_t>(get_num_threads(), slices);
  if (chunks <= 1) {
    for (std::int64_t i = 0; i < slices; ++i) body(i);
    return;
  }
  // next[c]: the next unclaimed slice of chunk c's range; end(c) its end.
  auto next = std::make_unique<std::atomic<std::int64_t>[]>(static_cast<std::size_t>(chunks));
  for (std::int64_t c = 0; c < chunks; ++c) next[c].store(slices * c / chunks);
  auto end = [&](std::int64_t c) { return slices * (c + 1) / chunks; };
  parallel_for(chunks, 1, [&](std::int64_t begin, std::int64_t stop) {
    for (std::int64_t own = begin; own < stop; ++own) {
      for (std::int64_t k = 0; k < chunks; ++k) {  // own range first, then the others'
        const std::int64_t c = (own + k) % chunks;
        for (std::int64_t i = next[c].fetch_add(1, std::memory_order_relaxed); i < end(c);
             i = next[c].fetch_add(1, std::memory_order_relaxed)) {
          body(i);
        }
      }
    }
  });
}

}  // namespace minimod::kernels
