// ops/sort.cpp — order along an axis: sort, topk (values differentiable, indices int64 and not),
// and cumsum.
//
//   sort / topk: y = the (first k) values of each line in order, i = where they were;
//                gx = zeros with gy put back at i (each index once per line)
//   cumsum:      y_k = Σ_{j ≤ k} x_j; gx_j = Σ_{k ≥ j} gy_k (a cumulative sum from the end)
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

struct Sort {
  static constexpr std::string_view name = "sort";
  static constexpr bool differentiable_backward = true;
  std::string_view op = name;  // "sort" or "topk", for errors
  int axis = -1;
  bool descending = false;
  std::int64_t k = -1;  // −1: the whole line
  std::array<Tensor, 2> forward(Context& ctx, const Tensor& x) const {
    check_floating(op, x);
    if (x.dim() == 0) throw ShapeError(fmt::format("{}: expected at least 1 dimension, got a 0-d tensor", op));
    const int a = normalize_axis(op, axis, x.shape());
    const std::int64_t n = x.shape()[a];
    if (k > n || k < -1) {
      throw ValueError(fmt::format("{}: k {} is out of range for axis {} of size {}", op, k, a, n));
    }
    Tensor values, indices;
    kernels::sort_axis(x, a, descending, k < 0 ? n : k, values, indices);
    ctx.save(indices);
    return {values, indices};
  }
  Grads backward(Context& ctx, const Grads& gys) const {
    const Tensor& idx = ctx.saved(0);
    if (!gys[0].defined()) return {Tensor{}};
    const int a = normalize_axis(op, axis, ctx.input_shape(0));
    return {gather_backward(gys[0], ctx.input_shape(0), a, idx)};  // the values were gathered at idx
  }
};

// cumsum's backward op: the reversed cumsum, one pass. Linear; its adjoint is cumsum.
struct CumsumGrad {
  static constexpr std::string_view name = "cumsum_backward";
  static constexpr bool differentiable_backward = true;
  int axis;  // normalized
  Tensor forward(Context&, const Tensor& gy) const { return kernels::cumsum_axis(gy, axis, true); }
  Grads backward(Context&, const Tensor& gg) const { return {cumsum(gg, axis)}; }
};

struct Cumsum {
  static constexpr std::string_view name = "cumsum";
  static constexpr bool differentiable_backward = true;
  int axis = 0;
  Tensor forward(Context&, const Tensor& x) const {
    check_floating(name, x);
    if (x.dim() == 0) {  // as PyTorch, a 0-d tensor takes axis 0 or −1 (as if it were [1])
      normalize_axis(name, axis, 1, x.shape());
      return x.clone();
    }
    return kernels::cumsum_axis(x, normalize_axis(name, axis, x.shape()), false);
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (gy.dim() == 0) return {gy};
    return {apply(CumsumGrad{normalize_axis(name, axis, ctx.input_shape(0))}, gy)};
  }
};

}  // namespace ops

ValuesIndices sort(const Tensor& x, int axis, bool descending) {
  auto [v, i] = apply(ops::Sort{.axis = axis, .descending = descending}, x);
  return {v, i};
}
ValuesIndices topk(const Tensor& x, std::int64_t k, int axis, bool largest) {
  if (k < 0) throw ValueError(fmt::format("topk: k must not be negative, got {}", k));
  auto [v, i] = apply(ops::Sort{.op = "topk", .axis = axis, .descending = largest, .k = k}, x);
  return {v, i};
}
Tensor argsort(const Tensor& x, int axis, bool descending) { return sort(x, axis, descending).indices; }
Tensor cumsum(const Tensor& x, int axis) { return apply(ops::Cumsum{.axis = axis}, x); }

}  // namespace nabla
