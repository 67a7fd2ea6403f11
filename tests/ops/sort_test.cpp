// ops/sort.cpp: sort, argsort, topk, cumsum.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("sort and topk: values and indices as PyTorch's, stable, NaN last") {
  Tensor x = tensor({3, 1, 2, 1, 5, 4}, {2, 3}, f64);
  auto [v, i] = sort(x);
  CHECK(v.to_vector() == std::vector<double>{1, 2, 3, 1, 4, 5});
  CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 0, 0, 2, 1});
  CHECK(sort(x, 0, true).values.to_vector() == std::vector<double>{3, 5, 4, 1, 1, 2});
  CHECK(argsort(tensor({2, 1, 2, 1}, {4}, f64)).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 3, 0, 2});
  CHECK(sort(tensor({2, NAN, 1}, {3}, f64)).indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 0, 1});
  auto [tv, ti] = topk(x, 2);
  CHECK(tv.to_vector() == std::vector<double>{3, 2, 5, 4});
  CHECK(ti.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 2, 1, 2});
  CHECK(topk(x, 1, 0, false).values.to_vector() == std::vector<double>{1, 1, 2});
  CHECK(topk(x, 0).values.shape() == Shape{2, 0});
  CHECK_THROWS_WITH_AS(topk(x, 4), "topk: k 4 is out of range for axis 1 of size 3", ValueError);
  CHECK_THROWS_WITH_AS(topk(x, -1), "topk: k must not be negative, got -1", ValueError);
  CHECK_THROWS_WITH_AS(sort(scalar(1)), "sort: expected at least 1 dimension, got a 0-d tensor", ShapeError);
}

TEST_CASE("sort, topk, cumsum: gradients agree with central differences in float64") {
  Generator gen(141);
  for (Shape s : {Shape{1, 1}, Shape{3, 4}, Shape{2, 3, 2}}) {
    Tensor d = param_distinct(s, gen), x = param(s, gen);
    CHECK(check_grad([](const Tensor& t) { return sort(t, -1).values; }, {d}));
    CHECK(check_grad([](const Tensor& t) { return sort(t, 0, true).values; }, {d}));
    CHECK(check_grad([](const Tensor& t) { return topk(t, 1, -1).values; }, {d}));
    CHECK(check_grad([](const Tensor& t) { return cumsum(t, 0); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return cumsum(t, -1); }, {x}));
  }
  CHECK(cumsum(tensor({1, 2, 3}, {3}, f64), 0).to_vector() == std::vector<double>{1, 3, 6});
}
