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

TEST_CASE("reductions over several axes, amax/amin, min, argmin, with indices — values as PyTorch's") {
  Tensor x = tensor({1, 5, 3, 4, 2, 6}, {2, 3}, f64);
  CHECK(sum(x, {0, 1}).item() == 21);
  CHECK(sum(x, {-1}, true).shape() == Shape{2, 1});
  CHECK(sum(x, std::vector<int>{}).item() == 21);  // no axes: all, as PyTorch
  CHECK(mean(x, {0}).to_vector() == std::vector<double>{2.5, 3.5, 4.5});
  CHECK(amax(x).item() == 6);
  CHECK(amax(x, {1}).to_vector() == std::vector<double>{5, 6});
  CHECK(amin(x, {0}, true).to_vector() == std::vector<double>{1, 2, 3});
  CHECK(min(x, 1).to_vector() == std::vector<double>{1, 2});
  CHECK(argmin(x, 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1});
  auto [v, i] = max_with_indices(x, 0);
  CHECK(v.to_vector() == std::vector<double>{4, 5, 6});
  CHECK(i.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0, 1});
  CHECK_FALSE(i.requires_grad());
  CHECK(min_with_indices(x, -1, true).indices.shape() == Shape{2, 1});
  // Ties: amax shares the gradient evenly; max_with_indices gives it to the first.
  Tensor t = tensor({2, 2, 1, 2}, {4}, f64).requires_grad(true);
  amax(t).backward();
  CHECK(t.grad().to_vector() == std::vector<double>{1.0 / 3, 1.0 / 3, 0, 1.0 / 3});
  t.zero_grad();
  max_with_indices(t, 0).values.backward();
  CHECK(t.grad().to_vector() == std::vector<double>{1, 0, 0, 0});
  CHECK_THROWS_WITH_AS(sum(x, {1, -1}), "sum: axis 1 appears twice in [1, -1] for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(amax(x, {2}), "amax: axis 2 is out of range for a tensor of shape [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(amin(zeros({2, 0}), {1}), "amin: axis 1 of [2, 0] is empty", ValueError);
  CHECK_THROWS_WITH_AS(min(zeros({0, 2}), 0), "min: axis 0 of [0, 2] is empty", ValueError);
}

TEST_CASE("logsumexp, var, std, norm, prod — values") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  CHECK(logsumexp(x, {1}).at({0}) == doctest::Approx(std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0))));
  CHECK(logsumexp(tensor({1000, 1000}, {2}, f64), {0}).item() == doctest::Approx(1000 + std::log(2.0)));  // no overflow
  CHECK(logsumexp(x, {0, 1}).item() == doctest::Approx(logsumexp(logsumexp(x, {0}), {0}).item()));
  CHECK(var(x).item() == doctest::Approx(3.5));
  CHECK(var(x, {1}, 0).to_vector()[0] == doctest::Approx(2.0 / 3));
  CHECK(nabla::std(x, {0}).to_vector()[0] == doctest::Approx(std::sqrt(4.5)));
  CHECK(std::isnan(var(ones({1}, f64)).item()));  // n − correction = 0: NaN, as PyTorch
  CHECK(norm(x).item() == doctest::Approx(std::sqrt(91.0)));
  CHECK(norm(x, 1, {1}).to_vector() == std::vector<double>{6, 15});
  CHECK(norm(-x, INFINITY).item() == 6);
  CHECK(norm(x, 3).item() == doctest::Approx(std::cbrt(441.0)));
  CHECK(prod(x).item() == 720);
  CHECK(prod(x, 0).to_vector() == std::vector<double>{4, 10, 18});
  CHECK(prod(zeros({0}, f64)).item() == 1);
  CHECK_THROWS_WITH_AS(norm(x, 0), "norm: p must be positive (or infinity), got 0", ValueError);
}

TEST_CASE("more reductions: gradients agree with central differences in float64") {
  Generator gen(121);
  for (Shape s : {Shape{1, 1}, Shape{2, 3}, Shape{3, 1, 4}}) {
    Tensor x = param(s, gen), d = param_distinct(s, gen), away = param_away_from_zero(s, gen);
    CHECK(check_grad([](const Tensor& t) { return sum(t, {0, -1}); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return mean(t, {-1}, true); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return amax(t, {0}); }, {d}));
    CHECK(check_grad([](const Tensor& t) { return amin(t); }, {d}));
    CHECK(check_grad([](const Tensor& t) { return max_with_indices(t, -1).values; }, {d}));
    CHECK(check_grad([](const Tensor& t) { return min(t, 0, true); }, {d}));
    CHECK(check_grad([](const Tensor& t) { return logsumexp(t, {-1}); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return logsumexp(t, {0, -1}, true); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return prod(t, -1); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return prod(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return norm(t); }, {x}));
    CHECK(check_grad([](const Tensor& t) { return norm(t, 1, {-1}); }, {away}));
    CHECK(check_grad([](const Tensor& t) { return norm(t, INFINITY, {0}); }, {d}));
    CHECK(check_grad([](const Tensor& t) { return norm(t, 3); }, {away}));
    if (s.numel() > 1) {
      CHECK(check_grad([](const Tensor& t) { return var(t); }, {x}));
      CHECK(check_grad([](const Tensor& t) { return nabla::std(t, {}, 0); }, {x}));
    }
  }
  // prod with zeros: the gradient is the product of the others, exactly.
  Tensor z = tensor({2, 0, 3}, {3}, f64).requires_grad(true);
  prod(z).backward();
  CHECK(z.grad().to_vector() == std::vector<double>{0, 6, 0});
  CHECK(check_grad([](const Tensor& t) { return prod(t); }, {tensor({2, 0, 3, 0}, {4}, f64).requires_grad(true)}));
  // The 2-norm at 0: gradient 0, not NaN.
  Tensor o = zeros({3}, f64).requires_grad(true);
  norm(o).backward();
  CHECK(o.grad().to_vector() == std::vector<double>{0, 0, 0});
}
