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

}  // namespace minimod
