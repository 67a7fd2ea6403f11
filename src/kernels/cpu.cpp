// src/kernels/cpu.cpp — the CPU's kernel level (nabla/cpu.hpp): CPUID for the instruction sets,
// XGETBV for the operating system's saving of the registers they use, NABLA_CPU to force one lower.
#include "nabla/cpu.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "nabla/error.hpp"
#include "level/level.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace nabla {

const char* to_string(CpuLevel level) {
  switch (level) {
    case CpuLevel::avx2: return "avx2";
    case CpuLevel::avx512: return "avx512";
    case CpuLevel::avx512bf16: return "avx512bf16";
    case CpuLevel::generic: break;
  }
  return "generic";
}

std::string CpuInfo::describe() const {
  std::string s = to_string(level);
  if (forced) s += std::string(" (forced by NABLA_CPU; the CPU supports ") + to_string(supported) + ")";
  if (!brand.empty()) s += ", " + brand;
  return s;
}

namespace {

struct Probe {
  CpuLevel supported = CpuLevel::generic;
  std::string brand;
};

#if defined(__x86_64__) || defined(__i386__)
std::uint64_t xgetbv0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (std::uint64_t(hi) << 32) | lo;
}

Probe probe() {
  Probe p;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __cpuid(0x80000002u + leaf, a, b, c, d);
      const unsigned regs[4] = {a, b, c, d};
      std::memcpy(brand + 16 * leaf, regs, 16);
    }
    std::string_view s(brand);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    p.brand = std::string(s);
  }
  if (__get_cpuid_max(0, nullptr) < 7) return p;
  __cpuid(1, a, b, c, d);
  const bool fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return p;
  const std::uint64_t xcr0 = xgetbv0();
  const bool ymm = (xcr0 & 0x6) == 0x6;     // SSE and AVX state
  const bool zmm = (xcr0 & 0xE6) == 0xE6;  // … and the opmask, the upper halves of zmm0–15, zmm16–31
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1;
  const bool avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 28) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
  if (ymm && avx2 && fma) p.supported = CpuLevel::avx2;
  if (p.supported == CpuLevel::avx2 && zmm && avx512) p.supported = CpuLevel::avx512;
  const unsigned max_sub = a;  // leaf 7's highest subleaf (subleaf 0's eax)
  if (p.supported == CpuLevel::avx512 && max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    if ((a >> 5) & 1) p.supported = CpuLevel::avx512bf16;  // AVX512_BF16
  }
  return p;
}
#else
Probe probe() { return {}; }
#endif

struct Choice {
  CpuInfo info;
  std::string error;  // why NABLA_CPU cannot be honoured; empty when it can
};

Choice choose() {
  Choice ch;
#if defined(NABLA_HAVE_LEVELS)
  const Probe p = probe();
#else
  Probe p = probe();
  p.supported = CpuLevel::generic;  // a build without src/kernels/level/ has the generic loops only
#endif
  ch.info.supported = ch.info.level = p.supported;
  ch.info.brand = p.brand;
  const char* env = std::getenv("NABLA_CPU");
  if (env == nullptr || *env == '\0') return ch;
  const std::string_view want(env);
  CpuLevel level = CpuLevel::generic;
  bool known = false;
  for (CpuLevel l : {CpuLevel::generic, CpuLevel::avx2, CpuLevel::avx512, CpuLevel::avx512bf16}) {
    if (want == to_string(l)) level = l, known = true;
  }
  if (!known) {
    ch.error = "NABLA_CPU=" + std::string(want) + " names no kernel level; expected generic, avx2, avx512 or avx512bf16 (this CPU supports up to " +
               to_string(p.supported) + ")";
    return ch;
  }
  if (level > p.supported) {
    ch.error = "NABLA_CPU=" + std::string(want) + " asks for " + to_string(level) + " kernels, but this CPU supports up to " +
               to_string(p.supported) + (p.brand.empty() ? std::string() : " (" + p.brand + ")");
    return ch;
  }
  ch.info.level = level;
  ch.info.forced = true;
  return ch;
}

}  // namespace

const CpuInfo& cpu_info() {
  static const Choice choice = choose();
  if (!choice.error.empty()) throw ValueError(choice.error);
  return choice.info;
}

}  // namespace nabla

namespace nabla::kernels {

namespace generic {
extern const LevelKernels table;  // generic.cpp
}
#if defined(NABLA_HAVE_LEVELS)
namespace avx2 {
extern const LevelKernels table;
}
namespace avx512 {
extern const LevelKernels table;
}
namespace avx512bf16 {
extern const LevelKernels table;
}
#endif

const LevelKernels& level_kernels() {
  static const LevelKernels& chosen = []() -> const LevelKernels& {
    switch (cpu_info().level) {
#if defined(NABLA_HAVE_LEVELS)
      case CpuLevel::avx2: return avx2::table;
      case CpuLevel::avx512: return avx512::table;
      case CpuLevel::avx512bf16: return avx512bf16::table;
#endif
      default: return generic::table;
    }
  }();
  return chosen;
}

}  // namespace nabla::kernels
