// ops/activations.cpp — sigmoid (book eq. 3), tanh, ReLU and leaky ReLU (book ch. 3), elementwise
// on any shape. Each saves what its derivative needs and nothing more.
#include <cmath>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace ops {

// sigmoid: y = 1 / (1 + e^−x). dy/dx = σ'(x) = y (1 − y) (book eq. 3 and ch. 2), so save y.
struct Sigmoid {
  static constexpr std::string_view name = "sigmoid";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = kernels::sigmoid(x);
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto y) { return g * y * (1 - y); })};
  }
};

// tanh: y = tanh x. dy/dx = 1 − y², so save y.
struct Tanh {
  static constexpr std::string_view name = "tanh";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return std::tanh(v); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto y) { return g * (1 - y * y); })};
  }
};

// relu: y = max(0, x). dy/dx = 1 for x > 0, else 0 (0 at the kink x = 0); y > 0 exactly when
// x > 0, so save y.
struct Relu {
  static constexpr std::string_view name = "relu";
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    Tensor y = map(x, [](auto v) { return v > 0 ? v : decltype(v)(0); });
    ctx.save(y);
    return y;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto y) { return y > 0 ? g : decltype(g)(0); })};
  }
};

// leaky_relu: y = x for x > 0, slope · x otherwise. dy/dx = 1 or slope; save x.
struct LeakyRelu {
  static constexpr std::string_view name = "leaky_relu";
  double slope = 0.01;
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [s = slope](auto v) { using T = decltype(v); return v > 0 ? v : T(s) * v; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [s = slope](auto g, auto v) { using T = decltype(v); return v > 0 ? g : T(s) * g; })};
  }
};

}  // namespace ops

Tensor sigmoid(const Tensor& x) { return apply(ops::Sigmoid{}, x); }
Tensor tanh(const Tensor& x) { return apply(ops::Tanh{}, x); }
Tensor relu(const Tensor& x) { return apply(ops::Relu{}, x); }
Tensor leaky_relu(const Tensor& x, double slope) { return apply(ops::LeakyRelu{.slope = slope}, x); }

}  // namespace nabla
