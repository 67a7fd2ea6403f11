// examples/pytorch/autograd.cpp — pytorch/examples' cpp/autograd/autograd.cpp in nabla: basic autograd
// operations (printing values, grad_fn names, requires_grad), the vector–Jacobian product, a gradient
// penalty through torch::autograd::grad with create_graph, and custom autograd Functions written as
// nabla custom ops (docs/custom-ops.md). Each printed result is also checked against the math
// ("[check ...: ok]"); a failed check makes the program exit with status 1.
//
//   ./pytorch_autograd [--seed 0]
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

namespace {

int failures = 0;

void check(std::string_view what, bool ok) {
  std::cout << "[check " << what << ": " << (ok ? "ok" : "FAILED") << "]" << std::endl;
  if (!ok) ++failures;
}

/// max |a − b| over the elements, in double.
double max_diff(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  if (va.size() != vb.size()) return INFINITY;
  double m = 0;
  for (std::size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

void basic_autograd_operations_example() {
  std::cout << "====== Running: \"Basic autograd operations\" ======" << std::endl;
  // Create a tensor and set requires_grad to track computation with it
  Tensor x = ones({2, 2}).requires_grad(true);
  std::cout << x << std::endl;
  // Do a tensor operation:
  Tensor y = x + 2;
  std::cout << y << std::endl;
  // y was created as a result of an operation, so it has a grad_fn.
  std::cout << y.grad_fn()->name() << std::endl;
  // Do more operations on y
  Tensor z = y * y * 3;
  Tensor out = mean(z);
  std::cout << z << std::endl;
  std::cout << z.grad_fn()->name() << std::endl;
  std::cout << out << std::endl;
  std::cout << out.grad_fn()->name() << std::endl;
  check("z = 3 (1 + 2)^2 = 27 everywhere, out = 27", max_diff(z, full({2, 2}, 27)) == 0 && out.item<float>() == 27);
  // requires_grad(true) changes an existing tensor's flag (requires_grad_ in libtorch).
  Tensor a = randn({2, 2});
  a = ((a * 3) / (a - 1));
  std::cout << a.requires_grad() << std::endl;
  a = a.requires_grad(true);
  std::cout << a.requires_grad() << std::endl;
  Tensor b = sum(a * a);
  std::cout << b.grad_fn()->name() << std::endl;
  // Let's backprop now. Because out contains a single scalar, out.backward() is equivalent to
  // out.backward(torch::tensor(1.)).
  out.backward();
  // Print gradients d(out)/dx
  std::cout << x.grad() << std::endl;
  check("d(out)/dx = 6 (x + 2) / 4 = 4.5", max_diff(x.grad(), full({2, 2}, 4.5)) == 0);

  // Now let's take a look at an example of vector-Jacobian product:
  x = randn({3}).requires_grad(true);
  y = x * 2;
  int doublings = 1;
  while (norm(y).item<double>() < 1000) {
    y = y * 2;
    ++doublings;
  }
  std::cout << y << std::endl;
  std::cout << y.grad_fn()->name() << std::endl;
  // If we want the vector-Jacobian product, pass the vector to backward as argument:
  Tensor v = tensor({0.1, 1.0, 0.0001}, {3}, f32);
  y.backward(v);
  std::cout << x.grad() << std::endl;
  check(fmt::format("vector-Jacobian product = v 2^{}", doublings),
        max_diff(x.grad(), v * std::ldexp(1.0, doublings)) <= 1e-6 * std::ldexp(1.0, doublings));
  // You can also stop autograd from tracking history on tensors that require gradients either by
  // putting NoGradGuard in a code block
  std::cout << x.requires_grad() << std::endl;
  std::cout << pow(x, 2).requires_grad() << std::endl;
  bool inside = true;
  {
    NoGradGuard no_grad;
    inside = pow(x, 2).requires_grad();
    std::cout << inside << std::endl;
  }
  // Or by using detach() to get a new tensor with the same content but that does not require gradients:
  std::cout << x.requires_grad() << std::endl;
  y = x.detach();
  std::cout << y.requires_grad() << std::endl;
  const bool same = all(eq(x, y)).item<bool>();
  std::cout << same << std::endl;
  check("requires_grad: true outside, false under NoGradGuard and after detach, values equal",
        x.requires_grad() && !inside && !y.requires_grad() && same);
}

void compute_higher_order_gradients_example() {
  std::cout << "====== Running \"Computing higher-order gradients in C++\" ======" << std::endl;
  // One of the applications of higher order gradients is calculating gradient penalty.
  // Let's see an example of it using grad():
  nn::Linear model(4, 3);
  Tensor input = randn({3, 4}).requires_grad(true);
  Tensor output = model(input);
  // Calculate loss
  Tensor target = randn({3, 3});
  Tensor loss = nn::MSELoss()(output, target);
  // Use norm of gradients as penalty
  Tensor grad_output = ones_like(output);
  Tensor gradient = grad({output}, {input}, /*grad_outputs=*/{grad_output}, {.create_graph = true})[0];
  Tensor gradient_penalty = mean(pow(norm(gradient, 2, /*dim=*/{1}) - 1, 2));
  // Add gradient penalty to loss
  Tensor combined_loss = loss + gradient_penalty;
  combined_loss.backward();
  std::cout << input.grad() << std::endl;
  // The gradient of the output's sum is each row of ones · W (the column sums of W), whatever the
  // input: the penalty does not depend on the input, and d(loss)/d(input) = 2/9 (output − target) W.
  const Tensor expected = matmul(output.detach() - target, model.weight().detach()) * (2.0 / 9.0);
  check("input.grad = 2/9 (output - target) W", max_diff(input.grad(), expected) <= 1e-6);
}

// torch::autograd::Function<LinearFunction> → an op: a struct with a name, forward and backward side
// by side (docs/custom-ops.md). Its backward is written with nabla's ops, so it is recorded under
// create_graph and has second derivatives (differentiable_backward).
struct LinearFunction {
  static constexpr std::string_view name = "linear_function";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& input, const Tensor& weight) const {
    ctx.save(input, weight);
    return matmul(input, transpose(weight));
  }
  Grads backward(Context& ctx, const Tensor& grad_output) const {
    auto [input, weight] = ctx.saved<2>();
    Tensor grad_input = matmul(grad_output, weight);
    Tensor grad_weight = matmul(transpose(grad_output), input);
    return {grad_input, grad_weight};
  }
};

// ctx->saved_data["constant"] becomes a typed member of the op.
struct MulConstant {
  static constexpr std::string_view name = "mul_constant";
  static constexpr bool differentiable_backward = true;
  double constant;
  Tensor forward(Context&, const Tensor& tensor) const { return tensor * constant; }
  Grads backward(Context&, const Tensor& grad_output) const { return {grad_output * constant}; }
};

void custom_autograd_function_example() {
  std::cout << "====== Running \"Using custom autograd function in C++\" ======" << std::endl;
  {
    Tensor x = randn({2, 3}).requires_grad(true);
    Tensor weight = randn({4, 3}).requires_grad(true);
    Tensor y = apply(LinearFunction{}, x, weight);
    sum(y).backward();
    std::cout << x.grad() << std::endl;
    std::cout << weight.grad() << std::endl;
    // d sum(x Wᵀ)/dx: every row the column sums of W; d/dW: every row the column sums of x.
    check("x.grad rows = column sums of W", max_diff(x.grad(), expand(sum(weight.detach(), 0, true), {2, 3})) <= 1e-6);
    check("weight.grad rows = column sums of x", max_diff(weight.grad(), expand(sum(x.detach(), 0, true), {4, 3})) <= 1e-6);
    check("gradcheck of LinearFunction (float64)",
          static_cast<bool>(gradcheck(LinearFunction{}, {randn({2, 3}, f64).requires_grad(true),
                                                          randn({4, 3}, f64).requires_grad(true)})));
  }
  {
    Tensor x = randn({2}).requires_grad(true);
    Tensor y = apply(MulConstant{5.5}, x);
    sum(y).backward();
    std::cout << x.grad() << std::endl;
    check("MulConstant: x.grad = 5.5", max_diff(x.grad(), full({2}, 5.5)) == 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pytorch/examples' autograd.cpp in nabla"};
  std::uint64_t seed = 0;
  app.add_option("--seed", seed, "torch::manual_seed");
  CLI11_PARSE(app, argc, argv);
  try {
    manual_seed(seed);
    std::cout << std::boolalpha;
    basic_autograd_operations_example();
    compute_higher_order_gradients_example();
    custom_autograd_function_example();
  } catch (const Error& e) {
    std::fprintf(stderr, "pytorch_autograd: %s\n", e.what());
    return 1;
  }
  std::cout << (failures == 0 ? "autograd: every check ok" : fmt::format("autograd: {} checks FAILED", failures))
            << std::endl;
  return failures == 0 ? 0 : 1;
}
