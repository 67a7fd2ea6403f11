// ops/reductions_more.cpp — reductions beyond the book's, with PyTorch's names and rules:
//
//   sum, mean over several axes        composed from the one-axis sums (ops/reductions.cpp)
//   amax, amin (several axes)          y = the extreme; the gradient is shared evenly by the tied
//                                      elements, as torch.amax's
//   max_with_indices, min_with_indices values and int64 indices along an axis (torch.max(x, dim));
//   min, argmin                        the gradient goes to the first extreme, as max's
//   logsumexp (several axes)           log Σ e^x with the maximum subtracted; gx = gy · softmax(x)
//   var, std (correction)              Σ (x − mean)² / (n − correction), its square root
//   norm (p = 1, 2, ∞, or any p > 0)   the 2-norm's gradient x / ‖x‖ is taken as 0 at x = 0
//   prod                               the gradient Π_{j≠k} x_j, exact where some x_j = 0
//
// An empty list of axes means every axis, as in PyTorch. Axes may be negative; a repeated or
// out-of-range axis is a ValueError naming the op.
#include <algorithm>
#include <cmath>
#include <limits>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {

namespace {
/// The axes normalized and sorted, every axis when `axes` is empty; a repeated one is an error.
std::vector<int> reduction_axes(std::string_view op, const std::vector<int>& axes, const Shape& s) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int d = 0; d < s.rank(); ++d) out.push_back(d);
    return out;
  }
  for (int ax : axes) {
    const int a = normalize_axis(op, ax, s);
    if (std::find(out.begin(), out.end(), a) != out.end()) {
      throw ValueError(fmt::format("{}: axis {} appears twice in [{}] for a tensor of shape {}", op, a,
                                   fmt::join(axes, ", "), s));
    }
    out.push_back(a);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// s with the axes kept as 1 (keepdim) or removed.
Shape reduced(const Shape& s, const std::vector<int>& axes, bool keepdim) {
  Shape out;
  for (int d = 0; d < s.rank(); ++d) {
    const bool r = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!r) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

std::int64_t count_of(const Shape& s, const std::vector<int>& axes) {
  std::int64_t n = 1;
  for (int a : axes) n *= s[a];
  return n;
}

/// One-axis reductions with keepdim applied over several axes, then the axes dropped if asked.
template <class F>
Tensor over_axes(const Tensor& x, const std::vector<int>& axes, bool keepdim, F one_axis) {
  Tensor y = x;
  for (int a : axes) y = one_axis(y, a);
  return keepdim ? y : y.reshape(reduced(x.shape(), axes, false));
}
}  // namespace

namespace ops {

// amax / amin over axes: y = the extreme; gx = gy / (number of tied extremes) at each of them.
template <bool kLargest>
struct Extreme {
  static constexpr std::string_view name = kLargest ? "amax" : "amin";
  static constexpr bool differentiable_backward = true;
  std::vector<int> axes = {};
  bool keepdim = false;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    const std::vector<int> as = reduction_axes(name, axes, x.shape());
    for (int a : as) {
      if (x.shape()[a] == 0) throw ValueError(fmt::format("{}: axis {} of {} is empty", name, a, x.shape()));
    }
    Tensor y = x;
    for (int a : as) y = kernels::extreme_axis(y, a, kLargest);
    ctx.save(x, y);
    return keepdim ? y : y.reshape(reduced(x.shape(), as, false));
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, y] = ctx.saved<2>();
    const std::vector<int> as = reduction_axes(name, axes, x.shape());
    const Tensor ties = eq(x, y).to(x.dtype());
    const Tensor count = over_axes(ties, as, true, [](const Tensor& t, int a) { return sum(t, a, true); });
    return {gy.reshape(y.shape()) * ties / count};
  }
};

// max/min with indices along an axis: two outputs; the gradient goes to the element indexed.
template <bool kLargest>
struct ExtremeWithIndices {
  static constexpr std::string_view name = kLargest ? "max" : "min";
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  bool keepdim = false;
  std::array<Tensor, 2> forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    const int a = normalize_axis(name, axis, x.shape());
    if (x.shape()[a] == 0) throw ValueError(fmt::format("{}: axis {} of {} is empty", name, a, x.shape()));
    Tensor idx;
    Tensor v = kernels::extreme_axis(x, a, kLargest, &idx);
    ctx.save(idx);
    if (keepdim) return {v, idx};
    const Shape s = reduced_shape(x.shape(), a, false);
    return {v.reshape(s), idx.reshape(s)};
  }
  Grads backward(Context& ctx, const Grads& gys) const {
    const Tensor& idx = ctx.saved(0);
    const int a = normalize_axis(name, axis, ctx.input_shape(0));
    if (!gys[0].defined()) return {Tensor{}};
    return {gather_backward(gys[0].reshape(idx.shape()), ctx.input_shape(0), a, idx)};
  }
};

// logsumexp along one axis: y = m + log Σ e^{x − m}; gx = gy · e^{x − y}. Saves x and y.
struct LogSumExp {
  static constexpr std::string_view name = "logsumexp";
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = kernels::logsumexp_axis(x, normalize_axis(name, axis, x.shape()));
    ctx.save(x, y);
    return y;  // the axis kept (size 1)
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, y] = ctx.saved<2>();
    return {gy * exp(x - y)};
  }
};

// The 2-norm over axes: y = √Σ x²; gx = gy · x / y, taken as 0 where y = 0 (a subgradient, as
// PyTorch's). Saves x and y (axes kept).
struct Norm2 {
  static constexpr std::string_view name = "norm";
  static constexpr bool differentiable_backward = true;
  std::vector<int> axes = {};
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    const std::vector<int> as = reduction_axes(name, axes, x.shape());
    Tensor y = sqrt(over_axes(square(x), as, true, [](const Tensor& t, int a) { return sum(t, a, true); }));
    ctx.save(x, y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, y] = ctx.saved<2>();
    const Tensor zero = y == 0.0;  // gx is 0 there; divide by 1 instead, so no NaN reaches a second derivative
    return {where(zero, 0.0, gy * x / where(zero, 1.0, y))};
  }
};

// prod's backward op: gx_k = gy · Π_{j≠k} x_j along the axis, one kernel (exact with zeros). Linear
// in gy: ∂/∂gy = Σ_k gg_k Π_{j≠k} x_j (this op with gy = 1); ∂/∂x_m = gy Σ_{k≠m} gg_k Π_{j∉{k,m}} x_j
// (this op again, on the line without m).
struct ProdGrad {
  static constexpr std::string_view name = "prod_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& x) const {
    ctx.save(gy, x);
    return kernels::prod_axis_backward(x, gy, axis);
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    auto [gy, x] = ctx.saved<2>();
    const int a = axis;
    const std::int64_t n = x.shape()[a];
    auto others = [&](const Tensor& t) { return apply(*this, ones(reduced_shape(t.shape(), a, true), t.dtype()), t); };
    Tensor g_x;
    if (ctx.needs_grad(1)) {
      std::vector<Tensor> terms;
      for (std::int64_t m = 0; m < n; ++m) {
        std::vector<Tensor> xs, gs;  // the line without m
        if (m > 0) {
          xs.push_back(narrow(x, a, 0, m));
          gs.push_back(narrow(gg, a, 0, m));
        }
        if (m + 1 < n) {
          xs.push_back(narrow(x, a, m + 1, n - m - 1));
          gs.push_back(narrow(gg, a, m + 1, n - m - 1));
        }
        terms.push_back(xs.empty() ? zeros_like(gy) : gy * sum(cat(gs, a) * others(cat(xs, a)), a, true));
      }
      g_x = cat(terms, a);
    }
    return {ctx.needs_grad(0) ? sum(gg * others(x), a, true) : Tensor{}, g_x};
  }
};

// prod along one axis (kept): y = Π x; gx = gy · Π_{j≠k} x_j. Saves x.
struct Prod {
  static constexpr std::string_view name = "prod";
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return kernels::prod_axis(x, normalize_axis(name, axis, x.shape()));
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& x = ctx.saved(0);
    const int a = normalize_axis(name, axis, x.shape());
    return {apply(ProdGrad{a}, gy, x)};
  }
};

}  // namespace ops

Tensor sum(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  if (x.defined() && x.dtype() == b8) return sum(x.to(f64), axes, keepdim).to(i64);  // a count, as ops/reductions.cpp
  check_floating("sum", x);
  const std::vector<int> as = reduction_axes("sum", axes, x.shape());
  return over_axes(x, as, keepdim, [](const Tensor& t, int a) { return sum(t, a, true); });
}

Tensor mean(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  check_floating("mean", x);
  const std::vector<int> as = reduction_axes("mean", axes, x.shape());
  const std::int64_t n = count_of(x.shape(), as);
  if (n == 0) throw ValueError(fmt::format("mean: the axes [{}] of {} hold no elements", fmt::join(as, ", "), x.shape()));
  return sum(x, as, keepdim) * (1.0 / static_cast<double>(n));
}

Tensor amax(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return apply(ops::Extreme<true>{.axes = axes, .keepdim = keepdim}, x);
}
Tensor amin(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  return apply(ops::Extreme<false>{.axes = axes, .keepdim = keepdim}, x);
}

ValuesIndices max_with_indices(const Tensor& x, int axis, bool keepdim) {
  auto [v, i] = apply(ops::ExtremeWithIndices<true>{.axis = axis, .keepdim = keepdim}, x);
  return {v, i};
}
ValuesIndices min_with_indices(const Tensor& x, int axis, bool keepdim) {
  auto [v, i] = apply(ops::ExtremeWithIndices<false>{.axis = axis, .keepdim = keepdim}, x);
  return {v, i};
}
Tensor min(const Tensor& x, int axis, bool keepdim) { return min_with_indices(x, axis, keepdim).values; }

Tensor argmin(const Tensor& x, int axis) {
  check_floating("argmin", x);
  const int a = normalize_axis("argmin", axis, x.shape());
  if (x.shape()[a] == 0) throw ValueError(fmt::format("argmin: axis {} of {} is empty", axis, x.shape()));
  Tensor idx;
  kernels::extreme_axis(x, a, false, &idx);
  return idx.reshape(reduced_shape(x.shape(), a, false));
}

Tensor logsumexp(const Tensor& x, const std::vector<int>& axes, bool keepdim) {
  check_floating("logsumexp", x);
  const std::vector<int> as = reduction_axes("logsumexp", axes, x.shape());
  // Over several axes, one at a time: log Σ_{a,b} e^x = log Σ_b e^{log Σ_a e^x}.
  return over_axes(x, as, keepdim, [](const Tensor& t, int a) { return apply(ops::LogSumExp{.axis = a}, t); });
}

Tensor var(const Tensor& x, const std::vector<int>& axes, double correction, bool keepdim) {
  check_floating("var", x);
  if (!std::isfinite(correction)) throw ValueError(fmt::format("var: correction must be a finite number, got {}", correction));
  const std::vector<int> as = reduction_axes("var", axes, x.shape());
  const double n = static_cast<double>(count_of(x.shape(), as));
  if (n == 0) throw ValueError(fmt::format("var: the axes [{}] of {} hold no elements", fmt::join(as, ", "), x.shape()));
  const Tensor d = x - mean(x, as, true);
  return sum(d * d, as, keepdim) / (n - correction);  // n ≤ correction: inf or NaN, as PyTorch
}
Tensor std(const Tensor& x, const std::vector<int>& axes, double correction, bool keepdim) {
  return sqrt(var(x, axes, correction, keepdim));
}

Tensor norm(const Tensor& x, double p, const std::vector<int>& axes, bool keepdim) {
  check_floating("norm", x);
  const std::vector<int> as = reduction_axes("norm", axes, x.shape());
  const auto done = [&](const Tensor& kept) { return keepdim ? kept : kept.reshape(reduced(x.shape(), as, false)); };
  if (p == 2) return done(apply(ops::Norm2{.axes = as}, x));
  if (p == 1) return sum(abs(x), as, keepdim);
  if (std::isinf(p) && p > 0) {
    if (count_of(x.shape(), as) == 0) {
      throw ValueError(fmt::format("norm: the axes [{}] of {} hold no elements; the infinity norm (their largest magnitude) "
                                   "needs one", fmt::join(as, ", "), x.shape()));
    }
    return amax(abs(x), as, keepdim);
  }
  if (!(p > 0)) throw ValueError(fmt::format("norm: p must be positive (or infinity), got {}", p));
  return pow(sum(pow(abs(x), p), as, keepdim), 1.0 / p);
}

Tensor prod(const Tensor& x) { return apply(ops::Prod{.axis = 0}, x.reshape({-1})).reshape({}); }
Tensor prod(const Tensor& x, int axis, bool keepdim) {
  Tensor y = apply(ops::Prod{.axis = axis}, x);
  return keepdim ? y : y.reshape(reduced_shape(x.shape(), normalize_axis("prod", axis, x.shape()), false));
}

}  // namespace nabla
