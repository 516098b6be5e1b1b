// parallel_for: the one way kernels split work across threads.
//
// Kernels describe work as a range [0, n) and a grain (the smallest chunk worth a thread); the
// runtime cuts the range into at most get_num_threads() chunks of at least `grain` items and runs
// them on a persistent pool, the calling thread taking part. The cut depends only on (n, grain,
// thread count), and every chunk runs the same code whichever thread takes it, so a kernel whose
// output elements do not depend on chunk boundaries gives bitwise-identical results whether the
// pool runs it or (busy, nested, or one thread) the caller runs every chunk itself.
//
// Threads: MINIMOD_NUM_THREADS > OMP_NUM_THREADS > the CPUs this process may use (affinity mask and
// cgroup quota), read when the pool first starts, not at import. With one thread, no pool is
// started. Idle workers sleep on a condition variable after spinning ~3 ms for
// the next job (MINIMOD_SPIN_US; parallel.cpp says why). After fork() the child
// starts with no pool and builds a new one on first use; the parent's is never joined there.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace minimod {

// Calls body(begin, end) on disjoint chunks covering [0, n). Blocks until all chunks are done.
// If a body throws, the remaining chunks still run and the first exception is rethrown here, in
// the calling thread, once all chunks are done (so std::bad_alloc becomes a Python MemoryError).
void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body);

// The number of threads parallel_for may use (>= 1), and setting it (n >= 1).
int get_num_threads();
void set_num_threads(int n);

// Where the thread count came from: "set_num_threads", "MINIMOD_NUM_THREADS", "OMP_NUM_THREADS",
// or "cpus available".
std::string num_threads_source();

// The number of pool worker threads currently running (0 before first parallel use or with 1 thread).
int pool_size();

// Flush-to-zero / denormals-are-zero for minimod's own kernel code only: set on entry to
// parallel_for (caller and workers) and restored on exit, so the caller's floating-point mode is
// unchanged after any call.
void set_flush_denormal(bool on);
bool get_flush_denormal();

}  // namespace minimod
