// ops/join.cpp: split and chunk, ops with several outputs.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("split: pieces along an axis, by size, by sizes and in chunks, as torch.split and torch.chunk") {
  Tensor x = arange(0, 12, 1, f64).reshape({2, 6});
  std::vector<Tensor> p = split(x, 4, 1);
  REQUIRE(p.size() == 2);
  CHECK(p[0].shape() == Shape{2, 4});
  CHECK(p[1].shape() == Shape{2, 2});
  CHECK(p[0].to_vector() == std::vector<double>{0, 1, 2, 3, 6, 7, 8, 9});
  CHECK(p[1].to_vector() == std::vector<double>{4, 5, 10, 11});
  std::vector<Tensor> q = split(x, {1, 3, 2}, -1);
  REQUIRE(q.size() == 3);
  CHECK(q[1].to_vector() == std::vector<double>{1, 2, 3, 7, 8, 9});
  std::vector<Tensor> r = split(x, {1, 1}, 0);
  CHECK(r[1].to_vector() == std::vector<double>{6, 7, 8, 9, 10, 11});
  // torch.chunk(arange(6), 4) gives 3 pieces of 2: ⌈6/4⌉ = 2.
  std::vector<Tensor> c = chunk(arange(0, 6, 1, f64), 4);
  REQUIRE(c.size() == 3);
  CHECK(c[2].to_vector() == std::vector<double>{4, 5});
  // int64 tensors split too; their pieces need no gradient.
  std::vector<Tensor> idx = split(arange(0, 5, 1, i64), 2);
  CHECK(idx.size() == 3);
  CHECK(idx[2].to_vector<std::int64_t>() == std::vector<std::int64_t>{4});
  // An empty axis gives one empty piece; an empty piece in a list is allowed.
  CHECK(split(zeros({0, 3}), 2).size() == 1);
  CHECK(split(x, {0, 6}, 1)[0].shape() == Shape{2, 0});
}

TEST_CASE("split: each output has its own gradient, checked through every output") {
  Generator gen(71);
  for (Shape s : {Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}}) {
    Tensor x = param(s, gen);
    const std::int64_t n = s[s.rank() - 1];
    CHECK(check_grad([](const Tensor& t) { return chunk(t, 2, -1); }, {x}));
    CHECK(check_grad([n](const Tensor& t) { return split(t, {n - 1, 1}, -1); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return split(t, 1, 0); }, {x}));
  }
}

TEST_CASE("split: a piece no gradient reaches gets zeros; gradients of pieces used twice add") {
  Tensor x = tensor({1, 2, 3, 4}, {4}, f64).requires_grad(true);
  std::vector<Tensor> p = split(x, 2);
  sum(p[1] * 3.0).backward();  // p[0] unused: its gradient is undefined, x's part of it zero
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 3, 3});
  x.zero_grad();
  std::vector<Tensor> q = split(x, {1, 3});
  sum(q[0] * 2.0 + sum(q[1]) + sum(q[1] * q[1])).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, 1 + 4, 1 + 6, 1 + 8});
}

TEST_CASE("split: bad sizes and axes are errors naming the op and shapes") {
  Tensor x = zeros({4, 6});
  CHECK_THROWS_WITH_AS(split(x, {2, 3}, 1), "split: sizes [2, 3] add up to 5, but axis 1 of [4, 6] has 6", ShapeError);
  CHECK_THROWS_WITH_AS(split(x, {7, -1}, 1), "split: sizes [7, -1] include a negative size", ValueError);
  CHECK_THROWS_WITH_AS(split(x, 0, 1), "split: need a positive split size, got 0", ValueError);
  CHECK_THROWS_WITH_AS(chunk(x, -2, 0), "chunk: need a positive number of chunks, got -2", ValueError);
  CHECK_THROWS_WITH_AS(chunk(x, 2, 2), "chunk: axis 2 is out of range for a tensor of shape [4, 6]", ValueError);
  CHECK_THROWS_WITH_AS(split(x, 2, -3), "split: axis -3 is out of range for a tensor of shape [4, 6]", ValueError);
}
