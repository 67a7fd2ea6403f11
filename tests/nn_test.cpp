// nn: Module bookkeeping, Linear, Sequential, initializers, Dropout, state.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

namespace {
double stddev(const Tensor& t) {
  const auto v = t.to_vector();
  double m = 0, s = 0;
  for (double x : v) m += x / v.size();
  for (double x : v) s += (x - m) * (x - m) / v.size();
  return std::sqrt(s);
}
}  // namespace

TEST_CASE("nn: Linear computes x wᵀ + b with the book's [n_out, n_in] weights") {
  Generator gen(1);
  nn::Linear fc(3, 2, {.dtype = f64}, gen);
  CHECK(fc.weight().shape() == Shape{2, 3});
  CHECK(fc.bias().shape() == Shape{2});
  CHECK(fc.describe() == "Linear(3, 2)");
  Tensor x = randn({4, 3}, f64, gen);
  Tensor expected = matmul(x, transpose(fc.weight())) + fc.bias();
  CHECK(nabla_test::max_abs_diff(fc(x), expected) == 0);
  auto params = fc.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].decay);
  CHECK(params[1].name == "bias");
  CHECK_FALSE(params[1].decay);
  CHECK(params[0].tensor.requires_grad());
  CHECK_THROWS_WITH_AS(fc(ones({4, 5}, f64)), "Linear(3, 2): input is [4, 5]; expected [batch, 3]", ShapeError);
  CHECK_THROWS_AS(nn::Linear(0, 3), ValueError);
  nn::Linear nobias(3, 2, {.has_bias = false});
  CHECK(nobias.parameters().size() == 1);
  CHECK(fc.parameter_count() == 3 * 2 + 2);
  CHECK(nobias.parameter_count() == 6);
}

TEST_CASE("nn: Sequential names parameters by position and runs modules in order") {
  Generator gen(2);
  nn::Sequential net{nn::Linear(4, 3, {}, gen), nn::Sigmoid(), nn::Linear(3, 2, {}, gen), nn::Tanh()};
  CHECK(net.size() == 4);
  std::vector<std::string> names;
  for (const auto& p : net.parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(net.describe() == "Sequential(Linear(4, 3), Sigmoid, Linear(3, 2), Tanh)");
  Tensor x = randn({5, 4}, f32, gen);
  auto& l0 = dynamic_cast<nn::Linear&>(net[0]);
  auto& l2 = dynamic_cast<nn::Linear&>(net[2]);
  Tensor expected = tanh(l2(sigmoid(l0(x))));
  CHECK(nabla_test::max_abs_diff(net(x), expected) == 0);
}

TEST_CASE("nn: a whole network's gradient passes the float64 gradient check") {
  Generator gen(3);
  nn::Sequential net{nn::Linear(3, 4, {.dtype = f64}, gen), nn::ReLU(), nn::Linear(4, 2, {.dtype = f64}, gen)};
  Tensor x = randn({2, 3}, f64, gen);
  auto p = net.parameters();
  // As a function of the first layer's weight (the others held as they are).
  Tensor w0 = p[0].tensor;
  CHECK(nabla_test::check_grad(
      [&](const Tensor& w) {
        Tensor h = relu(matmul(x, w, {.trans_b = true}) + p[1].tensor);
        return matmul(h, p[2].tensor, {.trans_b = true}) + p[3].tensor;
      },
      {w0.detach().clone().requires_grad(true)}));
}

TEST_CASE("nn: initializers draw the book's and the common scales, reproducibly") {
  Generator gen(4);
  nn::Linear std_normal(400, 300, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen);
  nn::Linear scaled(400, 300, {.weight = nn::Init::scaled_normal}, gen);
  nn::Linear he(400, 300, {.weight = nn::Init::he_normal, .bias = nn::Init::zeros}, gen);
  nn::Linear xavier(400, 300, {.weight = nn::Init::xavier_uniform}, gen);
  CHECK(stddev(std_normal.weight()) == doctest::Approx(1.0).epsilon(0.02));
  CHECK(stddev(std_normal.bias()) == doctest::Approx(1.0).epsilon(0.15));  // biases N(0, 1), as the book
  CHECK(stddev(scaled.weight()) == doctest::Approx(1 / std::sqrt(400.0)).epsilon(0.02));
  CHECK(stddev(he.weight()) == doctest::Approx(std::sqrt(2 / 400.0)).epsilon(0.02));
  CHECK(he.bias().to_vector() == std::vector<double>(300, 0.0));
  const double bound = std::sqrt(6.0 / 700);
  const auto xv = xavier.weight().to_vector();
  CHECK(*std::max_element(xv.begin(), xv.end()) <= bound);
  CHECK(*std::min_element(xv.begin(), xv.end()) >= -bound);
  CHECK(stddev(xavier.weight()) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  Generator a(9), b(9);
  CHECK(nn::Linear(5, 4, {}, a).weight().to_vector() == nn::Linear(5, 4, {}, b).weight().to_vector());
  // The default is PyTorch's: weights and biases U(±1/√n_in).
  nn::Linear torch_default(400, 300, {}, gen);
  const double r = 1 / std::sqrt(400.0);
  for (const Tensor& t : {torch_default.weight(), torch_default.bias()}) {
    const auto v = t.to_vector();
    CHECK(*std::max_element(v.begin(), v.end()) <= r);
    CHECK(*std::min_element(v.begin(), v.end()) >= -r);
  }
  CHECK(stddev(torch_default.weight()) == doctest::Approx(r / std::sqrt(3.0)).epsilon(0.02));
  CHECK(stddev(torch_default.bias()) == doctest::Approx(r / std::sqrt(3.0)).epsilon(0.15));
  nn::Conv2d conv(8, 16, 3, {}, gen);  // fan_in 8 × 9
  const auto cv = conv.weight().to_vector();
  CHECK(*std::max_element(cv.begin(), cv.end()) <= 1 / std::sqrt(72.0));
  CHECK(stddev(conv.weight()) == doctest::Approx(1 / std::sqrt(72.0 * 3)).epsilon(0.05));
}

TEST_CASE("nn: Dropout is inverted in training and the identity in evaluation") {
  nn::Dropout drop(0.5, 7);
  Tensor x = ones({200, 50}, f64).requires_grad(true);
  Tensor y = drop(x);
  const auto v = y.to_vector();
  const auto zeros = std::count(v.begin(), v.end(), 0.0);
  CHECK(std::count(v.begin(), v.end(), 2.0) + zeros == long(v.size()));  // kept ones scaled by 1/(1 − p)
  CHECK(double(zeros) / double(v.size()) == doctest::Approx(0.5).epsilon(0.05));
  sum(y).backward();
  CHECK(x.grad().to_vector() == v);  // the gradient flows through the same mask
  drop.eval();
  CHECK(drop(x).is_same(x));
  nn::Sequential net{nn::Linear(2, 2), nn::Dropout(0.3)};
  net.eval();
  CHECK_FALSE(net[1].is_training());
  net.train();
  CHECK(net[1].is_training());
  CHECK_THROWS_AS(nn::Dropout(1.5), ValueError);
  CHECK_THROWS_AS(nn::Dropout(-0.1), ValueError);
}

TEST_CASE("nn: load_state copies values in, and rejects a mismatch without changing anything") {
  Generator gen(5);
  nn::Sequential a{nn::Linear(3, 2, {}, gen)}, b{nn::Linear(3, 2, {}, gen)};
  b.load_state(a.state());
  CHECK(b.parameters()[0].tensor.to_vector() == a.parameters()[0].tensor.to_vector());
  CHECK_FALSE(b.parameters()[0].tensor.is_same(a.parameters()[0].tensor));

  nn::Sequential c{nn::Linear(4, 2, {}, gen)};
  const auto before = a.parameters()[0].tensor.to_vector();
  CHECK_THROWS_WITH_AS(a.load_state(c.state()), "load_state: '0.weight' is float32 [2, 4], the model has float32 [2, 3]",
                       ValueError);
  CHECK(a.parameters()[0].tensor.to_vector() == before);
  auto missing = a.state();
  missing.erase("0.bias");
  CHECK_THROWS_WITH_AS(b.load_state(missing), "load_state: parameter '0.bias' is missing", ValueError);
  auto extra = a.state();
  extra.emplace("9.weight", ones({1}));
  CHECK_THROWS_WITH_AS(b.load_state(extra), "load_state: '9.weight' is not a parameter or buffer of this model", ValueError);
}
