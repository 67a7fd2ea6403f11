// src/inspect/advice.cpp — the cost-pairing advice of nabla/inspect.hpp: apply() hands every cost op
// (inspect::detail::advised) its inputs while some advice is still to be given; each kind of advice
// is given once per process.
#include <fmt/format.h>

#include "nabla/inspect.hpp"
#include "nabla/op.hpp"
#include "nabla/toolkit.hpp"
#include "hooks.hpp"

namespace nabla::inspect::detail {

namespace {

bool made_by(const Tensor& t, std::initializer_list<std::string_view> ops) {
  if (!t.defined() || !t.grad_fn()) return false;
  for (std::string_view op : ops) {
    if (t.grad_fn()->name() == op) return true;
  }
  return false;
}

// Whether every value satisfies pred (floating tensors only).
template <class Pred>
bool all_values(const Tensor& t, Pred pred) {
  if (!t.defined() || !is_floating(t.dtype())) return false;
  bool ok = true;
  dispatch_float(t.dtype(), "advice", [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel() && ok; ++i) ok = pred(double(p[i]));
  });
  return ok;
}

constexpr std::string_view kSlowdown =
    "quadratic_cost on sigmoid outputs with 0/1 targets: its gradient carries the factor σ′(z), which is "
    "near 0 when an output neuron is badly wrong, so such neurons learn slowly (book ch. 3, eqs. 55–56); "
    "the cross-entropy cost removes the factor (eq. 61): binary_cross_entropy, or "
    "binary_cross_entropy_with_logits on the sigmoid's input";

void advise_pair(std::string_view cost, const Tensor& a, const Tensor& y) {
  if (cost == "quadratic_cost") {
    if (warn_pending("quadratic+sigmoid") && made_by(a, {"sigmoid"}) &&
        all_values(y, [](double v) { return v == 0 || v == 1; })) {
      warn_once("quadratic+sigmoid", kSlowdown);
    }
  } else if (cost == "binary_cross_entropy_with_logits" || cost == "softmax_cross_entropy") {
    if (warn_pending("probabilities-as-logits") && made_by(a, {"sigmoid", "softmax", "log_softmax"})) {
      warn_once("probabilities-as-logits",
                fmt::format("{} expects logits z, but its input is the output of {}: the squashing is applied "
                            "twice, which flattens the cost and slows learning (book ch. 3); pass the input of {}",
                            cost, a.grad_fn()->name(), a.grad_fn()->name()));
    }
  } else if (cost == "nll_loss") {  // (binary_cross_entropy refuses a outside [0, 1] itself, naming the logits form)
    if (warn_pending("logits-as-log-probabilities") &&
        (made_by(a, {"softmax", "sigmoid"}) || !all_values(a, [](double v) { return v <= 0; }))) {
      warn_once("logits-as-log-probabilities",
                "nll_loss expects log-probabilities (log_softmax output, all ≤ 0), but got probabilities or values "
                "above 0: use log_softmax first, or softmax_cross_entropy on the logits (book ch. 3, eq. 80)");
    }
  }
}

}  // namespace

void advise(std::string_view op, std::span<const Tensor* const> inputs) {
  if (inputs.size() == 2) advise_pair(op, *inputs[0], *inputs[1]);
}

}  // namespace nabla::inspect::detail
