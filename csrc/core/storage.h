// Storage: the native memory behind every parameter, buffer and forward output.
//
// A Storage is one contiguous, 64-byte aligned, C-ordered block with a shape and a dtype. It is
// shared (std::shared_ptr) and exported to Python through the buffer protocol, so a numpy view of
// a parameter keeps its Storage alive after the module that owned it is gone, and kernels read the
// very bytes a user writes through `np.asarray(param)[...] = ...` (no cached copy can go stale).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/aligned.h"
#include "core/dtype.h"

namespace minimod {

class Storage {
 public:
  // Allocates memory, zero-filled unless `zero_fill` is false (kernel outputs that are fully
  // overwritten skip the fill). Throws std::invalid_argument for a negative dimension and
  // std::length_error when the byte count would overflow.
  Storage(std::vector<std::int64_t> shape, DType dtype, bool zero_fill = true);

  ~Storage();

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() noexcept { return data_.get(); }
  const void* data() const noexcept { return data_.get(); }
  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  DType dtype() const noexcept { return dtype_; }
  std::int64_t numel() const noexcept { return numel_; }
  std::size_t nbytes() const noexcept { return numel_ * dtype_info(dtype_).itemsize; }

  // A frozen storage exports read-only buffers: used for weights that an optimised model has
  // pre-packed, where a write would otherwise be silently ignored.
  bool read_only() const noexcept { return read_only_.load(std::memory_order_acquire); }
  void set_read_only(bool value) noexcept { read_only_.store(value, std::memory_order_release); }

  // How many Storages are alive and how many bytes they hold, process-wide: lets tests prove that
  // deleting a model frees its memory (and that a numpy view still held keeps exactly its own).
  static std::int64_t live_count() noexcept;
  static std::int64_t live_bytes() noexcept;

 private:
  std::vector<std::int64_t> shape_;
  DType dtype_;
  std::int64_t numel_;
  AlignedPtr<void> data_;
  std::atomic<bool> read_only_{false};
};

}  // namespace minimod
