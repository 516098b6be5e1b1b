// parallel_for: the one way kernels split work across threads.
//
// Kernels describe work as a range [0, n) and a grain (the smallest chunk worth a thread); the
// runtime decides how many threads take part. With one thread, or n <= grain, the body runs on the
// calling thread and no pool is started. Bodies must not throw.
#pragma once

#include <cstdint>
#include <functional>

namespace minimod {

// Calls body(begin, end) on disjoint chunks covering [0, n). Blocks until all chunks are done.
void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);

// The number of threads parallel_for may use (>= 1), and setting it (n >= 1).
int get_num_threads();
void set_num_threads(int n);

}  // namespace minimod
