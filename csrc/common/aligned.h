// Aligned allocation for tensor storage and kernel workspaces.
//
// Every buffer minimod owns starts on a 64-byte boundary: a cache line on x86 and ARM, and the
// width of an AVX-512 register, so kernels may use aligned loads on the first row of any tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace minimod {

inline constexpr std::size_t kAlignment = 64;

// The block comes from plain malloc, over-allocated by one alignment unit and aligned by hand,
// with malloc's own pointer kept in the word just below the aligned address: glibc's
// aligned_alloc (_int_memalign) splits the slack off every block and frees it, which with
// malloc_consolidate was ~17% of a small Sequential's call (Linear(16, 16): 2.70 -> 2.36 us per
// call with this, paired). The size is still rounded up to whole 64-byte lines, as before.
inline void* aligned_alloc_bytes(std::size_t nbytes) {
  // Never zero bytes: a zero-size tensor still has a valid, unique data pointer.
  std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
#if defined(_MSC_VER)
  void* p = _aligned_malloc(rounded, kAlignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
#else
  if (rounded > SIZE_MAX - kAlignment) throw std::bad_alloc();
  void* raw = std::malloc(rounded + kAlignment);
  if (raw == nullptr) throw std::bad_alloc();
  // malloc aligns to at least 8 (16 on x86-64 glibc), so the aligned address is 8..64 bytes
  // past raw: room for the pointer below it, and rounded bytes after it.
  const std::uintptr_t aligned =
      (reinterpret_cast<std::uintptr_t>(raw) + kAlignment) & ~std::uintptr_t{kAlignment - 1};
  reinterpret_cast<void**>(aligned)[-1] = raw;
  return reinterpret_cast<void*>(aligned);
#endif
}

inline void aligned_free(void* p) noexcept {
#if defined(_MSC_VER)
  _aligned_free(p);
#else
  if (p != nullptr) std::free(static_cast<void**>(p)[-1]);
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
