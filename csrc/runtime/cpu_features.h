// Which instruction-set path the kernels take, chosen once per process.
//
// Detection reads the CPU (and that the OS saves the wide registers); MINIMOD_ISA=generic|avx2|
// avx512 may force a lower path (never a higher one than the CPU has: that would crash). Kernel
// tables are filled from this value: the generic path first, then upgraded.
#pragma once

namespace minimod {

enum class Isa : int { Generic = 0, Avx2 = 1, Avx512 = 2 };

// The best path this CPU supports, ignoring MINIMOD_ISA.
Isa detected_isa();

// The path in use: detected_isa() lowered by MINIMOD_ISA (read once, at first call) or by
// set_active_isa (tests and benchmarks).
Isa active_isa();

// Forces a path for tests and benchmarks; returns false (and changes nothing) when the CPU does
// not support `isa`.
bool set_active_isa(Isa isa);

const char* isa_name(Isa isa);

// The value of the getter for `isa` (generic for anything below AVX2).
template <class Getter>
decltype(auto) pick_for_isa(Isa isa, Getter generic, Getter avx2, Getter avx512) {
  switch (isa) {
    case Isa::Avx512:
      return avx512();
    case Isa::Avx2:
      return avx2();
    default:
      return generic();
  }
}

}  // namespace minimod

// The one dispatch rule of every kernel family: the family defines `name_generic()` on every
// platform and `name_avx2()` / `name_avx512()` on x86 (each in a translation unit compiled for
// that ISA), each returning its ISA's kernel or kernel table, and takes the active ISA's with
// MINIMOD_FOR_ACTIVE_ISA(name). Elsewhere only the portable getter exists.
#if defined(MINIMOD_X86)
#define MINIMOD_FOR_ACTIVE_ISA(name) \
  ::minimod::pick_for_isa(::minimod::active_isa(), name##_generic, name##_avx2, name##_avx512)
#else
#define MINIMOD_FOR_ACTIVE_ISA(name) name##_generic()
#endif
