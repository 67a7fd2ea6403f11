// ops/activations.cpp — sigmoid (book eq. 3), tanh, ReLU and leaky ReLU (book ch. 3), and the
// activations of later models with PyTorch's definitions: softplus, GELU (exact and tanh), SiLU,
// ELU. Elementwise on any shape; each saves what its derivative needs and nothing more.
#include <cmath>
#include <numbers>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "backward_ops.hpp"

namespace nabla {
namespace ops {

// Each backward is the op's backward op (backward_ops.hpp): the derivative once, as a fused
// loop (`grad`), and its own derivative once, in recorded ops (`second`), as PyTorch's
// sigmoid_backward, tanh_backward, threshold_backward, ….

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
  struct Derivative {  // y (1 − y); then ∂/∂y = 1 − 2y
    static constexpr std::string_view name = "sigmoid_backward";
    auto grad(auto g, auto v) const { return g * v * (1 - v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& y) const { return gg * gy * (1.0 - y * 2.0); }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // 1 − y²; then ∂/∂y = −2y
    static constexpr std::string_view name = "tanh_backward";
    auto grad(auto g, auto v) const { return g * (1 - v * v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& y) const { return gg * gy * y * -2.0; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
};

// relu: y = max(0, x), NaN staying NaN (as torch.relu, so a NaN upstream is not hidden). dy/dx = 1
// for x > 0, else 0 (0 at the kink x = 0), and 1 at NaN as torch's threshold_backward gives
// (x ≤ 0 is false there); y ≤ 0 exactly when x ≤ 0, so save y.
struct Relu {
  static constexpr std::string_view name = "relu";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating_or_bf16(name, x);
    Tensor y = map(x, [](auto v) { return v <= 0 ? decltype(v)(0) : v; });
    ctx.save(y);
    return y;
  }
  // The derivative is a step: its own derivative is 0 away from the kink.
  struct Derivative {
    static constexpr std::string_view name = "threshold_backward";
    auto grad(auto g, auto v) const { return v <= 0 ? decltype(g)(0) : g; }
    Tensor second(const Tensor&, const Tensor&, const Tensor&) const { return {}; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  struct Derivative {  // 1 or slope; then 0 (a step)
    static constexpr std::string_view name = "leaky_relu_backward";
    double slope;
    auto grad(auto g, auto v) const { using T = decltype(v); return v > 0 ? g : T(slope) * g; }
    Tensor second(const Tensor&, const Tensor&, const Tensor&) const { return {}; }
  };
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {pointwise_backward(Derivative{slope}, gy, ctx.saved(0))};
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
  // σ(βx) below the threshold, 1 above it; then β σ(βx) (1 − σ(βx)) below, 0 above.
  struct Derivative {
    static constexpr std::string_view name = "softplus_backward";
    double beta, threshold;
    auto grad(auto g, auto v) const {
      using T = decltype(v);
      const T bx = T(beta) * v;
      return bx > T(threshold) ? g : g / (1 + std::exp(-bx));
    }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const {
      const Tensor below = map(x, [b = beta, t = threshold](auto v) { using T = decltype(v); return T(b) * v > T(t) ? T(0) : T(1); });
      const Tensor s = sigmoid(x * beta);
      return gg * gy * (s * (1.0 - s) * below) * beta;
    }
  };
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {pointwise_backward(Derivative{beta, threshold}, gy, ctx.saved(0))};
  }
};

// gelu: exact y = x Φ(x) = x (1 + erf(x/√2)) / 2, dy/dx = Φ(x) + x φ(x); tanh approximation
// y = x (1 + tanh u) / 2 with u = √(2/π) (x + 0.044715 x³), dy/dx = (1 + tanh u)/2 + x (1 − tanh² u) u′/2.
// As torch.nn.functional.gelu(approximate="none" | "tanh"). Save x. Forward and the plain backward are
// kernels (kernels::gelu, kernels::gelu_backward: float32 a vector at a time).
struct Gelu {
  static constexpr std::string_view name = "gelu";
  static constexpr bool differentiable_backward = true;
  bool tanh_approximation = false;
  void trace(detail::TraceAttrs& a) const { a.flag("tanh_approximation", tanh_approximation); }
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return kernels::gelu(x, tanh_approximation);
  }
  // Exact: f' = Φ(x) + x φ(x), f'' = φ(x) (2 − x²). Tanh: f' = (1 + t)/2 + x (1 − t²) u′/2 with
  // t = tanh u, u = k (x + c x³), u′ = k (1 + 3c x²); f'' = (1 − t²) (u′ − x t u′² + 3kc x²).
  struct Derivative {
    static constexpr std::string_view name = "gelu_backward";
    static constexpr double k = std::numbers::sqrt2 * std::numbers::inv_sqrtpi, c = 0.044715;  // √(2/π)
    bool tanh_approximation;
    Tensor kernel(const Tensor& gy, const Tensor& x) const { return kernels::gelu_backward(gy, x, tanh_approximation); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const {
      if (tanh_approximation) {
        const Tensor t = tanh((x + c * x * x * x) * k);
        const Tensor du = (1.0 + 3 * c * x * x) * k;
        return gg * gy * ((1.0 - t * t) * (du - x * t * du * du + x * x * (3 * k * c)));
      }
      const Tensor pdf = exp(x * x * -0.5) * (std::numbers::inv_sqrtpi / std::numbers::sqrt2);
      return gg * gy * (pdf * (2.0 - x * x));
    }
  };
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {pointwise_backward(Derivative{tanh_approximation}, gy, ctx.saved(0))};
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
  struct Derivative {  // σ (1 + x (1 − σ)); then σ (1 − σ) (2 + x (1 − 2σ))
    static constexpr std::string_view name = "silu_backward";
    auto grad(auto g, auto v) const {
      const auto s = 1 / (1 + std::exp(-v));
      return g * s * (1 + v * (1 - s));
    }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const {
      const Tensor s = sigmoid(x);
      return gg * gy * (s * (1.0 - s) * (2.0 + x * (1.0 - s * 2.0)));
    }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{}, gy, ctx.saved(0))}; }
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
  // 1 where x > 0, α e^x elsewhere; then 0 and α e^x (e^min(x, 0): no overflow where it is not used).
  struct Derivative {
    static constexpr std::string_view name = "elu_backward";
    double alpha;
    auto grad(auto g, auto v) const { using T = decltype(v); return v > 0 ? g : g * T(alpha) * std::exp(v); }
    Tensor second(const Tensor& gg, const Tensor& gy, const Tensor& x) const {
      const Tensor below = map(x, [](auto v) { using T = decltype(v); return v > 0 ? T(0) : T(1); });
      return gg * gy * (below * exp(clamp_max(x, 0.0)) * alpha);
    }
  };
  Grads backward(Context& ctx, const Tensor& gy) const { return {pointwise_backward(Derivative{alpha}, gy, ctx.saved(0))}; }
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
