// ops/elementwise.cpp — add, sub, mul, div, maximum, minimum with NumPy broadcasting; the scalar forms
// of the first four; neg.
//
// Broadcasting: shapes align at the right; an axis of size 1 (or a missing one) stretches. The
// gradient of a broadcast input is the output gradient summed back over the stretched axes, by
// sum_to — the one place where that reduction happens.
#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

// sum_to: y = x summed over the axes where `shape` broadcasts to x.shape(). dy/dx repeats gy.
struct SumTo {
  static constexpr std::string_view name = "sum_to";
  static constexpr bool differentiable_backward = true;
  Shape shape;
  Tensor forward(Context&, const Tensor& x) const {
    check_floating_or_bf16(name, x);
    if (broadcast_shape(shape, x.shape(), name) != x.shape()) {
      throw ShapeError(fmt::format("sum_to: {} does not broadcast to {}", shape, x.shape()));
    }
    return x.shape() == shape ? x : kernels::sum_to(x, shape);
  }
  Grads backward(Context& ctx, const Tensor& gy) const;
};

// sum_to's backward op: gy broadcast over x's shape, one loop. It is linear; its derivative is sum_to.
struct SumToBackward {
  static constexpr std::string_view name = "sum_to_backward";
  static constexpr bool differentiable_backward = true;
  Shape shape;
  Tensor forward(Context&, const Tensor& gy) const {
    return broadcast_zip(gy, zeros({}, gy.dtype()), shape, [](auto g, auto) { return g; });
  }
  Grads backward(Context& ctx, const Tensor& gg) const { return {sum_to(gg, ctx.input_shape(0))}; }
};
inline Grads SumTo::backward(Context& ctx, const Tensor& gy) const {
  return {apply(SumToBackward{ctx.input_shape(0)}, gy)};
}

/// Checks dtypes and returns the broadcast shape of a binary op.
Shape binary_shape(std::string_view op, const Tensor& a, const Tensor& b) {
  check_floating_or_bf16(op, a);
  check_same_dtype(op, a, b);
  return broadcast_shape(a.shape(), b.shape(), op);
}

/// The gradient of input i of a binary op from g (the output's shape): summed back to its shape.
Tensor reduce_to_input(const Context& ctx, std::size_t i, const Tensor& g) {
  return ctx.needs_grad(i) ? sum_to(g, ctx.input_shape(i)) : Tensor{};
}

// add: y = a + b. ga = sum_to(gy), gb = sum_to(gy).
struct Add {
  static constexpr std::string_view name = "add";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& a, const Tensor& b) const {
    const Shape out = binary_shape(name, a, b);
    return kernels::add(a, b, out);
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {reduce_to_input(ctx, 0, gy), reduce_to_input(ctx, 1, gy)};
  }
};

// sub: y = a − b. ga = sum_to(gy), gb = −sum_to(gy).
struct Sub {
  static constexpr std::string_view name = "sub";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& a, const Tensor& b) const {
    const Shape out = binary_shape(name, a, b);
    return kernels::sub(a, b, out);
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {reduce_to_input(ctx, 0, gy), ctx.needs_grad(1) ? neg(sum_to(gy, ctx.input_shape(1))) : Tensor{}};
  }
};

// mul: y = a ⊙ b. ga = sum_to(gy ⊙ b), gb = sum_to(gy ⊙ a). Saves a and b.
struct Mul {
  static constexpr std::string_view name = "mul";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    const Shape out = binary_shape(name, a, b);
    ctx.save(ctx.needs_grad(1) ? a : Tensor{}, ctx.needs_grad(0) ? b : Tensor{});
    return kernels::mul(a, b, out);
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, b] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? sum_to(gy * b, ctx.input_shape(0)) : Tensor{},
            ctx.needs_grad(1) ? sum_to(gy * a, ctx.input_shape(1)) : Tensor{}};
  }
};

// div: y = a / b. ga = sum_to(gy / b), gb = −sum_to(gy ⊙ y / b). Saves b and y.
struct Div {
  static constexpr std::string_view name = "div";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    const Shape out = binary_shape(name, a, b);
    Tensor y = kernels::div(a, b, out);
    ctx.save(b, ctx.needs_grad(1) ? y : Tensor{});
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [b, y] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? sum_to(gy / b, ctx.input_shape(0)) : Tensor{},
            ctx.needs_grad(1) ? neg(sum_to(gy * y / b, ctx.input_shape(1))) : Tensor{}};
  }
};

// maximum / minimum: y = the larger (smaller) of a and b. The gradient goes to the one taken; at a
// tie each gets half of it (PyTorch's rule). Saves a and b.
template <bool kMax>
struct Extremum {
  static constexpr std::string_view name = kMax ? "maximum" : "minimum";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    const Shape out = binary_shape(name, a, b);
    ctx.save(a, b);
    return broadcast_zip(a, b, out, [](auto x, auto y) { return (kMax ? x > y : x < y) || x != x ? x : y; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, b] = ctx.saved<2>();
    // The share of the gradient that a gets: 1 where it was taken, 1/2 at a tie, else 0.
    const Tensor share = broadcast_zip(a, b, gy.shape(), [](auto x, auto y) {
      using T = decltype(x);
      return (kMax ? x > y : x < y) ? T(1) : x == y ? T(0.5) : T(0);
    });
    return {ctx.needs_grad(0) ? sum_to(gy * share, ctx.input_shape(0)) : Tensor{},
            ctx.needs_grad(1) ? sum_to(gy * (1.0 - share), ctx.input_shape(1)) : Tensor{}};
  }
};

// add_scalar: y = a + c. ga = gy.
struct AddScalar {
  static constexpr std::string_view name = "add_scalar";
  void trace(detail::TraceAttrs& a) const { a.floats("c", {c}); }
  static constexpr bool differentiable_backward = true;
  double c;
  Tensor forward(Context&, const Tensor& a) const {
    check_floating_or_bf16(name, a);
    return map(a, [c = c](auto x) { using T = decltype(x); return x + T(c); });
  }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};

// mul_scalar: y = c · a. ga = c · gy.
struct MulScalar {
  static constexpr std::string_view name = "mul_scalar";
  void trace(detail::TraceAttrs& a) const { a.floats("c", {c}); }
  static constexpr bool differentiable_backward = true;
  double c;
  Tensor forward(Context&, const Tensor& a) const {
    check_floating_or_bf16(name, a);
    return map(a, [c = c](auto x) { using T = decltype(x); return T(c) * x; });
  }
  Grads backward(Context&, const Tensor& gy) const { return {gy * c}; }
};

// rsub: y = c − a. ga = −gy.
struct RsubScalar {
  static constexpr std::string_view name = "rsub_scalar";
  void trace(detail::TraceAttrs& a) const { a.floats("c", {c}); }
  static constexpr bool differentiable_backward = true;
  double c;
  Tensor forward(Context&, const Tensor& a) const {
    check_floating_or_bf16(name, a);
    return map(a, [c = c](auto x) { using T = decltype(x); return T(c) - x; });
  }
  Grads backward(Context&, const Tensor& gy) const { return {neg(gy)}; }
};

// rdiv: y = c / a. ga = −gy ⊙ (c / a) / a, through its backward op (backward_ops.hpp),
// whose own derivative in a is 2c / a³. Saves a.
struct RdivScalar {
  static constexpr std::string_view name = "rdiv_scalar";
  void trace(detail::TraceAttrs& a) const { a.floats("c", {c}); }
  static constexpr bool differentiable_backward = true;
  double c;
  Tensor forward(Context& ctx, const Tensor& a) const {
    check_floating(name, a);
    ctx.save(a);
    return map(a, [c = c](auto x) { using T = decltype(x); return T(c) / x; });
  }
  struct Derivative {
    static constexpr std::string_view name = "rdiv_scalar_backward";
    double c;
    auto grad(auto g, auto x) const { using T = decltype(x); return -g * (T(c) / x) / x; }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& a) const { return gg * gy * pow(a, -3) * (2 * c); }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{c}, gy, ctx.saved(0))}; }
};

// neg: y = −a. ga = −gy.
struct Neg {
  static constexpr std::string_view name = "neg";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& a) const {
    check_floating_or_bf16(name, a);
    return map(a, [](auto x) { return -x; });
  }
  Grads backward(Context&, const Tensor& gy) const { return {neg(gy)}; }
};

}  // namespace ops

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return apply(ops::SumTo{.shape = shape}, x);
}

Tensor add(const Tensor& a, const Tensor& b) { return apply(ops::Add{}, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return apply(ops::Sub{}, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return apply(ops::Mul{}, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return apply(ops::Div{}, a, b); }
Tensor add(const Tensor& a, double c) { return apply(ops::AddScalar{.c = c}, a); }
Tensor mul(const Tensor& a, double c) { return apply(ops::MulScalar{.c = c}, a); }
Tensor rsub(const Tensor& a, double c) { return apply(ops::RsubScalar{.c = c}, a); }
Tensor rdiv(const Tensor& a, double c) { return apply(ops::RdivScalar{.c = c}, a); }
Tensor neg(const Tensor& a) { return apply(ops::Neg{}, a); }
Tensor maximum(const Tensor& a, const Tensor& b) { return apply(ops::Extremum<true>{}, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return apply(ops::Extremum<false>{}, a, b); }

}  // namespace nabla
