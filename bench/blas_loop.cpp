// bench/blas_loop.cpp — network.py's 784-30-10 sigmoid network trained by a hand-written C++ loop
// that calls OpenBLAS directly: no graph, no tensors, no allocation after set-up. It is the floor an
// autodiff framework is measured against (bench/run.sh sets it beside nabla's network1 rows).
// Forward and backward are the book's equations: z = w·a + b, a = σ(z); δ^L = (a^L − y) ⊙ σ′(z^L)
// (BP1, quadratic cost), δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ′(z^l) (BP2), ∂C/∂b = δ (BP3),
// ∂C/∂w = δ (a^{l−1})ᵀ (BP4); then w −= η/m · ∂C/∂w summed over the mini-batch.
//
//   bench_blas_loop [--model network1] --batch 10 [--mode train|infer] [--threads 1] [--steps 2000] [--warmup 200]
// Prints {"impl":"openblas-loop", "model":"network1", ..., "median_us", "min_us", "max_us", "peak_rss_kb"}.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <cblas.h>

#include <CLI/CLI.hpp>

#include "step_options.hpp"
#include "step_timing.hpp"

namespace {

float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

/// One layer's parameters (w [out, in] as in network.py), its activations and gradients for a batch.
struct Layer {
  int in, out;
  std::vector<float> w, b, z, a, delta, gw;
  Layer(int in, int out, int batch, std::mt19937& rng) : in(in), out(out) {
    std::normal_distribution<float> n01(0.0f, 1.0f);  // network.py: N(0, 1) weights and biases
    w.resize(std::size_t(out) * in);
    b.resize(std::size_t(out));
    for (float& v : w) v = n01(rng);
    for (float& v : b) v = n01(rng);
    z.resize(std::size_t(batch) * out);
    a.resize(z.size());
    delta.resize(z.size());
    gw.resize(w.size());
  }
  /// z = x wᵀ + b, a = σ(z) for a row-major batch x [batch, in].
  void forward(const float* x, int batch) {
    for (int r = 0; r < batch; ++r) std::copy(b.begin(), b.end(), z.begin() + std::ptrdiff_t(r) * out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, x, in, w.data(), in, 1.0f, z.data(), out);
    for (std::size_t i = 0; i < z.size(); ++i) a[i] = sigmoid(z[i]);
  }
  /// gw = δᵀ x (BP4), then the SGD update of w and b (BP3: ∂C/∂b = δ summed over the batch).
  void update(const float* x, int batch, float step) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, 1.0f, delta.data(), out, x, in, 0.0f, gw.data(), in);
    cblas_saxpy(int(w.size()), -step, gw.data(), 1, w.data(), 1);
    for (int r = 0; r < batch; ++r) {
      for (int j = 0; j < out; ++j) b[std::size_t(j)] -= step * delta[std::size_t(r) * out + j];
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"network.py as a plain OpenBLAS loop, for the side-by-side benchmarks"};
  StepOptions opts;
  auto& [model, mode, batch64, threads, steps, warmup] = opts;
  add_step_options(app, opts, {"network1"});  // network.py's network only
  CLI11_PARSE(app, argc, argv);
  const int batch = static_cast<int>(batch64);  // ≤ 100,000 (checked above)

  openblas_set_num_threads(threads);
  std::mt19937 rng(0);
  Layer l1(784, 30, batch, rng), l2(30, 10, batch, rng);
  std::vector<float> x(std::size_t(batch) * 784), y(std::size_t(batch) * 10, 0.0f);
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  for (float& v : x) v = u01(rng);
  for (int r = 0; r < batch; ++r) y[std::size_t(r) * 10 + std::size_t(r % 10)] = 1.0f;
  const float eta = 3.0f, step = eta / float(batch);

  auto train_step = [&] {
    l1.forward(x.data(), batch);
    l2.forward(l1.a.data(), batch);
    for (std::size_t i = 0; i < l2.a.size(); ++i) {  // BP1 with C = ½‖a − y‖²
      l2.delta[i] = (l2.a[i] - y[i]) * l2.a[i] * (1.0f - l2.a[i]);
    }
    // BP2: δ¹ = (δ² w²) ⊙ σ′(z¹), computed before w² changes.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, l1.out, l2.out, 1.0f, l2.delta.data(), l2.out,
                l2.w.data(), l2.in, 0.0f, l1.delta.data(), l1.out);
    for (std::size_t i = 0; i < l1.a.size(); ++i) l1.delta[i] *= l1.a[i] * (1.0f - l1.a[i]);
    l2.update(l1.a.data(), batch, step);
    l1.update(x.data(), batch, step);
  };
  auto infer_step = [&] {
    l1.forward(x.data(), batch);
    l2.forward(l1.a.data(), batch);
  };
  const std::vector<double> us = mode == "train" ? bench::time_steps(warmup, steps, train_step)
                                                 : bench::time_steps(warmup, steps, infer_step);
  bench::print_result("openblas-loop", model, mode, batch, threads, steps, us);
  return 0;
}
