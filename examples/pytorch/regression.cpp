// examples/pytorch/regression.cpp — pytorch/examples' cpp/regression/regression.cpp in nabla: fit a
// random polynomial of degree 4 with one Linear layer on its powers, smooth_l1_loss, SGD lr 0.1,
// batches of 32 fresh points, until the loss is below 1e-3.
//
//   ./pytorch_regression [--seed 1] [--max-batches 100000]
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>
#include <nabla/nabla.hpp>

using namespace nabla;

constexpr std::int64_t kPolyDegree = 4;

// Builds features, i.e. a matrix with columns [x, x^2, x^3, x^4].
Tensor make_features(Tensor x) {
  x = unsqueeze(x, 1);
  std::vector<Tensor> xs;
  for (std::int64_t i = 0; i < kPolyDegree; ++i) xs.push_back(pow(x, static_cast<double>(i + 1)));
  return cat(xs, 1);
}

// Approximated function.
Tensor f(const Tensor& x, const Tensor& w_target, const Tensor& b_target) {
  return matmul(x, w_target) + b_target.item<double>();
}

// Creates a string description of a polynomial.
std::string poly_desc(const Tensor& w, const Tensor& b) {
  std::ostringstream stream;
  stream << "y = ";
  for (std::int64_t i = 0; i < w.size(0); ++i) {
    stream << w[i].item<float>() << " x^" << (i + 1) << " ";
  }
  stream << "+ " << b[0].item<float>();
  return stream.str();
}

// Builds a batch i.e. (x, f(x)) pair.
std::pair<Tensor, Tensor> get_batch(const Tensor& w_target, const Tensor& b_target, std::int64_t batch_size = 32) {
  Tensor random = randn({batch_size});
  Tensor x = make_features(random);
  Tensor y = f(x, w_target, b_target);
  return {x, y};
}

int main(int argc, char** argv) {
  CLI::App app{"pytorch/examples' regression.cpp in nabla"};
  std::uint64_t seed = 1;
  std::int64_t max_batches = 100000;
  app.add_option("--seed", seed, "torch::manual_seed (the original is unseeded)");
  app.add_option("--max-batches", max_batches, "give up after this many batches")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    manual_seed(seed);
    Tensor w_target = randn({kPolyDegree, 1}) * 5;
    Tensor b_target = randn({1}) * 5;
    // Define the model and optimizer
    nn::Linear fc(w_target.shape()[0], 1);
    optim::SGD optim(fc.parameters(), {.lr = 0.1});
    float loss = 0;
    std::int64_t batch_idx = 0;
    while (++batch_idx <= max_batches) {
      // Get data
      auto [batch_x, batch_y] = get_batch(w_target, b_target);
      // Reset gradients
      optim.zero_grad();
      // Forward pass
      Tensor output = smooth_l1_loss(fc(batch_x), batch_y);
      loss = output.item<float>();
      // Backward pass
      output.backward();
      // Apply gradients
      optim.step();
      // Stop criterion
      if (loss < 1e-3f) break;
    }
    std::cout << "Loss: " << loss << " after " << batch_idx << " batches" << std::endl;
    std::cout << "==> Learned function:\t" << poly_desc(reshape(fc.weight(), {-1}), fc.bias()) << std::endl;
    std::cout << "==> Actual function:\t" << poly_desc(reshape(w_target, {-1}), b_target) << std::endl;
    if (loss < 1e-3f) {
      std::cout << "regression: converged (loss < 1e-3) after " << batch_idx << " batches" << std::endl;
    } else {
      std::fprintf(stderr, "pytorch_regression: loss %g after %lld batches; expected below 1e-3\n", loss,
                   static_cast<long long>(max_batches));
      return 1;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "pytorch_regression: %s\n", e.what());
    return 1;
  }
}
