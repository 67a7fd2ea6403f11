// The modules PyTorch users expect beside the book's: Dropout from the global generator, Dropout2d
// and the functional forms, Softmax/LogSoftmax(dim), ReLU6, Hardswish, Mish, GELU, SiLU, PReLU,
// Functional, Module::zero_grad. Gradients by float64 gradcheck and gradgradcheck.
#include <algorithm>
#include <cmath>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

TEST_CASE("Dropout: unseeded layers draw from the global generator, so two layers differ; manual_seed replays") {
  const Tensor x = ones({40, 50}, f64);
  manual_seed(123);
  nn::Dropout a(0.5), b(0.5);
  const auto ma = a(x).to_vector(), mb = b(x).to_vector();
  CHECK(ma != mb);
  manual_seed(123);
  CHECK(a(x).to_vector() == ma);  // the same stream again
  CHECK(b(x).to_vector() == mb);
  // A seeded layer draws from its own generator (the book's programs): two with one seed agree.
  nn::Dropout s1(0.5, 9), s2(0.5, 9);
  CHECK(s1(x).to_vector() == s2(x).to_vector());
  // p = 1 zeroes everything (PyTorch allows it); p outside [0, 1] is refused naming the module.
  nn::Dropout everything(1.0);
  CHECK(everything(x).to_vector() == std::vector<double>(2000, 0.0));
  CHECK_THROWS_WITH_AS(nn::Dropout(1.5), Contains("Dropout: dropout probability p must be in [0, 1], got 1.5"), ValueError);
  CHECK_THROWS_WITH_AS(nn::Dropout2d(-0.1), Contains("Dropout2d: dropout probability p must be in [0, 1]"), ValueError);
  CHECK_THROWS_WITH_AS(dropout(x, 2.0), Contains("dropout: dropout probability p"), ValueError);
}

TEST_CASE("dropout and dropout2d: functional forms; channels dropped whole; identity outside training") {
  Generator gen(4);
  const Tensor x = ones({8, 30, 4, 5}, f64);
  CHECK(dropout(x, 0.5, false).is_same(x));
  CHECK(dropout2d(x, 0.5, false).is_same(x));
  const Tensor y = dropout2d(x, 0.4, true, gen);
  const auto v = y.to_vector();
  long zeros = 0;
  for (std::int64_t c = 0; c < 8 * 30; ++c) {
    const double first = v[std::size_t(c * 20)];
    CHECK((first == 0.0 || std::abs(first - 1 / 0.6) < 1e-15));
    for (int i = 1; i < 20; ++i) CHECK(v[std::size_t(c * 20 + i)] == first);  // one value per channel
    zeros += first == 0.0;
  }
  CHECK(double(zeros) / 240 == doctest::Approx(0.4).epsilon(0.3));
  const Tensor d = dropout(ones({100, 100}, f64), 0.3, true, gen);
  const auto dv = d.to_vector();
  CHECK(double(std::count(dv.begin(), dv.end(), 0.0)) / 1e4 == doctest::Approx(0.3).epsilon(0.05));
  nn::Dropout2d layer(0.5);
  layer.eval();
  CHECK(layer(x).is_same(x));
  CHECK_THROWS_WITH_AS(dropout2d(ones({3, 4}), 0.5), Contains("dropout2d: input is [3, 4]; expected [N, C, H, W]"), ShapeError);
  // The gradient flows through the same mask.
  Tensor xg = ones({6, 10, 2, 2}, f64).requires_grad(true);
  Tensor out = dropout2d(xg, 0.5, true, gen);
  sum(out).backward();
  CHECK(xg.grad().to_vector() == out.to_vector());
}

TEST_CASE("ReLU6, Hardswish, Mish, PReLU: values and float64 gradients of every order") {
  Generator gen(7);
  const Tensor x = tensor({-7, -3.5, -1, 0.5, 2.5, 4, 7}, {7}, f64);
  CHECK(relu6(x).to_vector() == std::vector<double>{0, 0, 0, 0.5, 2.5, 4, 6});
  const auto hs = hardswish(x).to_vector();
  const double xs[] = {-7, -3.5, -1, 0.5, 2.5, 4, 7};
  for (int i = 0; i < 7; ++i) {
    CHECK(hs[i] == doctest::Approx(xs[i] * std::clamp(xs[i] + 3, 0.0, 6.0) / 6));
    CHECK(mish(x).to_vector()[i] == doctest::Approx(xs[i] * std::tanh(std::log1p(std::exp(xs[i])))));
  }
  // Away from the kinks (0 and 6 for relu6, ±3 for hardswish, 0 for prelu).
  std::vector<double> v = randn({4, 5}, f64, gen).to_vector();
  for (double& e : v) e = 2 * e + (std::abs(e) < 0.1 ? 0.3 : 0.0);
  for (double& e : v) {
    for (double k : {-3.0, 0.0, 3.0, 6.0}) {
      if (std::abs(e - k) < 0.05) e += 0.2;
    }
  }
  const Tensor p = from_vector(v, {4, 5}, f64).requires_grad(true);
  CHECK(nabla_test::check_grad([](const Tensor& t) { return relu6(t); }, {p}));
  CHECK(nabla_test::check_grad([](const Tensor& t) { return hardswish(t); }, {p}));
  CHECK(nabla_test::check_grad([](const Tensor& t) { return mish(t); }, {nabla_test::param({4, 5}, gen)}));
  const Tensor w1 = tensor({0.25}, {1}, f64).requires_grad(true);
  const Tensor w5 = tensor({0.1, -0.3, 0.25, 0.7, 1.5}, {5}, f64).requires_grad(true);
  CHECK(nabla_test::check_grad([](const Tensor& t, const Tensor& w) { return prelu(t, w); }, {p, w1}));
  CHECK(nabla_test::check_grad([](const Tensor& t, const Tensor& w) { return prelu(t, w); }, {p, w5}));
  const Tensor img = nabla_test::param_away_from_zero({2, 5, 3, 2}, gen);
  CHECK(nabla_test::check_grad([](const Tensor& t, const Tensor& w) { return prelu(t, w); }, {img, w5}));
  CHECK_THROWS_WITH_AS(prelu(ones({2, 4}, f64), ones({5}, f64)), Contains("prelu: 5 slopes need input [N, 5, ...], got [2, 4]"),
                       ShapeError);
}

TEST_CASE("modules: Softmax/LogSoftmax(dim), PReLU, GELU, SiLU, Functional, zero_grad") {
  Generator gen(2);
  const Tensor x = randn({3, 4, 5}, f64, gen);
  CHECK(nn::Softmax(1)(x).to_vector() == softmax(x, 1).to_vector());
  CHECK(nn::LogSoftmax(1)(x).to_vector() == log_softmax(x, 1).to_vector());
  CHECK(nn::LogSoftmax()(x).to_vector() == log_softmax(x).to_vector());
  CHECK(nn::LogSoftmax(0).describe() == "LogSoftmax(dim=0)");
  CHECK(nn::GELU("tanh")(x).to_vector() == gelu(x, "tanh").to_vector());
  CHECK_THROWS_WITH_AS(nn::GELU("fast"), Contains("GELU: approximate must be \"none\" or \"tanh\", got \"fast\""), ValueError);
  CHECK(nn::SiLU()(x).to_vector() == silu(x).to_vector());
  CHECK(nn::ReLU6()(x).to_vector() == relu6(x).to_vector());
  CHECK(nn::Hardswish()(x).to_vector() == hardswish(x).to_vector());
  CHECK(nn::Mish()(x).to_vector() == mish(x).to_vector());

  nn::PReLU pr({.num_parameters = 4, .dtype = f64});
  CHECK(pr.weight().to_vector() == std::vector<double>(4, 0.25));
  CHECK(pr.parameters().size() == 1);
  CHECK(pr.parameters()[0].name == "weight");
  CHECK_THROWS_WITH_AS(nn::PReLU({.num_parameters = 0}), Contains("PReLU: num_parameters must be >= 1"), ValueError);

  nn::Sequential net{nn::Linear(5, 4, {.dtype = f64}, gen),
                     nn::Functional([](const Tensor& t) { return relu(t) * 2.0; }, "TwiceReLU"),
                     nn::PReLU({.dtype = f64}), nn::LogSoftmax(1)};
  CHECK(net.describe().find("TwiceReLU") != std::string::npos);
  sum(net(randn({2, 5}, f64, gen))).backward();
  for (const nn::Param& q : net.parameters()) CHECK(q.tensor.grad().defined());
  net.zero_grad(false);
  for (const nn::Param& q : net.parameters()) {
    const auto g = q.tensor.grad().to_vector();
    CHECK(std::all_of(g.begin(), g.end(), [](double e) { return e == 0; }));
  }
  net.zero_grad();
  for (const nn::Param& q : net.parameters()) CHECK_FALSE(q.tensor.grad().defined());
}
