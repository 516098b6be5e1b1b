// Aligned allocation for tensor storage and kernel workspaces.
//
// Every buffer minimod owns starts on a 64-byte boundary: a cache line on x86 and ARM, and the
// width of an AVX-512 register, so kernels may use aligned loads on the first row of any tensor.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace minimod {

inline constexpr std::size_t kAlignment = 64;

inline void* aligned_alloc_bytes(std::size_t nbytes) {
  // Round up so the size is a multiple of the alignment (required by std::aligned_alloc), and
  // never allocate zero bytes: a zero-size tensor still has a valid, unique data pointer.
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
#if defined(_MSC_VER)
  void* p = _aligned_malloc(rounded, kAlignment);
#else
  void* p = std::aligned_alloc(kAlignment, rounded);
#endif
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void aligned_free(void* p) noexcept {
#if defined(_MSC_VER)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

struct AlignedDeleter {
  void operator()(void* p) const noexcept { aligned_free(p); }
};

template <class T>
using AlignedPtr = std::unique_ptr<T, AlignedDeleter>;

template <class T>
AlignedPtr<T> aligned_array(std::size_t count) {
  return AlignedPtr<T>(static_cast<T*>(aligned_alloc_bytes(count * sizeof(T))));
}

}  // namespace minimod
