// The floor under a batch-1 MLP (W1): how fast this machine can merely READ its weights.
//
// At batch 1 a Linear layer is a matrix-vector product: every weight is read once and used for
// one multiply-add, so the time is the weights' bytes over the bandwidth of wherever they live.
// W1's 784-512-512-10 MLP has 2.6 MB of weights: more than the L2 of two cores here, so every call
// reads them from L3. This program streams a buffer of that size (or any size) with one thread and
// with two threads each reading half, and prints the median time and GB/s of each: no runtime can
// run W1 in less time than the two-thread figure (plus its own call overhead).
//
// Not part of the package (the product ships no benchmark binaries); build and run it by hand:
//   g++ -O2 -mavx2 -std=c++17 -pthread benchmarks/read_bandwidth.cpp -o /tmp/read_bandwidth
//   /tmp/read_bandwidth            # 2,649,128 bytes: W1's weights and biases as float32
//   /tmp/read_bandwidth 16777216   # any size in bytes
// Measured on the 2-vCPU Zen3 of issue 4 (2026-11-29): 2.6 MB in 42-44 us on one thread (61-64
// GB/s) and 22-37 us on two (73-120 GB/s: the two-core figure moved with the host's load within
// the hour); minimod ran W1 in 40-60 us and numpy's OpenBLAS GEMVs in ~90 us in the same hours.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

// Sums n floats (n a multiple of 32) with four independent vector accumulators, so the adds'
// latency never limits the loads.
float stream(const float* p, std::size_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (std::size_t i = 0; i < n; i += 32) {  // spelled out: a loop over acc[] kept it in memory
    acc[0] = _mm256_add_ps(acc[0], _mm256_load_ps(p + i));
    acc[1] = _mm256_add_ps(acc[1], _mm256_load_ps(p + i + 8));
    acc[2] = _mm256_add_ps(acc[2], _mm256_load_ps(p + i + 16));
    acc[3] = _mm256_add_ps(acc[3], _mm256_load_ps(p + i + 24));
  }
  alignas(32) float out[8];
  _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return out[0];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t requested = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2678824;
  const std::size_t n = (requested / sizeof(float) + 63) / 64 * 64;  // two halves of whole vectors
  float* buf = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (buf == nullptr) return 1;
  for (std::size_t i = 0; i < n; ++i) buf[i] = 1.0f;

  // The second thread waits spinning (as minimod's pool does between jobs) for a round number.
  std::atomic<int> round{0}, finished{0};
  std::atomic<float> sink{0.0f};
  std::thread helper([&] {
    for (int seen = 0;;) {
      int r;
      while ((r = round.load()) == seen) _mm_pause();
      if (r < 0) return;
      seen = r;
      sink.store(stream(buf + n / 2, n / 2));
      finished.fetch_add(1);
    }
  });

  using Clock = std::chrono::steady_clock;
  std::vector<double> one, two;
  for (int rep = 0; rep < 2000; ++rep) {
    auto t0 = Clock::now();
    sink.store(stream(buf, n));
    one.push_back(std::chrono::duration<double>(Clock::now() - t0).count());

    t0 = Clock::now();
    const int before = finished.load();
    round.fetch_add(1);
    sink.store(stream(buf, n / 2));
    while (finished.load() == before) _mm_pause();
    two.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  round.store(-1);
  helper.join();

  const double bytes = static_cast<double>(n * sizeof(float));
  const double t1 = median(one), t2 = median(two);
  std::printf("%.0f bytes: 1 thread %.1f us (%.1f GB/s), 2 threads %.1f us (%.1f GB/s)\n", bytes,
              t1 * 1e6, bytes / t1 * 1e-9, t2 * 1e6, bytes / t2 * 1e-9);
  std::free(buf);
  return 0;
}
