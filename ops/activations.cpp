// ops/activations.cpp — sigmoid (book eq. 3), tanh, ReLU and leaky ReLU (book ch. 3), and the
// activations of later models with PyTorch's definitions: softplus, GELU (exact and tanh), SiLU,
// ELU. Elementwise on any shape; each saves what its derivative needs and nothing more.
#include <cmath>
#include <numbers>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

// sigmoid: y = 1 / (1 + e^−x). dy/dx = σ'(x) = y (1 − y) (book eq. 3 and ch. 2), so save y.
struct Sigmoid {
  static constexpr std::string_view name = "sigmoid";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = kernels::sigmoid(x);
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& y = ctx.saved(0);
    if (!grad_enabled()) return {zip(gy, y, [](auto g, auto v) { return g * v * (1 - v); })};
    return {gy * (y * (1.0 - y))};  // create_graph: the same, recorded
  }
};

// tanh: y = tanh x. dy/dx = 1 − y², so save y.
struct Tanh {
  static constexpr std::string_view name = "tanh";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = kernels::tanh(x);
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& y = ctx.saved(0);
    if (!grad_enabled()) return {zip(gy, y, [](auto g, auto v) { return g * (1 - v * v); })};
    return {gy * (1.0 - y * y)};
  }
};

// relu: y = max(0, x), NaN staying NaN (as torch.relu, so a NaN upstream is not hidden). dy/dx = 1
// for x > 0, else 0 (0 at the kink x = 0), and 1 at NaN as torch's threshold_backward gives
// (x ≤ 0 is false there); y ≤ 0 exactly when x ≤ 0, so save y.
struct Relu {
  static constexpr std::string_view name = "relu";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return v <= 0 ? decltype(v)(0) : v; });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& y = ctx.saved(0);
    if (!grad_enabled()) return {zip(gy, y, [](auto g, auto v) { return v <= 0 ? decltype(g)(0) : g; })};
    // The derivative is a step: a constant mask to the second derivative (0 away from the kink).
    return {gy * map(y, [](auto v) { using T = decltype(v); return v <= 0 ? T(0) : T(1); })};
  }
};

// leaky_relu: y = x for x > 0, slope · x otherwise. dy/dx = 1 or slope; save x.
struct LeakyRelu {
  static constexpr std::string_view name = "leaky_relu";
  static constexpr bool differentiable_backward = true;
  double slope = 0.01;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [s = slope](auto v) { using T = decltype(v); return v > 0 ? v : T(s) * v; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& x = ctx.saved(0);
    if (!grad_enabled()) {
      return {zip(gy, x, [s = slope](auto g, auto v) { using T = decltype(v); return v > 0 ? g : T(s) * g; })};
    }
    return {gy * map(x, [s = slope](auto v) { using T = decltype(v); return v > 0 ? T(1) : T(s); })};
  }
};

// softplus: y = ln(1 + e^{βx}) / β, and y = x where βx > threshold (torch.nn.Softplus, for
// stability). dy/dx = σ(βx), 1 above the threshold; save x.
struct Softplus {
  static constexpr std::string_view name = "softplus";
  static constexpr bool differentiable_backward = true;
  double beta = 1, threshold = 20;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    if (beta == 0 || !std::isfinite(beta) || std::isnan(threshold)) {
      throw ValueError(fmt::format("softplus: need a finite beta ≠ 0 and a threshold that is a number, got beta {} and "
                                   "threshold {}", beta, threshold));
    }
    ctx.save(x);
    return map(x, [b = beta, t = threshold](auto v) {
      using T = decltype(v);
      const T bx = T(b) * v;
      return bx > T(t) ? v : std::log1p(std::exp(bx)) / T(b);
    });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& x = ctx.saved(0);
    if (!grad_enabled()) {
      return {zip(gy, x, [b = beta, t = threshold](auto g, auto v) {
        using T = decltype(v);
        const T bx = T(b) * v;
        return bx > T(t) ? g : g / (1 + std::exp(-bx));
      })};
    }
    // σ(βx) below the threshold, 1 above it (m = 1 there).
    const Tensor m = map(x, [b = beta, t = threshold](auto v) { using T = decltype(v); return T(b) * v > T(t) ? T(1) : T(0); });
    return {gy * (sigmoid(x * beta) * (1.0 - m) + m)};
  }
};

// gelu: exact y = x Φ(x) = x (1 + erf(x/√2)) / 2, dy/dx = Φ(x) + x φ(x); tanh approximation
// y = x (1 + tanh u) / 2 with u = √(2/π) (x + 0.044715 x³), dy/dx = (1 + tanh u)/2 + x (1 − tanh² u) u′/2.
// As torch.nn.functional.gelu(approximate="none" | "tanh"). Save x.
struct Gelu {
  static constexpr std::string_view name = "gelu";
  static constexpr bool differentiable_backward = true;
  bool tanh_approximation = false;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    if (tanh_approximation) {
      return map(x, [](auto v) {
        using T = decltype(v);
        const T k = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);  // √(2/π)
        return v * (1 + std::tanh(k * (v + T(0.044715) * v * v * v))) / 2;
      });
    }
    return map(x, [](auto v) {
      using T = decltype(v);
      return v * (1 + std::erf(v * T(1 / std::numbers::sqrt2))) / 2;
    });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (grad_enabled()) {
      const Tensor& x = ctx.saved(0);
      if (tanh_approximation) {
        const double k = std::numbers::sqrt2 * std::numbers::inv_sqrtpi, c = 0.044715;
        const Tensor t = tanh((x + c * x * x * x) * k);
        return {gy * ((1.0 + t) * 0.5 + x * (1.0 - t * t) * (1.0 + 3 * c * x * x) * (k / 2))};
      }
      const Tensor cdf = (1.0 + erf(x * (1 / std::numbers::sqrt2))) * 0.5;
      const Tensor pdf = exp(x * x * -0.5) * (std::numbers::inv_sqrtpi / std::numbers::sqrt2);
      return {gy * (cdf + x * pdf)};
    }
    if (tanh_approximation) {
      return {zip(gy, ctx.saved(0), [](auto g, auto v) {
        using T = decltype(v);
        const T k = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);
        const T t = std::tanh(k * (v + T(0.044715) * v * v * v));
        return g * ((1 + t) / 2 + v * (1 - t * t) * k * (1 + 3 * T(0.044715) * v * v) / 2);
      })};
    }
    return {zip(gy, ctx.saved(0), [](auto g, auto v) {
      using T = decltype(v);
      const T cdf = (1 + std::erf(v * T(1 / std::numbers::sqrt2))) / 2;
      const T pdf = std::exp(-v * v / 2) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
      return g * (cdf + v * pdf);
    })};
  }
};

// silu (swish): y = x σ(x). dy/dx = σ(x) (1 + x (1 − σ(x))); save x.
struct Silu {
  static constexpr std::string_view name = "silu";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [](auto v) { return v / (1 + std::exp(-v)); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& x = ctx.saved(0);
    if (grad_enabled()) {
      const Tensor s = sigmoid(x);
      return {gy * (s * (1.0 + x * (1.0 - s)))};
    }
    return {zip(gy, x, [](auto g, auto v) {
      const auto s = 1 / (1 + std::exp(-v));
      return g * s * (1 + v * (1 - s));
    })};
  }
};

// elu: y = x for x > 0, α (e^x − 1) otherwise. dy/dx = 1 or α e^x; save x.
struct Elu {
  static constexpr std::string_view name = "elu";
  static constexpr bool differentiable_backward = true;
  double alpha = 1;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [a = alpha](auto v) { using T = decltype(v); return v > 0 ? v : T(a) * std::expm1(v); });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& x = ctx.saved(0);
    if (grad_enabled()) {  // 1 where x > 0 (m = 1), α e^x elsewhere (e^min(x, 0): no overflow where it is not used)
      const Tensor m = map(x, [](auto v) { using T = decltype(v); return v > 0 ? T(1) : T(0); });
      return {gy * (m + (1.0 - m) * (exp(clamp_max(x, 0.0)) * alpha))};
    }
    return {zip(gy, x, [a = alpha](auto g, auto v) { using T = decltype(v); return v > 0 ? g : g * T(a) * std::exp(v); })};
  }
};

}  // namespace ops

Tensor sigmoid(const Tensor& x) { return apply(ops::Sigmoid{}, x); }
Tensor tanh(const Tensor& x) { return apply(ops::Tanh{}, x); }
Tensor relu(const Tensor& x) { return apply(ops::Relu{}, x); }
Tensor leaky_relu(const Tensor& x, double slope) { return apply(ops::LeakyRelu{.slope = slope}, x); }
Tensor softplus(const Tensor& x, double beta, double threshold) {
  return apply(ops::Softplus{.beta = beta, .threshold = threshold}, x);
}
Tensor gelu(const Tensor& x, std::string_view approximate) {
  if (approximate != "none" && approximate != "tanh") {
    throw ValueError(fmt::format("gelu: approximate must be \"none\" or \"tanh\", got \"{}\"", approximate));
  }
  return apply(ops::Gelu{.tanh_approximation = approximate == "tanh"}, x);
}
Tensor silu(const Tensor& x) { return apply(ops::Silu{}, x); }
Tensor elu(const Tensor& x, double alpha) { return apply(ops::Elu{.alpha = alpha}, x); }

}  // namespace nabla
