// ops/losses.cpp — torch.nn.functional's regression and binary losses (nabla/losses.hpp): mse_loss,
// l1_loss, smooth_l1_loss, huber_loss, kl_div, binary_cross_entropy and
// binary_cross_entropy_with_logits with options. Each is composed of differentiable ops (docs/design.md,
// "one formula per derivative"): its gradient is the chain rule through them, so backward and
// create_graph run the same code and second derivatives exist wherever the pieces have them.
// The classification losses (nll_loss, cross_entropy) are in ops/losses_nll.cpp.
#include <cmath>

#include <fmt/format.h>

#include "nabla/error.hpp"
#include "nabla/losses.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

std::string_view to_string(Reduction r) {
  switch (r) {
    case Reduction::none: return "none";
    case Reduction::mean: return "mean";
    case Reduction::sum: return "sum";
    case Reduction::batchmean: return "batchmean";
  }
  return "?";
}

namespace detail {

Tensor reduce_loss(std::string_view loss, const Tensor& l, Reduction r, std::int64_t batch) {
  switch (r) {
    case Reduction::none: return l;
    case Reduction::mean: return mean(l);
    case Reduction::sum: return sum(l);
    case Reduction::batchmean:
      if (loss != "kl_div") {
        throw ValueError(fmt::format("{}: reduction batchmean is kl_div's only; expected none, mean or sum", loss));
      }
      return sum(l) / static_cast<double>(batch);
  }
  throw ValueError(fmt::format("{}: unknown reduction {}; expected none, mean or sum", loss, static_cast<int>(r)));
}

}  // namespace detail

namespace {

/// input and target floating, of one dtype and one shape (PyTorch broadcasts with a warning; a
/// mismatch is nearly always a bug, so nabla refuses).
void check_input_target(std::string_view loss, const Tensor& input, const Tensor& target) {
  check_defined(loss, {&input, &target});
  check_floating(loss, input);
  check_floating(loss, target);
  if (input.shape() != target.shape()) {
    throw ShapeError(fmt::format("{}: target {} does not match input {}; expected target of input's shape", loss,
                                 target.shape(), input.shape()));
  }
  check_same_dtype(loss, input, target);
}

/// A weight (when defined): floating, input's dtype, broadcastable to input's shape.
void check_weight(std::string_view loss, std::string_view what, const Tensor& w, const Tensor& input) {
  if (!w.defined()) return;
  check_floating(loss, w);
  if (w.dtype() != input.dtype()) {
    throw ValueError(fmt::format("{}: {} is {} {}; expected {} as the input {}", loss, what, w.dtype(), w.shape(),
                                 input.dtype(), input.shape()));
  }
  const Shape& out = input.shape();
  bool ok = w.dim() <= out.rank();
  for (int i = 1; ok && i <= w.dim(); ++i) {
    const std::int64_t d = w.shape()[w.dim() - i];
    ok = d == 1 || d == out[out.rank() - i];
  }
  if (!ok) {
    throw ShapeError(
        fmt::format("{}: {} {} does not broadcast to input {}; expected a shape broadcastable to it", loss, what,
                    w.shape(), out));
  }
}

std::int64_t batch_of(const Tensor& input) { return input.dim() == 0 ? 1 : input.shape()[0]; }

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, MSELossFuncOptions opts) {
  check_input_target("mse_loss", input, target);
  return detail::reduce_loss("mse_loss", square(input - target), opts.reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, L1LossFuncOptions opts) {
  check_input_target("l1_loss", input, target);
  return detail::reduce_loss("l1_loss", abs(input - target), opts.reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, SmoothL1LossFuncOptions opts) {
  check_input_target("smooth_l1_loss", input, target);
  if (!(opts.beta >= 0) || !std::isfinite(opts.beta)) {
    throw ValueError(fmt::format("smooth_l1_loss: beta is {}; expected a finite beta >= 0", opts.beta));
  }
  const Tensor d = input - target;
  if (opts.beta == 0) return detail::reduce_loss("smooth_l1_loss", abs(d), opts.reduction);
  const Tensor ad = abs(d);
  const Tensor l = where(lt(ad, opts.beta), square(d) * (0.5 / opts.beta), ad - 0.5 * opts.beta);
  return detail::reduce_loss("smooth_l1_loss", l, opts.reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, HuberLossFuncOptions opts) {
  check_input_target("huber_loss", input, target);
  if (!(opts.delta > 0) || !std::isfinite(opts.delta)) {
    throw ValueError(fmt::format("huber_loss: delta is {}; expected a finite delta > 0", opts.delta));
  }
  const Tensor d = input - target;
  const Tensor ad = abs(d);
  const Tensor l = where(lt(ad, opts.delta), square(d) * 0.5, (ad - 0.5 * opts.delta) * opts.delta);
  return detail::reduce_loss("huber_loss", l, opts.reduction);
}

Tensor kl_div(const Tensor& input, const Tensor& target, KLDivFuncOptions opts) {
  check_input_target("kl_div", input, target);
  Tensor l;
  if (opts.log_target) {
    l = exp(target) * (target - input);
  } else {
    // xlogy(target, target) − target · input: 0 where target is 0. The log's argument is 1 there, so
    // neither branch of the where is infinite and no 0 · ∞ reaches a gradient.
    const Tensor positive = gt(target, 0.0);
    const Tensor safe = where(positive, target, 1.0);
    l = target * log(safe) - target * input;
  }
  return detail::reduce_loss("kl_div", l, opts.reduction, batch_of(input));
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, BinaryCrossEntropyFuncOptions opts) {
  constexpr std::string_view name = "binary_cross_entropy";
  check_input_target(name, input, target);
  check_weight(name, "weight", opts.weight, input);
  dispatch_float(input.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* p = input.data<T>();
    for (std::int64_t i = 0, n = input.numel(); i < n; ++i) {
      if (!(p[i] >= T(0) && p[i] <= T(1))) [[unlikely]] {
        throw ValueError(fmt::format("{}: input element {} of {} is {}; expected probabilities in [0, 1] (on logits, "
                                     "use binary_cross_entropy_with_logits)",
                                     name, index_string(input.shape(), i), input.shape(), p[i]));
      }
    }
  });
  // Each log floored at −100, as PyTorch: ln(max(a, e^−100)), so a saturated a (exactly 0 or 1, common
  // in float32) gives −100 and a zero gradient rather than ±inf and NaN.
  const double floor = std::exp(-100.0);
  const Tensor log_a = clamp_min(log(clamp_min(input, floor)), -100.0);
  const Tensor log_1ma = clamp_min(log(clamp_min(1.0 - input, floor)), -100.0);
  Tensor l = -(target * log_a + (1.0 - target) * log_1ma);
  if (opts.weight.defined()) l = l * opts.weight;
  return detail::reduce_loss(name, l, opts.reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        BinaryCrossEntropyWithLogitsFuncOptions opts) {
  constexpr std::string_view name = "binary_cross_entropy_with_logits";
  check_input_target(name, input, target);
  check_weight(name, "weight", opts.weight, input);
  check_weight(name, "pos_weight", opts.pos_weight, input);
  // −ln σ(z) = ln(1 + e^−z) for z ≥ 0, −z + ln(1 + e^z) for z < 0: each branch reads only the
  // non-positive exponent of its side (zp ≥ 0, zn ≤ 0), so nothing overflows, no unselected branch is
  // infinite, and the gradient at z = 0 is −σ(0) = −1/2 exactly.
  const Tensor nonneg = ge(input, 0.0);
  const Tensor zp = where(nonneg, input, 0.0);
  const Tensor zn = where(nonneg, 0.0, input);
  const Tensor neg_log_sigmoid = where(nonneg, log1p(exp(-zp)), log1p(exp(zn)) - zn);
  Tensor l;
  if (opts.pos_weight.defined()) {
    const Tensor log_weight = (opts.pos_weight - 1.0) * target + 1.0;
    l = (1.0 - target) * input + log_weight * neg_log_sigmoid;
  } else {
    l = (1.0 - target) * input + neg_log_sigmoid;
  }
  if (opts.weight.defined()) l = l * opts.weight;
  return detail::reduce_loss(name, l, opts.reduction);
}

}  // namespace nabla
