// ops/math.cpp — elementwise math: exp, log, square, sqrt, abs, pow (scalar exponent), log1p, expm1,
// sin, cos, sign, reciprocal, rsqrt, erf, clamp. Each saves what its derivative needs.
#include <cmath>
#include <limits>
#include <numbers>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

// Each op's backward is its backward op (backward_ops.hpp): f' once, as the fused loop of
// `grad`, and f'' once, in recorded ops, as `second` (gg · gy · ∂f'/∂s for the saved s).

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
  struct Derivative {  // 2x; then 2
    static constexpr std::string_view name = "square_backward";
    auto grad(auto g, auto v) const { return 2 * v * g; }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor&) const { return gg * gy * 2.0; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // 1/(2y); then ∂/∂y = −1/(2y²)
    static constexpr std::string_view name = "sqrt_backward";
    auto grad(auto g, auto v) const { return g / (2 * v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& y) const { return gg * gy / (y * y) * -0.5; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // sgn(x); then 0 (a step)
    static constexpr std::string_view name = "abs_backward";
    auto grad(auto g, auto v) const {
      using T = decltype(v);
      return v > T(0) ? g : (v < T(0) ? -g : T(0));
    }
    Tensor second(const Tensor&, const Tensor&, const Tensor&) const { return {}; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // p x^(p−1); then p (p−1) x^(p−2)
    static constexpr std::string_view name = "pow_backward";
    double p;
    auto grad(auto g, auto v) const {
      using T = decltype(v);
      return g * T(p) * std::pow(v, T(p) - T(1));
    }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const {
      return gg * gy * (pow(x, p - 2) * (p * (p - 1)));
    }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{p}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // 1/(1 + x); then −1/(1 + x)²
    static constexpr std::string_view name = "log1p_backward";
    auto grad(auto g, auto v) const { return g / (1 + v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const { return -(gg * gy / square(x + 1.0)); }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // y + 1; then ∂/∂y = 1
    static constexpr std::string_view name = "expm1_backward";
    auto grad(auto g, auto y) const { return g * (y + 1); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor&) const { return gg * gy; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // cos x; then −sin x
    static constexpr std::string_view name = "sin_backward";
    auto grad(auto g, auto v) const { return g * std::cos(v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const { return -(gg * gy * sin(x)); }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
};
struct Cos {
  static constexpr std::string_view name = "cos";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return std::cos(v); });
  }
  struct Derivative {  // −sin x; then −cos x
    static constexpr std::string_view name = "cos_backward";
    auto grad(auto g, auto v) const { return -g * std::sin(v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const { return -(gg * gy * cos(x)); }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // −y²; then ∂/∂y = −2y
    static constexpr std::string_view name = "reciprocal_backward";
    auto grad(auto g, auto y) const { return -g * y * y; }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& y) const { return gg * gy * y * -2.0; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // −y³/2; then ∂/∂y = −3y²/2
    static constexpr std::string_view name = "rsqrt_backward";
    auto grad(auto g, auto y) const { return -g * y * y * y / 2; }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& y) const { return gg * gy * square(y) * -1.5; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // (2/√π) e^(−x²); then −2x (2/√π) e^(−x²)
    static constexpr std::string_view name = "erf_backward";
    auto grad(auto g, auto v) const {
      using T = decltype(v);
      return g * T(std::numbers::inv_sqrtpi * 2) * std::exp(-v * v);
    }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const {
      return gg * gy * x * exp(-square(x)) * (std::numbers::inv_sqrtpi * -4);
    }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // 1 inside [lo, hi], 0 outside; then 0 (a step)
    static constexpr std::string_view name = "clamp_backward";
    double lo, hi;
    auto grad(auto g, auto v) const {
      using T = decltype(v);
      return v >= T(lo) && v <= T(hi) ? g : T(0);
    }
    Tensor second(const Tensor&, const Tensor&, const Tensor&) const { return {}; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {pointwise_backward(Derivative{lo, hi}, gy, ctx.saved(0))};
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
