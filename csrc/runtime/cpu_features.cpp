#include "runtime/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace minimod {

namespace {

Isa detect() {
#if defined(MINIMOD_X86) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports consults CPUID and, for AVX/AVX-512, that the OS enabled the register
  // state (XCR0), so a "yes" here means the instructions will not fault.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma")) {
    return Isa::Avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Generic;
}

Isa from_env(Isa detected) {
  const char* env = std::getenv("MINIMOD_ISA");
  if (env == nullptr || *env == '\0') return detected;
  Isa wanted = detected;
  if (std::strcmp(env, "generic") == 0) wanted = Isa::Generic;
  else if (std::strcmp(env, "avx2") == 0) wanted = Isa::Avx2;
  else if (std::strcmp(env, "avx512") == 0) wanted = Isa::Avx512;
  // Never above what the CPU has; an unknown value keeps the detected path.
  return static_cast<int>(wanted) < static_cast<int>(detected) ? wanted : detected;
}

std::atomic<int> g_active{-1};

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  int v = g_active.load(std::memory_order_acquire);
  if (v < 0) {
    static const Isa initial = from_env(detected_isa());
    int expected = -1;
    g_active.compare_exchange_strong(expected, static_cast<int>(initial));
    v = g_active.load(std::memory_order_acquire);
  }
  return static_cast<Isa>(v);
}

bool set_active_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa())) return false;
  g_active.store(static_cast<int>(isa), std::memory_order_release);
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx2:
      return "avx2";
    default:
      return "generic";
  }
}

}  // namespace minimod
