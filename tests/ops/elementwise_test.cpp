// ops/elementwise.cpp: add, sub, mul, div with broadcasting, scalar forms, neg, sum_to.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {
// Pairs of shapes that broadcast: equal, row vector, column, scalar-like, missing leading axes.
const std::vector<std::pair<Shape, Shape>> kPairs = {
    {{5, 3}, {5, 3}}, {{5, 3}, {3}}, {{5, 3}, {5, 1}}, {{1, 1}, {1, 1}}, {{1, 7}, {1, 7}},
    {{4, 1}, {1, 3}}, {{2, 3, 4}, {3, 1}}, {{3}, {2, 1, 3}}, {{5, 3}, {}}, {{}, {2, 2}},
};
}  // namespace

TEST_CASE("elementwise: known values with broadcasting") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  Tensor b = tensor({10, 20, 30}, {3}, f64);
  CHECK((a + b).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
  CHECK((a - b).to_vector() == std::vector<double>{-9, -18, -27, -6, -15, -24});
  CHECK((a * tensor({2, 3}, {2, 1}, f64)).to_vector() == std::vector<double>{2, 4, 6, 12, 15, 18});
  CHECK((b / a).shape() == Shape{2, 3});
  CHECK((b / a).at({1, 1}) == 4);
  CHECK((2.0 - a).at({0, 0}) == 1);
  CHECK((6.0 / a).at({1, 2}) == 1);
  CHECK((a / 2.0).at({0, 1}) == 1);
  CHECK((-a).at({1, 0}) == -4);
  CHECK((a + 1.0).at({0, 0}) == 2);
  CHECK(broadcast_shape({2, 1, 3}, {4, 1}, "t") == Shape{2, 4, 3});
  CHECK(sum_to(ones({2, 3, 4}, f64), {3, 1}).to_vector() == std::vector<double>{8, 8, 8});
}

TEST_CASE("elementwise: gradients agree with central differences in float64, with broadcasting") {
  Generator gen(21);
  for (auto [sa, sb] : kPairs) {
    CAPTURE(sa);
    CAPTURE(sb);
    Tensor a = param(sa, gen), b = param(sb, gen);
    CHECK(check_grad([](const Tensor& x, const Tensor& y) { return x + y; }, {a, b}));
    CHECK(check_grad([](const Tensor& x, const Tensor& y) { return x - y; }, {a, b}));
    CHECK(check_grad([](const Tensor& x, const Tensor& y) { return x * y; }, {a, b}));
    Tensor away = param_away_from_zero(sb, gen, 0.5);
    CHECK(check_grad([](const Tensor& x, const Tensor& y) { return x / y; }, {a, away}));
  }
}

TEST_CASE("elementwise: scalar forms and neg pass the gradient check") {
  Generator gen(22);
  for (Shape s : awkward_shapes()) {
    Tensor x = param_away_from_zero(s, gen, 0.5);
    CHECK(check_grad([](const Tensor& t) { return t + 2.5; }, {x}));
    CHECK(check_grad([](const Tensor& t) { return 3.0 * t; }, {x}));
    CHECK(check_grad([](const Tensor& t) { return 1.0 - t; }, {x}));
    CHECK(check_grad([](const Tensor& t) { return 2.0 / t; }, {x}));
    CHECK(check_grad([](const Tensor& t) { return -t; }, {x}));
    CHECK(check_grad([](const Tensor& t) { return sum_to(t, {1}); }, {x}));
  }
}

TEST_CASE("elementwise: shapes that do not broadcast are a ShapeError naming both") {
  CHECK_THROWS_WITH_AS(ones({10, 784}) + ones({30}),
                       "add: shapes [10, 784] and [30] do not broadcast: axis 1 has 784 and 30", ShapeError);
  CHECK_THROWS_WITH_AS(ones({2, 3}) * ones({3, 2}), "mul: shapes [2, 3] and [3, 2] do not broadcast: axis 0 has 2 and 3",
                       ShapeError);
  CHECK_THROWS_WITH_AS(sum_to(ones({2, 3}), {4}), "sum_to: shapes [4] and [2, 3] do not broadcast: axis 1 has 4 and 3",
                       ShapeError);
}

TEST_CASE("maximum and minimum: broadcasting, gradients, ties split evenly") {
  Tensor a = tensor({1, 5, 3}, {3}, f64), b = tensor({2, 2, 3, 0, 9, 3}, {2, 3}, f64);
  CHECK(maximum(a, b).to_vector() == std::vector<double>{2, 5, 3, 1, 9, 3});
  CHECK(minimum(a, b).to_vector() == std::vector<double>{1, 2, 3, 0, 5, 3});
  Tensor x = tensor({1, 3}, {2}, f64).requires_grad(true), y = tensor({1, 2}, {2}, f64).requires_grad(true);
  sum(maximum(x, y)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.5, 1});
  CHECK(y.grad().to_vector() == std::vector<double>{0.5, 0});
  Generator gen(113);
  Tensor p = param_distinct({3, 4}, gen), q = param_distinct({4}, gen);
  CHECK(check_grad([](const Tensor& u, const Tensor& v) { return maximum(u, v); }, {p, q}));
  CHECK(check_grad([](const Tensor& u, const Tensor& v) { return minimum(u, v); }, {p, q}));
  CHECK_THROWS_WITH_AS(maximum(a, zeros({2})), "maximum: dtypes differ: float64 [3] and float32 [2]; convert one with .to(dtype)",
                       ValueError);
}

TEST_CASE("elementwise: float32 add, sub, mul, div give the scalar loop's bits, every length and a single-element side") {
  // At avx2 and avx512 level these run a vector at a time (the level table's arith; CTest runs this suite
  // at each level): whole vectors, a masked tail, one operand repeated. Each result is one rounded
  // operation, so the bits must be those of float arithmetic element by element.
  Generator gen(77);
  for (std::int64_t n : {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100}) {
    CAPTURE(n);
    const Tensor a = randn({n}, f32, gen), b = uniform({n}, 0.5, 2.0, f32, gen), s = tensor({1.7}, {1});
    const auto va = a.to_vector(), vb = b.to_vector();
    const float vs = 1.7f;
    for (char op : {'+', '-', '*', '/'}) {
      CAPTURE(op);
      const auto f = [op](float x, float y) { return op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y; };
      const auto run = [op](const Tensor& x, const Tensor& y) {
        return op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
      };
      const auto both = run(a, b).to_vector(), right = run(a, s).to_vector(), left = run(s, b).to_vector();
      for (std::size_t i = 0; i < va.size(); ++i) {
        CHECK(float(both[i]) == f(float(va[i]), float(vb[i])));
        CHECK(float(right[i]) == f(float(va[i]), vs));
        CHECK(float(left[i]) == f(vs, float(vb[i])));
      }
    }
  }
}
