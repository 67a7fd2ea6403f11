// examples/custom_op.cpp — a user-defined op, outside the library: softplus.
//
// softplus(x) = ln(1 + e^x), a smooth ReLU; its derivative is σ(x). The op is defined with the same
// API the built-in ops use (nabla/op.hpp), gradient-checked with one call, then used as the hidden
// activation of a small network that learns to tell points inside a circle from points outside.
//
//   ./custom_op [steps]        (default 2000 full-batch gradient steps)
#include <cmath>
#include <cstdlib>
#include <string>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

// The op: a struct with a name, typed parameters, forward and backward side by side.
struct Softplus {
  static constexpr std::string_view name = "softplus";
  double beta = 1.0;  // softplus_β(x) = ln(1 + e^{βx}) / β

  // Forward: computed stably as max(βx, 0) + ln(1 + e^{−|βx|}), over β. Saves x for backward.
  Tensor forward(Context& ctx, const Tensor& x) const {
    ctx.save(x);
    Tensor bx = beta * x;
    return (relu(bx) + log(1.0 + exp(-abs(bx)))) / beta;
  }
  // Backward: d/dx softplus_β(x) = σ(βx). One gradient per input.
  Grads backward(Context& ctx, const Tensor& gy) const {
    const Tensor& x = ctx.saved(0);
    return {gy * sigmoid(beta * x)};
  }
};

Tensor softplus(const Tensor& x, double beta = 1.0) { return apply(Softplus{.beta = beta}, x); }

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
  fmt::print("{}\n", check);
  if (!check) return 1;

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
    Tensor h = softplus(matmul(in, w1, {.trans_b = true}) + b1, 2.0);
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
