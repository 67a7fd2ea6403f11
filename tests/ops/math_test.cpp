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
