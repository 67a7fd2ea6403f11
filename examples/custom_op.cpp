// examples/custom_op.cpp — user-defined ops, outside the library: softplus, and a two-output op.
//
// softplus(x) = ln(1 + e^x), a smooth ReLU; its derivative is σ(x). The ops are written with the same
// API and toolkit the built-in ops use (nabla/op.hpp, nabla/toolkit.hpp): the same checks, so their
// errors read like the built-ins', and the same loops. Each is gradient-checked with one call; then
// softplus is the hidden activation of a small network that learns to tell points inside a circle
// from points outside.
//
//   ./custom_op [steps]        (default 2000 full-batch gradient steps)
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <string>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

// The backward of softplus as an op of its own: gx = gy · σ(βx) in one loop, and its own derivative,
// so that under create_graph the gradient can be differentiated again (second derivatives) while a
// plain backward runs just the loop. It is linear in gy, so its derivative there is itself; in x it
// is gy · β σ(βx) (1 − σ(βx)), written with nabla ops (recorded, so a third order works too).
struct SoftplusBackward {
  static constexpr std::string_view name = "softplus_backward";
  static constexpr bool differentiable_backward = true;
  double beta = 1.0;
  Tensor forward(Context& ctx, const Tensor& gy, const Tensor& x) const {
    ctx.save(gy, x);
    return zip(gy, x, [b = beta](auto g, auto v) {
      using T = decltype(v);
      return g / (T(1) + std::exp(-T(b) * v));
    });
  }
  Grads backward(Context& ctx, const Tensor& gg) const {  // gg: the gradient of gx
    auto [gy, x] = ctx.saved<2>();
    const Tensor s = sigmoid(x * beta);
    return {ctx.needs_grad(0) ? apply(*this, gg, x) : Tensor{},
            ctx.needs_grad(1) ? gg * gy * (s * (1.0 - s)) * beta : Tensor{}};
  }
};

// The op: a struct with a name, typed parameters, forward and backward side by side.
struct Softplus {
  static constexpr std::string_view name = "softplus";
  static constexpr bool differentiable_backward = true;  // its backward is an op that records under create_graph
  double beta = 1.0;  // softplus_β(x) = ln(1 + e^{βx}) / β

  // Forward: checked as a built-in is, then one loop, computed stably as max(βx, 0) + ln(1 + e^{−|βx|}),
  // over β. The loop runs in the tensor's own float type: the parameter is cast inside it. Saves x.
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return map(x, [b = beta](auto v) {
      using T = decltype(v);
      const T bx = T(b) * v;
      return (std::max(bx, T(0)) + std::log1p(std::exp(-std::abs(bx)))) / T(b);
    });
  }
  // Backward: d/dx softplus_β(x) = σ(βx), through the backward op above. One gradient per input.
  Grads backward(Context& ctx, const Tensor& gy) const { return {apply(SoftplusBackward{beta}, gy, ctx.saved(0))}; }
};

// nabla has softplus built in (nabla::softplus); this one is written here to show how, and checked
// against the built-in below.
Tensor my_softplus(const Tensor& x, double beta = 1.0) { return apply(Softplus{.beta = beta}, x); }

// An op with two outputs: polar coordinates (r, θ) to Cartesian (x, y) = (r cos θ, r sin θ).
// Backward receives one gradient per output (undefined where none flowed) and returns one per input:
//   g_r = g_x cos θ + g_y sin θ,   g_θ = −g_x r sin θ + g_y r cos θ.
struct PolarToCartesian {
  static constexpr std::string_view name = "polar_to_cartesian";
  std::array<Tensor, 2> forward(Context& ctx, const Tensor& r, const Tensor& theta) const {
    check_floating(name, r);
    check_same_dtype(name, r, theta);
    if (r.shape() != theta.shape()) {
      throw ShapeError(fmt::format("{}: r is {} but theta is {}; they must match", name, r.shape(), theta.shape()));
    }
    ctx.save(r, theta);
    return {zip(r, theta, [](auto a, auto t) { return a * std::cos(t); }),
            zip(r, theta, [](auto a, auto t) { return a * std::sin(t); })};
  }
  Grads backward(Context& ctx, const Grads& g) const {
    auto [r, theta] = ctx.saved<2>();
    Tensor gr = zeros_like(r), gt = zeros_like(r);
    if (g[0].defined()) {
      gr = gr + zip(g[0], theta, [](auto gx, auto t) { return gx * std::cos(t); });
      gt = gt - zip3(g[0], r, theta, [](auto gx, auto a, auto t) { return gx * a * std::sin(t); });
    }
    if (g[1].defined()) {
      gr = gr + zip(g[1], theta, [](auto gy, auto t) { return gy * std::sin(t); });
      gt = gt + zip3(g[1], r, theta, [](auto gy, auto a, auto t) { return gy * a * std::cos(t); });
    }
    return {ctx.needs_grad(0) ? gr : Tensor{}, ctx.needs_grad(1) ? gt : Tensor{}};
  }
};

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (steps <= 0) {
    fmt::print(stderr, "custom_op: steps must be a positive integer, got '{}'\n", argv[1]);
    return 2;
  }

  // 1. Check the gradient against central differences in float64 (x kept away from no point in
  //    particular: softplus is smooth everywhere).
  Generator gen(1);
  Tensor probe = randn({4, 7}, f64, gen).requires_grad(true);
  GradcheckResult check = gradcheck(Softplus{.beta = 1.5}, {probe});
  fmt::print("softplus: {}\n", check);
  if (!check) return 1;
  GradcheckResult check_second = gradgradcheck(Softplus{.beta = 1.5}, {probe});  // d²/dx² = β σ′(βx)
  fmt::print("softplus, second derivative: {}\n", check_second);
  if (!check_second) return 1;
  const double differs = max_abs(my_softplus(probe, 1.5) - nabla::softplus(probe, 1.5));
  fmt::print("softplus: largest difference from the built-in nabla::softplus {:.3g}\n", differs);
  if (!(differs < 1e-12)) return 1;
  Tensor r = uniform({3, 5}, 0.5, 2.0, f64, gen).requires_grad(true);
  Tensor theta = uniform({3, 5}, -3.0, 3.0, f64, gen).requires_grad(true);
  GradcheckResult check2 = gradcheck(PolarToCartesian{}, {r, theta});  // both outputs, both inputs
  fmt::print("polar_to_cartesian: {}\n", check2);
  if (!check2) return 1;
  try {
    my_softplus(zeros({2}, i64));
  } catch (const Error& e) {
    fmt::print("bad input, as a built-in would say it: {}\n", e.what());
  }

  // 2. Data: 512 points in [−1, 1]², label 1 inside the circle of radius 0.6.
  const std::int64_t n = 512;
  Tensor x = uniform({n, 2}, -1, 1, f32, gen);
  std::vector<float> targets(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const double r2 = x.at({i, 0}) * x.at({i, 0}) + x.at({i, 1}) * x.at({i, 1});
    targets[static_cast<std::size_t>(i)] = r2 < 0.36 ? 1.0f : 0.0f;
  }
  Tensor y = from_vector(targets, {n, 1});

  // 3. A 2-16-1 network with softplus hidden units, trained by full-batch gradient descent.
  Tensor w1 = randn({16, 2}, f32, gen, 0, 1.0).requires_grad(true);
  Tensor b1 = zeros({16}).requires_grad(true);
  Tensor w2 = randn({1, 16}, f32, gen, 0, 0.25).requires_grad(true);
  Tensor b2 = zeros({1}).requires_grad(true);
  const double lr = 1.0;
  auto logits = [&](const Tensor& in) {
    Tensor h = my_softplus(matmul(in, w1, {.trans_b = true}) + b1, 2.0);
    return matmul(h, w2, {.trans_b = true}) + b2;
  };
  for (int step = 1; step <= steps; ++step) {
    Tensor loss = binary_cross_entropy_with_logits(logits(x), y);
    for (Tensor* p : {&w1, &b1, &w2, &b2}) p->zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor* p : {&w1, &b1, &w2, &b2}) p->add_(p->grad(), -lr);
    }
    if (step == 1 || step % (steps / 10 > 0 ? steps / 10 : 1) == 0) {
      fmt::print("step {:5d}  cost {:.4f}\n", step, loss.item());
    }
  }
  NoGradGuard no_grad;
  const auto out = logits(x).to_vector();
  int correct = 0;
  for (std::size_t i = 0; i < out.size(); ++i) correct += (out[i] > 0) == (targets[i] > 0.5f);
  fmt::print("training accuracy {:.3f} on {} points\n", double(correct) / double(n), n);
  return 0;
}
