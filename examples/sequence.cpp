// examples/sequence.cpp — model code beyond the book, from nabla's tensor surface only: an LSTM cell
// (matmul, cat, chunk, sigmoid, tanh), a self-attention block (batched matmul, transpose, softmax
// on an inner axis) and a Huber loss (abs, where). Each is gradient-checked in float64, then:
//
//   1. Fashion-MNIST read row by row: a 28-step LSTM over the rows, self-attention over its 28
//      outputs, mean over time, a linear layer to the 10 classes (cross-entropy); the test accuracy
//      of the epoch with the best validation accuracy.
//   2. A noisy sine wave with outliers: an LSTM predicts the next value, trained with the Huber loss
//      (robust to the outliers), its test error reported against predicting the last value seen.
//
//   sequence [--epochs 3] [--limit 10000] [--hidden 64] [--profile]
#include <cmath>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "cli_checks.hpp"

using namespace nabla;

namespace {

// One LSTM step: [i, f, g, o] = [x, h] Wᵀ + b split in four; c' = σ(f) c + σ(i) tanh(g);
// h' = σ(o) tanh(c'). x [N, in], h and c [N, hidden], W [4·hidden, in + hidden], b [4·hidden].
std::array<Tensor, 2> lstm_step(const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w, const Tensor& b) {
  const std::vector<Tensor> gates = chunk(matmul(cat({x, h}, 1), w, {.trans_b = true}) + b, 4, 1);
  const Tensor c_next = sigmoid(gates[1]) * c + sigmoid(gates[0]) * tanh(gates[2]);
  return {sigmoid(gates[3]) * tanh(c_next), c_next};
}

// Scaled dot-product self-attention over x [N, T, D]: softmax(q kᵀ / √D) v with q, k, v = x Wq, x Wk, x Wv.
Tensor self_attention(const Tensor& x, const Tensor& wq, const Tensor& wk, const Tensor& wv) {
  const Tensor q = matmul(x, wq), k = matmul(x, wk), v = matmul(x, wv);
  const Tensor scores = matmul(q, transpose(k, 1, 2)) / std::sqrt(double(x.size(-1)));
  return matmul(softmax(scores, -1), v);
}

// Huber loss, mean over elements: ½ d² where |d| < δ, δ (|d| − ½ δ) beyond (torch.nn.HuberLoss).
Tensor huber(const Tensor& pred, const Tensor& target, double delta) {
  const Tensor d = pred - target, ad = abs(d);
  return mean(where(ad < delta, 0.5 * square(d), delta * (ad - 0.5 * delta)));
}

struct Lstm {
  Tensor w, b;
  std::int64_t hidden;
  Lstm(std::int64_t in, std::int64_t hidden_, Dtype dt, Generator& gen)
      : w(uniform({4 * hidden_, in + hidden_}, -1 / std::sqrt(double(hidden_)), 1 / std::sqrt(double(hidden_)), dt, gen)
              .requires_grad(true)),
        b(zeros({4 * hidden_}, dt).requires_grad(true)),
        hidden(hidden_) {}
  /// Every step's h, stacked: x [N, T, in] → [N, T, hidden].
  Tensor operator()(const Tensor& x) const {
    const std::int64_t n = x.size(0);
    Tensor h = zeros({n, hidden}, x.dtype()), c = zeros({n, hidden}, x.dtype());
    std::vector<Tensor> hs;
    for (std::int64_t t = 0; t < x.size(1); ++t) {
      auto [h2, c2] = lstm_step(select(x, 1, t), h, c, w, b);
      h = h2;
      c = c2;
      hs.push_back(h);
    }
    return stack(hs, 1);
  }
};

bool gradient_checks() {
  Generator gen(5);
  auto p = [&](Shape s) { return randn(s, f64, gen).requires_grad(true); };
  const GradcheckResult a = gradcheck(
      [](const Tensor& x, const Tensor& h, const Tensor& c, const Tensor& w) {
        auto [h2, c2] = lstm_step(x, h, c, w, zeros({8}, f64));
        return h2 + c2;
      },
      {p({3, 4}), p({3, 2}), p({3, 2}), p({8, 6})});
  const GradcheckResult b = gradcheck(
      [](const Tensor& x, const Tensor& q, const Tensor& k, const Tensor& v) { return self_attention(x, q, k, v); },
      {p({2, 5, 3}), p({3, 3}), p({3, 3}), p({3, 2})});
  Tensor target = randn({6}, f64, gen);
  // Inputs kept at least 0.05 from the kinks |pred − target| = δ.
  Tensor pred = (target + tensor({-2.3, -0.6, -0.2, 0.3, 0.8, 1.9}, {6}, f64)).detach().requires_grad(true);
  const GradcheckResult c = gradcheck([&](const Tensor& x) { return huber(x, target, 1.0); }, {pred});
  fmt::print("gradcheck lstm_step: {}\ngradcheck self_attention: {}\ngradcheck huber: {}\n", a, b, c);
  return a && b && c;
}

/// Where a training step's time goes, op by op, and the share of the ops that copy elements
/// (nabla's movement ops are copies, not strided views: docs/design.md, "Movement ops").
void print_profile() {
  double total = 0, moving = 0;
  const auto totals = profile::totals();
  for (const auto& [op, s] : totals) total += s.forward_us + s.backward_us;
  fmt::print("profile of the rows task (forward + backward µs, share):\n");
  for (const auto& [op, s] : totals) {
    const double us = s.forward_us + s.backward_us;
    const bool copies = op == "cat" || op == "split" || op == "slice" || op == "transpose" || op == "permute";
    if (copies) moving += us;
    fmt::print("  {:<14} {:>10.0f}  {:5.1f} %{}\n", op, us, 100 * us / total, copies ? "  (copies elements)" : "");
  }
  fmt::print("  the ops that copy elements: {:.1f} % of the step\n", 100 * moving / total);
}

/// Fashion-MNIST as sequences of rows: LSTM → self-attention → mean over time → linear.
void rows_task(const data::Split& data, int epochs, std::int64_t hidden, bool profile_steps) {
  Generator gen(1);
  Lstm lstm(28, hidden, f32, gen);
  const double s = 1 / std::sqrt(double(hidden));
  Tensor wq = randn({hidden, hidden}, f32, gen, 0, s).requires_grad(true);
  Tensor wk = randn({hidden, hidden}, f32, gen, 0, s).requires_grad(true);
  Tensor wv = randn({hidden, hidden}, f32, gen, 0, s).requires_grad(true);
  Tensor wo = randn({10, hidden}, f32, gen, 0, s).requires_grad(true), bo = zeros({10}).requires_grad(true);
  std::vector<nn::Param> params;
  for (Tensor* t : {&lstm.w, &lstm.b, &wq, &wk, &wv, &wo, &bo}) params.push_back({"p", *t, false});
  optim::SGD opt(params, {.lr = 0.1, .momentum = 0.9});
  auto logits = [&](const Tensor& x) {
    const Tensor seq = x.reshape({x.size(0), 28, 28});  // [N, rows, pixels]
    const Tensor h = lstm(seq);
    const Tensor ctx = h + self_attention(h, wq, wk, wv);  // a residual connection around attention
    return matmul(mean(ctx, {1}), wo, {.trans_b = true}) + bo;
  };
  auto accuracy_on = [&](const data::Dataset& d) {
    NoGradGuard g;
    std::int64_t right = 0;
    for (auto [x, y] : d.batches(500, {})) right += std::int64_t(std::lround(accuracy(logits(x), y) * double(y.numel())));
    return double(right) / double(d.size());
  };
  double best_val = -1, test_at_best = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    train::Progress progress(fmt::format("rows: epoch {}/{}", epoch + 1, epochs), data.train.size());
    double running = 0;
    std::int64_t seen = 0;
    for (auto [x, y] : data.train.batches(32, {.shuffle = true, .seed = std::uint64_t(epoch)})) {
      std::optional<profile::Scope> scope;
      if (profile_steps) scope.emplace();
      Tensor cost = softmax_cross_entropy(logits(x), y);
      opt.zero_grad();
      cost.backward();
      opt.step();
      running += cost.item() * double(y.numel());
      seen += y.numel();
      progress.update(y.numel(), running / double(seen));
    }
    progress.finish();
    const double val = accuracy_on(data.validation), test = accuracy_on(data.test);
    if (val > best_val) best_val = val, test_at_best = test;
    fmt::print("rows: epoch {}  validation accuracy {:.4f}  test accuracy {:.4f}\n", epoch + 1, val, test);
  }
  fmt::print("rows: test accuracy {:.4f} at the best validation accuracy {:.4f}\n", test_at_best, best_val);
  if (profile_steps) print_profile();
}

/// Next-value prediction on a noisy sine wave, 5 % of the training targets replaced by outliers.
void sine_task(int epochs, std::int64_t hidden) {
  Generator gen(2);
  const std::int64_t n = 512, steps = 20;
  auto make = [&](std::int64_t count, bool outliers, Tensor& x, Tensor& y) {
    std::vector<double> xs, ys;
    std::normal_distribution<double> noise(0, 0.05);
    std::uniform_real_distribution<double> phase(0, 6.283185307179586), u(0, 1);
    for (std::int64_t i = 0; i < count; ++i) {
      const double p = phase(gen.engine());
      for (std::int64_t t = 0; t <= steps; ++t) {
        const double v = std::sin(p + 0.3 * double(t)) + noise(gen.engine());
        if (t < steps) xs.push_back(v);
        else ys.push_back(outliers && u(gen.engine()) < 0.05 ? 5.0 * (u(gen.engine()) - 0.5) * 4 : v);
      }
    }
    x = from_vector(std::span<const double>(xs), {count, steps, 1}, f64).to(f32);
    y = from_vector(std::span<const double>(ys), {count, 1}, f64).to(f32);
  };
  Tensor xtr, ytr, xte, yte;
  make(n, true, xtr, ytr);
  make(256, false, xte, yte);
  Lstm lstm(1, hidden, f32, gen);
  Tensor wo = randn({1, hidden}, f32, gen, 0, 0.1).requires_grad(true), bo = zeros({1}).requires_grad(true);
  optim::SGD opt({{"w", lstm.w, false}, {"b", lstm.b, false}, {"wo", wo, false}, {"bo", bo, false}},
                 {.lr = 0.05, .momentum = 0.9});
  auto predict = [&](const Tensor& x) {
    return matmul(select(lstm(x), 1, -1), wo, {.trans_b = true}) + bo;  // from the last step's h
  };
  for (int epoch = 0; epoch < epochs * 10; ++epoch) {
    for (std::int64_t b0 = 0; b0 < n; b0 += 32) {
      Tensor cost = huber(predict(narrow(xtr, 0, b0, 32)), narrow(ytr, 0, b0, 32), 1.0);
      opt.zero_grad();
      cost.backward();
      opt.step();
    }
  }
  NoGradGuard g;
  const double mse = mean(square(predict(xte) - yte)).item();
  const double last = mean(square(select(xte, 1, -1) - yte)).item();
  fmt::print("sine: test MSE {:.4f} with the Huber-trained LSTM, {:.4f} repeating the last value\n", mse, last);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"An LSTM, self-attention and a Huber loss written with nabla's tensor ops"};
  int epochs = 3;
  std::int64_t limit = 10000, hidden = 64;
  bool profile_steps = false;
  app.add_option("--epochs", epochs, "epochs of the Fashion-MNIST task (the sine task runs 10× as many)")
      ->check(cli_checks::positive);
  app.add_option("--limit", limit, "training images used (validation and test: a fifth as many)")->check(cli_checks::positive);
  app.add_option("--hidden", hidden, "LSTM units")->check(cli_checks::positive);
  app.add_flag("--profile", profile_steps, "time the Fashion-MNIST task's training steps op by op (nabla::profile)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!gradient_checks()) return 1;
    data::Split data = data::load_fashion_mnist();
    data.train = data.train.slice(0, std::min(limit, data.train.size()));
    data.validation = data.validation.slice(0, std::min(limit / 5, data.validation.size()));
    data.test = data.test.slice(0, std::min(limit / 5, data.test.size()));
    rows_task(data, epochs, hidden, profile_steps);
    sine_task(epochs, hidden);
  } catch (const Error& e) {
    fmt::print(stderr, "sequence: {}\n", e.what());
    return 1;
  }
  return 0;
}
