// ops/costs.cpp — the costs of the book, each averaged over the batch (the first axis) as the
// book's 1/n. Each is one op with its gradient in closed form.
//
//   quadratic_cost                    C = 1/(2n) Σ_x ||y − a||²                    (eq. 6)
//   binary_cross_entropy              C = −1/n Σ_x Σ_j [y ln a + (1 − y) ln(1 − a)] (eq. 63)
//   binary_cross_entropy_with_logits  the same with a = σ(z), computed from z stably
//   nll_loss                          C = −1/n Σ_x log_probs[x, label_x]           (eq. 80)
//   softmax_cross_entropy             nll_loss(log_softmax(z)), fused: ∂C/∂z = (a − y)/n (eq. 81–84)
#include <cmath>

#include <fmt/format.h>

#include "nabla/inspect.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "../src/kernels/kernels.hpp"

namespace nabla {
namespace ops {

/// Checks a prediction and a same-shaped target; returns the batch size n.
std::int64_t check_pair(std::string_view op, const Tensor& a, const Tensor& y) {
  kernels::check_floating(op, a);
  if (a.dim() == 0 || a.shape()[0] == 0) {
    throw ShapeError(fmt::format("{}: prediction {} needs a non-empty batch axis first", op, a.shape()));
  }
  if (y.shape() != a.shape()) {
    throw ShapeError(fmt::format("{}: target {} does not match prediction {}; expected {}", op, y.shape(),
                                 a.shape(), a.shape()));
  }
  kernels::check_same_dtype(op, a, y);
  return a.shape()[0];
}

/// Checks [n, k] scores and int64 labels [n] in 0..k−1.
void check_labels(std::string_view op, const Tensor& scores, const Tensor& labels) {
  kernels::check_floating(op, scores);
  if (scores.dim() != 2 || scores.shape()[0] == 0) {
    throw ShapeError(fmt::format("{}: expected scores [n, classes] with n > 0, got {}", op, scores.shape()));
  }
  if (labels.dtype() != Dtype::i64 || labels.shape() != Shape{scores.shape()[0]}) {
    throw ShapeError(fmt::format("{}: labels are {} {}; expected int64 class indices [{}] for scores {}", op,
                                 labels.dtype(), labels.shape(), scores.shape()[0], scores.shape()));
  }
  const std::int64_t k = scores.shape()[1];
  const std::int64_t* pl = labels.data<std::int64_t>();
  for (std::int64_t i = 0; i < labels.numel(); ++i) {
    if (pl[i] < 0 || pl[i] >= k) {
      throw ValueError(fmt::format("{}: label {} at row {} is out of range for {} classes", op, pl[i], i, k));
    }
  }
}

/// Σ_x scores[x, label_x], accumulated in double, for checked [n, k] scores and labels.
double sum_at_labels(const Tensor& scores, const Tensor& labels) {
  const std::int64_t n = scores.shape()[0], k = scores.shape()[1];
  const std::int64_t* pl = labels.data<std::int64_t>();
  return kernels::dispatch_float(scores.dtype(), "sum_at_labels", [&](auto tag) {
    const auto* p = scores.data<decltype(tag)>();
    double acc = 0;
    for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i * k + pl[i]]);
    return acc;
  });
}

/// The gradient scale g/n, as the tensor's element type.
template <class T>
T scale(const Tensor& gy, std::int64_t n) {
  return static_cast<T>(gy.item() / static_cast<double>(n));
}

// quadratic: C = 1/(2n) Σ (a − y)². ga = (a − y) g/n, gy = −(a − y) g/n. Saves a, y.
struct QuadraticCost {
  static constexpr std::string_view name = "quadratic_cost";
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& y) const {
    const std::int64_t n = check_pair(name, a, y);
    ctx.save(a, y);
    const Tensor d2 = kernels::zip(a, y, [](auto p, auto t) { return (p - t) * (p - t); });
    return scalar(0.5 * kernels::sum_all(d2) / static_cast<double>(n), a.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, y] = ctx.saved<2>();
    return kernels::dispatch_float(a.dtype(), name, [&](auto tag) -> Grads {
      const auto s = scale<decltype(tag)>(gy, a.shape()[0]);
      Tensor ga = kernels::zip(a, y, [s](auto p, auto t) { return (p - t) * s; });
      return {ga, ctx.needs_grad(1) ? neg(ga) : Tensor{}};
    });
  }
};

// binary cross-entropy on probabilities, with 0 · ln 0 taken as 0 (the book's nan_to_num).
// ga = (a − y) / (a (1 − a)) · g/n, gy = (ln(1 − a) − ln a) · g/n. Saves a, y.
// A saturated a (exactly 0 or 1, common in float32) would give ±inf and then NaN, so each log is
// floored at −100 and a (1 − a) at 1e-12, as PyTorch's BCELoss does. In a network, prefer
// binary_cross_entropy_with_logits on the last layer's z: exact, and δ^L = a − y (eq. 66).
constexpr double kLogFloor = -100.0;
constexpr double kDenominatorFloor = 1e-12;
struct BinaryCrossEntropy {
  static constexpr std::string_view name = "binary_cross_entropy";
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& y) const {
    const std::int64_t n = check_pair(name, a, y);
    ctx.save(a, y);
    const Tensor terms = kernels::zip(a, y, [](auto p, auto t) {
      using T = decltype(p);
      const T pos = t != T(0) ? t * std::max(std::log(p), T(kLogFloor)) : T(0);
      const T neg = t != T(1) ? (1 - t) * std::max(std::log(1 - p), T(kLogFloor)) : T(0);
      return -(pos + neg);
    });
    return scalar(kernels::sum_all(terms) / static_cast<double>(n), a.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, y] = ctx.saved<2>();
    return kernels::dispatch_float(a.dtype(), name, [&](auto tag) -> Grads {
      const auto s = scale<decltype(tag)>(gy, a.shape()[0]);
      return {ctx.needs_grad(0) ? kernels::zip(a, y, [s](auto p, auto t) {
                                    using U = decltype(p);
                                    return (p - t) / std::max(p * (1 - p), U(kDenominatorFloor)) * s;
                                  })
                                : Tensor{},
              ctx.needs_grad(1) ? kernels::map(a, [s](auto p) {
                                    using U = decltype(p);
                                    return (std::max(std::log(1 - p), U(kLogFloor)) - std::max(std::log(p), U(kLogFloor))) * s;
                                  })
                                : Tensor{}};
    });
  }
};

// binary cross-entropy on logits: per element max(z, 0) − z y + ln(1 + e^−|z|), which never
// overflows. gz = (σ(z) − y) g/n, gy = −z g/n. Saves z, y.
struct BinaryCrossEntropyWithLogits {
  static constexpr std::string_view name = "binary_cross_entropy_with_logits";
  Tensor forward(Context& ctx, const Tensor& z, const Tensor& y) const {
    const std::int64_t n = check_pair(name, z, y);
    ctx.save(z, y);
    const Tensor terms = kernels::zip(z, y, [](auto v, auto t) {
      using T = decltype(v);
      return std::max(v, T(0)) - v * t + std::log1p(std::exp(-std::abs(v)));
    });
    return scalar(kernels::sum_all(terms) / static_cast<double>(n), z.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [z, y] = ctx.saved<2>();
    return kernels::dispatch_float(z.dtype(), name, [&](auto tag) -> Grads {
      const auto s = scale<decltype(tag)>(gy, z.shape()[0]);
      return {ctx.needs_grad(0) ? kernels::zip(z, y, [s](auto v, auto t) { return (1 / (1 + std::exp(-v)) - t) * s; }) : Tensor{},
              ctx.needs_grad(1) ? kernels::map(z, [s](auto v) { return -v * s; }) : Tensor{}};
    });
  }
};

// nll: C = −1/n Σ_x log_probs[x, label_x]. g_log_probs = −g/n at each label, 0 elsewhere.
// Saves the labels. The labels (int64) get no gradient.
struct NllLoss {
  static constexpr std::string_view name = "nll_loss";
  Tensor forward(Context& ctx, const Tensor& lp, const Tensor& labels) const {
    check_labels(name, lp, labels);
    ctx.save(labels);
    return scalar(-sum_at_labels(lp, labels) / static_cast<double>(lp.shape()[0]), lp.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& labels = ctx.saved(0);
    const std::int64_t n = labels.numel(), k = classes;
    Tensor g = zeros({n, k}, gy.dtype());
    kernels::dispatch_float(gy.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      const T s = -scale<T>(gy, n);
      T* pg = g.mutable_data<T>();
      const std::int64_t* pl = labels.data<std::int64_t>();
      for (std::int64_t i = 0; i < n; ++i) pg[i * k + pl[i]] = s;
    });
    return {g, Tensor{}};
  }
  std::int64_t classes;
};

// softmax cross-entropy from logits, fused: C = 1/n Σ_x (log Σ_j e^{z_j} − z_label), computed
// through log_softmax (stable). gz = (softmax(z) − one_hot(label)) g/n exactly. Saves softmax(z)
// and the labels.
struct SoftmaxCrossEntropy {
  static constexpr std::string_view name = "softmax_cross_entropy";
  Tensor forward(Context& ctx, const Tensor& z, const Tensor& labels) const {
    check_labels(name, z, labels);
    const Tensor lp = kernels::log_softmax_rows(z);
    if (ctx.recording()) ctx.save(kernels::map(lp, [](auto v) { return std::exp(v); }), labels);
    return scalar(-sum_at_labels(lp, labels) / static_cast<double>(z.shape()[0]), z.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [probs, labels] = ctx.saved<2>();
    const std::int64_t n = probs.shape()[0], k = probs.shape()[1];
    Tensor gz = detail::make_tensor(probs.shape(), probs.dtype());
    kernels::dispatch_float(probs.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      const T s = scale<T>(gy, n);
      const T* pp = probs.data<T>();
      T* pg = gz.mutable_data<T>();
      const std::int64_t* pl = labels.data<std::int64_t>();
      for (std::int64_t i = 0; i < n * k; ++i) pg[i] = pp[i] * s;
      for (std::int64_t i = 0; i < n; ++i) pg[i * k + pl[i]] -= s;
    });
    return {gz, Tensor{}};
  }
};

}  // namespace ops

// ---- pairing advice (nabla/inspect.hpp): one-time warnings, checked only while not yet given --------

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
  kernels::dispatch_float(t.dtype(), "advice", [&](auto tag) {
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

void advise(std::string_view cost, const Tensor& a, const Tensor& y) {
  using inspect::detail::warn_pending;
  using inspect::detail::warn_once;
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
  } else if (cost == "binary_cross_entropy") {
    if (warn_pending("logits-as-probabilities") && !all_values(a, [](double v) { return v >= 0 && v <= 1; })) {
      warn_once("logits-as-probabilities",
                "binary_cross_entropy expects probabilities a in [0, 1] (a sigmoid output), but got values outside "
                "[0, 1]: logits? use binary_cross_entropy_with_logits on them (book ch. 3, eq. 63)");
    }
  } else if (cost == "nll_loss") {
    if (warn_pending("logits-as-log-probabilities") &&
        (made_by(a, {"softmax", "sigmoid"}) || !all_values(a, [](double v) { return v <= 0; }))) {
      warn_once("logits-as-log-probabilities",
                "nll_loss expects log-probabilities (log_softmax output, all ≤ 0), but got probabilities or values "
                "above 0: use log_softmax first, or softmax_cross_entropy on the logits (book ch. 3, eq. 80)");
    }
  }
}

}  // namespace

Tensor quadratic_cost(const Tensor& a, const Tensor& y) {
  if (inspect::detail::warn_pending_any()) advise("quadratic_cost", a, y);
  return apply(ops::QuadraticCost{}, a, y);
}
Tensor binary_cross_entropy(const Tensor& a, const Tensor& y) {
  if (inspect::detail::warn_pending_any()) advise("binary_cross_entropy", a, y);
  return apply(ops::BinaryCrossEntropy{}, a, y);
}
Tensor binary_cross_entropy_with_logits(const Tensor& z, const Tensor& y) {
  if (inspect::detail::warn_pending_any()) advise("binary_cross_entropy_with_logits", z, y);
  return apply(ops::BinaryCrossEntropyWithLogits{}, z, y);
}
Tensor nll_loss(const Tensor& log_probs, const Tensor& labels) {
  if (inspect::detail::warn_pending_any()) advise("nll_loss", log_probs, labels);
  return apply(ops::NllLoss{.classes = log_probs.dim() == 2 ? log_probs.shape()[1] : 0}, log_probs, labels);
}
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels) {
  if (inspect::detail::warn_pending_any()) advise("softmax_cross_entropy", logits, labels);
  return apply(ops::SoftmaxCrossEntropy{}, logits, labels);
}

Tensor one_hot(const Tensor& labels, std::int64_t classes, Dtype dtype) {
  if (labels.dtype() != Dtype::i64 || labels.dim() != 1) {
    throw ShapeError(fmt::format("one_hot: expected int64 labels [n], got {} {}", labels.dtype(), labels.shape()));
  }
  if (classes <= 0) throw ValueError(fmt::format("one_hot: classes must be positive, got {}", classes));
  kernels::check_floating("one_hot", zeros({}, dtype));
  const std::int64_t n = labels.numel();
  Tensor y = zeros({n, classes}, dtype);
  const std::int64_t* pl = labels.data<std::int64_t>();
  NoGradGuard g;
  for (std::int64_t i = 0; i < n; ++i) {
    if (pl[i] < 0 || pl[i] >= classes) {
      throw ValueError(fmt::format("one_hot: label {} at row {} is out of range for {} classes", pl[i], i, classes));
    }
    y.set({i, pl[i]}, 1.0);
  }
  return y;
}

double accuracy(const Tensor& scores, const Tensor& labels) {
  if (scores.dim() != 2 || labels.dtype() != Dtype::i64 || labels.shape() != Shape{scores.shape()[0]} || scores.shape()[0] == 0) {
    throw ShapeError(fmt::format("accuracy: expected scores [n, classes] with n > 0 and int64 labels [n], got {} and {} {}",
                                 scores.shape(), labels.dtype(), labels.shape()));
  }
  const Tensor predicted = argmax(scores, 1);
  const std::int64_t* pp = predicted.data<std::int64_t>();
  const std::int64_t* pl = labels.data<std::int64_t>();
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < labels.numel(); ++i) correct += pp[i] == pl[i];
  return double(correct) / double(labels.numel());
}

Tensor vote(const std::vector<Tensor>& scores) {
  if (scores.empty()) throw ValueError("vote: no models to vote");
  const Shape shape = scores[0].shape();
  if (shape.rank() != 2) throw ShapeError(fmt::format("vote: expected scores [n, classes], got {}", shape));
  for (std::size_t m = 1; m < scores.size(); ++m) {
    if (scores[m].shape() != shape) {
      throw ShapeError(fmt::format("vote: model {} gave scores {}, model 0 gave {}", m, scores[m].shape(), shape));
    }
  }
  const std::int64_t n = shape[0], k = shape[1];
  std::vector<std::int64_t> votes(static_cast<std::size_t>(n * k), 0);
  std::vector<double> totals(static_cast<std::size_t>(n * k), 0.0);
  for (const Tensor& s : scores) {
    const auto first = argmax(s, 1).to_vector<std::int64_t>();
    const auto values = s.to_vector();
    for (std::int64_t i = 0; i < n; ++i) ++votes[static_cast<std::size_t>(i * k + first[static_cast<std::size_t>(i)])];
    for (std::size_t j = 0; j < values.size(); ++j) totals[j] += values[j];
  }
  Tensor out = empty({n}, i64);
  std::int64_t* po = out.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < k; ++c) {
      const auto a = static_cast<std::size_t>(i * k + c), b = static_cast<std::size_t>(i * k + best);
      if (votes[a] > votes[b] || (votes[a] == votes[b] && totals[a] > totals[b])) best = c;
    }
    po[i] = best;
  }
  return out;
}

}  // namespace nabla
