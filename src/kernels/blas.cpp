// src/kernels/blas.cpp — makes sure OpenBLAS runs the kernels this CPU can run.
//
// Debian 12's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernel set at load time from the
// CPU model number. CPUs newer than the release (e.g. Sapphire Rapids) are not in its table and
// fall back to "Prescott", its SSE3 kernels: sgemm then runs at about a fifth of the speed the CPU
// has (fixed upstream in 0.3.25). When OPENBLAS_CORETYPE is not set and OpenBLAS reports Prescott
// on a CPU with AVX2 + FMA or AVX-512, nabla re-runs OpenBLAS's own core selection with the kernel
// set that matches the CPU's features, exactly what setting OPENBLAS_CORETYPE would have done.
// This runs once as libnabla loads, before any BLAS call. Setting OPENBLAS_CORETYPE (to anything)
// turns it off.
#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "nabla/train.hpp"

extern "C" {
// Exported by DYNAMIC_ARCH builds of OpenBLAS only; weak, so other builds link and skip the fix.
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace nabla {
namespace {

const char* matching_core() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

std::string& core_note() {
  static std::string note;
  return note;
}

[[gnu::constructor]] void select_blas_core() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr) return;
  const char* current = openblas_get_corename();
  if (current == nullptr || std::strcmp(current, "Prescott") != 0) return;
  const char* core = matching_core();
  if (core == nullptr) return;
  setenv("OPENBLAS_CORETYPE", core, 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");
  core_note() = std::string("OpenBLAS detected Prescott; nabla selected ") + core + " for this CPU";
}

}  // namespace

std::string blas_info() {
  std::string info = std::string(openblas_get_config()) + ", core " + openblas_get_corename();
  if (!core_note().empty()) info += " (" + core_note() + ")";
  return info;
}

}  // namespace nabla
