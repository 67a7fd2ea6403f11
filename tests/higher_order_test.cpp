// higher order: create_graph, grad(), gradients of gradients, the mark on ops without a second
// derivative, and no cycles or leaks between a graph and the gradients it produced.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;
using nabla_test::param;

namespace {

// A custom op whose backward is a raw loop and does not declare differentiable_backward.
struct RawCube {
  static constexpr std::string_view name = "raw_cube";
  Tensor forward(Context& ctx, const Tensor& x) const {
    ctx.save(x);
    return map(x, [](auto v) { return v * v * v; });
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    return {zip(gy, ctx.saved(0), [](auto g, auto v) { return 3 * v * v * g; })};
  }
};

// Declares differentiable_backward but keeps an intermediate of forward (s = σ(x)) that depends on
// x as a constant: its second derivative is wrong, and gradgradcheck must say so.
struct SwishKeepingS {
  static constexpr std::string_view name = "swish_keeping_s";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor s = sigmoid(x);
    ctx.save(x, s);
    return x * s;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, s] = ctx.saved<2>();
    return {gy * (s + x * s * (1.0 - s))};
  }
};

}  // namespace

TEST_CASE("higher order: d/dx of x³ three times over, by grad() and by backward(create_graph)") {
  Tensor x = tensor({0.5, -2.0, 3.0}, {3}, f64).requires_grad(true);
  Tensor y = sum(x * x * x);
  const auto g = grad({y}, {x}, {}, {.create_graph = true});
  CHECK(g[0].requires_grad());
  CHECK(g[0].to_vector() == std::vector<double>{0.75, 12.0, 27.0});  // 3x²
  const auto h = grad({sum(g[0])}, {x}, {}, {.create_graph = true});
  CHECK(h[0].to_vector() == std::vector<double>{3.0, -12.0, 18.0});  // 6x
  const auto t = grad({sum(h[0])}, {x});
  CHECK(t[0].to_vector() == std::vector<double>{6.0, 6.0, 6.0});
  CHECK_FALSE(x.grad().defined());  // grad() leaves .grad alone

  // The same through .grad: backward with create_graph, then backward of the gradient.
  Tensor w = tensor({1.0, 2.0}, {2}, f64).requires_grad(true);
  sum(w * w * w).backward({.create_graph = true});
  Tensor gw = w.grad();
  CHECK(gw.requires_grad());
  CHECK(gw.to_vector() == std::vector<double>{3.0, 12.0});
  w.zero_grad();
  sum(gw).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{6.0, 12.0});
}

TEST_CASE("higher order: grad() for non-leaf inputs, several outputs, grad_outputs and unused inputs") {
  Generator gen(5);
  Tensor x = param({3}, gen), b = param({3}, gen), unused = param({2}, gen);
  Tensor h = x * 2.0;                      // a non-leaf input
  Tensor y1 = sum(h * h), y2 = sum(h * b);  // two outputs
  const auto g = grad({y1, y2}, {h, x}, {}, {.retain_graph = true});
  // d(y1 + y2)/dh = 2h + b; d/dx = 2 (2h + b).
  const auto hv = h.to_vector(), bv = b.to_vector();
  for (int i = 0; i < 3; ++i) {
    CHECK(g[0].at({i}) == doctest::Approx(2 * hv[i] + bv[i]));
    CHECK(g[1].at({i}) == doctest::Approx(2 * (2 * hv[i] + bv[i])));
  }
  // grad_outputs weight the outputs.
  const auto gw = grad({y1, y2}, {b}, {scalar(1.0, f64), scalar(3.0, f64)}, {.retain_graph = true});
  for (int i = 0; i < 3; ++i) CHECK(gw[0].at({i}) == doctest::Approx(3 * hv[i]));
  CHECK_THROWS_WITH_AS(grad({y1}, {unused}, {}, {.retain_graph = true}),
                       "grad: the outputs do not depend on input 0 (float64 [2]); pass allow_unused = true to get an "
                       "undefined tensor for it",
                       GraphError);
  const auto some = grad({y1}, {unused, x}, {}, {.retain_graph = true, .allow_unused = true});
  CHECK_FALSE(some[0].defined());
  CHECK(some[1].defined());
  CHECK_THROWS_WITH_AS(grad({h}, {x}), "grad: output 0 is [3], not a scalar; pass grad_outputs", GraphError);
  CHECK_THROWS_WITH_AS(grad({y1}, {zeros({2})}), "grad: input 0 (float32 [2]) does not require grad", GraphError);
  CHECK_THROWS_WITH_AS(grad({y1}, {x}, {ones({2}, f64)}), Contains("grad: grad_outputs[0] is float64 [2], output 0 is float64 []"),
                       ShapeError);
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("higher order: an op without a differentiable backward works to first order and refuses the second") {
  Tensor x = tensor({1.0, 2.0}, {2}, f64).requires_grad(true);
  const auto g = grad({sum(apply(RawCube{}, x))}, {x}, {}, {.create_graph = true});
  CHECK(g[0].to_vector() == std::vector<double>{3.0, 12.0});
  CHECK(g[0].requires_grad());  // marked, not silently a constant
  CHECK_THROWS_WITH_AS(grad({sum(g[0])}, {x}),
                       Contains("raw_cube: a second derivative through this op was asked for, but its backward is not differentiable"),
                       GraphError);
  CHECK_THROWS_WITH_AS(gradgradcheck(RawCube{}, {x}), Contains("raw_cube: a second derivative"), GraphError);
  // Without create_graph nothing changes for it.
  sum(apply(RawCube{}, x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{3.0, 12.0});
}

TEST_CASE("higher order: gradgradcheck catches a second derivative made wrong by a saved intermediate") {
  Generator gen(8);
  Tensor x = param({4}, gen);
  CHECK(gradcheck(SwishKeepingS{}, {x}));  // first order: right
  const GradcheckResult r = gradgradcheck(SwishKeepingS{}, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.message.starts_with("gradgradcheck: d out[0] / d in[0] differs at [0]"));
  // And a right one passes: σ written through the op itself, whose output is reconnected.
  CHECK(gradgradcheck([](const Tensor& t) { return t * sigmoid(t); }, {x}));
}

TEST_CASE("higher order: a Hessian-vector product by double backward equals A v for ½ xᵀ A x") {
  Generator gen(3);
  Tensor a = randn({4, 4}, f64, gen);
  Tensor sym = (a + transpose(a)) * 0.5;
  Tensor x = param({4}, gen), v = randn({4}, f64, gen);
  Tensor f = sum(x * matmul(sym, x)) * 0.5;
  const auto g = grad({f}, {x}, {}, {.create_graph = true});
  const auto hv = grad({sum(g[0] * v)}, {x});
  const Tensor expected = matmul(sym, v);
  for (int i = 0; i < 4; ++i) CHECK(hv[0].at({i}) == doctest::Approx(expected.at({i})).epsilon(1e-12));
}

TEST_CASE("higher order: a training loop with a gradient penalty leaks nothing and makes no cycles") {
  Generator gen(4);
  nn::Sequential net{nn::Linear(6, 5, {}, gen), nn::Tanh(), nn::Linear(5, 3, {}, gen)};
  optim::SGD opt(net.parameters(), {.lr = 0.01});
  Tensor x = randn({8, 6}, f32, gen);
  Tensor labels = nabla_test::labels(8, 3, gen);
  MemoryStats first[2]{};  // by the parity of the step: odd steps end with a graph in each .grad
  for (int step = 0; step < 1000; ++step) {
    opt.zero_grad();
    Tensor xr = x.detach().requires_grad(true);
    Tensor cost = softmax_cross_entropy(net(xr), labels);
    const auto gx = grad({cost}, {xr}, {}, {.create_graph = true});
    Tensor total = cost + sum(gx[0] * gx[0]) * 0.1;  // double backpropagation (Drucker & LeCun)
    total.backward({.create_graph = step % 2 == 0});  // half the steps leave a graph in each .grad
    opt.step();
    if (step == 10 || step == 11) first[step % 2] = memory_stats();
    if (step > 11) {
      const MemoryStats now = memory_stats();
      REQUIRE(now.tensors == first[step % 2].tensors);
      REQUIRE(now.nodes == first[step % 2].nodes);
      REQUIRE(now.storage_bytes == first[step % 2].storage_bytes);
    }
  }
  opt.zero_grad();
}

TEST_CASE("higher order: vjp, jvp, hvp, jacobian and hessian against closed forms") {
  Generator gen(12);
  Tensor a = randn({3, 3}, f64, gen);
  Tensor x = randn({3}, f64, gen), v = randn({3}, f64, gen);
  // f(x) = tanh(A x): J = diag(1 − tanh²(Ax)) A.
  const auto f = [&](const std::vector<Tensor>& xs) { return tanh(matmul(a, xs[0])); };
  const Tensor s = 1.0 - square(tanh(matmul(a, x)));
  const Tensor jv = s * matmul(a, v);                    // J v
  const Tensor vj = matmul(transpose(a), s * v);         // vᵀ J
  const autograd::Result r1 = autograd::vjp(f, {x}, v);
  const autograd::Result r2 = autograd::jvp(f, {x}, {v});
  for (int i = 0; i < 3; ++i) {
    CHECK(r1.values[0].at({i}) == doctest::Approx(vj.at({i})).epsilon(1e-12));
    CHECK(r2.values[0].at({i}) == doctest::Approx(jv.at({i})).epsilon(1e-12));
  }
  CHECK_FALSE(r1.values[0].requires_grad());
  CHECK_FALSE(x.requires_grad());  // the caller's tensor is untouched
  const Tensor jac = autograd::jacobian([&](const Tensor& t) { return tanh(matmul(a, t)); }, x);
  CHECK(jac.shape() == Shape{3, 3});
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) CHECK(jac.at({i, j}) == doctest::Approx(s.at({i}) * a.at({i, j})).epsilon(1e-12));
  }
  // g(x) = Σ x³ + x₀ x₁: H = diag(6x) + the x₀x₁ cross term.
  const auto g = [](const Tensor& t) { return sum(t * t * t) + select(t, 0, 0) * select(t, 0, 1); };
  const Tensor h = autograd::hessian(g, x);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      const double expected = (i == j ? 6 * x.at({i}) : 0.0) + ((i == 0 && j == 1) || (i == 1 && j == 0) ? 1.0 : 0.0);
      CHECK(h.at({i, j}) == doctest::Approx(expected).epsilon(1e-12));
    }
  }
  const autograd::Result r3 = autograd::hvp([&](const std::vector<Tensor>& xs) { return g(xs[0]); }, {x}, {v});
  const Tensor hv = matmul(h, v);
  for (int i = 0; i < 3; ++i) CHECK(r3.values[0].at({i}) == doctest::Approx(hv.at({i})).epsilon(1e-12));
  CHECK(r3.output.item() == doctest::Approx(g(x).item()));
  CHECK_THROWS_WITH_AS(autograd::hvp(f, {x}, {v}), "hvp: the function must return one value, got [3]", ShapeError);
  CHECK_THROWS_WITH_AS(autograd::jvp(f, {x}, {ones({2}, f64)}), "jvp: tangent 0 is float64 [2]; expected float64 [3]", ShapeError);
}

TEST_CASE("higher order: tensor hooks see, replace and stop seeing gradients; retain_grad keeps a non-leaf's") {
  Tensor x = tensor({1.0, 2.0}, {2}, f64).requires_grad(true);
  Tensor h = x * 3.0;
  std::vector<double> seen;
  const std::size_t id = h.register_hook([&](const Tensor& g) {
    seen = g.to_vector();
    return g * 10.0;  // replaces the gradient flowing on
  });
  h.retain_grad();
  sum(h * h).backward({.retain_graph = true});
  CHECK(seen == std::vector<double>{6.0, 12.0});           // 2h
  CHECK(h.grad().to_vector() == std::vector<double>{60.0, 120.0});  // retain_grad runs after the replacing hook
  CHECK(x.grad().to_vector() == std::vector<double>{180.0, 360.0});  // 3 · 10 · 2h
  h.remove_hook(id);
  CHECK_THROWS_WITH_AS(h.remove_hook(id), Contains("no hook"), ValueError);
  x.zero_grad();
  sum(h * h).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{18.0, 36.0});
  // A leaf's hook, in grad() too.
  Tensor w = tensor({1.0}, {1}, f64).requires_grad(true);
  w.register_hook([](const Tensor& g) { return g * 2.0; });
  CHECK(grad({sum(w * 5.0)}, {w})[0].item() == 10.0);
  CHECK_THROWS_WITH_AS(zeros({1}).register_hook([](const Tensor& g) { return g; }), Contains("does not require grad"), GraphError);
  w.register_hook([](const Tensor&) { return zeros({3}, f64); });
  CHECK_THROWS_WITH_AS(sum(w * 5.0).backward(), Contains("register_hook: a hook returned float64 [3] for a gradient of float64 [1]"),
                       GraphError);
}

TEST_CASE("higher order: sharpness is the largest Hessian eigenvalue (a linear model's, in closed form)") {
  Generator gen(21);
  const std::int64_t n = 12, d = 3;
  Tensor x = randn({n, d}, f64, gen), y = randn({n, 1}, f64, gen);
  nn::Linear lin(d, 1, {.dtype = f64}, gen);
  // C = 1/(2n) Σ (w·x + b − y)²: the Hessian in (w, b) is (1/n) X̃ᵀ X̃ with X̃ = [X, 1].
  Tensor xt = cat({x, ones({n, 1}, f64)}, 1);
  Tensor m = matmul(xt, xt, {.trans_a = true}) * (1.0 / double(n));
  Tensor u = ones({d + 1}, f64);
  double expected = 0;
  for (int k = 0; k < 2000; ++k) {
    Tensor mu = matmul(m, u);
    expected = sum(u * mu).item() / sum(u * u).item();
    u = mu / std::sqrt(sum(mu * mu).item());
  }
  const inspect::Sharpness s =
      inspect::sharpness(lin, x, y, [](const Tensor& a, const Tensor& t) { return quadratic_cost(a, t); },
                         {.iterations = 500, .tolerance = 1e-13});
  CHECK(s.value == doctest::Approx(expected).epsilon(1e-8));
  CHECK(s.iterations > 1);
  CHECK_FALSE(lin.parameters()[0].tensor.grad().defined());
}

TEST_CASE("higher order: in float32, the recorded backward (create_graph) agrees with the fused one, and H v with float64's") {
  Generator gen(31);
  nn::Sequential net{nn::Reshape({1, 12, 12}), nn::Conv2d(1, 4, 3, {}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(),
                     nn::Linear(100, 16, {}, gen), nn::Sigmoid(), nn::Linear(16, 10, {}, gen)};
  Tensor x = randn({6, 144}, f32, gen);
  Tensor labels = nabla_test::labels(6, 10, gen);
  std::vector<Tensor> params;
  for (const nn::Param& p : net.parameters()) params.push_back(p.tensor);
  // First order: the fused kernels (nabla's own convolution and pooling at avx2 and avx512 level) and the
  // recorded ops of create_graph give the same gradients.
  const std::vector<Tensor> fused = grad({softmax_cross_entropy(net(x), labels)}, params);
  const std::vector<Tensor> recorded = grad({softmax_cross_entropy(net(x), labels)}, params, {}, {.create_graph = true});
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto a = fused[i].to_vector(), b = recorded[i].to_vector();
    double scale = 1e-6;
    for (double v : a) scale = std::max(scale, std::abs(v));
    for (std::size_t k = 0; k < a.size(); ++k) REQUIRE(std::abs(a[k] - b[k]) <= 1e-5 * scale);
  }
  // Second order: H v in float32 against the same network and v in float64.
  std::vector<Tensor> v;
  for (const Tensor& p : params) v.push_back(randn(p.shape(), f32, gen));
  const auto hv_of = [&](nn::Module& m, const Tensor& xs, const std::vector<Tensor>& vs) {
    std::vector<Tensor> ps;
    for (const nn::Param& p : m.parameters()) ps.push_back(p.tensor);
    const std::vector<Tensor> g = grad({softmax_cross_entropy(m(xs), labels)}, ps, {}, {.create_graph = true});
    Tensor gv = sum(g[0] * vs[0]);
    for (std::size_t i = 1; i < g.size(); ++i) gv = gv + sum(g[i] * vs[i]);
    return grad({gv}, ps);
  };
  const std::vector<Tensor> hv32 = hv_of(net, x, v);
  nn::Sequential net64{nn::Reshape({1, 12, 12}), nn::Conv2d(1, 4, 3, {.dtype = f64}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Flatten(),
                       nn::Linear(100, 16, {.dtype = f64}, gen), nn::Sigmoid(), nn::Linear(16, 10, {.dtype = f64}, gen)};
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : net.state()) state.emplace(name, t.to(f64));
  net64.load_state(state);
  std::vector<Tensor> v64;
  for (const Tensor& t : v) v64.push_back(t.to(f64));
  const std::vector<Tensor> hv64 = hv_of(net64, x.to(f64), v64);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto a = hv32[i].to_vector(), b = hv64[i].to_vector();
    double scale = 1e-6;
    for (double t : b) scale = std::max(scale, std::abs(t));
    for (std::size_t k = 0; k < a.size(); ++k) REQUIRE(std::abs(a[k] - b[k]) <= 1e-3 * scale);
  }
}

TEST_CASE("higher order: the HVP of a random MLP equals finite differences of its gradient and the explicit Hessian times v") {
  Generator gen(41);
  // [5, 4, 3] with tanh, softmax cross-entropy, as a function of one parameter vector θ (float64).
  const std::int64_t n_in = 5, n_h = 4, n_out = 3, count = n_h * n_in + n_h + n_out * n_h + n_out;
  Tensor x = randn({7, n_in}, f64, gen);
  Tensor labels = nabla_test::labels(7, n_out, gen);
  const auto f = [&](const Tensor& theta) {
    std::int64_t at = 0;
    auto take = [&](std::int64_t k, Shape s) {
      Tensor t = narrow(theta, 0, at, k).reshape(s);
      at += k;
      return t;
    };
    const Tensor w1 = take(n_h * n_in, {n_h, n_in}), b1 = take(n_h, {n_h}), w2 = take(n_out * n_h, {n_out, n_h}),
                 b2 = take(n_out, {n_out});
    return softmax_cross_entropy(matmul(tanh(matmul(x, w1, {.trans_b = true}) + b1), w2, {.trans_b = true}) + b2, labels);
  };
  const Tensor theta = randn({count}, f64, gen), v = randn({count}, f64, gen);
  const Tensor hv = autograd::hvp([&](const std::vector<Tensor>& t) { return f(t[0]); }, {theta}, {v}).values[0];
  // Central differences of the analytic gradient along v: (∇f(θ + εv) − ∇f(θ − εv)) / 2ε.
  const auto gradient = [&](const Tensor& t) {
    const Tensor leaf = t.detach().requires_grad(true);
    return grad({f(leaf)}, {leaf})[0];
  };
  const double eps = 1e-5;
  const Tensor fd = (gradient(theta + v * eps) - gradient(theta - v * eps)) * (1 / (2 * eps));
  const Tensor hmat = autograd::hessian(f, theta);
  const Tensor explicit_hv = matmul(hmat, v);
  double scale = 0;
  for (double t : explicit_hv.to_vector()) scale = std::max(scale, std::abs(t));
  for (std::int64_t i = 0; i < count; ++i) {
    CHECK(std::abs(hv.at({i}) - explicit_hv.at({i})) <= 1e-8 * scale);
    CHECK(std::abs(hv.at({i}) - fd.at({i})) <= 1e-8 * scale);
  }
  // The Hessian is symmetric, as a Hessian must be.
  for (std::int64_t i = 0; i < count; ++i) {
    for (std::int64_t j = 0; j < i; ++j) REQUIRE(std::abs(hmat.at({i, j}) - hmat.at({j, i})) <= 1e-12);
  }
}

TEST_CASE("higher order: hooks fire once per backward, in the order registered") {
  Tensor x = tensor({1.0, -1.0}, {2}, f64).requires_grad(true);
  Tensor h = x * 2.0;
  std::vector<std::string> calls;
  h.register_hook([&](const Tensor&) { calls.push_back("first"); return Tensor{}; });
  h.register_hook([&](const Tensor& g) { calls.push_back("second"); return g * 0.5; });
  x.register_hook([&](const Tensor&) { calls.push_back("leaf"); return Tensor{}; });
  // h is used twice: its hooks still see the total once.
  (sum(h * h) + sum(h)).backward();
  CHECK(calls == std::vector<std::string>{"first", "second", "leaf"});
  // d/dx = 2 · ½ · (2h + 1)
  CHECK(x.grad().to_vector() == std::vector<double>{5.0, -3.0});
}
