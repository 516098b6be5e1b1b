// Placeholder runtime: runs every chunk on the calling thread. The persistent pool replaces this
// file without changing parallel.h (issue 6: threads).
#include "runtime/parallel.h"

#include <atomic>

namespace minimod {

namespace {
std::atomic<int> g_num_threads{1};
}

void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n <= 0) return;
  body(0, n);
}

int get_num_threads() { return g_num_threads.load(); }
void set_num_threads(int n) { g_num_threads.store(n < 1 ? 1 : n); }

}  // namespace minimod
