// Uses the installed nabla: one tiny forward and backward; exits 0 if the gradient is right.
#include <nabla/nabla.hpp>

#include <cmath>

int main() {
  nabla::Tensor x = nabla::tensor({1.0, 2.0, 3.0}, {3}, nabla::f64).requires_grad(true);
  nabla::Tensor y = nabla::sum(nabla::square(x));
  y.backward();
  const auto g = x.grad().to_vector();  // d/dx Σ x² = 2x
  const bool ok = std::abs(g[0] - 2) < 1e-12 && std::abs(g[1] - 4) < 1e-12 && std::abs(g[2] - 6) < 1e-12;
  fmt::print("consumer: y = {}, grad = {}\n", y.item(), x.grad());
  return ok ? 0 : 1;
}
