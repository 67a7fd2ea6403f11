// examples/pytorch/mnist.cpp — pytorch/examples' cpp/mnist/mnist.cpp written in nabla, line for line
// as a libtorch user would: the same network (Conv2d, Dropout2d, Linear, max_pool2d, relu, functional
// dropout, log_softmax + nll_loss), SGD lr 0.01 momentum 0.5, 10 epochs, batch 64, test batch 1000,
// Normalize(0.1307, 0.3081). Reads Fashion-MNIST (Debian's dataset-fashion-mnist) with MNIST's own
// 60,000 / 10,000 split where the original reads MNIST. docs/from-pytorch.md has its figures and
// PyTorch's on the same data (scripts/pytorch_examples_reference.py).
//
//   ./pytorch_mnist                                  # the original's run
//   ./pytorch_mnist --epochs 1 --train-limit 2000 --test-limit 500
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

// The network of mnist.cpp (torch::nn::Module → nn::Module; children registered by name).
struct Net : nn::Module {
  Net()
      : conv1(std::make_shared<nn::Conv2d>(1, 10, 5)),
        conv2(std::make_shared<nn::Conv2d>(10, 20, 5)),
        conv2_drop(std::make_shared<nn::Dropout2d>()),
        fc1(std::make_shared<nn::Linear>(320, 50)),
        fc2(std::make_shared<nn::Linear>(50, 10)) {
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("conv2_drop", conv2_drop);
    register_module("fc1", fc1);
    register_module("fc2", fc2);
  }

  Tensor forward(const Tensor& input) override {
    Tensor x = relu(max_pool2d((*conv1)(input), 2));
    x = relu(max_pool2d((*conv2_drop)((*conv2)(x)), 2));
    x = reshape(x, {-1, 320});  // x.view({-1, 320})
    x = relu((*fc1)(x));
    x = dropout(x, 0.5, is_training());
    x = (*fc2)(x);
    return log_softmax(x, 1);
  }
  std::string describe() const override { return "Net"; }

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::Dropout2d> conv2_drop;
  std::shared_ptr<nn::Linear> fc1, fc2;
};

// Normalize(0.1307, 0.3081) on [N, 1, 28, 28] images, in the loader (torch::data::transforms).
data::Batch to_images(data::Batch b, Generator&) {
  static constexpr std::array<double, 1> mean{0.1307}, stddev{0.3081};
  b.x = data::normalize(reshape(b.x, {-1, 1, 28, 28}), mean, stddev);
  return b;
}

void train_epoch(std::size_t epoch, Net& model, optim::Optimizer& optimizer, const data::Dataset& train,
                 std::int64_t batch_size, std::int64_t log_interval) {
  model.train();
  data::Loader loader(train, batch_size, {.batches = {.shuffle = true, .seed = epoch}, .transform = to_images});
  std::int64_t batch_idx = 0, seen = 0;
  while (auto batch = loader.next()) {
    optimizer.zero_grad();
    Tensor output = model(batch->x);
    Tensor loss = nll_loss(output, batch->y, {});
    if (!std::isfinite(loss.item<double>())) throw NumericError(fmt::format("loss is {} at batch {}", loss.item<double>(), batch_idx));
    loss.backward();
    optimizer.step();
    seen += batch->y.shape()[0];
    if (batch_idx++ % log_interval == 0) {
      std::printf("\rTrain Epoch: %zu [%5lld/%5lld] Loss: %.4f", epoch, static_cast<long long>(seen),
                  static_cast<long long>(train.size()), loss.item<float>());
    }
  }
}

double test(Net& model, const data::Dataset& test_set, std::int64_t batch_size) {
  NoGradGuard no_grad;
  model.eval();
  double test_loss = 0;
  std::int64_t correct = 0;
  data::Loader loader(test_set, batch_size, {.transform = to_images});
  while (auto batch = loader.next()) {
    Tensor output = model(batch->x);
    test_loss += nll_loss(output, batch->y, {.reduction = Reduction::sum}).item<double>();
    Tensor pred = argmax(output, 1);
    correct += sum(eq(pred, batch->y)).item<std::int64_t>();  // pred.eq(targets).sum(): int64
  }
  test_loss /= static_cast<double>(test_set.size());
  const double accuracy = static_cast<double>(correct) / static_cast<double>(test_set.size());
  std::printf("\nTest set: Average loss: %.4f | Accuracy: %.3f\n", test_loss, accuracy);
  return accuracy;
}

int main(int argc, char** argv) {
  CLI::App app{"pytorch/examples' mnist.cpp in nabla, on Fashion-MNIST"};
  std::string data_dir = data::kFashionMnistDir;
  std::size_t epochs = 10;
  std::int64_t train_batch = 64, test_batch = 1000, log_interval = 10, train_limit = 0, test_limit = 0;
  std::uint64_t seed = 1;
  app.add_option("--data", data_dir, "directory of the four IDX files");
  app.add_option("--epochs", epochs, "passes over the training set")->check(CLI::PositiveNumber);
  app.add_option("--train-limit", train_limit, "use only the first N training images (0: all 60,000)")->check(CLI::NonNegativeNumber);
  app.add_option("--test-limit", test_limit, "use only the first N test images (0: all 10,000)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", seed, "torch::manual_seed");
  CLI11_PARSE(app, argc, argv);
  try {
    manual_seed(seed);
    data::Split split = data::load_fashion_mnist(data_dir, 0);  // MNIST's 60,000 / 10,000
    data::Dataset train = train_limit > 0 ? split.train.slice(0, std::min(train_limit, split.train.size())) : split.train;
    data::Dataset test_set = test_limit > 0 ? split.test.slice(0, std::min(test_limit, split.test.size())) : split.test;
    Net model;
    optim::SGD optimizer(model.parameters(), {.lr = 0.01, .momentum = 0.5});
    const auto start = std::chrono::steady_clock::now();
    double accuracy = 0;
    for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
      train_epoch(epoch, model, optimizer, train, train_batch, log_interval);
      accuracy = test(model, test_set, test_batch);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("mnist: %zu epochs on %lld images, test accuracy %.4f, %.1f s\n", epochs,
                static_cast<long long>(train.size()), accuracy, seconds);
  } catch (const Error& e) {
    std::fprintf(stderr, "pytorch_mnist: %s\n", e.what());
    return 1;
  }
}
