// ops/reductions.cpp — sum and mean (of everything, or along an axis), max and argmax along an axis.
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "../src/kernels/kernels.hpp"

namespace nabla {
namespace {

int normalize_axis(std::string_view op, int axis, const Shape& s) {
  const int a = axis < 0 ? axis + s.rank() : axis;
  if (a < 0 || a >= s.rank()) {
    throw ValueError(fmt::format("{}: axis {} is out of range for a tensor of shape {}", op, axis, s));
  }
  return a;
}

Shape reduced_shape(const Shape& s, int axis, bool keepdim) {
  Shape out;
  for (int d = 0; d < s.rank(); ++d) {
    if (d != axis) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

}  // namespace

namespace ops {

// sum: y = Σ_i x_i, a 0-d tensor. gx = gy everywhere.
struct Sum {
  static constexpr std::string_view name = "sum";
  Tensor forward(Context&, const Tensor& x) const {
    kernels::check_floating(name, x);
    return scalar(kernels::sum_all(x), x.dtype());
  }
  Grads backward(Context&, const Tensor& gy) const { return {full(x_shape, gy.item(), gy.dtype())}; }
  Shape x_shape;
};

// sum along axis: y[o, i] = Σ_k x[o, k, i]. gx[o, k, i] = gy[o, i].
struct SumAxis {
  static constexpr std::string_view name = "sum";
  int axis;
  bool keepdim;
  Shape x_shape;
  Tensor forward(Context&, const Tensor& x) const {
    kernels::check_floating(name, x);
    return kernels::sum_axis(x, axis, reduced_shape(x.shape(), axis, keepdim));
  }
  Grads backward(Context&, const Tensor& gy) const { return {kernels::expand_axis(gy, axis, x_shape)}; }
};

// max along axis: y[o, i] = max_k x[o, k, i]. The gradient goes to the first maximum (ties are
// rare in real data; gradient checks keep inputs free of them). Saves x to find the maxima again.
struct MaxAxis {
  static constexpr std::string_view name = "max";
  int axis;
  bool keepdim;
  Tensor forward(Context& ctx, const Tensor& x) const {
    kernels::check_floating(name, x);
    if (x.shape()[axis] == 0) throw ValueError(fmt::format("max: axis {} of {} is empty", axis, x.shape()));
    ctx.save(x);
    return kernels::max_axis(x, axis, reduced_shape(x.shape(), axis, keepdim));
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {kernels::max_axis_backward(ctx.saved(0), gy, axis)};
  }
};

}  // namespace ops

Tensor sum(const Tensor& x) { return apply(ops::Sum{.x_shape = x.shape()}, x); }

Tensor sum(const Tensor& x, int axis, bool keepdim) {
  const int a = normalize_axis("sum", axis, x.shape());
  return apply(ops::SumAxis{.axis = a, .keepdim = keepdim, .x_shape = x.shape()}, x);
}

Tensor mean(const Tensor& x) {
  if (x.numel() == 0) throw ValueError(fmt::format("mean: tensor {} is empty", x.shape()));
  return sum(x) * (1.0 / static_cast<double>(x.numel()));
}

Tensor mean(const Tensor& x, int axis, bool keepdim) {
  const int a = normalize_axis("mean", axis, x.shape());
  if (x.shape()[a] == 0) throw ValueError(fmt::format("mean: axis {} of {} is empty", axis, x.shape()));
  return sum(x, a, keepdim) * (1.0 / static_cast<double>(x.shape()[a]));
}

Tensor max(const Tensor& x, int axis, bool keepdim) {
  return apply(ops::MaxAxis{.axis = normalize_axis("max", axis, x.shape()), .keepdim = keepdim}, x);
}

Tensor argmax(const Tensor& x, int axis) {
  kernels::check_floating("argmax", x);
  const int a = normalize_axis("argmax", axis, x.shape());
  if (x.shape()[a] == 0) throw ValueError(fmt::format("argmax: axis {} of {} is empty", axis, x.shape()));
  return kernels::argmax_axis(x, a, reduced_shape(x.shape(), a, false));
}

}  // namespace nabla
