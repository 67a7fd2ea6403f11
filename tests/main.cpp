// Test runner: doctest, plus a count of the gradient checks that ran.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "test_util.hpp"

#if defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer an allocation past its limit (the 4 TiB tensors of the out-of-memory tests)
// returns null, so operator new throws std::bad_alloc as it does in a normal build, instead of
// AddressSanitizer stopping the process.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int rc = context.run();
  if (context.shouldExit()) return rc;
  if (nabla_test::gradcheck_cases() > 0) {
    fmt::print("gradcheck cases run: {} ({} Jacobian entries compared)\n", nabla_test::gradcheck_cases(),
               nabla_test::gradcheck_entries());
    fmt::print("gradgradcheck cases run: {} ({} second-derivative entries compared)\n", nabla_test::gradgradcheck_cases(),
               nabla_test::gradgradcheck_entries());
  }
  return rc;
}
