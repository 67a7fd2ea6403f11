// ops/shape.cpp: reshape, transpose, to, clone.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("shape: transpose and reshape give the right layout") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  Tensor t = transpose(x);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(reshape(x, {3, 2}).at({2, 1}) == 6);
  Tensor c = x.clone();
  c.set({0, 0}, 9);
  CHECK(x.at({0, 0}) == 1);
}

TEST_CASE("shape: gradients agree with central differences in float64") {
  Generator gen(51);
  for (Shape s : {Shape{1, 1}, Shape{1, 7}, Shape{5, 3}}) {
    Tensor x = param(s, gen);
    Tensor w = param({s[1], s[0]}, gen);
    CHECK(check_grad([](const Tensor& t) { return transpose(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return t.reshape({-1}); }, {x}));
    CHECK(check_grad([](const Tensor& a, const Tensor& b) { return a * transpose(b); }, {x, w}));
    CHECK(check_grad([](const Tensor& t) { return t.clone() * t; }, {x}));
    // Through float32 the steps must be large enough to survive rounding (the map is linear).
    CHECK(check_grad([](const Tensor& t) { return t.to(f32).to(f64); }, {x}, {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4}));
  }
}

TEST_CASE("shape: gradient through a float32 round trip arrives as float64") {
  Tensor x = tensor({1, 2}, {2}, f64).requires_grad(true);
  sum(x.to(f32) * 3.0).backward();
  CHECK(x.grad().dtype() == f64);
  CHECK(x.grad().to_vector() == std::vector<double>{3, 3});
}

TEST_CASE("shape: transpose of a non-matrix is a ShapeError") {
  CHECK_THROWS_WITH_AS(transpose(ones({2, 3, 4})), "transpose: expected a 2-d tensor, got [2, 3, 4]", ShapeError);
}
