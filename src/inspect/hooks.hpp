// src/inspect/hooks.hpp — the inspection hooks as the engine sees them (internal): the hook bits,
// and what apply (src/inspect/hooks.cpp) and the backward walk (src/autograd.cpp) call while a bit
// is on. Defined in src/inspect/hooks.cpp and advice.cpp, and src/profile.cpp; the user's side of
// them is nabla/inspect.hpp and nabla/profile.hpp.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/op.hpp"
#include "nabla/tensor.hpp"

namespace nabla::detail {
// The bits of detail::hooks() (nabla/detail/graph.hpp), one per kind of hook, on this thread.
// kAutocastHook: an AutocastGuard is on (nabla/autocast.hpp; apply casts the inputs, src/autocast.cpp).
enum Hook : unsigned { kProfileHook = 1, kAnomalyHook = 2, kGradNormHook = 4, kTraceHook = 8, kAutocastHook = kAutocastHookBit };
/// Sets or clears one hook bit and returns whether it was set before (guards restore it).
bool set_hook(Hook h, bool on);
/// Microseconds on a steady clock while a profile::Scope is active; 0 otherwise.
double hook_clock_us();
}  // namespace nabla::detail

namespace nabla::inspect::detail {
double l2_norm(const Tensor& t);  // also declared in nabla/inspect.hpp
bool anomaly_active();            // also declared in nabla/inspect.hpp
bool all_finite(const Tensor& t);
// Throws NumericError when `out` holds a NaN or infinity: names the op, its inputs, the module.
void check_forward(std::string_view op, std::span<const Tensor* const> inputs, const Tensor& out);
void check_backward(const Node& node, std::span<const Tensor> grad_outputs, const std::vector<Tensor>& grads);
// The module path of the code running now ("Sequential › [2] Linear(30, 10)"; empty outside modules).
const std::string& scope();
/// Issues warning `key` once (if warnings are on).
void warn_once(std::string_view key, std::string_view message);
/// Whether warning `key` would still be issued (warn_pending_any, in nabla/detail/graph.hpp: whether
/// any could be, a cheap test for apply to skip the advice).
bool warn_pending(std::string_view key);
/// Looks at the inputs of a cost op that advised() names and warns once per kind of misuse.
void advise(std::string_view op, std::span<const Tensor* const> inputs);
}  // namespace nabla::inspect::detail

namespace nabla::profile::detail {
bool active();
void add_forward(std::string_view op, double us);
void add_backward(std::string_view op, double us);
}  // namespace nabla::profile::detail
