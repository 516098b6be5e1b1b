// Eltwise routing: choose the kernel table once per call from active_isa(), then split the work.
#include <algorithm>

#include "kernels/eltwise/activation.h"
#include "kernels/eltwise/ukernels.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

namespace minimod {

namespace {

const EltwiseKernels& kernels() {
  return MINIMOD_FOR_ACTIVE_ISA(eltwise_kernels);
}

// A chunk must be worth more than waking a pool thread (a few microseconds): 32K floats, torch's
// own grain for elementwise ops. Smaller inputs run on the calling thread.
constexpr std::int64_t kActivationGrain = 1 << 15;
// Softmax reads each element about three times; aim for similar work per chunk.
constexpr std::int64_t kSoftmaxGrainElems = 1 << 14;
// Columns per softmax task when the reduced axis is not the last one: a multiple of every vector
// width, wide enough that each row of the slab is read as a whole cache line or more.
constexpr std::int64_t kSoftmaxColBlock = 64;

}  // namespace

void activation_f32(Activation op, const float* x, float* y, std::int64_t n, ActivationArgs args) {
  if (n <= 0) return;
  const EltwiseKernels& k = kernels();
  parallel_for(n, kActivationGrain, [&](std::int64_t begin, std::int64_t end) {
    k.activation(op, x + begin, y + begin, end - begin, args);
  });
}

void softmax_f32(const float* x, float* y, std::int64_t outer, std::int64_t dim, std::int64_t inner,
                 bool log) {
  if (outer <= 0 || dim <= 0 || inner <= 0) return;
  const EltwiseKernels& k = kernels();
  if (inner == 1) {
    const std::int64_t grain = std::max<std::int64_t>(1, kSoftmaxGrainElems / dim);
    parallel_for(outer, grain, [&](std::int64_t begin, std::int64_t end) {
      k.softmax_rows(x + begin * dim, y + begin * dim, end - begin, dim, log);
    });
    return;
  }
  // Tasks are (outer slab, block of columns), so a single large slab (outer == 1, e.g. softmax
  // over channels of one image) still splits across threads.
  const std::int64_t blocks = (inner + kSoftmaxColBlock - 1) / kSoftmaxColBlock;
  const std::int64_t per_task = dim * std::min(inner, kSoftmaxColBlock);
  const std::int64_t grain = std::max<std::int64_t>(1, kSoftmaxGrainElems / per_task);
  parallel_for(outer * blocks, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t t = begin; t < end; ++t) {
      const std::int64_t o = t / blocks;
      const std::int64_t c0 = (t % blocks) * kSoftmaxColBlock;
      const std::int64_t cols = std::min(kSoftmaxColBlock, inner - c0);
      const std::int64_t offset = o * dim * inner + c0;
      k.softmax_cols(x + offset, y + offset, dim, inner, cols, log);
    }
  });
}

}  // namespace minimod
