// Bad input at the API level, part B (issue 28): numerics, autograd, modules, optimizers and the
// toolkit. One case per defect of the findings (D5 … D31), built from its reproducer: the error it
// now gives (type and message), or the result PyTorch gives.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Approx;
using doctest::Contains;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kI64Max = std::numeric_limits<std::int64_t>::max();

Tensor idx(std::vector<std::int64_t> v) { return from_vector(std::span<const std::int64_t>(v), Shape{std::int64_t(v.size())}); }

std::vector<bool> bools(const Tensor& t) {
  std::vector<bool> out;
  for (std::int64_t i = 0; i < t.numel(); ++i) out.push_back(t.data<bool>()[i]);
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  const auto va = a.to_vector(), vb = b.to_vector();
  for (std::size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

/// Lowers the BLAS's integer limit for one scope (what a product past 2^31 meets, at a size a test affords).
struct BlasLimit {
  std::int64_t old;
  explicit BlasLimit(std::int64_t limit) : old(detail::set_blas_int_limit(limit)) {}
  ~BlasLimit() { detail::set_blas_int_limit(old); }
  BlasLimit(const BlasLimit&) = delete;
  BlasLimit& operator=(const BlasLimit&) = delete;
};

struct ReturnsNothing {
  static constexpr std::string_view name = "returns_nothing";
  Tensor forward(Context&, const Tensor&) const { return {}; }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};

}  // namespace

TEST_CASE("D5: Sequential's operator[] checks the index, as ModuleList's") {
  nn::Sequential s{nn::Linear(2, 3), nn::ReLU()};
  CHECK(s[1].describe() == "ReLU");
  CHECK_THROWS_WITH_AS(s[7], "Sequential: index 7 is out of range for 2 modules", ValueError);
  CHECK_THROWS_WITH_AS(s[std::size_t(-1)], Contains("Sequential: index 18446744073709551615 is out of range"), ValueError);
}

TEST_CASE("D6: a GEMM past the BLAS's integer range is split (m, n, k and wide rows), the same as one call") {
  Generator gen(6);
  const Shape shapes[] = {{5, 7, 6}, {9, 4, 4}, {2, 9, 2}, {1, 13, 1}, {11, 1, 3}, {3, 3, 17}};
  for (Dtype dt : {f32, f64}) {
    const double tol = dt == f32 ? 1e-5 : 1e-12;
    for (const Shape& mkn : shapes) {
      const std::int64_t m = mkn[0], k = mkn[1], n = mkn[2];
      for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
          const Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}, dt, gen), b = randn(tb ? Shape{n, k} : Shape{k, n}, dt, gen);
          const Tensor one_call = kernels::gemm(a, b, ta, tb);
          for (std::int64_t limit : {1, 2, 3, 4, 8}) {
            BlasLimit lower(limit);
            CAPTURE(m); CAPTURE(k); CAPTURE(n); CAPTURE(ta); CAPTURE(tb); CAPTURE(limit);
            CHECK(max_abs_diff(kernels::gemm(a, b, ta, tb), one_call) <= tol);
          }
        }
      }
    }
  }
  // Through the ops: a batched matmul, a product large enough to be split over threads, a convolution.
  const Tensor a = randn({3, 5, 7}, f64, gen), b = randn({7, 4}, f64, gen);
  const Tensor big_a = randn({64, 256}, f32, gen), big_b = randn({256, 256}, f32, gen);
  const Tensor x = randn({2, 3, 8, 8}, f64, gen), w = randn({4, 3, 3, 3}, f64, gen), bias = randn({4}, f64, gen);
  const Tensor mm = matmul(a, b), big = matmul(big_a, big_b), conv = conv2d(x, w, bias, {.padding = 1});
  BlasLimit lower(3);
  CHECK(max_abs_diff(matmul(a, b), mm) <= 1e-12);
  CHECK(max_abs_diff(conv2d(x, w, bias, {.padding = 1}), conv) <= 1e-12);
  {
    BlasLimit wider(100);
    CHECK(max_abs_diff(matmul(big_a, big_b), big) <= 1e-3);
  }
  CHECK_THROWS_WITH_AS(detail::set_blas_int_limit(0), Contains("set_blas_int_limit: 0 is not in [1, 2147483647]"), ValueError);
}

TEST_CASE("D7: a backward started from a hook of another, through the same nodes, is a GraphError") {
  Tensor x = tensor({1, 2}, {2}, f64).requires_grad(true);
  Tensor h = sigmoid(x * 3.0), y = sum(h * h), z = sum(h);
  bool nest = true;
  h.register_hook([&](const Tensor& g) {
    if (nest) z.backward({.retain_graph = true});
    return g;
  });
  CHECK_THROWS_WITH_AS(y.backward({.retain_graph = true}),
                       "backward: node 'sigmoid' is in a backward that has not finished (one started from a hook of that "
                       "backward, or on another thread); backpropagate through the same nodes one backward at a time",
                       GraphError);
  CHECK_FALSE(x.grad().defined());
  // Nothing is left taken or half-summed: one after the other, the two give dy/dx + dz/dx.
  nest = false;
  y.backward({.retain_graph = true});
  z.backward({.retain_graph = true});
  CHECK(x.grad().at({0}) == Approx(0.393735).epsilon(1e-5));
  CHECK(x.grad().at({1}) == Approx(0.0221616).epsilon(1e-5));

  // A backward in a hook through other nodes is fine.
  Tensor u = tensor({3}, {1}, f64).requires_grad(true);
  Tensor v = tensor({2}, {1}, f64).requires_grad(true);
  Tensor hv = v * 2.0;
  hv.register_hook([&](const Tensor& g) {
    GradModeGuard record(true);  // a backward runs with recording off
    sum(u * u).backward();
    return g;
  });
  sum(hv * hv).backward();
  CHECK(u.grad().at({0}) == Approx(6));
  CHECK(v.grad().at({0}) == Approx(16));
}

TEST_CASE("D7: two threads backpropagating through one graph: each backward is whole or a GraphError") {
  Tensor x = tensor({1, 2, 3}, {3}, f64).requires_grad(true);
  Tensor t = x;
  for (int i = 0; i < 2000; ++i) t = t * 1.0;
  const Tensor y = sum(t);
  std::atomic<int> done{0}, refused{0}, other{0};
  auto work = [&] {
    for (int r = 0; r < 20; ++r) {
      try {
        y.backward({.retain_graph = true});
        ++done;
      } catch (const GraphError&) {
        ++refused;
      } catch (...) {
        ++other;
      }
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  CHECK(other == 0);
  CHECK(done + refused == 40);
  CHECK(done >= 1);
  for (std::int64_t i = 0; i < 3; ++i) CHECK(x.grad().at({i}) == double(done.load()));  // every whole backward counted once
}

TEST_CASE("D12: int64 tensors compared with a number that is no int64 compare in float64, as PyTorch") {
  const Tensor labels = idx({0, 1, 2});
  CHECK(bools(lt(labels, 0.5)) == std::vector<bool>{true, false, false});
  CHECK(bools(labels < 0.5) == std::vector<bool>{true, false, false});
  CHECK(bools(le(labels, 1.5)) == std::vector<bool>{true, true, false});
  CHECK(bools(gt(labels, 0.5)) == std::vector<bool>{false, true, true});
  CHECK(bools(ge(labels, -0.5)) == std::vector<bool>{true, true, true});
  CHECK(bools(eq(idx({1, 2}), 1.5)) == std::vector<bool>{false, false});
  CHECK(bools(ne(idx({1, 2}), 1.5)) == std::vector<bool>{true, true});
  CHECK(bools(ge(idx({1, 2}), kNaN)) == std::vector<bool>{false, false});
  CHECK(bools(eq(idx({1, 2}), kNaN)) == std::vector<bool>{false, false});
  CHECK(bools(ne(idx({1, 2}), kNaN)) == std::vector<bool>{true, true});
  CHECK(bools(gt(idx({kI64Max}), 1e19)) == std::vector<bool>{false});
  CHECK(bools(lt(idx({std::numeric_limits<std::int64_t>::min()}), -1e19)) == std::vector<bool>{false});
  CHECK(where(labels < 0.5, 1.0, zeros({3})).to_vector() == std::vector<double>{1, 0, 0});
  // An integer the dtype holds still compares exactly in int64 (2^53 + 1 is not 2^53).
  CHECK(bools(eq(idx({(std::int64_t(1) << 53) + 1}), 9007199254740992.0)) == std::vector<bool>{false});
  CHECK(bools(gt(idx({(std::int64_t(1) << 53) + 1}), 9007199254740992.0)) == std::vector<bool>{true});
  // A bool mask against 0.5.
  CHECK(bools(lt(labels > 0.5, 0.5)) == std::vector<bool>{true, false, false});
}

TEST_CASE("D13: relu keeps NaN, as PyTorch (forward, backward, nn::ReLU)") {
  for (Dtype dt : {f32, f64}) {
    Tensor x = tensor({kNaN, -1, 2, 0}, {4}, dt).requires_grad(true);
    const Tensor y = relu(x);
    CHECK(std::isnan(y.at({0})));
    CHECK(y.at({1}) == 0);
    CHECK(y.at({2}) == 2);
    CHECK(y.at({3}) == 0);
    CHECK(std::isnan(nn::ReLU()(x).at({0})));
    sum(y * tensor({1, 1, 1, 1}, {4}, dt)).backward();
    CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 1, 0});  // torch: 1 at NaN (x ≤ 0 is false there)
    const Tensor g = grad({sum(relu(x))}, {x}, {}, {.create_graph = true})[0];
    CHECK(g.to_vector() == std::vector<double>{1, 0, 1, 0});
  }
}

TEST_CASE("D19: binary_cross_entropy refuses probabilities and targets outside [0, 1], as PyTorch") {
  CHECK_THROWS_WITH_AS(binary_cross_entropy(tensor({1.5}, {1}), tensor({1}, {1})),
                       "binary_cross_entropy: prediction element 0 of [1] is 1.5; expected probabilities in [0, 1] (on "
                       "logits, use binary_cross_entropy_with_logits)",
                       ValueError);
  CHECK_THROWS_WITH_AS(binary_cross_entropy(tensor({0.5, -0.25}, {2}), tensor({1, 0}, {2})),
                       Contains("prediction element 1 of [2] is -0.25"), ValueError);
  CHECK_THROWS_WITH_AS(binary_cross_entropy(tensor({0.5}, {1}), tensor({2}, {1})),
                       "binary_cross_entropy: target element 0 of [1] is 2; expected probabilities in [0, 1]", ValueError);
  CHECK_THROWS_WITH_AS(binary_cross_entropy(tensor({kNaN}, {1}, f64), tensor({1}, {1}, f64)), Contains("is nan"), ValueError);
  CHECK_THROWS_WITH_AS(binary_cross_entropy(tensor({0.5}, {1}), tensor({kNaN}, {1})), Contains("target element 0"), ValueError);
  // The ends are probabilities.
  CHECK(binary_cross_entropy(tensor({0, 1}, {2}, f64), tensor({0, 1}, {2}, f64)).item() == 0);
  // On logits the target is not checked, as BCEWithLogitsLoss: max(z, 0) − z y + ln(1 + e^−|z|).
  CHECK(binary_cross_entropy_with_logits(tensor({0}, {1}, f64), tensor({-2}, {1}, f64)).item() == Approx(std::log(2.0)));
}

TEST_CASE("D20: a gradient of another dtype than its leaf's (Module::to between forward and backward) is a GraphError") {
  nn::Linear l(2, 1);
  const Tensor y = sum(l(ones({1, 2})));
  l.to(f64);
  CHECK_THROWS_WITH_AS(y.backward(), Contains("reached a leaf that is now float64"), GraphError);
  CHECK_FALSE(l.bias().grad().defined());
  CHECK_FALSE(l.weight().grad().defined());
  // After converting, a new forward trains as usual.
  sum(l(ones({1, 2}, f64))).backward();
  CHECK(l.weight().grad().dtype() == f64);
}

TEST_CASE("D21: an optimizer made before Module::to names itself and the parameter, and does not count the step") {
  {
    nn::Linear l(2, 1);
    optim::Adam o(l.parameters());
    l.to(f64);
    sum(l(ones({1, 2}, f64))).backward();
    CHECK_THROWS_WITH_AS(o.step(), Contains("Adam.step: parameter 'weight' is float64 [1, 2] but its 'exp_avg' buffer is float32 [1, 2]"),
                         ValueError);
    CHECK(o.steps() == 0);
    CHECK(l.weight().dtype() == f64);
  }
  {
    nn::Linear l(2, 1);
    optim::SGD o(l.parameters(), {.lr = 0.1, .momentum = 0.9});
    l.to(f64);
    sum(l(ones({1, 2}, f64))).backward();
    const Tensor before = l.weight().detach().clone();
    CHECK_THROWS_WITH_AS(o.step(), Contains("SGD.step: parameter 'weight' is float64 [1, 2] but its 'velocity' buffer"),
                         ValueError);
    CHECK(o.steps() == 0);
    CHECK(max_abs_diff(l.weight(), before) == 0);
  }
  {
    nn::Linear l(2, 1);  // plain SGD keeps no buffers: converting is fine
    optim::SGD o(l.parameters(), {.lr = 0.1});
    l.to(f64);
    sum(l(ones({1, 2}, f64))).backward();
    o.step();
    CHECK(o.steps() == 1);
  }
}

TEST_CASE("D22: BatchNorm counts a batch once batch_norm accepted it, in int64") {
  nn::BatchNorm1d b(3);
  auto count = [&] { return b.state().at("num_batches_tracked").data<std::int64_t>()[0]; };
  CHECK_THROWS_AS(b(ones({1, 3})), ValueError);
  CHECK(count() == 0);
  b(randn({4, 3}));
  CHECK(count() == 1);
  auto state = b.state();
  const std::int64_t huge = kI64Max;
  state["num_batches_tracked"] = from_vector(std::span<const std::int64_t>(&huge, 1), Shape{});
  b.load_state(state);
  b(randn({4, 3}));
  CHECK(count() == kI64Max);
}

TEST_CASE("D23: optimizers refuse an empty parameter list and parameters that are not leaves") {
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<nn::Param>{}, {.lr = 0.1}), "SGD: optimizer got an empty parameter list", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam(std::vector<nn::Param>{}), "Adam: optimizer got an empty parameter list", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<optim::ParamGroup>{}, {.lr = 0.1}), "SGD: optimizer got an empty parameter list",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<optim::ParamGroup>{{}, {}}, {.lr = 0.1}),
                       "SGD: optimizer got an empty parameter list", ValueError);
  const Tensor w = ones({2}).requires_grad(true);
  const Tensor v = w * 2.0;
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<nn::Param>{{"v", v, true}}, {.lr = 0.1}),
                       "SGD: parameter 'v' (float32 [2]) is not a leaf: it was computed by mul_scalar; optimize the tensors "
                       "it was computed from",
                       ValueError);
}

TEST_CASE("D24: hyper-parameters that are NaN, infinite or out of range are refused") {
  const Tensor w = ones({2}).requires_grad(true);
  const std::vector<nn::Param> ps{{"w", w, true}};
  const Tensor x = tensor({1, -2, 3}, {3}, f64);
  // 1-3: SGD's l1 NaN or infinite, clip_norm NaN.
  CHECK_THROWS_WITH_AS(optim::SGD(ps, {.lr = 0.1, .l1 = kNaN, .n = 1}), Contains("SGD: l2 and l1 must be finite numbers ≥ 0"),
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD(ps, {.lr = 0.1, .l1 = kInf, .n = 1}), Contains("got 0 and inf"), ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD(ps, {.lr = 0.1, .clip_norm = kNaN}), "SGD: clip_norm must be ≥ 0, got nan", ValueError);
  // 4-6: randn's stddev negative or NaN, mean infinite (stddev 0 is the mean).
  CHECK_THROWS_WITH_AS(randn({2}, f32, default_generator(), 0, -1), Contains("randn: need a finite mean and a finite stddev ≥ 0"),
                       ValueError);
  CHECK_THROWS_AS(randn({2}, f32, default_generator(), 0, kNaN), ValueError);
  CHECK_THROWS_AS(randn({2}, f32, default_generator(), kInf, 1), ValueError);
  CHECK(randn({3}, f64, default_generator(), 2.5, 0).to_vector() == std::vector<double>{2.5, 2.5, 2.5});
  // 7-8: uniform over a range that is not finite.
  CHECK_THROWS_WITH_AS(uniform({2}, 0, kInf), Contains("uniform: the range [0, inf) is not finite"), ValueError);
  CHECK_THROWS_WITH_AS(uniform({2}, -1e308, 1e308), Contains("is not finite"), ValueError);
  // 9-11: clamp with a NaN bound gives NaN everywhere, as torch.clamp (gradient 0).
  for (const Tensor& c : {clamp(x, kNaN, kNaN), clamp_min(x, kNaN), clamp_max(x, kNaN), clamp(x, 0, kNaN)}) {
    for (double v : c.to_vector()) CHECK(std::isnan(v));
  }
  Tensor xg = x.detach().clone().requires_grad(true);
  sum(clamp_min(xg, kNaN)).backward();
  CHECK(xg.grad().to_vector() == std::vector<double>{0, 0, 0});
  // 12-13: softplus with beta 0 or a NaN threshold.
  CHECK_THROWS_WITH_AS(softplus(x, 0), "softplus: need a finite beta ≠ 0 and a threshold that is a number, got beta 0 and threshold 20",
                       ValueError);
  CHECK_THROWS_WITH_AS(softplus(x, 1, kNaN), Contains("threshold nan"), ValueError);
  // 14: var with a NaN correction.
  CHECK_THROWS_WITH_AS(var(x, {}, kNaN), "var: correction must be a finite number, got nan", ValueError);
  // 15: data::normalize with a NaN mean.
  const double mean = kNaN, sd = 1;
  CHECK_THROWS_WITH_AS(data::normalize(ones({1, 1, 2, 2}), std::span(&mean, 1), std::span(&sd, 1)),
                       "normalize: mean nan is not finite", ValueError);
  // 16-18: inspect's options.
  nn::Sequential net{nn::Linear(3, 2), nn::Sigmoid()};
  const Tensor in = randn({4, 3}), target = uniform({4, 2}, 0, 1);
  CHECK_THROWS_WITH_AS(inspect::learning_speed(net, in, target, inspect::Cost::quadratic, kNaN),
                       "learning_speed: saturation is nan; expected a derivative σ′ in [0, 1]", ValueError);
  CHECK_THROWS_WITH_AS(inspect::sharpness(net, in, target, [](const Tensor& a, const Tensor& t) { return quadratic_cost(a, t); },
                                          {.tolerance = -1}),
                       "sharpness: tolerance must be a finite number ≥ 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(inspect::to_dot(sum(net(in)), {.max_depth = -5}), "to_dot: max_depth must be ≥ 0, got -5", ValueError);
}

TEST_CASE("D27: the toolkit and the kernels check what would otherwise read out of bounds") {
  auto plus = [](auto p, auto q) { return p + q; };
  CHECK_THROWS_WITH_AS(zip(ones({4096}), ones({2}), plus), "zip: shapes differ: [4096] and [2]; expected one shape", ShapeError);
  CHECK_THROWS_WITH_AS(zip(ones({2}), ones({2}, f64), plus), Contains("zip: dtypes differ"), ValueError);
  CHECK_THROWS_WITH_AS(zip3(ones({2}), ones({2}), ones({3}), [](auto p, auto q, auto r) { return p + q + r; }),
                       Contains("zip3: shapes differ"), ShapeError);
  CHECK_THROWS_WITH_AS(broadcast_zip(ones({2}), ones({2}), Shape{4096}, plus), "broadcast_zip: [2] does not broadcast to [4096]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(broadcast_zip(ones({2, 3}), ones({3}), Shape{3}, plus), Contains("[2, 3] does not broadcast to [3]"),
                       ShapeError);
  CHECK(broadcast_zip(ones({2, 1}), ones({3}), Shape{2, 3}, plus).to_vector() == std::vector<double>(6, 2.0));
  CHECK_THROWS_WITH_AS(split_at(Shape{2, 3}, 9), Contains("split_at: axis 9 is out of range for shape [2, 3]"), ValueError);
  CHECK_THROWS_WITH_AS(split_at(Shape{2, 3}, -1), Contains("split_at: axis -1"), ValueError);
  CHECK_THROWS_WITH_AS(kernels::gemm(ones({2, 3}), ones({2, 2}), false, false),
                       "kernels::gemm: inner dimensions differ: a is [2, 3], b is [2, 2]; need op(a)'s columns == op(b)'s rows",
                       ShapeError);
  CHECK_THROWS_WITH_AS(kernels::gemm(ones({2, 3}), ones({3}), false, false), Contains("expected 2-d a and b"), ShapeError);
  CHECK(kernels::gemm(ones({3, 2}), ones({3, 2}), true, false).to_vector() == std::vector<double>(4, 3.0));
  CHECK_THROWS_WITH_AS(kernels::gemm_batched(ones({2, 2, 3}), ones({2, 2}), false, false, Shape{2}),
                       Contains("kernels::gemm_batched: inner dimensions differ"), ShapeError);
  CHECK_THROWS_WITH_AS(kernels::sum_axis(ones({2, 3}), 7, {2}), Contains("kernels::sum_axis: axis 7 is out of range for [2, 3]"),
                       ValueError);
  CHECK_THROWS_WITH_AS(kernels::sum_axis(ones({2, 3}), 1, {3}), Contains("out_shape [3] does not hold [2, 3] summed over axis 1"),
                       ShapeError);
  // A custom op whose forward returns an undefined tensor: the same GraphError, recorded or not.
  CHECK_THROWS_WITH_AS(apply(ReturnsNothing{}, ones({2})), "returns_nothing: forward returned an undefined tensor", GraphError);
  CHECK_THROWS_WITH_AS(apply(ReturnsNothing{}, ones({2}).requires_grad(true)), "returns_nothing: forward returned an undefined tensor",
                       GraphError);
  NoGradGuard no_grad;
  CHECK_THROWS_AS(apply(ReturnsNothing{}, ones({2}).requires_grad(true)), GraphError);
}

TEST_CASE("D30: accuracy refuses labels out of range, as the costs do") {
  const Tensor z = tensor({0, 1, 0, 1, 0, 0}, {2, 3});
  CHECK_THROWS_WITH_AS(accuracy(z, idx({7, -3})), "accuracy: label 7 at row 0 is out of range for 3 classes", ValueError);
  CHECK_THROWS_WITH_AS(accuracy(z, idx({1, -3})), "accuracy: label -3 at row 1 is out of range for 3 classes", ValueError);
  CHECK(accuracy(z, idx({1, 2})) == 0.5);
}

TEST_CASE("D31: max_pool2d lets a NaN anywhere in the window win, as PyTorch") {
  for (Dtype dt : {f32, f64}) {
    CHECK(std::isnan(max_pool2d(tensor({1, kNaN, 3, 4}, {1, 1, 2, 2}, dt), 2).item()));
    CHECK(std::isnan(max_pool2d(tensor({1, 2, 3, kNaN}, {1, 1, 2, 2}, dt), 2).item()));
    CHECK(std::isnan(max_pool2d(tensor({kNaN, 2, 3, 4}, {1, 1, 2, 2}, dt), 2).item()));
    // A plane wide enough for the vector loops (every level), NaN at each of the four places of some
    // windows: those windows are NaN, the others their maximum; the gradient goes to the NaN.
    const std::int64_t h = 4, w = 70;
    Generator gen(31);
    Tensor x = randn({2, 1, h, w}, dt, gen);
    std::vector<double> v = x.to_vector();
    std::vector<std::int64_t> nan_at;
    for (std::int64_t j = 0; j < w / 2; j += 3) {
      const std::int64_t q = j % 4, i = (j / 3) % 2;
      const std::int64_t at = (2 * i + q / 2) * w + 2 * j + q % 2;
      v[std::size_t(at)] = kNaN;
      nan_at.push_back(at);
    }
    x = from_vector(std::span<const double>(v), x.shape(), dt).requires_grad(true);
    const Tensor y = max_pool2d(x, 2);
    for (std::int64_t i = 0; i < h / 2; ++i) {
      for (std::int64_t j = 0; j < w / 2; ++j) {
        bool has_nan = false;
        double best = -kInf;
        for (std::int64_t p = 0; p < 2; ++p) {
          for (std::int64_t q = 0; q < 2; ++q) {
            const double e = v[std::size_t((2 * i + p) * w + 2 * j + q)];
            has_nan = has_nan || std::isnan(e);
            best = std::max(best, e);
          }
        }
        CAPTURE(i); CAPTURE(j);
        if (has_nan) CHECK(std::isnan(y.at({0, 0, i, j})));
        else CHECK(y.at({0, 0, i, j}) == best);
      }
    }
    sum(max_pool2d(x, 2)).backward();
    for (std::int64_t at : nan_at) CHECK(x.grad().at({0, 0, at / w, at % w}) == 1);
    // A 3×3 window, stride 1 (the general loop): every window touching the NaN is NaN.
    const Tensor g = max_pool2d(tensor({1, 2, 3, 4, kNaN, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4}, dt), 3, 1);
    CHECK(std::isnan(g.at({0, 0, 0, 0})));
    CHECK(std::isnan(g.at({0, 0, 1, 0})));
    CHECK(g.at({0, 0, 0, 1}) == 12);
    CHECK(g.at({0, 0, 1, 1}) == 16);
  }
}
