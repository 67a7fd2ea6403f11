// bench/winograd.cpp — float32 3×3 stride-1 convolution (padding 1), the direct kernels against
// Winograd F(2×2, 3×3), forward (no graph) and input gradient, per shape: the evidence for the rule in
// src/kernels/conv_winograd.cpp (docs/design.md, "Winograd F(2×2, 3×3)"). The two algorithms alternate,
// round after round; each round times `calls` calls and the report gives the median and the min–max over
// rounds of the time per call, in µs of the thread's CPU time (so one thread only: --threads 1).
//   bench_winograd [--threads 1] [--rounds 7] [--ms 30] [--sweep]      (default: bn_cnn's layers at batch 64)
#include <time.h>

#include <algorithm>
#include <functional>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/kernels.hpp>
#include <nabla/nabla.hpp>

using namespace nabla;
using kernels::Conv3x3Algorithm;

namespace {

struct Shape4 {
  std::int64_t n, c, f, h;
};

// This thread's CPU time in µs: on a shared machine the wall clock counts other processes' turns too.
// (At one thread nabla's pool runs every loop on the calling thread.)
double cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) * 1e-3;
}

double time_call(const std::function<void()>& call, int calls) {
  const double t0 = cpu_us();
  for (int i = 0; i < calls; ++i) call();
  return (cpu_us() - t0) / calls;
}

struct Stat {
  double med, lo, hi;
};
Stat stat(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Winograd F(2x2, 3x3) against the direct 3x3 convolution"};
  int threads = 1, rounds = 7;
  double ms = 30;
  bool sweep = false;
  app.add_option("--threads", threads, "CPU time of the calling thread: only 1 measures the whole work")->check(CLI::Range(1, 256));
  app.add_option("--rounds", rounds)->check(CLI::Range(1, 1000));
  app.add_option("--ms", ms, "about this long per timing")->check(CLI::PositiveNumber);
  app.add_flag("--sweep", sweep, "a grid of channels, sizes and batches instead of bn_cnn's layers");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  inspect::set_warnings(false);

  std::vector<Shape4> shapes = {{64, 1, 32, 28}, {64, 32, 32, 28}, {64, 32, 64, 14}, {64, 64, 64, 14}};
  if (sweep) {
    shapes.clear();
    for (std::int64_t n : {1, 16, 64})
      for (std::int64_t h : {7, 14, 28, 56})
        for (std::int64_t c : {4, 8, 16, 32, 64, 128}) {
          if (n * c * h * h > 64 * 64 * 28 * 28) continue;
          shapes.push_back({n, c, c, h});
          if (c >= 8) shapes.push_back({n, c, c / 2, h});
        }
  }
  Generator gen(0);
  fmt::print("{:>4} {:>4} {:>4} {:>4} | {:>26} {:>26} {:>6} | {:>26} {:>26} {:>6}\n", "N", "C", "F", "H", "forward direct µs",
             "forward winograd µs", "ratio", "input grad direct µs", "input grad winograd µs", "ratio");
  for (const Shape4& s : shapes) {
    const Tensor x = uniform({s.n, s.c, s.h, s.h}, -1, 1, f32, gen), w = uniform({s.f, s.c, 3, 3}, -1, 1, f32, gen);
    const Tensor b = uniform({s.f}, -1, 1, f32, gen), gy = uniform({s.n, s.f, s.h, s.h}, -1, 1, f32, gen);
    const kernels::Window2d win{3, 3, 1, 1};
    NoGradGuard no_grad;
    const std::function<void()> fwd = [&] { kernels::conv2d_forward(x, w, b, win, false); };
    const std::function<void()> gx = [&] { kernels::conv2d_input_grad(w, gy, x.shape(), win); };
    std::vector<double> t[2][2];  // [forward, input grad][direct, winograd]
    int calls[2] = {1, 1};
    for (int k = 0; k < 2; ++k) {  // calls per timing from one warm-up call of the direct path
      kernels::set_conv3x3_algorithm(Conv3x3Algorithm::direct);
      const std::function<void()>& f = k == 0 ? fwd : gx;
      f();
      calls[k] = std::max(1, int(ms * 1000 / time_call(f, 1)));
      kernels::set_conv3x3_algorithm(Conv3x3Algorithm::winograd);
      f();
    }
    for (int r = 0; r < rounds; ++r) {
      for (int j = 0; j < 2; ++j) {
        const int a = (r + j) % 2;  // alternate which goes first
        kernels::set_conv3x3_algorithm(a == 0 ? Conv3x3Algorithm::direct : Conv3x3Algorithm::winograd);
        t[0][a].push_back(time_call(fwd, calls[0]));
        t[1][a].push_back(time_call(gx, calls[1]));
      }
    }
    std::string row = fmt::format("{:>4} {:>4} {:>4} {:>4}", s.n, s.c, s.f, s.h);
    for (int k = 0; k < 2; ++k) {
      const Stat d = stat(t[k][0]), wi = stat(t[k][1]);
      row += fmt::format(" | {:>10.1f} [{:>6.0f}–{:>6.0f}] {:>10.1f} [{:>6.0f}–{:>6.0f}] {:>6.2f}", d.med, d.lo, d.hi, wi.med, wi.lo,
                         wi.hi, d.med / wi.med);
    }
    fmt::print("{}\n", row);
    std::fflush(stdout);
  }
  kernels::set_conv3x3_algorithm(Conv3x3Algorithm::automatic);
  return 0;
}
