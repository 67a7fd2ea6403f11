// src/inspect/hooks.cpp — anomaly mode, gradient-norm recording, module paths and the one-time
// warnings: the guards set the hook bits that apply() and the backward walk consult (hooks.hpp).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/inspect.hpp"
#include "nabla/profile.hpp"
#include "hooks.hpp"

namespace nabla::inspect {
namespace {

thread_local std::string module_path;
bool anomaly_on() { return (nabla::detail::hooks() & nabla::detail::kAnomalyHook) != 0; }

// What is wrong with a tensor's values: "" when all finite, else e.g. "NaN at element 3 (2 NaN, 0 infinite)".
std::string nonfinite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return "";
  std::int64_t nan = 0, inf = 0, first = -1;
  auto scan = [&](const auto* p) {
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      if (std::isnan(p[i])) ++nan;
      else if (std::isinf(p[i])) ++inf;
      else continue;
      if (first < 0) first = i;
    }
  };
  if (t.dtype() == f32) scan(t.data<float>());
  else scan(t.data<double>());
  if (first < 0) return "";
  return fmt::format("{} at element {} ({} NaN, {} infinite of {})", nan > 0 ? "NaN" : "infinity", first, nan, inf,
                     t.numel());
}

std::string where(const std::string& scope) {
  return scope.empty() ? "outside any module" : fmt::format("in {}", scope);
}

}  // namespace

namespace detail {

bool anomaly_active() { return anomaly_on(); }
const std::string& scope() { return module_path; }

double l2_norm(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(kernels::squared_norm(t));
}

bool all_finite(const Tensor& t) { return nonfinite(t).empty(); }

void check_forward(std::string_view op, std::span<const Tensor* const> inputs, const Tensor& out) {
  const std::string bad = nonfinite(out);
  if (bad.empty()) return;
  std::string ins;
  for (const Tensor* t : inputs) {
    if (!ins.empty()) ins += ", ";
    if (!t->defined()) {
      ins += "(none)";
      continue;
    }
    const std::string b = nonfinite(*t);
    ins += fmt::format("{} {} ({})", t->shape(), t->dtype(), b.empty() ? "finite" : "has " + b);
  }
  throw NumericError(fmt::format("anomaly: {} forward produced {} in its output {} {}; inputs {}; recorded {}", op, bad,
                                 out.shape(), out.dtype(), ins, where(module_path)));
}

void check_backward(const Node& node, std::span<const Tensor> grad_outputs, const std::vector<Tensor>& grads) {
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const std::string bad = nonfinite(grads[i]);
    if (bad.empty()) continue;
    std::string ins;
    for (std::size_t k = 0; k < node.num_inputs(); ++k) {
      ins += fmt::format("{}{} {}", k ? ", " : "", node.input_shape(k), node.input_dtype(k));
    }
    std::string gbad;
    for (const Tensor& g : grad_outputs) {
      if (gbad.empty()) gbad = nonfinite(g);
    }
    throw NumericError(fmt::format(
        "anomaly: {} backward produced {} in the gradient of input {}; inputs {}; the gradient arriving at its "
        "output {} was {}; recorded {}",
        node.name(), bad, i, ins, node.output_shape(), gbad.empty() ? "finite" : "not: " + gbad, where(node.scope())));
  }
}

}  // namespace detail

AnomalyGuard::AnomalyGuard() : prev_(nabla::detail::set_hook(nabla::detail::kAnomalyHook, true)) {}
AnomalyGuard::~AnomalyGuard() { nabla::detail::set_hook(nabla::detail::kAnomalyHook, prev_); }

GradNormGuard::GradNormGuard() : prev_(nabla::detail::set_hook(nabla::detail::kGradNormHook, true)) {}
GradNormGuard::~GradNormGuard() { nabla::detail::set_hook(nabla::detail::kGradNormHook, prev_); }

ModuleScope::ModuleScope(std::string_view label) {
  if (!anomaly_on()) return;
  restore_ = module_path.size();
  if (!module_path.empty()) module_path += " › ";
  module_path += label;
}

ModuleScope::~ModuleScope() {
  if (restore_ != std::string::npos) module_path.resize(restore_);
}

// ---- pairing advice --------------------------------------------------------------------------------

namespace {
struct Advice {
  std::mutex mu;
  std::atomic<bool> on{true};
  std::atomic<int> given_count{0};
  std::set<std::string, std::less<>> given;
  std::function<void(std::string_view)> handler;
};
Advice& advice() {
  static Advice a;
  return a;
}
}  // namespace

void set_warnings(bool on) { advice().on = on; }

void reset_warnings() {
  std::lock_guard lock(advice().mu);
  advice().given.clear();
  advice().given_count = 0;
}

bool warnings_enabled() { return advice().on; }

void set_warning_handler(std::function<void(std::string_view)> handler) {
  std::lock_guard lock(advice().mu);
  advice().handler = std::move(handler);
}

bool detail::warn_pending(std::string_view key) {
  std::lock_guard lock(advice().mu);
  return advice().on && !advice().given.contains(key);
}

bool detail::warn_pending_any() {
  // Lock-free: costs call this on every evaluation.
  return advice().on && advice().given_count < 4;  // the four kinds of advice in advice.cpp
}

void detail::warn_once(std::string_view key, std::string_view message) {
  std::function<void(std::string_view)> handler;
  {
    std::lock_guard lock(advice().mu);
    Advice& a = advice();
    if (!a.on || a.given.contains(key)) return;
    a.given.emplace(key);
    ++a.given_count;
    handler = a.handler;
  }
  if (handler) handler(message);
  else fmt::print(stderr, "nabla warning: {} (turn off with nabla::inspect::set_warnings(false))\n", message);
}

}  // namespace nabla::inspect

namespace nabla {

// ---- the hook bits that apply() and the backward walk consult ------------------------------------------

namespace {
// initial-exec: read by every op, and without it each read is a __tls_get_addr call (OpScope).
[[gnu::tls_model("initial-exec")]] thread_local unsigned t_hooks = 0;
}

namespace detail {
unsigned hooks() { return t_hooks; }
bool set_hook(Hook h, bool on) {
  const bool was = (t_hooks & h) != 0;
  t_hooks = on ? (t_hooks | h) : (t_hooks & ~unsigned(h));
  return was;
}

double hook_clock_us() {
  if (!(t_hooks & kProfileHook)) return 0;
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double hooked_before(std::string_view op, bool advised, std::span<const Tensor* const> inputs) {
  if (advised && inspect::detail::warn_pending_any()) inspect::detail::advise(op, inputs);
  return hook_clock_us();
}

void hooked_after(std::string_view op, std::span<const Tensor* const> inputs, std::span<Tensor> outputs,
                  double start_us) {
  if (t_hooks & kAnomalyHook) {
    for (const Tensor& out : outputs) inspect::detail::check_forward(op, inputs, out);
    for (const Tensor& out : outputs) {
      if (out.grad_fn()) Access::set_scope(*out.grad_fn(), inspect::detail::scope());
    }
  }
  if (t_hooks & kProfileHook) profile::detail::add_forward(op, hook_clock_us() - start_us);
}
}  // namespace detail

}  // namespace nabla
