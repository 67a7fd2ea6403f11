// ops/movement.cpp: permute, transpose, slice, narrow, select, squeeze, unsqueeze, expand, flip, pad.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {
std::vector<double> values(const Tensor& t) { return t.to_vector(); }
}  // namespace

TEST_CASE("movement: values as PyTorch gives them") {
  Tensor x = arange(0, 24, 1, f64).reshape({2, 3, 4});
  Tensor p = permute(x, {2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.at({1, 0, 2}) == x.at({0, 2, 1}));
  CHECK(transpose(x, 0, -1).shape() == Shape{4, 3, 2});
  CHECK(transpose(x, 0, -1).at({3, 1, 0}) == x.at({0, 1, 3}));
  CHECK(values(slice(x, 2, 1, 4, 2)) == std::vector<double>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});
  CHECK(slice(x, 1, -2).shape() == Shape{2, 2, 4});          // x[:, -2:]
  CHECK(slice(x, 1, 5, 9).shape() == Shape{2, 0, 4});        // clamped: empty
  CHECK(slice(x, 1, -100, 100).shape() == Shape{2, 3, 4});   // clamped: all
  CHECK(values(narrow(x, 0, 1, 1)) == values(slice(x, 0, 1, 2)));
  CHECK(values(narrow(x, 2, -2, 2)) == values(slice(x, 2, 2)));
  CHECK(select(x, 1, -1).shape() == Shape{2, 4});
  CHECK(values(select(x, 1, -1)) == std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(squeeze(zeros({1, 3, 1})).shape() == Shape{3});
  CHECK(squeeze(zeros({1, 3, 1}), -1).shape() == Shape{1, 3});
  CHECK(squeeze(zeros({2, 3}), 0).shape() == Shape{2, 3});   // not size 1: unchanged
  CHECK(unsqueeze(zeros({2, 3}), -1).shape() == Shape{2, 3, 1});
  CHECK(unsqueeze(zeros({2, 3}), 0).shape() == Shape{1, 2, 3});
  Tensor e = expand(tensor({1, 2, 3}, {3, 1}, f64), {2, -1, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.at({1, 2, 3}) == 3);
  CHECK(values(flip(tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64), {-1})) == std::vector<double>{3, 2, 1, 6, 5, 4});
  CHECK(values(flip(tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64), {0, 1})) == std::vector<double>{6, 5, 4, 3, 2, 1});
  Tensor pd = pad(tensor({1, 2, 3, 4}, {2, 2}, f64), {1, 0, 0, 1}, -1);
  CHECK(pd.shape() == Shape{3, 3});
  CHECK(values(pd) == std::vector<double>{-1, 1, 2, -1, 3, 4, -1, -1, -1});
  CHECK(contiguous(x).is_same(x));
  // int64 and bool tensors move too.
  CHECK(permute(arange(0, 6, 1, i64).reshape({2, 3}), {1, 0}).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("movement: gradients agree with central differences in float64, edge sizes and negative axes included") {
  Generator gen(81);
  for (Shape s : {Shape{1, 1, 1}, Shape{2, 3, 4}, Shape{3, 1, 2}, Shape{2, 0, 3}}) {
    Tensor x = param(s, gen);
    CHECK(check_grad([](const Tensor& t) { return permute(t, {2, 0, 1}); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return permute(t, {-1, -2, -3}); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return transpose(t, 0, -1); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return slice(t, -1, 1, 100, 2); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return slice(t, 0, -1); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return flip(t, {0, -1}); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return pad(t, {1, 2, 0, 1}, 0.5); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return unsqueeze(squeeze(t), 0); }, {x}));
    CHECK(check_grad([s](const Tensor& t) { return expand(t, {2, s[0], s[1], s[2]}); }, {x}));
    if (s[0] > 0) {
      CHECK(check_grad([](const Tensor& t) { return select(t, 0, -1); }, {x}));
      CHECK(check_grad([](const Tensor& t) { return narrow(t, 0, 0, 1); }, {x}));
    }
  }
  Tensor col = param({3, 1}, gen);
  CHECK(check_grad([](const Tensor& t) { return expand(t, {2, 3, 5}); }, {col}));  // stretched axes sum back
}

TEST_CASE("movement: bad axes, indices and shapes name the op and what was expected") {
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(permute(x, {0}), "permute: got 1 axes [0] for a tensor of shape [2, 3]; need one per axis", ValueError);
  CHECK_THROWS_WITH_AS(permute(x, {1, 1}), "permute: axis 1 appears twice in [1, 1]", ValueError);
  CHECK_THROWS_WITH_AS(permute(x, {0, 2}), "permute: axis 2 is out of range for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(transpose(x, 0, -3), "transpose: axis -3 is out of range for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(slice(x, 1, 0, 3, 0), "slice: step must be positive, got 0", ValueError);
  CHECK_THROWS_WITH_AS(narrow(x, 1, 2, 2), "narrow: start 2 and length 2 do not fit axis 1 of size 3", ValueError);
  CHECK_THROWS_WITH_AS(select(x, 0, 2), "select: index 2 is out of range for axis 0 of size 2", ValueError);
  CHECK_THROWS_WITH_AS(select(x, 1, -4), "select: index -4 is out of range for axis 1 of size 3", ValueError);
  CHECK_THROWS_WITH_AS(unsqueeze(x, 3), "unsqueeze: axis 3 is out of range for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(expand(x, {4, 3}), "expand: [2, 3] cannot expand to [4, 3]: axis 0 has 2, not 1 or 4", ShapeError);
  CHECK_THROWS_WITH_AS(expand(x, {3}), "expand: [2, 3] has more axes than the target [3]", ShapeError);
  CHECK_THROWS_WITH_AS(flip(x, {0, -2}), "flip: axis 0 appears twice in [0, -2]", ValueError);
  CHECK_THROWS_WITH_AS(pad(x, {1}), "pad: widths [1] must be (before, after) pairs for at most the 2 axes of [2, 3]",
                       ValueError);
  CHECK_THROWS_WITH_AS(pad(x, {1, -1}), "pad: widths [1, -1] must not be negative", ValueError);
}

TEST_CASE("cat and stack: values, gradients and errors") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, f64), b = tensor({5, 6}, {2, 1}, f64);
  CHECK(values(cat({a, b}, 1)) == std::vector<double>{1, 2, 5, 3, 4, 6});
  CHECK(values(cat({a, transpose(b)}, 0)) == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(cat({a, zeros({2, 0}, f64)}, -1).shape() == Shape{2, 2});
  CHECK(stack({a, a}, 0).shape() == Shape{2, 2, 2});
  CHECK(stack({a, a}, -1).shape() == Shape{2, 2, 2});
  CHECK(values(stack({a, a * 2.0}, 2)) == std::vector<double>{1, 2, 2, 4, 3, 6, 4, 8});
  Generator gen(82);
  for (int axis : {0, 1, -1}) {
    Tensor x = param({2, 3}, gen), y = param({2, 3}, gen), z = param({2, 3}, gen);
    CHECK(check_grad([axis](const Tensor& p, const Tensor& q, const Tensor& r) { return cat({p, q, r}, axis); }, {x, y, z}));
    CHECK(check_grad([axis](const Tensor& p, const Tensor& q) { return stack({p, q, p}, axis); }, {x, y}));
  }
  // Many inputs (past the 32 of a variadic op), some not needing gradients.
  std::vector<Tensor> many;
  for (int k = 0; k < 40; ++k) many.push_back(k % 3 == 0 ? ones({1, 2}, f64) : param({1, 2}, gen));
  Tensor s = sum(cat(many, 0) * arange(0, 80, 1, f64).reshape({40, 2}));
  s.backward();
  CHECK(many[38].grad().to_vector() == std::vector<double>{76, 77});  // input 38: past the first 32
  CHECK_FALSE(many[39].requires_grad());
  CHECK_THROWS_WITH_AS(cat({a, b}, 0), "cat: tensor 1 is [2, 1], tensor 0 is [2, 2]; all but axis 0 must match", ShapeError);
  CHECK_THROWS_WITH_AS(cat({a, a.to(f32)}, 0), "cat: tensor 1 is float32, tensor 0 is float64; convert one with .to(dtype)",
                       ValueError);
  CHECK_THROWS_WITH_AS(cat({}, 0), "cat: no tensors to join", ValueError);
  CHECK_THROWS_WITH_AS(cat({a}, 2), "cat: axis 2 is out of range for a tensor of shape [2, 2]", ValueError);
  CHECK_THROWS_WITH_AS(stack({a, b}, 0), "stack: tensor 1 is [2, 1], tensor 0 is [2, 2]; all must have one shape", ShapeError);
}
