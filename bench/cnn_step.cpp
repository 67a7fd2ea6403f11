// bench/cnn_step.cpp — time of one training step of network3.py's CNN (float32), and how it splits
// between convolution forward, convolution backward, and everything else.
//
//   ./bench_cnn_step [steps]        (default 300 timed steps per batch size, after 30 warm-up steps)
// The conv parts are timed on their own with the same shapes as in the step: forward as the two
// conv2d calls, backward as a backward pass through just those two ops. "rest" is the step minus
// both. Data are random (timing only); set OPENBLAS_NUM_THREADS or pass --threads via the env.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

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
  fmt::print("{:>5} {:>11} {:>10} {:>12} {:>13} {:>10} {:>11} {:>12}\n", "batch", "step (µs)", "ex/s", "conv fwd",
             "conv bwd", "rest", "conv GFLOP/s", "conv share");
  for (std::int64_t batch : {10, 64}) {
    Generator gen(0);
    nn::Conv2d c1(1, 20, 5, {}, gen), c2(20, 40, 5, {}, gen);
    nn::Linear f1(640, 100, {}, gen), f2(100, 10, {}, gen);
    optim::Sgd opt([&] {
      std::vector<nn::Param> p;
      for (nn::Module* m : std::initializer_list<nn::Module*>{&c1, &c2, &f1, &f2}) {
        for (auto& q : m->parameters()) p.push_back(q);
      }
      return p;
    }(), {.lr = 0.03});
    Tensor x = uniform({batch, 1, 28, 28}, 0, 1, f32, gen);
    Tensor y = arange(0, double(batch), 1, i64);
    for (std::int64_t i = 0; i < batch; ++i) y.set({i}, double(i % 10));

    Tensor h1;  // input of the second convolution, kept for the conv-only timings
    auto step = [&] {
      h1 = relu(max_pool2d(c1(x), 2));
      Tensor h2 = relu(max_pool2d(c2(h1), 2));
      Tensor z = f2(relu(f1(flatten(h2))));
      Tensor cost = softmax_cross_entropy(z, y);
      opt.zero_grad();
      cost.backward();
      opt.step();
    };
    for (int i = 0; i < 30; ++i) step();
    std::vector<double> t_step, t_fwd, t_bwd;
    for (int i = 0; i < steps; ++i) t_step.push_back(time_us(step));
    const Tensor h1_in = h1.detach().requires_grad(true);
    for (int i = 0; i < steps; ++i) {
      {
        NoGradGuard no_grad;
        t_fwd.push_back(time_us([&] {
          c1(x);
          c2(h1_in);
        }));
      }
      Tensor o1 = c1(x), o2 = c2(h1_in);
      Tensor g1 = ones_like(o1), g2 = ones_like(o2);
      t_bwd.push_back(time_us([&] {
        o1.backward(g1);
        o2.backward(g2);
      }));
      opt.zero_grad();
    }
    const double s = median(t_step), f = median(t_fwd), b = median(t_bwd);
    // Multiply-adds: conv1 20·1·25·24·24, conv2 40·20·25·8·8 per example; backward does the weight
    // gradient of both and the input gradient of conv2 (conv1's input needs none).
    const double fwd_flop = 2.0 * double(batch) * (20.0 * 25 * 24 * 24 + 40.0 * 20 * 25 * 8 * 8);
    const double bwd_flop = 2.0 * double(batch) * (20.0 * 25 * 24 * 24 + 2 * 40.0 * 20 * 25 * 8 * 8);
    fmt::print("{:>5} {:>11.1f} {:>10.0f} {:>7.1f} ({:>2.0f}%) {:>7.1f} ({:>2.0f}%) {:>6.1f} ({:>2.0f}%) {:>11.1f} {:>11.0f}%\n",
               batch, s, double(batch) / s * 1e6, f, 100 * f / s, b, 100 * b / s, s - f - b, 100 * (s - f - b) / s,
               (fwd_flop + bwd_flop) / (f + b) / 1e3, 100 * (f + b) / s);
  }
  return 0;
}
