// ops/reductions.cpp — sum and mean (of everything, or along an axis), max and argmax along an axis.
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

// Each backward here is an op of its own, with one fused loop and a derivative of its own.

// sum's backward op: the 0-d gy repeated over x's shape (a fill). Linear; its adjoint is sum.
struct SumGrad {
  static constexpr std::string_view name = "sum_backward";
  static constexpr bool differentiable_backward = true;
  Shape x_shape;
  Tensor forward(Context&, const Tensor& gy) const { return full(x_shape, gy.item(), gy.dtype()); }
  Grads backward(Context&, const Tensor& gg) const { return {sum(gg)}; }
};

// sum along an axis' backward op: gy repeated along the axis. Linear; its adjoint is that sum.
struct SumAxisGrad {
  static constexpr std::string_view name = "sum_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  bool keepdim;
  Shape x_shape;
  Tensor forward(Context&, const Tensor& gy) const { return kernels::expand_axis(gy, axis, x_shape); }
  Grads backward(Context&, const Tensor& gg) const { return {sum(gg, axis, keepdim)}; }
};

// max along an axis' backward op: gy at the first maximum of each line of x, 0 elsewhere. Linear in
// gy, and its adjoint reads gg at those maxima; a step in x (no derivative there, away from ties).
struct MaxAxisGrad {
  static constexpr std::string_view name = "max_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  bool keepdim;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& x) const {
    ctx.save(x);
    return kernels::max_axis_backward(x, gy, axis);
  }
  Grads backward(Context& ctx, const Tensor& gg) const {
    if (!ctx.needs_grad(0)) return {Tensor{}, Tensor{}};
    const Tensor x = ctx.saved(0).detach();
    const Tensor at_max = kernels::max_axis_backward(x, ones(reduced_shape(x.shape(), axis, keepdim), x.dtype()), axis);
    return {sum(gg * at_max, axis, keepdim), Tensor{}};
  }
};

// sum: y = Σ_i x_i, a 0-d tensor. gx = gy everywhere.
struct Sum {
  static constexpr std::string_view name = "sum";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& x) const {
    check_floating_or_bf16(name, x);
    if (x.dtype() == Dtype::bf16) return scalar(kernels::sum_all(detail::widen_bf16(x)), bf16);  // summed in double, rounded once
    return scalar(kernels::sum_all(x), x.dtype());
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {apply(SumGrad{ctx.input_shape(0)}, gy)};
  }
};

// sum along axis: y[o, i] = Σ_k x[o, k, i]. gx[o, k, i] = gy[o, i].
struct SumAxis {
  static constexpr std::string_view name = "sum";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); a.flag("keepdim", keepdim); }
  static constexpr bool differentiable_backward = true;
  int axis;
  bool keepdim;
  Tensor forward(Context&, const Tensor& x) const {
    check_floating_or_bf16(name, x);
    const int a = normalize_axis(name, axis, x.shape());
    if (x.dtype() == Dtype::bf16) {  // summed in float32, each sum rounded once
      return detail::narrow_to_bf16(kernels::sum_axis(detail::widen_bf16(x), a, reduced_shape(x.shape(), a, keepdim)));
    }
    return kernels::sum_axis(x, a, reduced_shape(x.shape(), a, keepdim));
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Shape& x_shape = ctx.input_shape(0);
    return {apply(SumAxisGrad{normalize_axis(name, axis, x_shape), keepdim, x_shape}, gy)};
  }
};

// max along axis: y[o, i] = max_k x[o, k, i]. The gradient goes to the first maximum (ties are
// rare in real data; gradient checks keep inputs free of them). Saves x to find the maxima again.
struct MaxAxis {
  static constexpr std::string_view name = "max";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); a.flag("keepdim", keepdim); }
  static constexpr bool differentiable_backward = true;
  int axis;
  bool keepdim;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    const int a = normalize_axis(name, axis, x.shape());
    if (x.shape()[a] == 0) throw ValueError(fmt::format("max: axis {} of {} is empty", a, x.shape()));
    ctx.save(x);
    return kernels::max_axis(x, a, reduced_shape(x.shape(), a, keepdim));
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const int a = normalize_axis(name, axis, ctx.input_shape(0));
    return {apply(MaxAxisGrad{a, keepdim}, gy, ctx.saved(0))};
  }
};

}  // namespace ops

// A bool tensor sums to an int64 count, as PyTorch's (pred.eq(t).sum()): summed in float64, exact for
// every count a tensor can hold (at most 2^40 elements), then converted.
Tensor sum(const Tensor& x) {
  if (x.defined() && x.dtype() == b8) return sum(x.to(f64)).to(i64);
  return apply(ops::Sum{}, x);
}

Tensor sum(const Tensor& x, int axis, bool keepdim) {
  if (x.defined() && x.dtype() == b8) return sum(x.to(f64), axis, keepdim).to(i64);
  return apply(ops::SumAxis{.axis = axis, .keepdim = keepdim}, x);
}

Tensor mean(const Tensor& x) {
  check_defined("mean", {&x});
  check_floating_or_bf16("mean", x);
  if (x.numel() == 0) throw ValueError(fmt::format("mean: tensor {} is empty", x.shape()));
  return sum(x) * (1.0 / static_cast<double>(x.numel()));
}

Tensor mean(const Tensor& x, int axis, bool keepdim) {
  check_defined("mean", {&x});
  check_floating_or_bf16("mean", x);
  const int a = normalize_axis("mean", axis, x.shape());
  if (x.shape()[a] == 0) throw ValueError(fmt::format("mean: axis {} of {} is empty", axis, x.shape()));
  return sum(x, a, keepdim) * (1.0 / static_cast<double>(x.shape()[a]));
}

Tensor max(const Tensor& x, int axis, bool keepdim) {
  return apply(ops::MaxAxis{.axis = axis, .keepdim = keepdim}, x);
}

Tensor argmax(const Tensor& x, int axis) {
  check_floating("argmax", x);
  const int a = normalize_axis("argmax", axis, x.shape());
  if (x.shape()[a] == 0) throw ValueError(fmt::format("argmax: axis {} of {} is empty", axis, x.shape()));
  return kernels::argmax_axis(x, a, reduced_shape(x.shape(), a, false));
}

}  // namespace nabla
