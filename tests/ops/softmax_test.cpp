// ops/softmax.cpp: softmax and log_softmax along the last axis.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("softmax: rows sum to one; known values") {
  Tensor x = tensor({1, 2, 3, 0, 0, 0}, {2, 3}, f64);
  Tensor a = softmax(x);
  CHECK(sum(a, 1).to_vector()[0] == doctest::Approx(1.0));
  CHECK(a.at({1, 0}) == doctest::Approx(1.0 / 3));
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(a.at({0, 2}) == doctest::Approx(std::exp(3.0) / z));
  CHECK(log_softmax(x).at({0, 0}) == doctest::Approx(1 - std::log(z)));
}

TEST_CASE("softmax: stable for inputs of ±1000") {
  Tensor x = tensor({1000, 999, -1000, -1000, -999, 1000}, {2, 3}, f64);
  for (double v : softmax(x).to_vector()) CHECK(std::isfinite(v));
  for (double v : log_softmax(x).to_vector()) CHECK(std::isfinite(v));
  CHECK(softmax(x).at({0, 0}) == doctest::Approx(1 / (1 + std::exp(-1.0))));
  CHECK(log_softmax(x).at({1, 0}) == doctest::Approx(-2000));
  Tensor f = tensor({1000, -1000}, {1, 2});
  CHECK(softmax(f).at({0, 0}) == 1.0f);
  CHECK(std::isfinite(log_softmax(f).at({0, 1})));
}

TEST_CASE("softmax: gradients agree with central differences in float64") {
  Generator gen(81);
  for (Shape s : {Shape{1, 1}, Shape{1, 7}, Shape{5, 3}, Shape{2, 3, 4}, Shape{6}}) {
    CAPTURE(s);
    Tensor x = param(s, gen);
    CHECK(check_grad([](const Tensor& t) { return softmax(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return log_softmax(t); }, {x}));
  }
  Tensor big = tensor({1000, 999.5, -1000}, {1, 3}, f64).requires_grad(true);
  CHECK(check_grad([](const Tensor& t) { return log_softmax(t); }, {big}));
}

TEST_CASE("softmax: a 0-d input is a ShapeError") {
  CHECK_THROWS_WITH_AS(softmax(scalar(1.0)), "softmax: expected at least 1 dimension, got a 0-d tensor", ShapeError);
}

TEST_CASE("softmax and log_softmax along any axis: values, gradients, and the last axis as before") {
  Generator gen(131);
  Tensor x = param({2, 3, 4}, gen);
  for (int axis : {0, 1, -1}) {
    Tensor s = softmax(x, axis);
    const Tensor total = sum(s, axis);
    for (double v : total.to_vector()) CHECK(v == doctest::Approx(1));
    CHECK(max_abs_diff(log_softmax(x, axis), log(s)) < 1e-12);
    CHECK(check_grad([axis](const Tensor& t) { return softmax(t, axis); }, {x}));
    CHECK(check_grad([axis](const Tensor& t) { return log_softmax(t, axis); }, {x}));
  }
  CHECK(max_abs_diff(softmax(x, -1), softmax(x)) == 0);
  CHECK(max_abs_diff(softmax(x * 1000.0, 1), softmax(x * 1000.0, 1)) == 0);
  for (double v : softmax(x * 1000.0, 0).to_vector()) CHECK(std::isfinite(v));
  CHECK_THROWS_WITH_AS(softmax(x, 3), "softmax: axis 3 is out of range for a tensor of shape [2, 3, 4]", ValueError);
}
