#include "core/storage.h"

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace minimod {

namespace {
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
}

}  // namespace minimod
