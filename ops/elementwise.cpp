// ops/elementwise.cpp — add, sub, mul, div with NumPy broadcasting; their scalar forms; neg.
//
// Broadcasting: shapes align at the right; an axis of size 1 (or a missing one) stretches. The
// gradient of a broadcast input is the output gradient summed back over the stretched axes, by
// sum_to — the one place where that reduction happens.
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "../src/kernels/kernels.hpp"

namespace nabla {

Shape broadcast_shape(const Shape& a, const Shape& b, std::string_view op) {
  if (a == b) return a;
  const int r = std::max(a.rank(), b.rank());
  Shape out;
  for (int d = 0; d < r; ++d) {
    const int da = d - (r - a.rank()), db = d - (r - b.rank());
    const std::int64_t x = da >= 0 ? a[da] : 1, y = db >= 0 ? b[db] : 1;
    if (x != y && x != 1 && y != 1) {
      throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast: axis {} has {} and {}", op, a, b,
                                   d, x, y));
    }
    out.push_back(x == 1 ? y : x);
  }
  return out;
}

namespace ops {

// sum_to: y = x summed over the axes where `shape` broadcasts to x.shape(). dy/dx repeats gy.
struct SumTo {
  static constexpr std::string_view name = "sum_to";
  Shape shape;
  Tensor forward(Context&, const Tensor& x) const {
    kernels::check_floating(name, x);
    if (broadcast_shape(shape, x.shape(), name) != x.shape()) {
      throw ShapeError(fmt::format("sum_to: {} does not broadcast to {}", shape, x.shape()));
    }
    return x.shape() == shape ? x : kernels::sum_to(x, shape);
  }
  Grads backward(Context&, const Tensor& gy) const {
    // gx = gy broadcast over x's shape: added to zeros of that shape.
    return {kernels::broadcast_zip(gy, zeros({}, gy.dtype()), expanded_, [](auto g, auto) { return g; })};
  }
  Shape expanded_;  // x's shape, set by sum_to() below
};

}  // namespace ops

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return apply(ops::SumTo{.shape = shape, .expanded_ = x.shape()}, x);
}

namespace ops {

/// Checks dtypes and returns the broadcast shape of a binary op.
Shape binary_shape(std::string_view op, const Tensor& a, const Tensor& b) {
  kernels::check_floating(op, a);
  kernels::check_same_dtype(op, a, b);
  return broadcast_shape(a.shape(), b.shape(), op);
}

// add: y = a + b. ga = sum_to(gy), gb = sum_to(gy).
struct Add {
  static constexpr std::string_view name = "add";
  Tensor forward(Context&, const Tensor& a, const Tensor& b) const {
    return kernels::broadcast_zip(a, b, binary_shape(name, a, b), [](auto x, auto y) { return x + y; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {ctx.needs_grad(0) ? sum_to(gy, a_shape) : Tensor{}, ctx.needs_grad(1) ? sum_to(gy, b_shape) : Tensor{}};
  }
  Shape a_shape, b_shape;
};

// sub: y = a − b. ga = sum_to(gy), gb = −sum_to(gy).
struct Sub {
  static constexpr std::string_view name = "sub";
  Tensor forward(Context&, const Tensor& a, const Tensor& b) const {
    return kernels::broadcast_zip(a, b, binary_shape(name, a, b), [](auto x, auto y) { return x - y; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {ctx.needs_grad(0) ? sum_to(gy, a_shape) : Tensor{},
            ctx.needs_grad(1) ? neg(sum_to(gy, b_shape)) : Tensor{}};
  }
  Shape a_shape, b_shape;
};

// mul: y = a ⊙ b. ga = sum_to(gy ⊙ b), gb = sum_to(gy ⊙ a). Saves a and b.
struct Mul {
  static constexpr std::string_view name = "mul";
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    const Shape out = binary_shape(name, a, b);
    ctx.save(ctx.needs_grad(1) ? a : Tensor{}, ctx.needs_grad(0) ? b : Tensor{});
    return kernels::broadcast_zip(a, b, out, [](auto x, auto y) { return x * y; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, b] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? sum_to(gy * b, a_shape) : Tensor{},
            ctx.needs_grad(1) ? sum_to(gy * a, b_shape) : Tensor{}};
  }
  Shape a_shape, b_shape;
};

// div: y = a / b. ga = sum_to(gy / b), gb = −sum_to(gy ⊙ y / b). Saves b and y.
struct Div {
  static constexpr std::string_view name = "div";
  Tensor forward(Context& ctx, const Tensor& a, const Tensor& b) const {
    Tensor y = kernels::broadcast_zip(a, b, binary_shape(name, a, b), [](auto x, auto z) { return x / z; });
    ctx.save(b, ctx.needs_grad(1) ? y : Tensor{});
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [b, y] = ctx.saved<2>();
    return {ctx.needs_grad(0) ? sum_to(gy / b, a_shape) : Tensor{},
            ctx.needs_grad(1) ? neg(sum_to(gy * y / b, b_shape)) : Tensor{}};
  }
  Shape a_shape, b_shape;
};

// add_scalar: y = a + c. ga = gy.
struct AddScalar {
  static constexpr std::string_view name = "add_scalar";
  double c;
  Tensor forward(Context&, const Tensor& a) const {
    return kernels::dispatch_float(a.dtype(), name, [&](auto tag) {
      const auto v = static_cast<decltype(tag)>(c);
      return kernels::map(a, [v](auto x) { return x + v; });
    });
  }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};

// mul_scalar: y = c · a. ga = c · gy.
struct MulScalar {
  static constexpr std::string_view name = "mul_scalar";
  double c;
  Tensor forward(Context&, const Tensor& a) const {
    return kernels::dispatch_float(a.dtype(), name, [&](auto tag) {
      const auto v = static_cast<decltype(tag)>(c);
      return kernels::map(a, [v](auto x) { return v * x; });
    });
  }
  Grads backward(Context&, const Tensor& gy) const { return {gy * c}; }
};

// rsub: y = c − a. ga = −gy.
struct RsubScalar {
  static constexpr std::string_view name = "rsub_scalar";
  double c;
  Tensor forward(Context&, const Tensor& a) const {
    return kernels::dispatch_float(a.dtype(), name, [&](auto tag) {
      const auto v = static_cast<decltype(tag)>(c);
      return kernels::map(a, [v](auto x) { return v - x; });
    });
  }
  Grads backward(Context&, const Tensor& gy) const { return {neg(gy)}; }
};

// rdiv: y = c / a. ga = −gy ⊙ y / a. Saves a and y.
struct RdivScalar {
  static constexpr std::string_view name = "rdiv_scalar";
  double c;
  Tensor forward(Context& ctx, const Tensor& a) const {
    Tensor y = kernels::dispatch_float(a.dtype(), name, [&](auto tag) {
      const auto v = static_cast<decltype(tag)>(c);
      return kernels::map(a, [v](auto x) { return v / x; });
    });
    ctx.save(a, y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [a, y] = ctx.saved<2>();
    return {kernels::zip3(gy, y, a, [](auto g, auto v, auto x) { return -g * v / x; })};
  }
};

// neg: y = −a. ga = −gy.
struct Neg {
  static constexpr std::string_view name = "neg";
  Tensor forward(Context&, const Tensor& a) const {
    kernels::check_floating(name, a);
    return kernels::map(a, [](auto x) { return -x; });
  }
  Grads backward(Context&, const Tensor& gy) const { return {neg(gy)}; }
};

}  // namespace ops

Tensor add(const Tensor& a, const Tensor& b) { return apply(ops::Add{.a_shape = a.shape(), .b_shape = b.shape()}, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return apply(ops::Sub{.a_shape = a.shape(), .b_shape = b.shape()}, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return apply(ops::Mul{.a_shape = a.shape(), .b_shape = b.shape()}, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return apply(ops::Div{.a_shape = a.shape(), .b_shape = b.shape()}, a, b); }
Tensor add(const Tensor& a, double c) { return apply(ops::AddScalar{.c = c}, a); }
Tensor mul(const Tensor& a, double c) { return apply(ops::MulScalar{.c = c}, a); }
Tensor rsub(const Tensor& a, double c) { return apply(ops::RsubScalar{.c = c}, a); }
Tensor rdiv(const Tensor& a, double c) { return apply(ops::RdivScalar{.c = c}, a); }
Tensor neg(const Tensor& a) { return apply(ops::Neg{}, a); }

}  // namespace nabla
