// bench/cnn_step.cpp — median time of one training step of network3.py's CNN (float32: forward,
// backward and SGD update) at batch 10 and 64.
//
//   ./bench_cnn_step [steps]        (default 300 timed steps per batch size, after 30 warm-up steps)
// Data are random (timing only); set OPENBLAS_NUM_THREADS to choose BLAS threads. The split
// between convolution forward, convolution backward and the rest comes from a second pass of the
// same steps under nabla::profile, which times each op inside the real step; it is given as shares
// of that pass's mean step time.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "op_shares.hpp"

using namespace nabla;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double time_us(F f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
  if (steps <= 0) {
    fmt::print(stderr, "bench_cnn_step: steps must be a positive integer\n");
    return 2;
  }
  fmt::print("network3 CNN (conv 20@5×5, pool, conv 40@5×5, pool, FC 100, softmax 10), float32, SGD step, {} BLAS thread(s)\n",
             num_threads());
  fmt::print("{:>5} {:>11} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}\n", "batch", "median µs", "p10", "p90", "ex/s",
             "GFLOP/s", "conv fwd", "conv bwd", "rest");
  std::string shares;
  for (std::int64_t batch : {10, 64}) {
    Generator gen(0);
    nn::Conv2d c1(1, 20, 5, {}, gen), c2(20, 40, 5, {}, gen);
    nn::Linear f1(640, 100, {}, gen), f2(100, 10, {}, gen);
    optim::SGD opt([&] {
      std::vector<nn::Param> p;
      for (nn::Module* m : std::initializer_list<nn::Module*>{&c1, &c2, &f1, &f2}) {
        for (auto& q : m->parameters()) p.push_back(q);
      }
      return p;
    }(), {.lr = 0.03});
    Tensor x = uniform({batch, 1, 28, 28}, 0, 1, f32, gen);
    Tensor y = arange(0, double(batch), 1, i64);
    for (std::int64_t i = 0; i < batch; ++i) y.set({i}, double(i % 10));

    auto step = [&] {
      Tensor h1 = relu(max_pool2d(c1(x), 2));
      Tensor h2 = relu(max_pool2d(c2(h1), 2));
      Tensor z = f2(relu(f1(flatten(h2))));
      Tensor cost = softmax_cross_entropy(z, y);
      opt.zero_grad();
      cost.backward();
      opt.step();
    };
    for (int i = 0; i < 30; ++i) step();
    std::vector<double> t_step;
    for (int i = 0; i < steps; ++i) t_step.push_back(time_us(step));
    // The split: the same steps again, each op timed inside them.
    const bench::OpShares split = bench::op_shares(fmt::format("network3, batch {}", batch), step, steps);
    const profile::OpStats conv = profile::totals()["conv2d"];
    const double profiled_total = split.step_us * steps;
    const double fwd_share = conv.forward_us / profiled_total, bwd_share = conv.backward_us / profiled_total;
    std::sort(t_step.begin(), t_step.end());
    const double s = median(t_step);
    // Multiply-adds per example: conv1 20·25·24·24, conv2 40·500·8·8, FC 640·100 and 100·10; training
    // does each forward once and each backward GEMM it needs (no input gradient for conv1).
    const double macs = 2.0 * 20 * 25 * 24 * 24 + 3.0 * 40 * 500 * 8 * 8 + 3.0 * 640 * 100 + 3.0 * 100 * 10;
    fmt::print("{:>5} {:>11.1f} {:>10.1f} {:>10.1f} {:>10.0f} {:>9.1f} {:>8.0f}% {:>8.0f}% {:>8.0f}%\n", batch, s,
               t_step[t_step.size() / 10], t_step[t_step.size() * 9 / 10], double(batch) / s * 1e6,
               2 * macs * double(batch) / s / 1e3, 100 * fwd_share, 100 * bwd_share, 100 * (1 - fwd_share - bwd_share));
    shares += '\n';
    shares += split.text;
  }
  fmt::print("{}", shares);
  return 0;
}
