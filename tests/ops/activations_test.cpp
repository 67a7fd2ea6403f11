// ops/activations.cpp: sigmoid, tanh, relu, leaky_relu.
#include <cmath>
#include <limits>
#include <span>
#include <vector>

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

TEST_CASE("activations: float32 sigmoid is within 2 ulp of the exact value, from −110 to 110, inf and NaN") {
  // float32 sigmoid has its own vectorized e^−x at avx2 and avx512 level (CTest runs this at each); compare every value against
  // the sigmoid of the same float32 input worked in double (rounded to float32 once).
  std::vector<float> xs;
  for (float v = -110.0f; v <= 110.0f; v += 0.0137f) xs.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 88.7f, -88.7f, 89.0f, -89.0f}) xs.push_back(v);
  const std::size_t finite = xs.size();
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  const auto n = static_cast<std::int64_t>(xs.size());
  const auto got = sigmoid(from_vector(std::span<const float>(xs), {n})).to_vector();
  double worst_ulp = 0;
  for (std::size_t i = 0; i < finite; ++i) {
    const float want = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(xs[i]))));
    const auto g = static_cast<float>(got[i]);
    if (want < std::numeric_limits<float>::min()) {  // below the normal range: absolute
      CHECK(std::abs(g) < 1e-37f);
      continue;
    }
    const double ulp = std::nextafter(want, 2.0f) - want;
    worst_ulp = std::max(worst_ulp, std::abs(double(g) - double(want)) / ulp);
  }
  CHECK(worst_ulp <= 2.0);
  CHECK(got[finite] == 1.0);
  CHECK(got[finite + 1] == 0.0);
  CHECK(std::isnan(got[finite + 2]));
}

TEST_CASE("activations: float32 tanh is within 2 ulp of the exact value, from −20 to 20, tiny, inf and NaN") {
  // float32 tanh is vectorized at avx2 and avx512 level (a polynomial under |x| = 0.625, e^{2|x|} above);
  // compare against the tanh of the same float32 input worked in double, rounded once.
  std::vector<float> xs;
  for (float v = -20.0f; v <= 20.0f; v += 0.00731f) xs.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-6f, 0.6249f, 0.625f, -0.625f, 0.6251f, 9.0f, 44.0f, -44.0f, 100.0f}) {
    xs.push_back(v);
  }
  const std::size_t finite = xs.size();
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  const auto n = static_cast<std::int64_t>(xs.size());
  const auto got = tanh(from_vector(std::span<const float>(xs), {n})).to_vector();
  double worst_ulp = 0;
  for (std::size_t i = 0; i < finite; ++i) {
    const float want = static_cast<float>(std::tanh(static_cast<double>(xs[i])));
    const float g = static_cast<float>(got[i]);
    if (want == 0.0f) {
      CHECK(g == 0.0f);
      continue;
    }
    const double ulp = std::abs(double(std::nextafter(want, 2.0f * want)) - double(want));
    worst_ulp = std::max(worst_ulp, std::abs(double(g) - double(want)) / ulp);
  }
  CHECK(worst_ulp <= 2.0);
  CHECK(got[finite] == 1.0);
  CHECK(got[finite + 1] == -1.0);
  CHECK(std::isnan(got[finite + 2]));
}

TEST_CASE("activations: softplus, gelu (exact and tanh), silu, elu — values as PyTorch's and gradients") {
  Tensor x = tensor({-3, -0.5, 0, 0.5, 3}, {5}, f64);
  CHECK(softplus(x).at({0}) == doctest::Approx(std::log1p(std::exp(-3.0))));
  CHECK(softplus(tensor({30}, {1}, f64)).item() == 30);  // above the threshold: x itself
  CHECK(softplus(x, 2.0).at({4}) == doctest::Approx(std::log1p(std::exp(6.0)) / 2));
  CHECK(gelu(x).at({3}) == doctest::Approx(0.5 * 0.5 * (1 + std::erf(0.5 / std::sqrt(2.0)))));
  CHECK(gelu(x, "tanh").at({3}) ==
        doctest::Approx(0.25 * (1 + std::tanh(std::sqrt(2 / 3.141592653589793) * (0.5 + 0.044715 * 0.125)))));
  CHECK(silu(x).at({4}) == doctest::Approx(3 / (1 + std::exp(-3.0))));
  CHECK(elu(x).at({0}) == doctest::Approx(std::expm1(-3.0)));
  CHECK(elu(x, 0.5).at({1}) == doctest::Approx(0.5 * std::expm1(-0.5)));
  CHECK_THROWS_WITH_AS(gelu(x, "erf"), "gelu: approximate must be \"none\" or \"tanh\", got \"erf\"", ValueError);
  Generator gen(112);
  for (Shape s : awkward_shapes()) {
    Tensor p = param(s, gen), away = param_away_from_zero(s, gen);
    CHECK(check_grad([](const Tensor& t) { return softplus(t, 1.5); }, {p}));
    CHECK(check_grad([](const Tensor& t) { return gelu(t); }, {p}));
    CHECK(check_grad([](const Tensor& t) { return gelu(t, "tanh"); }, {p}));
    CHECK(check_grad([](const Tensor& t) { return silu(t); }, {p}));
    CHECK(check_grad([](const Tensor& t) { return elu(t, 0.7); }, {away}));  // a kink at 0 for α ≠ 1
  }
}
