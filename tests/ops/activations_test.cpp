// ops/activations.cpp: sigmoid, tanh, relu, leaky_relu.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("activations: known values") {
  Tensor x = tensor({-1, 0, 2}, {3}, f64);
  CHECK(sigmoid(x).at({1}) == 0.5);
  CHECK(sigmoid(x).at({2}) == doctest::Approx(1 / (1 + std::exp(-2.0))));
  CHECK(tanh(x).at({0}) == doctest::Approx(std::tanh(-1.0)));
  CHECK(relu(x).to_vector() == std::vector<double>{0, 0, 2});
  CHECK(leaky_relu(x, 0.1).to_vector() == std::vector<double>{-0.1, 0, 2});
  // Saturation does not produce NaN.
  CHECK(sigmoid(tensor({-1000, 1000}, {2}, f64)).to_vector() == std::vector<double>{0, 1});
}

TEST_CASE("activations: gradients agree with central differences in float64") {
  Generator gen(71);
  for (Shape s : awkward_shapes()) {
    CAPTURE(s);
    Tensor x = param(s, gen);
    CHECK(check_grad([](const Tensor& t) { return sigmoid(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return tanh(t); }, {x}));
    // relu and leaky_relu have a kink at 0: inputs are kept at least 0.1 away from it.
    Tensor away = param_away_from_zero(s, gen);
    CHECK(check_grad([](const Tensor& t) { return relu(t); }, {away}));
    CHECK(check_grad([](const Tensor& t) { return leaky_relu(t, 0.2); }, {away}));
  }
}

TEST_CASE("activations: work in float32 too") {
  Tensor x = tensor({0.0}, {1});
  CHECK(sigmoid(x).dtype() == f32);
  CHECK(sigmoid(x).item() == 0.5);
}
