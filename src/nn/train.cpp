// src/nn/train.cpp — evaluation and the progress bar.
#include "nabla/train.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "../parallel.hpp"

namespace nabla {

namespace train {

Evaluation evaluate(nn::Module& model, const data::Dataset& data, const CostFunction& cost, std::int64_t batch_size) {
  check_callable("evaluate", "cost", cost);
  Evaluation e;
  if (data.empty()) return e;
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  double total_cost = 0;
  try {
    for (auto [x, y] : data.batches(batch_size)) {
      Tensor out = model(x);
      total_cost += cost(out, y).item() * double(y.numel());
      const Tensor predicted = argmax(out, 1);
      const std::int64_t* pp = predicted.data<std::int64_t>();
      const std::int64_t* py = y.data<std::int64_t>();
      for (std::int64_t i = 0, n = y.numel(); i < n; ++i) e.correct += pp[i] == py[i];
      e.examples += y.numel();
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  e.cost = total_cost / double(e.examples);
  e.accuracy = double(e.correct) / double(e.examples);
  return e;
}

Progress::Progress(std::string label, std::int64_t total, std::FILE* out)
    : label_(std::move(label)), total_(total), out_(out), tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(std::int64_t examples, double running_cost) {
  done_ += examples;
  cost_ = running_cost;
  const auto now = std::chrono::steady_clock::now();
  if (tty_ && now - last_draw_ > std::chrono::milliseconds(150)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() { draw(true); }

void Progress::draw(bool final) {
  constexpr int kWidth = 24;
  const double frac = total_ > 0 ? std::min(1.0, double(done_) / double(total_)) : 1.0;
  const int filled = static_cast<int>(frac * kWidth);
  const double secs = seconds();
  const double rate = secs > 0 ? double(done_) / secs : 0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : 0;
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(kWidth - filled), '.');
  const std::string tail = final ? fmt::format("{:.1f}s", secs) : fmt::format("ETA {}:{:02d}", int(eta) / 60, int(eta) % 60);
  const std::string line = fmt::format("{} [{}] {:3.0f}%  {:>7.0f} ex/s  cost {:.4f}  {}", label_, bar, frac * 100, rate, cost_, tail);
  if (tty_) fmt::print(out_, "\r{}\033[K{}", line, final ? "\n" : "");
  else if (final) fmt::print(out_, "{}\n", line);
  std::fflush(out_);
}

}  // namespace train
}  // namespace nabla
