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

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

/// Checks a prediction and a same-shaped target; returns the batch size n.
std::int64_t check_pair(std::string_view op, const Tensor& a, const Tensor& y) {
  check_floating(op, a);
  if (a.dim() == 0 || a.shape()[0] == 0) {
    throw ShapeError(fmt::format("{}: prediction {} needs a non-empty batch axis first", op, a.shape()));
  }
  if (y.shape() != a.shape()) {
    throw ShapeError(fmt::format("{}: target {} does not match prediction {}; expected {}", op, y.shape(),
                                 a.shape(), a.shape()));
  }
  check_same_dtype(op, a, y);
  return a.shape()[0];
}

/// Checks that every element of t (the op's `what`: prediction or target) is a probability in
/// [0, 1]; NaN is not one (as PyTorch's BCELoss, which refuses both).
void check_probabilities(std::string_view op, std::string_view what, const Tensor& t) {
  dispatch_float(t.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) {
      if (!(p[i] >= T(0) && p[i] <= T(1))) [[unlikely]] {
        throw ValueError(fmt::format("{}: {} element {} of {} is {}; expected probabilities in [0, 1]{}", op, what, i,
                                     t.shape(), p[i],
                                     what == "prediction" ? " (on logits, use binary_cross_entropy_with_logits)" : ""));
      }
    }
  });
}

/// Checks [n, k] scores and int64 labels [n] in 0..k−1.
void check_labels(std::string_view op, const Tensor& scores, const Tensor& labels) {
  check_floating(op, scores);
  if (scores.dim() != 2 || scores.shape()[0] == 0) {
    throw ShapeError(fmt::format("{}: expected scores [n, classes] with n > 0, got {}", op, scores.shape()));
  }
  if (labels.dtype() != Dtype::i64 || labels.shape() != Shape{scores.shape()[0]}) {
    throw ShapeError(fmt::format("{}: labels are {} {}; expected int64 class indices [{}] for scores {}", op,
                                 labels.dtype(), labels.shape(), scores.shape()[0], scores.shape()));
  }
  const std::int64_t k = scores.shape()[1];
  const std::int64_t* pl = labels.data<std::int64_t>();
  for (std::int64_t i = 0, count = labels.numel(); i < count; ++i) {
    if (pl[i] < 0 || pl[i] >= k) {
      throw ValueError(fmt::format("{}: label {} at row {} is out of range for {} classes", op, pl[i], i, k));
    }
  }
}

/// Σ_x scores[x, label_x], accumulated in double, for checked [n, k] scores and labels.
double sum_at_labels(const Tensor& scores, const Tensor& labels) {
  const std::int64_t n = scores.shape()[0], k = scores.shape()[1];
  const std::int64_t* pl = labels.data<std::int64_t>();
  return dispatch_float(scores.dtype(), "sum_at_labels", [&](auto tag) {
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

// Each cost's gradient is an op of its own (as PyTorch's mse_loss_backward, nll_loss_backward, …):
// the closed form as one fused loop, and a derivative of its own written with recorded ops, so the
// plain backward and create_graph run the same code. g is the cost's 0-d output gradient.

// quadratic's backward op: ga = (a − y) g/n. Linear in g and in a − y: ∂/∂g = Σ gg (a − y) / n,
// ∂/∂a = gg g/n = −∂/∂y.
struct QuadraticCostGrad {
  static constexpr std::string_view name = "quadratic_cost_backward";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& a, const Tensor& y) const {
    ctx.save(gy, a, y);
    const double s = gy.item() / double(a.shape()[0]);
    return zip(a, y, [s](auto p, auto t) { using T = decltype(p); return (p - t) * T(s); });
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, a, y] = ctx.saved<3>();
    const double inv_n = 1.0 / double(a.shape()[0]);
    const Tensor ga = ctx.needs_grad(1) || ctx.needs_grad(2) ? gg * (gy * inv_n) : Tensor{};
    return {ctx.needs_grad(0) ? sum(gg * (a - y)) * inv_n : Tensor{}, ctx.needs_grad(1) ? ga : Tensor{},
            ctx.needs_grad(2) ? neg(ga) : Tensor{}};
  }
};

// quadratic: C = 1/(2n) Σ (a − y)². ga = (a − y) g/n, gy = −(a − y) g/n. Saves a, y.
struct QuadraticCost {
  static constexpr std::string_view name = "quadratic_cost";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& y) const {
    const std::int64_t n = check_pair(name, a, y);
    ctx.save(a, y);
    const Tensor d2 = zip(a, y, [](auto p, auto t) { return (p - t) * (p - t); });
    return scalar(0.5 * kernels::sum_all(d2) / static_cast<double>(n), a.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, y] = ctx.saved<2>();
    const Tensor ga = apply(QuadraticCostGrad{}, gy, a, y);
    return {ga, ctx.needs_grad(1) ? neg(ga) : Tensor{}};
  }
};

// binary cross-entropy on probabilities, with 0 · ln 0 taken as 0 (the book's nan_to_num). a and y
// must lie in [0, 1] (checked, as PyTorch: outside, the cost can go negative).
// ga = (a − y) / (a (1 − a)) · g/n, gy = (ln(1 − a) − ln a) · g/n. Saves a, y.
// A saturated a (exactly 0 or 1, common in float32) would give ±inf and then NaN, so each log is
// floored at −100 and a (1 − a) at 1e-12, as PyTorch's BCELoss does. In a network, prefer
// binary_cross_entropy_with_logits on the last layer's z: exact, and δ^L = a − y (eq. 66).
constexpr double kLogFloor = -100.0;
constexpr double kDenominatorFloor = 1e-12;

// binary_cross_entropy's backward ops, one per input. For a: ga = (a − y) / D · g/n with
// D = max(a (1 − a), 1e-12); ∂/∂g = Σ gg (a − y) / D / n, ∂/∂a = gg g/n (1/D − (a − y) D′ / D²) with
// D′ = 1 − 2a above the floor (0 on it), ∂/∂y = −gg g/n / D.
struct BinaryCrossEntropyGrad {
  static constexpr std::string_view name = "binary_cross_entropy_backward";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& a, const Tensor& y) const {
    ctx.save(gy, a, y);
    const double s = gy.item() / double(a.shape()[0]);
    return zip(a, y, [s](auto p, auto t) {
      using T = decltype(p);
      return (p - t) / std::max(p * (1 - p), T(kDenominatorFloor)) * T(s);
    });
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, a, y] = ctx.saved<3>();
    const double inv_n = 1.0 / double(a.shape()[0]);
    const Tensor var = a * (1.0 - a);
    const Tensor d = clamp_min(var, kDenominatorFloor);
    const Tensor s = gy * inv_n;
    Tensor ga;
    if (ctx.needs_grad(1)) {
      const Tensor above = map(var, [](auto v) { using T = decltype(v); return v > T(kDenominatorFloor) ? T(1) : T(0); });
      ga = gg * s * (1.0 / d - (a - y) * ((1.0 - a * 2.0) * above) / square(d));
    }
    return {ctx.needs_grad(0) ? sum(gg * (a - y) / d) * inv_n : Tensor{}, ga, ctx.needs_grad(2) ? -(gg * s / d) : Tensor{}};
  }
};
// For y: gy = (L(1 − a) − L(a)) · g/n with L = max(ln, −100); ∂/∂g = Σ gg (L(1 − a) − L(a)) / n,
// ∂/∂a = −gg g/n (1/(1 − a) + 1/a), each term where its log is above the floor.
struct BinaryCrossEntropyTargetGrad {
  static constexpr std::string_view name = "binary_cross_entropy_backward";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& a) const {
    ctx.save(gy, a);
    const double s = gy.item() / double(a.shape()[0]);
    return map(a, [s](auto p) {
      using T = decltype(p);
      return (std::max(std::log(1 - p), T(kLogFloor)) - std::max(std::log(p), T(kLogFloor))) * T(s);
    });
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, a] = ctx.saved<2>();
    const double inv_n = 1.0 / double(a.shape()[0]);
    Tensor g_gy, g_a;
    if (ctx.needs_grad(0)) g_gy = sum(gg * (clamp_min(log(1.0 - a), kLogFloor) - clamp_min(log(a), kLogFloor))) * inv_n;
    if (ctx.needs_grad(1)) {
      auto above = [](double lo) {  // 1 where ln of the argument is above the floor
        return [lo](auto v) { using T = decltype(v); return std::log(v) > T(lo) ? T(1) : T(0); };
      };
      const Tensor q = 1.0 - a;
      g_a = -(gg * (gy * inv_n) * (map(q, above(kLogFloor)) / q + map(a, above(kLogFloor)) / a));
    }
    return {g_gy, g_a};
  }
};

struct BinaryCrossEntropy {
  static constexpr std::string_view name = "binary_cross_entropy";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& y) const {
    const std::int64_t n = check_pair(name, a, y);
    check_probabilities(name, "prediction", a);
    check_probabilities(name, "target", y);
    ctx.save(a, y);
    const Tensor terms = zip(a, y, [](auto p, auto t) {
      using T = decltype(p);
      const T pos = t != T(0) ? t * std::max(std::log(p), T(kLogFloor)) : T(0);
      const T neg = t != T(1) ? (1 - t) * std::max(std::log(1 - p), T(kLogFloor)) : T(0);
      return -(pos + neg);
    });
    return scalar(kernels::sum_all(terms) / static_cast<double>(n), a.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, y] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? apply(BinaryCrossEntropyGrad{}, gy, a, y) : Tensor{},
            ctx.needs_grad(1) ? apply(BinaryCrossEntropyTargetGrad{}, gy, a) : Tensor{}};
  }
};

// binary cross-entropy on logits: per element max(z, 0) − z y + ln(1 + e^−|z|), which never
// overflows. gz = (σ(z) − y) g/n, gy = −z g/n. Saves z, y.
// Its backward ops: gz = (σ(z) − y) g/n, with ∂/∂g = Σ gg (σ(z) − y) / n, ∂/∂z = gg g/n σ(z) (1 − σ(z)),
// ∂/∂y = −gg g/n; and gy = −z g/n, with ∂/∂g = −Σ gg z / n, ∂/∂z = −gg g/n.
struct BinaryCrossEntropyWithLogitsGrad {
  static constexpr std::string_view name = "binary_cross_entropy_with_logits_backward";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& z, const Tensor& y) const {
    ctx.save(gy, z, y);
    const double s = gy.item() / double(z.shape()[0]);
    return zip(z, y, [s](auto v, auto t) { using T = decltype(v); return (1 / (1 + std::exp(-v)) - t) * T(s); });
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, z, y] = ctx.saved<3>();
    const double inv_n = 1.0 / double(z.shape()[0]);
    const Tensor sz = sigmoid(z);
    const Tensor h = gg * (gy * inv_n);
    return {ctx.needs_grad(0) ? sum(gg * (sz - y)) * inv_n : Tensor{}, ctx.needs_grad(1) ? h * (sz * (1.0 - sz)) : Tensor{},
            ctx.needs_grad(2) ? neg(h) : Tensor{}};
  }
};
struct BinaryCrossEntropyWithLogitsTargetGrad {
  static constexpr std::string_view name = "binary_cross_entropy_with_logits_backward";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& z) const {
    ctx.save(gy, z);
    const double s = gy.item() / double(z.shape()[0]);
    return map(z, [s](auto v) { using T = decltype(v); return -v * T(s); });
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, z] = ctx.saved<2>();
    const double inv_n = 1.0 / double(z.shape()[0]);
    return {ctx.needs_grad(0) ? -(sum(gg * z) * inv_n) : Tensor{}, ctx.needs_grad(1) ? -(gg * (gy * inv_n)) : Tensor{}};
  }
};

struct BinaryCrossEntropyWithLogits {
  static constexpr std::string_view name = "binary_cross_entropy_with_logits";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& z, const Tensor& y) const {
    const std::int64_t n = check_pair(name, z, y);
    ctx.save(z, y);
    const Tensor terms = zip(z, y, [](auto v, auto t) {
      using T = decltype(v);
      return std::max(v, T(0)) - v * t + std::log1p(std::exp(-std::abs(v)));
    });
    return scalar(kernels::sum_all(terms) / static_cast<double>(n), z.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [z, y] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? apply(BinaryCrossEntropyWithLogitsGrad{}, gy, z, y) : Tensor{},
            ctx.needs_grad(1) ? apply(BinaryCrossEntropyWithLogitsTargetGrad{}, gy, z) : Tensor{}};
  }
};

/// 1/n Σ_x s[x, label_x] for [n, k] scores, in recorded ops (a gather): the adjoint of a fill at the labels.
Tensor mean_at_labels(const Tensor& s, const Tensor& labels) {
  return sum(gather(s, 1, labels.reshape({-1, 1}))) * (1.0 / double(labels.numel()));
}

// nll's backward op: −g/n at each label, 0 elsewhere (a fill). Linear in g; its adjoint is nll_loss's
// value at gg, −Σ_x gg[x, label_x] / n. The labels get no gradient.
struct NllLossGrad {
  static constexpr std::string_view name = "nll_loss_backward";
  static constexpr bool differentiable_backward = true;
  std::int64_t classes;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& labels) const {
    ctx.save(labels);
    const std::int64_t n = labels.numel();
    Tensor g = zeros({n, classes}, gy.dtype());
    dispatch_float(gy.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      const T s = -scale<T>(gy, n);
      T* pg = g.mutable_data<T>();
      const std::int64_t* pl = labels.data<std::int64_t>();
      for (std::int64_t i = 0; i < n; ++i) pg[i * classes + pl[i]] = s;
    });
    return g;
  }
  Grads backward(Context& ctx, const Tensor& gg) const { return {-mean_at_labels(gg, ctx.saved(0)), Tensor{}}; }
};

// nll: C = −1/n Σ_x log_probs[x, label_x]. g_log_probs = −g/n at each label, 0 elsewhere.
// Saves the labels. The labels (int64) get no gradient.
struct NllLoss {
  static constexpr std::string_view name = "nll_loss";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& lp, const Tensor& labels) const {
    check_labels(name, lp, labels);
    ctx.save(labels);
    return scalar(-sum_at_labels(lp, labels) / static_cast<double>(lp.shape()[0]), lp.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {apply(NllLossGrad{ctx.input_shape(0)[1]}, gy, ctx.saved(0)), Tensor{}};
  }
};

// softmax_cross_entropy's backward op: gz = (softmax(z) − one_hot(label)) g/n, from the
// probabilities forward computed (`probs`, read only by this loop). Its derivative, from softmax(z)
// recomputed with recorded ops: ∂/∂g = Σ gg (softmax(z) − one_hot) / n = Σ gg softmax(z) / n −
// Σ_x gg[x, label_x] / n, ∂/∂z = softmax_backward(gg g/n, softmax(z)).
struct SoftmaxCrossEntropyGrad {
  static constexpr std::string_view name = "softmax_cross_entropy_backward";
  static constexpr bool differentiable_backward = true;
  Tensor probs;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& z, const Tensor& labels) const {
    ctx.save(gy, z, labels);
    const std::int64_t n = probs.shape()[0], k = probs.shape()[1];
    Tensor gz = empty(probs.shape(), probs.dtype());
    dispatch_float(probs.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      const T s = scale<T>(gy, n);
      const T* pp = probs.data<T>();
      T* pg = gz.mutable_data<T>();
      const std::int64_t* pl = labels.data<std::int64_t>();
      for (std::int64_t i = 0; i < n * k; ++i) pg[i] = pp[i] * s;
      for (std::int64_t i = 0; i < n; ++i) pg[i * k + pl[i]] -= s;
    });
    return gz;
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, z, labels] = ctx.saved<3>();
    const double inv_n = 1.0 / double(z.shape()[0]);
    const Tensor p = softmax(z, 1);
    return {ctx.needs_grad(0) ? sum(gg * p) * inv_n - mean_at_labels(gg, labels) : Tensor{},
            ctx.needs_grad(1) ? softmax_backward(gg * (gy * inv_n), p, 1) : Tensor{}, Tensor{}};
  }
};

// softmax cross-entropy from logits, fused: C = 1/n Σ_x (log Σ_j e^{z_j} − z_label), computed
// through log_softmax (stable). gz = (softmax(z) − one_hot(label)) g/n exactly. Saves softmax(z)
// and the labels.
struct SoftmaxCrossEntropy {
  static constexpr std::string_view name = "softmax_cross_entropy";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& z, const Tensor& labels) const {
    check_labels(name, z, labels);
    const Tensor lp = kernels::log_softmax_rows(z);
    // z too (a handle, no copy): under create_graph the probabilities are recomputed from it.
    if (ctx.recording()) ctx.save(map(lp, [](auto v) { return std::exp(v); }), labels, z);
    return scalar(-sum_at_labels(lp, labels) / static_cast<double>(z.shape()[0]), z.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [probs, labels, z] = ctx.saved<3>();
    return {apply(SoftmaxCrossEntropyGrad{probs}, gy, z, labels), Tensor{}};
  }
};

}  // namespace ops

Tensor quadratic_cost(const Tensor& a, const Tensor& y) {
  return apply(ops::QuadraticCost{}, a, y);
}
Tensor binary_cross_entropy(const Tensor& a, const Tensor& y) {
  return apply(ops::BinaryCrossEntropy{}, a, y);
}
Tensor binary_cross_entropy_with_logits(const Tensor& z, const Tensor& y) {
  return apply(ops::BinaryCrossEntropyWithLogits{}, z, y);
}
Tensor nll_loss(const Tensor& log_probs, const Tensor& labels) {
  return apply(ops::NllLoss{}, log_probs, labels);
}
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels) {
  return apply(ops::SoftmaxCrossEntropy{}, logits, labels);
}

}  // namespace nabla
