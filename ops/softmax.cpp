// ops/softmax.cpp — softmax and log-softmax along the last axis (book eq. 78) or any other.
//
// Both subtract the row maximum before exponentiating, so inputs of ±1000 give exact results
// instead of inf/inf. Backward is written with nabla ops:
//   softmax:      gx = y ⊙ (gy − Σ_j gy_j y_j)          (the Jacobian ∂a_j/∂z_k = a_j (δ_jk − a_k))
//   log_softmax:  gx = gy − e^y ⊙ Σ_j gy_j
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

void check_softmax_input(std::string_view op, const Tensor& x) {
  check_floating(op, x);
  if (x.dim() == 0) throw ShapeError(fmt::format("{}: expected at least 1 dimension, got a 0-d tensor", op));
}

// softmax's backward, composed of recorded ops (one formula, differentiable to any order); also the
// derivative of softmax_cross_entropy's backward op (ops/costs.cpp).
Tensor softmax_backward(const Tensor& gy, const Tensor& y, int axis) { return y * (gy - sum(gy * y, axis, true)); }

// softmax: y_j = e^{x_j − m} / Σ_k e^{x_k − m}, m = max_k x_k, along `axis`. Saves y.
struct Softmax {
  static constexpr std::string_view name = "softmax";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); }
  static constexpr bool differentiable_backward = true;
  int axis = -1;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_softmax_input(name, x);
    const int a = normalize_axis(name, axis, x.shape());
    Tensor y = a == x.dim() - 1 ? kernels::softmax_rows(x) : kernels::softmax_axis(x, a, false);
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {softmax_backward(gy, ctx.saved(0), axis)};
  }
};

// log_softmax: y_j = x_j − m − log Σ_k e^{x_k − m}, along `axis`. Saves y.
struct LogSoftmax {
  static constexpr std::string_view name = "log_softmax";
  void trace(detail::TraceAttrs& a) const { a.ints("axis", {axis}); }
  static constexpr bool differentiable_backward = true;
  int axis = -1;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_softmax_input(name, x);
    const int a = normalize_axis(name, axis, x.shape());
    Tensor y = a == x.dim() - 1 ? kernels::log_softmax_rows(x) : kernels::softmax_axis(x, a, true);
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {gy - exp(ctx.saved(0)) * sum(gy, axis, true)};
  }
};

}  // namespace ops

Tensor softmax(const Tensor& x) { return apply(ops::Softmax{}, x); }
Tensor log_softmax(const Tensor& x) { return apply(ops::LogSoftmax{}, x); }
Tensor softmax(const Tensor& x, int axis) { return apply(ops::Softmax{.axis = axis}, x); }
Tensor log_softmax(const Tensor& x, int axis) { return apply(ops::LogSoftmax{.axis = axis}, x); }

}  // namespace nabla
