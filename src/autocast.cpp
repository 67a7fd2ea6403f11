// src/autocast.cpp — AutocastGuard (nabla/autocast.hpp): one bit of the thread's hook word, which
// apply tests with the inspection hooks' (nabla/detail/apply.hpp casts the inputs).
#include "nabla/autocast.hpp"

#include <fmt/format.h>

#include "inspect/hooks.hpp"

namespace nabla {

AutocastGuard::AutocastGuard(Dtype dtype, bool enabled) : previous_(autocast_enabled()) {
  if (dtype != Dtype::bf16) {
    throw ValueError(fmt::format("AutocastGuard: dtype must be bfloat16 (the one lower-precision float nabla has), got {}", dtype));
  }
  detail::set_hook(detail::kAutocastHook, enabled);
}

AutocastGuard::~AutocastGuard() { detail::set_hook(detail::kAutocastHook, previous_); }

bool autocast_enabled() { return (detail::hooks() & detail::kAutocastHookBit) != 0; }

namespace detail {
AutocastOff::AutocastOff() : was_(set_hook(kAutocastHook, false)) {}
AutocastOff::~AutocastOff() {
  if (was_) set_hook(kAutocastHook, true);
}
}  // namespace detail

}  // namespace nabla
