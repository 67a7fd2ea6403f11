// ops/indexing.cpp and ops/compare.cpp: index_select, gather, scatter_add, where, masked_fill,
// comparisons and masks.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {
Tensor idx(std::vector<std::int64_t> v, Shape s) { return from_vector(std::span<const std::int64_t>(v), s); }
}  // namespace

TEST_CASE("comparisons: bool masks with broadcasting, usable by where and masked_fill") {
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}, f64), b = tensor({2, 3}, {2}, f64);
  Tensor m = a < b;  // [[1 < 2, 2 < 3], [3 < 2, 4 < 3]]
  CHECK(m.dtype() == b8);
  CHECK(m.to_vector<bool>() == std::vector<bool>{true, true, false, false});
  CHECK((a >= 2.0).to_vector<bool>() == std::vector<bool>{false, true, true, true});
  CHECK((a == a).to_vector<bool>() == std::vector<bool>{true, true, true, true});
  CHECK(ne(a, 2.0).to_vector<bool>() == std::vector<bool>{true, false, true, true});
  CHECK((~m).to_vector<bool>() == std::vector<bool>{false, false, true, true});
  CHECK(((a > 1.0) & (a < 4.0)).to_vector<bool>() == std::vector<bool>{false, true, true, false});
  CHECK(((a < 2.0) | (a > 3.0)).to_vector<bool>() == std::vector<bool>{true, false, false, true});
  CHECK(eq(idx({1, 2}, {2}), idx({1, 3}, {2})).to_vector<bool>() == std::vector<bool>{true, false});  // int64 labels
  CHECK(where(m, a, 0.0).to_vector() == std::vector<double>{1, 2, 0, 0});
  CHECK(where(m, -1.0, a).to_vector() == std::vector<double>{-1, -1, 3, 4});
  CHECK(masked_fill(a, a > 2.0, 9).to_vector() == std::vector<double>{1, 2, 9, 9});
  CHECK(to_string(m) == "tensor(bool, [2, 2], [[true, true],\n                      [false, false]])");
  CHECK_THROWS_WITH_AS(lt(a, a.to(f32)), "lt: dtypes differ: float64 [2, 2] and float32 [2, 2]; convert one with .to(dtype)",
                       ValueError);
  CHECK_THROWS_WITH_AS(logical_not(a), "logical_not: expected a bool tensor (a mask), got float64 [2, 2]", ValueError);
  CHECK_THROWS_WITH_AS(where(a, a, a), "where: the condition must be a bool tensor (a comparison's result), got float64 [2, 2]",
                       ValueError);
  CHECK_THROWS_WITH_AS(masked_fill(b, a > 1.0, 0), "masked_fill: mask [2, 2] does not broadcast to the input [2]", ShapeError);
  CHECK_THROWS_WITH_AS(where(m, a, zeros({3}, f64)), "where: shapes [2, 2] and [3] do not broadcast: axis 1 has 2 and 3", ShapeError);
}

TEST_CASE("where and masked_fill: gradients go where each side was taken, summed back over broadcasting") {
  Generator gen(101);
  Tensor a = param({3, 4}, gen), b = param({4}, gen), c = param({3, 1}, gen);
  Tensor cond = randn({3, 4}, f64, gen) > 0.0;
  CHECK(check_grad([&](const Tensor& x, const Tensor& y) { return where(cond, x, y); }, {a, b}));
  CHECK(check_grad([&](const Tensor& x, const Tensor& y) { return where(cond, x, y); }, {c, b}));
  CHECK(check_grad([&](const Tensor& x) { return masked_fill(x, cond, 2.5); }, {a}));
  CHECK(check_grad([&](const Tensor& x) { return masked_fill(x, cond.reshape({3, 4}), -1); }, {a}));
  // A Huber loss from where and abs: quadratic within δ = 1 of the target, linear outside.
  Tensor pred = param({6}, gen), target = randn({6}, f64, gen);
  auto huber = [&](const Tensor& p) {
    Tensor d = abs(p - target);
    return sum(where(d < 1.0, 0.5 * square(d), d - 0.5));
  };
  CHECK(check_grad(huber, {pred}));
}

TEST_CASE("index_select, gather, scatter_add: values and gradients with repeated indices, as torch") {
  Tensor x = arange(0, 12, 1, f64).reshape({3, 4});
  CHECK(index_select(x, 0, idx({2, 0, 2}, {3})).to_vector() == std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  CHECK(index_select(x, -1, idx({3}, {1})).to_vector() == std::vector<double>{3, 7, 11});
  CHECK(index_select(x, 1, idx({}, {0})).shape() == Shape{3, 0});
  CHECK(gather(x, 1, idx({0, 0, 3, 1, 2, 2}, {3, 2})).to_vector() == std::vector<double>{0, 0, 7, 5, 10, 10});
  CHECK(gather(x, 0, idx({2, 1, 0, 0}, {1, 4})).to_vector() == std::vector<double>{8, 5, 2, 3});
  Tensor s = scatter_add(zeros({2, 3}, f64), 1, idx({0, 0, 2, 1}, {2, 2}), tensor({1, 2, 3, 4}, {2, 2}, f64));
  CHECK(s.to_vector() == std::vector<double>{3, 0, 0, 0, 4, 3});
  Generator gen(102);
  Tensor p = param({3, 4}, gen);
  CHECK(check_grad([](const Tensor& t) { return index_select(t, 0, idx({2, 0, 2, 2}, {4})); }, {p}));
  CHECK(check_grad([](const Tensor& t) { return index_select(t, -1, idx({1, 1}, {2})); }, {p}));
  CHECK(check_grad([](const Tensor& t) { return gather(t, 1, idx({0, 0, 3, 1, 1, 1}, {3, 2})); }, {p}));
  CHECK(check_grad([](const Tensor& t) { return gather(t, 0, idx({2, 2, 2, 2}, {1, 4})); }, {p}));
  Tensor src = param({2, 3}, gen), base = param({2, 4}, gen);
  // idx smaller than src (torch allows it): src's last column is never read, its gradient 0.
  CHECK(check_grad([](const Tensor& b, const Tensor& t) { return scatter_add(b, 1, idx({0, 0, 3, 1}, {2, 2}), t); },
                   {base, src}));
  Tensor src2 = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64).requires_grad(true);
  sum(scatter_add(zeros({2, 4}, f64), 1, idx({0, 0, 3, 1}, {2, 2}), src2) * 2.0).backward();
  CHECK(src2.grad().to_vector() == std::vector<double>{2, 2, 0, 2, 2, 0});
}

TEST_CASE("indexing: an index out of range is an error naming op, axis, index and size, before any access") {
  Tensor x = zeros({3, 4});
  CHECK_THROWS_WITH_AS(index_select(x, 0, idx({0, 3}, {2})),
                       "index_select: index 3 is out of range for axis 0 of size 3 (at [1] of the indices)", ValueError);
  CHECK_THROWS_WITH_AS(index_select(x, 1, idx({-1}, {1})),
                       "index_select: index -1 is out of range for axis 1 of size 4 (at [0] of the indices)", ValueError);
  CHECK_THROWS_WITH_AS(index_select(x, 0, tensor({0}, {1})), "index_select: indices must be int64, got float32 [1]",
                       ValueError);
  CHECK_THROWS_WITH_AS(gather(x, 1, idx({0, 1, 2, 4, 0, 0}, {3, 2})),
                       "gather: index 4 is out of range for axis 1 of size 4 (at [1, 1] of the indices)", ValueError);
  CHECK_THROWS_WITH_AS(gather(x, 1, idx({0, 0}, {2})),
                       "gather: indices [2] do not fit input [3, 4]: need the same rank and no larger extent off the axis",
                       ShapeError);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, idx({5}, {1, 1}), ones({1, 1})),
                       "scatter_add: index 5 is out of range for axis 0 of size 3 (at [0, 0] of the indices)", ValueError);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, idx({0, 0}, {1, 2}), ones({1, 1})),
                       "scatter_add: indices [1, 2] do not fit source [1, 1]: need the same rank and no larger extent",
                       ShapeError);
  CHECK_THROWS_WITH_AS(gather(x, 2, idx({0}, {1, 1})), "gather: axis 2 is out of range for a tensor of shape [3, 4]", ValueError);
}
