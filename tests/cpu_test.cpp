// The kernel level (nabla/cpu.hpp): what cpu_info() says against NABLA_CPU. CTest runs this suite
// with NABLA_CPU unset, set to each level, and set to a name that is no level; run under qemu-x86_64
// with -cpu Haswell or Nehalem, the levels those CPUs lack give the error.
#include <cstdlib>
#include <string>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

namespace {
bool parse(const std::string& s, CpuLevel& out) {
  for (CpuLevel l : {CpuLevel::generic, CpuLevel::avx2, CpuLevel::avx512, CpuLevel::avx512bf16}) {
    if (s == to_string(l)) {
      out = l;
      return true;
    }
  }
  return false;
}
}  // namespace

TEST_CASE("cpu_info: the CPU's highest level, or the one NABLA_CPU asks for, or an error naming both") {
  const char* env = std::getenv("NABLA_CPU");
  const std::string want = env != nullptr ? env : "";
  CpuLevel asked = CpuLevel::generic;
  if (want.empty()) {
    const CpuInfo& c = cpu_info();
    CHECK(c.level == c.supported);
    CHECK_FALSE(c.forced);
    CHECK(c.describe().rfind(to_string(c.level), 0) == 0);
  } else if (!parse(want, asked)) {
    CHECK_THROWS_WITH_AS(cpu_info(), Contains(("NABLA_CPU=" + want + " names no kernel level; expected generic, avx2, avx512 or avx512bf16").c_str()),
                         ValueError);
    CHECK_THROWS_WITH_AS(cpu_info(), Contains("this CPU supports up to"), ValueError);  // every call says so
  } else {
    try {
      const CpuInfo& c = cpu_info();
      CHECK(c.level == asked);
      CHECK(c.forced);
      CHECK(c.level <= c.supported);
      CHECK(c.describe().find("forced by NABLA_CPU; the CPU supports " + std::string(to_string(c.supported))) != std::string::npos);
    } catch (const ValueError& e) {  // the CPU lacks it: the message names the level and the CPU's
      MESSAGE(std::string(e.what()));
      const std::string msg = e.what();
      CHECK(msg.find("NABLA_CPU=" + want + " asks for " + want + " kernels, but this CPU supports up to ") == 0);
      CHECK(asked != CpuLevel::generic);  // every x86-64 has generic
    }
  }
}

TEST_CASE("cpu_info: the level of an emulated CPU (NABLA_EXPECT_CPU, set by CTest's qemu runs)") {
  // qemu-x86_64 -cpu Haswell has AVX2 + FMA and no AVX-512; -cpu Nehalem has no AVX at all.
  const char* expect = std::getenv("NABLA_EXPECT_CPU");
  CpuLevel want = CpuLevel::generic;
  if (expect == nullptr || !parse(expect, want)) return;
  const char* env = std::getenv("NABLA_CPU");
  if (env != nullptr && *env != '\0') {
    CHECK_THROWS_WITH_AS(cpu_info(), Contains(("this CPU supports up to " + std::string(expect)).c_str()), ValueError);
    return;
  }
  CHECK(to_string(cpu_info().supported) == std::string(expect));
}

TEST_CASE("cpu_info: decided once; the kernels' errors are cpu_info's") {
  const char* env = std::getenv("NABLA_CPU");
  CpuLevel asked = CpuLevel::generic;
  if (env != nullptr && *env != '\0' && !parse(env, asked)) {
    // Every kernel that needs the level says what is wrong with NABLA_CPU.
    CHECK_THROWS_WITH_AS(sigmoid(ones({4})), Contains("names no kernel level"), ValueError);
    return;
  }
  try {
    const CpuInfo* first = &cpu_info();
    CHECK(first == &cpu_info());
    CHECK(to_string(first->level) == std::string(to_string(cpu_info().level)));
  } catch (const ValueError&) {
    CHECK_THROWS_AS(conv2d(ones({1, 1, 4, 4}), ones({1, 1, 3, 3}), Tensor{}), ValueError);
  }
}
