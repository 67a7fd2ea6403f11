// ops/reductions.cpp: sum, mean, max, argmax.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("reductions: known values, with and without keepdim") {
  Tensor x = tensor({1, 5, 3, 4, 2, 6}, {2, 3}, f64);
  CHECK(sum(x).item() == 21);
  CHECK(sum(x).dim() == 0);
  CHECK(sum(x, 0).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(sum(x, 1, true).shape() == Shape{2, 1});
  CHECK(sum(x, -1).to_vector() == std::vector<double>{9, 12});
  CHECK(mean(x).item() == 3.5);
  CHECK(mean(x, 0).to_vector() == std::vector<double>{2.5, 3.5, 4.5});
  CHECK(max(x, 1).to_vector() == std::vector<double>{5, 6});
  CHECK(max(x, 0, true).shape() == Shape{1, 3});
  CHECK(argmax(x, 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2});
  CHECK(argmax(x, 1).dtype() == i64);
  CHECK(argmax(tensor({2, 2, 1}, {3}), 0).item() == 0);  // ties: the first
}

TEST_CASE("reductions: gradients agree with central differences in float64") {
  Generator gen(41);
  for (Shape s : {Shape{1, 1}, Shape{1, 7}, Shape{5, 3}, Shape{2, 3, 4}, Shape{6}}) {
    CAPTURE(s);
    Tensor x = param(s, gen);
    CHECK(check_grad([](const Tensor& t) { return sum(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return mean(t); }, {x}));
    for (int axis = 0; axis < s.rank(); ++axis) {
      for (bool keep : {false, true}) {
        CHECK(check_grad([=](const Tensor& t) { return sum(t, axis, keep); }, {x}));
        CHECK(check_grad([=](const Tensor& t) { return mean(t, axis, keep); }, {x}));
        // max: distinct values 0.05 apart, so no ties and no argmax flips under ±1e-6.
        CHECK(check_grad([=](const Tensor& t) { return max(t, axis, keep); }, {param_distinct(s, gen)}));
      }
    }
  }
}

TEST_CASE("reductions: a bad axis is a ValueError naming the shape") {
  CHECK_THROWS_WITH_AS(sum(ones({2, 3}), 2), "sum: axis 2 is out of range for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(max(ones({2, 3}), -3), "max: axis -3 is out of range for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_AS(mean(ones({0})), ValueError);
  CHECK_THROWS_AS(argmax(ones({2, 0}), 1), ValueError);
}
