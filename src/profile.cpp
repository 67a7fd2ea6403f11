// src/profile.cpp — per-thread op timing totals.
#include "nabla/profile.hpp"

#include <unordered_map>

#include "inspect/hooks.hpp"

namespace nabla::profile {

namespace {
thread_local int t_depth = 0;
// Keyed by the op's name, which is a static string of its op struct.
thread_local std::unordered_map<std::string_view, OpStats> t_totals;
}  // namespace

Scope::Scope() {
  if (t_depth++ == 0) nabla::detail::set_hook(nabla::detail::kProfileHook, true);
}
Scope::~Scope() {
  if (--t_depth == 0) nabla::detail::set_hook(nabla::detail::kProfileHook, false);
}

std::map<std::string, OpStats> totals() {
  std::map<std::string, OpStats> out;
  for (const auto& [name, s] : t_totals) out.emplace(std::string(name), s);
  return out;
}

void reset() { t_totals.clear(); }

namespace detail {
bool active() { return t_depth > 0; }
void add_forward(std::string_view op, double us) {
  OpStats& s = t_totals[op];
  ++s.forward_calls;
  s.forward_us += us;
}
void add_backward(std::string_view op, double us) {
  OpStats& s = t_totals[op];
  ++s.backward_calls;
  s.backward_us += us;
}
}  // namespace detail

}  // namespace nabla::profile
