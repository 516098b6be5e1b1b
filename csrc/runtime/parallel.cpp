#include "runtime/parallel.h"

#include "runtime/cpu_quota.h"
#include "runtime/fp_mode.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace minimod {

namespace {

// ---------------------------------------------------------------------------------------------
// Thread count
// ---------------------------------------------------------------------------------------------

int parse_positive(const char* s) {
  if (s == nullptr || *s == '\0') return 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || v < 1) return 0;
  return static_cast<int>(std::min<long>(v, 1024));
}

// CPUs this process may run on: the affinity mask, capped by the cgroup CPU quota.
int available_cpus() {
  int n = static_cast<int>(std::thread::hardware_concurrency());
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
  if (int quota = cgroup_cpu_limit()) n = std::min(n, quota);
#endif
  return std::max(1, n);
}

struct ThreadConfig {
  int count = 0;  // 0: not resolved yet
  std::string source;
};

std::mutex g_config_mutex;
ThreadConfig g_config;

ThreadConfig resolve_threads() {
  std::lock_guard<std::mutex> lock(g_config_mutex);
  if (g_config.count == 0) {
    if (int v = parse_positive(std::getenv("MINIMOD_NUM_THREADS"))) {
      g_config = {v, "MINIMOD_NUM_THREADS"};
    } else if (int v2 = parse_positive(std::getenv("OMP_NUM_THREADS"))) {
      g_config = {v2, "OMP_NUM_THREADS"};
    } else {
      g_config = {available_cpus(), "cpus available"};
    }
  }
  return g_config;
}

// ---------------------------------------------------------------------------------------------
// Denormal mode
// ---------------------------------------------------------------------------------------------

std::atomic<bool> g_flush_denormal{false};


// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

thread_local bool t_in_worker = false;

// How long a worker waits for the next job spinning (yielding its CPU to anything runnable)
// before it sleeps, and how long the caller spins for the workers' chunks. A sleeping worker
// takes tens of microseconds to wake on bare metal and up to milliseconds on a VM, whose idle
// vCPU the host deschedules; once one wake is late the caller runs every chunk itself and the
// worker, finding nothing, goes back to sleep before the next job: the pool stays one thread.
// 3 ms bridges the gaps between the layers of a forward and between back-to-back calls (2-vCPU
// VM, W2 interleaved with torch: 1.6 ms at 50 us, 1.3 ms at 1 ms, 0.93 ms at 3 ms; minimod alone:
// 0.85 ms); libgomp spins ~10 ms after a parallel region here, ONNX Runtime 20-60 ms.
// MINIMOD_SPIN_US overrides it (0: sleep at once), read once at the first parallel job.
//
// Spinning polls with a pause instruction and yields the CPU only every kPollsPerYield polls: a
// sched_yield is a system call (~1 us on a VM), and yielding on every poll made each fork-join
// ~0.7 us slower (2 threads, 1 us of work per thread: 2.35-2.45 -> 1.6-1.75 us per parallel_for).
std::chrono::microseconds spin_window() {
  static const std::chrono::microseconds window = [] {
    const char* env = std::getenv("MINIMOD_SPIN_US");
    if (env != nullptr && *env != '\0') {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0) return std::chrono::microseconds(std::min<long>(v, 1000000));
    }
    return std::chrono::microseconds(3000);
  }();
  return window;
}

constexpr unsigned kPollsPerYield = 256;

// One poll's pause: tells the core this is a spin-wait (frees the sibling hyperthread, avoids the
// memory-order flush when the awaited store lands).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls done() with a pause per poll, yielding every kPollsPerYield polls, until it holds
// (true) or `deadline` passes (false).
template <class Done>
bool spin_until(const Done& done, std::chrono::steady_clock::time_point deadline) {
  for (unsigned polls = 1;; ++polls) {
    if (done()) return true;
    cpu_relax();
    if (polls % kPollsPerYield == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return done();
      std::this_thread::yield();
    }
  }
}

struct Job {
  const std::function<void(std::int64_t, std::int64_t)>* body = nullptr;
  std::int64_t n = 0;
  std::int64_t chunks = 0;
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> done{0};
  // The first exception a chunk threw (e.g. std::bad_alloc growing a workspace on a worker):
  // kept here and rethrown by parallel_for in the caller, instead of escaping a worker thread
  // (std::terminate).
  std::atomic<bool> failed{false};
  std::exception_ptr error;
};

void run_chunk(Job& job, std::int64_t c) {
  std::int64_t begin = job.n * c / job.chunks;
  std::int64_t end = job.n * (c + 1) / job.chunks;
  if (begin >= end) return;
  try {
    (*job.body)(begin, end);
  } catch (...) {
    if (!job.failed.exchange(true)) job.error = std::current_exception();
  }
}

void rethrow_if_failed(const Job& job) {
  if (job.error) std::rethrow_exception(job.error);
}

// Takes chunks until none are left; returns how many this thread ran.
std::int64_t drain(Job& job) {
  std::int64_t ran = 0;
  for (;;) {
    std::int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return ran;
    run_chunk(job, c);
    ++ran;
  }
}

class Pool {
 public:
  explicit Pool(int workers) {
    threads_.reserve(workers);
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  int size() const { return static_cast<int>(threads_.size()); }

  // Runs the job with the workers; false when another caller holds the pool (then the caller
  // runs the job alone: same chunks, same results).
  bool try_run(const std::shared_ptr<Job>& job) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      ++generation_;
    }
    wake_.notify_all();
    std::int64_t ran = drain(*job);
    finish(*job, ran);
    // Wait for the workers' chunks: spin first, then sleep.
    auto all_done = [&] { return job->done.load(std::memory_order_acquire) >= job->chunks; };
    if (!spin_until(all_done, std::chrono::steady_clock::now() + spin_window())) {
      std::unique_lock<std::mutex> lock(mutex_);
      finished_.wait(lock, all_done);
    }
    // Every chunk is done, so every chunk was claimed: a worker that picks the job up from now on
    // finds none left and never calls the body (which lives on our caller's stack). The Job itself
    // is shared, so the caller need not wait for such a late worker: one woken late, or preempted
    // right after waking, costs the caller nothing.
    std::lock_guard<std::mutex> lock(mutex_);
    if (job_ == job) job_.reset();
    return true;
  }

 private:
  void finish(Job& job, std::int64_t ran) {
    if (ran == 0) return;
    if (job.done.fetch_add(ran, std::memory_order_acq_rel) + ran >= job.chunks) {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_.notify_all();
    }
  }

  void worker_loop() {
    t_in_worker = true;
    std::uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        // Spin (without the lock) for the next generation for up to spin_window(), then sleep.
        spin_until([&] { return generation_seen() != seen; },
                   std::chrono::steady_clock::now() + spin_window());
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
        job = job_;
        if (!job) continue;
      }
      KernelFpScope fp;
      std::int64_t ran = drain(*job);
      finish(*job, ran);
    }
  }

  std::uint64_t generation_seen() const { return generation_.load(std::memory_order_acquire); }

  std::vector<std::thread> threads_;
  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;      // guards job_, generation_, stop_
  std::condition_variable wake_;
  std::condition_variable finished_;
  std::shared_ptr<Job> job_;  // the job being run, shared with the workers that picked it up
  std::atomic<std::uint64_t> generation_{0};  // changed under mutex_, read lock-free while spinning
  bool stop_ = false;
};

// The current pool. A caller holds a shared_ptr for the length of its job, so a resize from
// another thread never destroys a pool in use. The holder itself is leaked on purpose: no pool is
// joined during interpreter shutdown, and a forked child can abandon it without running anything.
std::mutex g_pool_mutex;
std::shared_ptr<Pool>* g_pool = new std::shared_ptr<Pool>();

#if defined(__unix__) || defined(__APPLE__)
void after_fork_in_child() {
  // The parent's worker threads do not exist here, and its mutexes may be held by threads that
  // were running at fork time: abandon the pool (leak it, it is never joined) and the locks.
  g_pool = new std::shared_ptr<Pool>();
  new (&g_pool_mutex) std::mutex();
  new (&g_config_mutex) std::mutex();
}
struct AtForkRegistration {
  AtForkRegistration() { pthread_atfork(nullptr, nullptr, after_fork_in_child); }
} g_atfork_registration;
#endif

std::shared_ptr<Pool> pool_for(int threads) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  int workers = threads - 1;
  std::shared_ptr<Pool>& pool = *g_pool;
  if (pool && pool->size() != workers) pool.reset();  // joined when its last user finishes
  if (!pool && workers > 0) pool = std::make_shared<Pool>(workers);
  return pool;
}

}  // namespace

void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n <= 0) return;
  KernelFpScope fp;
  grain = std::max<std::int64_t>(grain, 1);
  int threads = resolve_threads().count;
  const std::int64_t chunks = std::max<std::int64_t>(1, std::min<std::int64_t>(threads, n / grain));
  if (chunks == 1) {
    body(0, n);
    return;
  }
  auto job = std::make_shared<Job>();
  job->body = &body;
  job->n = n;
  job->chunks = chunks;
  if (!t_in_worker) {
    if (std::shared_ptr<Pool> pool = pool_for(threads)) {
      if (pool->try_run(job)) {
        rethrow_if_failed(*job);
        return;
      }
    }
  }
  for (std::int64_t c = 0; c < chunks; ++c) run_chunk(*job, c);  // busy or nested: same chunks
  rethrow_if_failed(*job);
}

int get_num_threads() { return resolve_threads().count; }

void set_num_threads(int n) {
  {
    std::lock_guard<std::mutex> lock(g_config_mutex);
    g_config = {std::max(1, n), "set_num_threads"};
  }
  // Stop workers that are no longer wanted now (a pool in use finishes its job first); a larger
  // pool starts lazily at the next parallel job.
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (*g_pool && (*g_pool)->size() != std::max(1, n) - 1) g_pool->reset();
}

std::string num_threads_source() { return resolve_threads().source; }

int pool_size() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  return *g_pool ? (*g_pool)->size() : 0;
}

void set_flush_denormal(bool on) { g_flush_denormal.store(on); }
bool get_flush_denormal() { return g_flush_denormal.load(); }

}  // namespace minimod
