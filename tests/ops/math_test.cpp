// ops/math.cpp: exp, log, square, sqrt, abs, pow.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("math: known values") {
  Tensor x = tensor({1, 4, 9}, {3}, f64);
  CHECK(exp(x).at({0}) == doctest::Approx(std::exp(1.0)));
  CHECK(log(x).at({1}) == doctest::Approx(std::log(4.0)));
  CHECK(square(x).to_vector() == std::vector<double>{1, 16, 81});
  CHECK(sqrt(x).to_vector() == std::vector<double>{1, 2, 3});
  CHECK(abs(tensor({-2, 3}, {2}, f64)).to_vector() == std::vector<double>{2, 3});
  CHECK(pow(x, 0.5).to_vector() == std::vector<double>{1, 2, 3});
  CHECK(std::isinf(log(zeros({1}, f64)).item()));
}

TEST_CASE("math: gradients agree with central differences in float64") {
  Generator gen(31);
  for (Shape s : awkward_shapes()) {
    CAPTURE(s);
    Tensor x = param(s, gen);
    CHECK(check_grad([](const Tensor& t) { return exp(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return square(t); }, {x}));
    // log, sqrt and fractional powers need positive inputs: draw from [0.5, 2).
    Tensor pos = uniform(s, 0.5, 2.0, f64, gen).requires_grad(true);
    CHECK(check_grad([](const Tensor& t) { return log(t); }, {pos}));
    CHECK(check_grad([](const Tensor& t) { return sqrt(t); }, {pos}));
    CHECK(check_grad([](const Tensor& t) { return pow(t, 2.5); }, {pos}));
    CHECK(check_grad([](const Tensor& t) { return pow(t, -1.0); }, {pos}));
    // abs has a kink at 0: inputs are kept at least 0.1 away from it.
    CHECK(check_grad([](const Tensor& t) { return abs(t); }, {param_away_from_zero(s, gen)}));
  }
}

TEST_CASE("math: integer tensors are rejected") {
  CHECK_THROWS_WITH_AS(exp(zeros({3}, i64)), "exp: expected a float32 or float64 tensor, got int64 [3]", ValueError);
}

TEST_CASE("math: log1p, expm1, sin, cos, sign, reciprocal, rsqrt, erf, clamp — values") {
  Tensor x = tensor({-2, -0.5, 0, 0.5, 3}, {5}, f64);
  CHECK(log1p(tensor({1e-10}, {1}, f64)).item() == doctest::Approx(1e-10).epsilon(1e-12));
  CHECK(expm1(tensor({1e-10}, {1}, f64)).item() == doctest::Approx(1e-10).epsilon(1e-12));
  CHECK(sin(x).at({4}) == doctest::Approx(std::sin(3.0)));
  CHECK(cos(x).at({0}) == doctest::Approx(std::cos(-2.0)));
  CHECK(sign(x).to_vector() == std::vector<double>{-1, -1, 0, 1, 1});
  CHECK(reciprocal(x).at({3}) == 2);
  CHECK(rsqrt(tensor({4}, {1}, f64)).item() == 0.5);
  CHECK(erf(x).at({4}) == doctest::Approx(std::erf(3.0)));
  CHECK(clamp(x, -1, 1).to_vector() == std::vector<double>{-1, -0.5, 0, 0.5, 1});
  CHECK(clamp(x, 2, 1).to_vector() == std::vector<double>{1, 1, 1, 1, 1});  // lo > hi: hi, as torch.clamp
  CHECK(clamp_min(x, 0).to_vector() == std::vector<double>{0, 0, 0, 0.5, 3});
  CHECK(clamp_max(x, 0).to_vector() == std::vector<double>{-2, -0.5, 0, 0, 0});
  CHECK(std::isnan(clamp(tensor({NAN}, {1}, f64), 0, 1).item()));
}

TEST_CASE("math: the new elementwise ops agree with central differences in float64") {
  Generator gen(111);
  for (Shape s : awkward_shapes()) {
    Tensor x = param(s, gen);
    Tensor pos = uniform(s, 0.2, 3.0, f64, gen).requires_grad(true);
    Tensor away = param_away_from_zero(s, gen);
    CHECK(check_grad([](const Tensor& t) { return log1p(t); }, {pos}));
    CHECK(check_grad([](const Tensor& t) { return expm1(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return sin(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return cos(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return sign(t) * t; }, {away}));
    CHECK(check_grad([](const Tensor& t) { return reciprocal(t); }, {away}));
    CHECK(check_grad([](const Tensor& t) { return rsqrt(t); }, {pos}));
    CHECK(check_grad([](const Tensor& t) { return erf(t); }, {x}));
  }
  // clamp has kinks at lo and hi: inputs drawn at least 0.05 (50,000 steps) from both.
  Tensor c = tensor({-1.7, -0.6, -0.3, 0.2, 0.45, 0.9, 1.4}, {7}, f64).requires_grad(true);
  CHECK(check_grad([](const Tensor& t) { return clamp(t, -0.5, 0.5); }, {c}));
  CHECK(check_grad([](const Tensor& t) { return clamp_min(t, 0.0); }, {c}));
  CHECK(check_grad([](const Tensor& t) { return clamp_max(t, 1.0); }, {c}));
  Tensor ends = tensor({-0.5, 0.5}, {2}, f64).requires_grad(true);  // at the ends the gradient passes
  sum(clamp(ends, -0.5, 0.5)).backward();
  CHECK(ends.grad().to_vector() == std::vector<double>{1, 1});
}

TEST_CASE("math: float32 exp is within 2 ulp of the exact value, from −110 to 90, inf and NaN; logsumexp agrees with float64") {
  // float32 e^x is vectorized at avx2 and avx512 level (CTest runs this suite at each level the CPU
  // has); compare every value against the e^x of the same float32 input worked in double.
  std::vector<float> xs;
  for (float v = -110.0f; v <= 90.0f; v += 0.0123f) xs.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, 88.72f, 88.73f, -87.3f, -103.9f}) xs.push_back(v);
  const std::size_t finite = xs.size();
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  const auto n = static_cast<std::int64_t>(xs.size());
  const auto got = exp(from_vector(std::span<const float>(xs), {n})).to_vector();
  double worst_ulp = 0;
  for (std::size_t i = 0; i < finite; ++i) {
    const float want = static_cast<float>(std::exp(static_cast<double>(xs[i])));
    const auto g = static_cast<float>(got[i]);
    if (std::isinf(want)) {
      CHECK(g == want);
      continue;
    }
    if (want < std::numeric_limits<float>::min()) {  // subnormal: within one of the smallest ulp
      CHECK(std::abs(double(g) - double(want)) <= 1.5e-45);
      continue;
    }
    const double ulp = std::nextafter(want, std::numeric_limits<float>::max()) - want;
    worst_ulp = std::max(worst_ulp, std::abs(double(g) - double(want)) / ulp);
  }
  CHECK(worst_ulp <= 2.0);
  CHECK(got[finite] == std::numeric_limits<double>::infinity());
  CHECK(got[finite + 1] == 0.0);
  CHECK(std::isnan(got[finite + 2]));
  // logsumexp along the last axis sums e^{x − max} a vector at a time; along the first, one by one.
  Generator gen(31);
  const Tensor x = randn({7, 37}, f64, gen).to(f32).to(f64) * 20;
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    CHECK(max_abs_diff(logsumexp(x.to(f32), {axis}).to(f64), logsumexp(x, {axis})) < 1e-4);
  }
}
