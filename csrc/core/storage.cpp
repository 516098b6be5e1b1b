#include "core/storage.h"

#include <atomic>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace minimod {

namespace {
std::atomic<std::int64_t> g_live_count{0};
std::atomic<std::int64_t> g_live_bytes{0};

std::int64_t checked_numel(const std::vector<std::int64_t>& shape, std::size_t itemsize) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) {
      throw std::invalid_argument("Trying to create tensor with negative dimension " +
                                  std::to_string(d));
    }
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) {
      throw std::length_error("tensor is too large: the number of elements overflows int64");
    }
    n *= d;
  }
  if (n > static_cast<std::int64_t>(std::numeric_limits<std::size_t>::max() / 2 / itemsize)) {
    throw std::length_error("tensor is too large to allocate");
  }
  return n;
}
}  // namespace

Storage::Storage(std::vector<std::int64_t> shape, DType dtype, bool zero_fill)
    : shape_(std::move(shape)),
      dtype_(dtype),
      numel_(checked_numel(shape_, dtype_info(dtype).itemsize)),
      data_(aligned_alloc_bytes(nbytes())) {
  if (zero_fill) std::memset(data_.get(), 0, nbytes());
  g_live_count.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<std::int64_t>(nbytes()), std::memory_order_relaxed);
}

Storage::~Storage() {
  g_live_count.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(nbytes()), std::memory_order_relaxed);
}

std::int64_t Storage::live_count() noexcept { return g_live_count.load(std::memory_order_relaxed); }
std::int64_t Storage::live_bytes() noexcept { return g_live_bytes.load(std::memory_order_relaxed); }

}  // namespace minimod
