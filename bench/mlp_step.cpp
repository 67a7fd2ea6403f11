// bench/mlp_step.cpp — median time of one training step of network.py's 784-30-10 sigmoid network
// (quadratic cost, batch 10, plain SGD update), float32: forward, backward and the update.
//
//   ./bench_mlp_step [steps]      (default 20000 timed steps after 2000 warm-up steps)
// Data are random (timing only); set OPENBLAS_NUM_THREADS to choose BLAS threads.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "op_shares.hpp"

using namespace nabla;

int main(int argc, char** argv) {
  inspect::set_warnings(false);  // network.py's sigmoid + quadratic pairing, on purpose
  const int steps = argc > 1 ? std::atoi(argv[1]) : 20000;
  if (steps <= 0) {
    fmt::print(stderr, "bench_mlp_step: steps must be a positive integer\n");
    return 2;
  }
  Generator gen(0);
  const std::int64_t batch = 10;
  Tensor w1 = randn({30, 784}, f32, gen).requires_grad(true);
  Tensor b1 = randn({30}, f32, gen).requires_grad(true);
  Tensor w2 = randn({10, 30}, f32, gen).requires_grad(true);
  Tensor b2 = randn({10}, f32, gen).requires_grad(true);
  Tensor x = uniform({batch, 784}, 0, 1, f32, gen);
  Tensor y = one_hot(arange(0, batch, 1, i64), 10);
  const double lr = 3.0;  // the book's η

  auto step = [&] {
    Tensor a1 = sigmoid(matmul(x, w1, {.trans_b = true}) + b1);
    Tensor a2 = sigmoid(matmul(a1, w2, {.trans_b = true}) + b2);
    Tensor cost = quadratic_cost(a2, y);
    for (Tensor* p : {&w1, &b1, &w2, &b2}) p->zero_grad();
    cost.backward();
    NoGradGuard no_grad;
    for (Tensor* p : {&w1, &b1, &w2, &b2}) p->add_(p->grad(), -lr);
  };

  for (int i = 0; i < 2000; ++i) step();
  std::vector<double> us(static_cast<std::size_t>(steps));
  for (auto& t : us) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * double(us.size() - 1))]; };
  fmt::print("784-30-10 sigmoid, quadratic cost, batch {}, f32: one SGD step (forward + backward + update)\n", batch);
  fmt::print("  median {:.2f} us   p10 {:.2f} us   p90 {:.2f} us   over {} steps\n", pct(0.5), pct(0.1), pct(0.9), steps);
  fmt::print("  = {:.3f} s per 60,000-example epoch at the median\n\n", pct(0.5) * 6000 / 1e6);
  fmt::print("{}", bench::op_shares("network1, batch 10", step, steps).text);
  return 0;
}
