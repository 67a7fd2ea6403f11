// bench/micro.cpp — Google Benchmark micro-benchmarks of single ops at the book's shapes (float32,
// forward and forward + backward), and the per-op overhead of recording and backpropagating a tiny
// op. bench/run.sh runs it at one thread and adds the table to docs/benchmarks.md.
//   bench_micro [--benchmark_filter=conv]   (any Google Benchmark flag)
#include <benchmark/benchmark.h>
#include <nabla/nabla.hpp>

using namespace nabla;

namespace {

Tensor rnd(const Shape& s, bool grad = false) {
  static Generator gen(0);
  Tensor t = uniform(s, -1, 1, f32, gen);
  return grad ? t.requires_grad(true) : t;
}

// forward only (no graph), or forward + backward of sum(op(...)).
template <class F>
void run(benchmark::State& st, F f, std::vector<Tensor> in, bool backward) {
  if (!backward) {
    NoGradGuard g;
    for (auto _ : st) benchmark::DoNotOptimize(f(in).impl().get());
    return;
  }
  for (Tensor& t : in) {
    if (is_floating(t.dtype())) t.requires_grad(true);
  }
  for (auto _ : st) {
    Tensor out = f(in);
    out.backward(ones(out.shape(), out.dtype()));
    for (Tensor& t : in) {
      if (t.requires_grad()) t.zero_grad();
    }
  }
}

void matmul_nn(benchmark::State& st) {  // forward of a layer: [10, 784] · [784, 30]
  run(st, [](auto& v) { return matmul(v[0], v[1]); }, {rnd({10, 784}), rnd({784, 30})}, st.range(0));
}
void matmul_nt(benchmark::State& st) {  // x wᵀ, w [30, 784]
  run(st, [](auto& v) { return matmul(v[0], v[1], {.trans_b = true}); }, {rnd({10, 784}), rnd({30, 784})}, st.range(0));
}
void matmul_tn(benchmark::State& st) {  // the weight gradient's form: δᵀ a, [10, 30]ᵀ · [10, 784]
  run(st, [](auto& v) { return matmul(v[0], v[1], {.trans_a = true}); }, {rnd({10, 30}), rnd({10, 784})}, st.range(0));
}
void add_bias(benchmark::State& st) {  // broadcasting [10, 30] + [30]
  run(st, [](auto& v) { return v[0] + v[1]; }, {rnd({10, 30}), rnd({30})}, st.range(0));
}
void sigmoid_10x30(benchmark::State& st) {
  run(st, [](auto& v) { return sigmoid(v[0]); }, {rnd({10, 30})}, st.range(0));
}
void sigmoid_1000x30(benchmark::State& st) {
  run(st, [](auto& v) { return sigmoid(v[0]); }, {rnd({1000, 30})}, st.range(0));
}
void softmax_ce(benchmark::State& st) {  // [10, 10] logits, int64 labels
  Tensor y = arange(0, 10, 1, i64);
  run(st, [y](auto& v) { return softmax_cross_entropy(v[0], y); }, {rnd({10, 10})}, st.range(0));
}
void conv1(benchmark::State& st) {  // network3's first layer: [batch, 1, 28, 28] * 20@5×5
  const std::int64_t n = st.range(1);
  run(st, [](auto& v) { return conv2d(v[0], v[1], v[2]); }, {rnd({n, 1, 28, 28}), rnd({20, 1, 5, 5}), rnd({20})}, st.range(0));
}
// bn_cnn's 3×3 layers at batch 64 (padding 1, no bias: [64, C, H, H] * F@3×3 for (C, F, H) below), with
// the direct kernels (winograd 0) or Winograd F(2×2, 3×3) (winograd 1) forced; backward: x's and w's
// gradients (Winograd computes x's, the weight gradient stays direct).
void conv3x3(benchmark::State& st) {
  static const std::int64_t layers[4][3] = {{1, 32, 28}, {32, 32, 28}, {32, 64, 14}, {64, 64, 14}};
  const std::int64_t* l = layers[st.range(1)];
  const auto before = kernels::set_conv3x3_algorithm(st.range(2) != 0 ? kernels::Conv3x3Algorithm::winograd
                                                                         : kernels::Conv3x3Algorithm::direct);
  run(st, [](auto& v) { return conv2d(v[0], v[1], Tensor{}, {.padding = 1}); }, {rnd({64, l[0], l[2], l[2]}), rnd({l[1], l[0], 3, 3})},
      st.range(0));
  kernels::set_conv3x3_algorithm(before);
}
void conv2(benchmark::State& st) {  // the second: [batch, 20, 12, 12] * 40@5×5
  const std::int64_t n = st.range(1);
  run(st, [](auto& v) { return conv2d(v[0], v[1], v[2]); }, {rnd({n, 20, 12, 12}), rnd({40, 20, 5, 5}), rnd({40})}, st.range(0));
}
void maxpool(benchmark::State& st) {  // [10, 20, 24, 24], 2×2
  run(st, [](auto& v) { return max_pool2d(v[0], 2); }, {rnd({10, 20, 24, 24})}, st.range(0));
}

// The tensor surface (beside the same ops in PyTorch, bench/torch_micro.py): each at a model's
// size and at a tiny one, where the per-op cost is all there is.
Tensor labels_idx(std::int64_t n, std::int64_t k) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = (i * 7) % k;
  return from_vector(std::span<const std::int64_t>(v), {n, 1});
}
void surface_cat(benchmark::State& st) {  // [64, 128] and [64, 128] along 1, or [2, 3] and [2, 3]
  const bool tiny = st.range(1);
  const Shape s = tiny ? Shape{2, 3} : Shape{64, 128};
  run(st, [](auto& v) { return cat({v[0], v[1]}, 1); }, {rnd(s), rnd(s)}, st.range(0));
}
void surface_permute_sum(benchmark::State& st) {  // [32, 64, 64] permuted (2, 0, 1), summed over the last axis
  const bool tiny = st.range(1);
  run(st, [](auto& v) { return sum(permute(v[0], {2, 0, 1}), -1); }, {rnd(tiny ? Shape{2, 3, 4} : Shape{32, 64, 64})},
      st.range(0));
}
void surface_gather(benchmark::State& st) {  // x [1000, 10], one index per row along 1
  const bool tiny = st.range(1);
  const std::int64_t n = tiny ? 4 : 1000, k = tiny ? 3 : 10;
  Tensor idx = labels_idx(n, k);
  run(st, [idx](auto& v) { return gather(v[0], 1, idx); }, {rnd({n, k})}, st.range(0));
}
void surface_bmm(benchmark::State& st) {  // [32, 64, 64] · [32, 64, 64], or [2, 3, 3] · [2, 3, 3]
  const bool tiny = st.range(1);
  const Shape s = tiny ? Shape{2, 3, 3} : Shape{32, 64, 64};
  run(st, [](auto& v) { return matmul(v[0], v[1]); }, {rnd(s), rnd(s)}, st.range(0));
}
void surface_logsumexp(benchmark::State& st) {  // [1000, 10] over axis 1
  const bool tiny = st.range(1);
  run(st, [](auto& v) { return logsumexp(v[0], {1}); }, {rnd(tiny ? Shape{2, 3} : Shape{1000, 10})}, st.range(0));
}
void surface_where(benchmark::State& st) {  // where(x > 0, x, y) on [1000, 100]
  const bool tiny = st.range(1);
  const Shape s = tiny ? Shape{2, 3} : Shape{1000, 100};
  run(st, [](auto& v) { return where(v[0] > 0.0, v[0], v[1]); }, {rnd(s), rnd(s)}, st.range(0));
}

// The overhead of one recorded op: a chain of 100 tiny ops (x · 1.0001 on a 1-element tensor),
// recorded and backpropagated; the time per op is the total over 100.
void op_overhead(benchmark::State& st) {
  Tensor x = rnd({1}, true);
  for (auto _ : st) {
    Tensor y = x;
    for (int i = 0; i < 100; ++i) y = y * 1.0001;
    y.backward(ones({1}, f32));
    x.zero_grad();
  }
  st.SetItemsProcessed(st.iterations() * 100);
  st.counters["us_per_op"] = benchmark::Counter(double(st.iterations()) * 100, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

#define FWD_BWD(f) BENCHMARK(f)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)
FWD_BWD(matmul_nn);
FWD_BWD(matmul_nt);
FWD_BWD(matmul_tn);
FWD_BWD(add_bias);
FWD_BWD(sigmoid_10x30);
FWD_BWD(sigmoid_1000x30);
FWD_BWD(softmax_ce);
// conv at batch 10 and 64 (network3's two benchmark batches)
#define CONV(f) BENCHMARK(f)->ArgNames({"backward", "batch"})->ArgsProduct({{0, 1}, {10, 64}})->Unit(benchmark::kMicrosecond)
CONV(conv1);
CONV(conv2);
BENCHMARK(conv3x3)->ArgNames({"backward", "layer", "winograd"})->ArgsProduct({{0, 1}, {0, 1, 2, 3}, {0, 1}})->Unit(benchmark::kMicrosecond);
FWD_BWD(maxpool);
BENCHMARK(op_overhead)->Unit(benchmark::kMicrosecond);
#define SURFACE(f) BENCHMARK(f)->ArgNames({"backward", "tiny"})->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMicrosecond)
SURFACE(surface_cat);
SURFACE(surface_permute_sum);
SURFACE(surface_gather);
SURFACE(surface_bmm);
SURFACE(surface_logsumexp);
SURFACE(surface_where);

int main(int argc, char** argv) {
  inspect::set_warnings(false);
  set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
