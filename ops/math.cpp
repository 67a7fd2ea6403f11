// ops/math.cpp — elementwise math: exp, log, square, sqrt, abs, pow (scalar exponent), log1p, expm1,
// sin, cos, sign, reciprocal, rsqrt, erf, clamp. Each saves what its derivative needs.
#include <cmath>
#include <limits>
#include <numbers>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

// exp: y = e^x (float32 at avx2 and avx512 level: kernels::exp, within 2 ulp). dy/dx = y, so save y.
struct Exp {
  static constexpr std::string_view name = "exp";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = kernels::exp(x);
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {gy * ctx.saved(0)}; }
};

// log: y = ln x. dy/dx = 1/x, so save x.
struct Log {
  static constexpr std::string_view name = "log";
  static constexpr bool differentiable_backward = true;
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
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return v * v; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * ctx.saved(0) * 2.0};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return 2 * v * g; })};
  }
};

// sqrt: y = √x. dy/dx = 1/(2y), so save y.
struct Sqrt {
  static constexpr std::string_view name = "sqrt";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return std::sqrt(v); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy / (ctx.saved(0) * 2.0)};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return g / (2 * v); })};
  }
};

// abs: y = |x|. dy/dx = sgn(x), taken as 0 at x = 0 (a kink: gradient checks keep away from it).
struct Abs {
  static constexpr std::string_view name = "abs";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::abs(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * sign(ctx.saved(0))};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) {
      using T = decltype(v);
      return v > T(0) ? g : (v < T(0) ? -g : T(0));
    })};
  }
};

// pow: y = x^p for a scalar p. dy/dx = p x^(p−1), so save x.
struct Pow {
  static constexpr std::string_view name = "pow";
  static constexpr bool differentiable_backward = true;
  double p;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [p = p](auto v) { using T = decltype(v); return std::pow(v, T(p)); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * (pow(ctx.saved(0), p - 1) * p)};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [p = p](auto g, auto v) {
      using T = decltype(v);
      return g * T(p) * std::pow(v, T(p) - T(1));
    })};
  }
};

// log1p: y = ln(1 + x), exact for small x. dy/dx = 1 / (1 + x); save x.
struct Log1p {
  static constexpr std::string_view name = "log1p";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::log1p(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy / (ctx.saved(0) + 1.0)};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return g / (1 + v); })};
  }
};

// expm1: y = e^x − 1, exact for small x. dy/dx = y + 1; save y.
struct Expm1 {
  static constexpr std::string_view name = "expm1";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return std::expm1(v); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * (ctx.saved(0) + 1.0)};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto y) { return g * (y + 1); })};
  }
};

// sin: dy/dx = cos x; cos: dy/dx = −sin x. Save x.
struct Sin {
  static constexpr std::string_view name = "sin";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::sin(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * cos(ctx.saved(0))};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return g * std::cos(v); })};
  }
};
struct Cos {
  static constexpr std::string_view name = "cos";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::cos(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {-(gy * sin(ctx.saved(0)))};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return -g * std::sin(v); })};
  }
};

// sign: −1, 0 or 1 (NaN stays NaN). Its gradient is 0 everywhere (as PyTorch's).
struct Sign {
  static constexpr std::string_view name = "sign";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context&, const Tensor& x) const {
    check_floating(name, x);
    return map(x, [](auto v) {
      using T = decltype(v);
      return v > T(0) ? T(1) : v < T(0) ? T(-1) : v;  // keeps ±0 and NaN
    });
  }
  Grads backward(Context&, const Tensor& gy) const { return {zeros_like(gy)}; }
};

// reciprocal: y = 1/x. dy/dx = −y²; save y.
struct Reciprocal {
  static constexpr std::string_view name = "reciprocal";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return 1 / v; });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {-(gy * ctx.saved(0) * ctx.saved(0))};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto y) { return -g * y * y; })};
  }
};

// rsqrt: y = 1/√x. dy/dx = −y³/2; save y.
struct Rsqrt {
  static constexpr std::string_view name = "rsqrt";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return 1 / std::sqrt(v); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * pow(ctx.saved(0), 3) * -0.5};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto y) { return -g * y * y * y / 2; })};
  }
};

// erf: the error function. dy/dx = (2/√π) e^(−x²); save x.
struct Erf {
  static constexpr std::string_view name = "erf";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::erf(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * exp(-square(ctx.saved(0))) * (std::numbers::inv_sqrtpi * 2)};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [](auto g, auto v) {
      using T = decltype(v);
      return g * T(std::numbers::inv_sqrtpi * 2) * std::exp(-v * v);
    })};
  }
};

// clamp: y = min(max(x, lo), hi), as torch.clamp (lo > hi gives hi everywhere, a NaN bound NaN). dy/dx = 1 where
// lo ≤ x ≤ hi — the ends included, as PyTorch — else 0; save x.
struct Clamp {
  static constexpr std::string_view name = "clamp";
  static constexpr bool differentiable_backward = true;
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    if (std::isnan(lo) || std::isnan(hi)) {  // a NaN bound gives NaN everywhere, as torch.clamp (gradient 0)
      return map(x, [](auto v) { return std::numeric_limits<decltype(v)>::quiet_NaN(); });
    }
    return map(x, [lo = lo, hi = hi](auto v) {
      using T = decltype(v);
      return v != v ? v : std::min(std::max(v, T(lo)), T(hi));  // NaN stays NaN
    });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) return {gy * map(ctx.saved(0), [lo = lo, hi = hi](auto v) { using T = decltype(v); return v >= T(lo) && v <= T(hi) ? T(1) : T(0); })};  // create_graph: recorded
    return {zip(gy, ctx.saved(0), [lo = lo, hi = hi](auto g, auto v) {
      using T = decltype(v);
      return v >= T(lo) && v <= T(hi) ? g : T(0);
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

Tensor log1p(const Tensor& x) { return apply(ops::Log1p{}, x); }
Tensor expm1(const Tensor& x) { return apply(ops::Expm1{}, x); }
Tensor sin(const Tensor& x) { return apply(ops::Sin{}, x); }
Tensor cos(const Tensor& x) { return apply(ops::Cos{}, x); }
Tensor sign(const Tensor& x) { return apply(ops::Sign{}, x); }
Tensor reciprocal(const Tensor& x) { return apply(ops::Reciprocal{}, x); }
Tensor rsqrt(const Tensor& x) { return apply(ops::Rsqrt{}, x); }
Tensor erf(const Tensor& x) { return apply(ops::Erf{}, x); }
Tensor clamp(const Tensor& x, double lo, double hi) { return apply(ops::Clamp{.lo = lo, .hi = hi}, x); }
Tensor clamp_min(const Tensor& x, double lo) { return apply(ops::Clamp{.lo = lo}, x); }
Tensor clamp_max(const Tensor& x, double hi) { return apply(ops::Clamp{.hi = hi}, x); }

}  // namespace nabla
