// ops/math.cpp — elementwise exp, log, square, sqrt, abs, pow (scalar exponent).
#include <cmath>

#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

// exp: y = e^x. dy/dx = y, so save y.
struct Exp {
  static constexpr std::string_view name = "exp";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return std::exp(v); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {gy * ctx.saved(0)}; }
};

// log: y = ln x. dy/dx = 1/x, so save x.
struct Log {
  static constexpr std::string_view name = "log";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::log(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {gy / ctx.saved(0)}; }
};

// square: y = x². dy/dx = 2x, so save x.
struct Square {
  static constexpr std::string_view name = "square";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return v * v; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return 2 * v * g; })};
  }
};

// sqrt: y = √x. dy/dx = 1/(2y), so save y.
struct Sqrt {
  static constexpr std::string_view name = "sqrt";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return std::sqrt(v); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return g / (2 * v); })};
  }
};

// abs: y = |x|. dy/dx = sgn(x), taken as 0 at x = 0 (a kink: gradient checks keep away from it).
struct Abs {
  static constexpr std::string_view name = "abs";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::abs(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto v) {
      using T = decltype(v);
      return v > T(0) ? g : (v < T(0) ? -g : T(0));
    })};
  }
};

// pow: y = x^p for a scalar p. dy/dx = p x^(p−1), so save x.
struct Pow {
  static constexpr std::string_view name = "pow";
  double p;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [p = p](auto v) { using T = decltype(v); return std::pow(v, T(p)); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [p = p](auto g, auto v) {
      using T = decltype(v);
      return g * T(p) * std::pow(v, T(p) - T(1));
    })};
  }
};

}  // namespace ops

Tensor exp(const Tensor& x) { return apply(ops::Exp{}, x); }
Tensor log(const Tensor& x) { return apply(ops::Log{}, x); }
Tensor square(const Tensor& x) { return apply(ops::Square{}, x); }
Tensor sqrt(const Tensor& x) { return apply(ops::Sqrt{}, x); }
Tensor abs(const Tensor& x) { return apply(ops::Abs{}, x); }
Tensor pow(const Tensor& x, double p) { return apply(ops::Pow{.p = p}, x); }

}  // namespace nabla
