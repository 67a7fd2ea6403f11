// ops/pooling.cpp: max, average and L2 pooling, flatten.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("pooling: known values") {
  Tensor x = tensor({1, 2, 5, 0,  //
                     3, 4, 1, 2,  //
                     0, 0, 7, 1,  //
                     -1, 2, 3, 4},
                    {1, 1, 4, 4}, f64);
  CHECK(max_pool2d(x, 2).to_vector() == std::vector<double>{4, 5, 2, 7});
  CHECK(avg_pool2d(x, 2).to_vector() == std::vector<double>{2.5, 2, 0.25, 3.75});
  CHECK(l2_pool2d(x, 2).at({0, 0, 0, 0}) == doctest::Approx(std::sqrt(30.0)));
  CHECK(max_pool2d(x, 3, 1).shape() == Shape{1, 1, 2, 2});
  CHECK(flatten(ones({2, 3, 4, 5})).shape() == Shape{2, 60});
}

TEST_CASE("pooling: max-pool ties send the gradient to one element only") {
  Tensor x = ones({1, 1, 2, 2}, f64).requires_grad(true);
  sum(max_pool2d(x, 2)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 0, 0});
}

TEST_CASE("pooling: gradients agree with central differences in float64") {
  Generator gen(111);
  struct Case {
    Shape s;
    std::int64_t k, stride;
  };
  for (const Case& c : {Case{{1, 1, 4, 4}, 2, 2}, Case{{2, 3, 5, 5}, 2, 2}, Case{{1, 2, 6, 5}, 3, 1}, Case{{2, 1, 3, 3}, 1, 1},
                        Case{{1, 1, 7, 7}, 3, 2}}) {
    CAPTURE(c.s);
    // max: distinct values (no ties, so no argmax flips under ±ε).
    CHECK(check_grad([&](const Tensor& t) { return max_pool2d(t, c.k, c.stride); }, {param_distinct(c.s, gen)}));
    CHECK(check_grad([&](const Tensor& t) { return avg_pool2d(t, c.k, c.stride); }, {param(c.s, gen)}));
    CHECK(check_grad([&](const Tensor& t) { return l2_pool2d(t, c.k, c.stride); }, {param_away_from_zero(c.s, gen)}));
    CHECK(check_grad([](const Tensor& t) { return flatten(t) * 2.0; }, {param(c.s, gen)}));
  }
}

TEST_CASE("pooling: float32 max-pool agrees with float64, ties and uncovered edges included") {
  // float32 2×2 / stride 2 runs nabla's own loop at avx2 and avx512 level (CTest runs this at each); float64 the loop the
  // gradient checks cover. Odd sizes leave a row and a column in no window (their gradient is 0);
  // widths over 32 take several vectors a row; rounding to few values makes ties (the first wins).
  Generator gen(112);
  for (const Shape& s : {Shape{2, 3, 24, 24}, Shape{1, 2, 7, 9}, Shape{2, 1, 8, 70}, Shape{1, 1, 2, 2}, Shape{3, 2, 5, 33}}) {
    CAPTURE(s);
    for (const bool ties : {false, true}) {
      Tensor x = randn(s, f64, gen).to(f32).to(f64);  // values float32 holds exactly
      if (ties) {
        auto v = x.to_vector();
        for (double& e : v) e = std::round(e);
        x = from_vector(v, s, f64);
      }
      const Tensor gy = randn({s[0], s[1], s[2] / 2, s[3] / 2}, f64, gen);
      Tensor x64 = x.clone().requires_grad(true), x32 = x.to(f32).requires_grad(true);
      Tensor y64 = max_pool2d(x64, 2), y32 = max_pool2d(x32, 2);
      y64.backward(gy);
      y32.backward(gy.to(f32));
      CHECK(max_abs_diff(y32.to(f64), y64) == 0);
      CHECK(max_abs_diff(x32.grad().to(f64), x64.grad()) < 1e-6);
    }
  }
}

TEST_CASE("pooling: L2 pooling is stable at zero") {
  Tensor x = zeros({1, 1, 2, 2}, f64).requires_grad(true);
  Tensor y = l2_pool2d(x, 2);
  CHECK(y.item() == 0);
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 0, 0});
}

TEST_CASE("pooling: errors name the op and the shapes") {
  CHECK_THROWS_WITH_AS(max_pool2d(ones({1, 1, 3, 3}), 4), "max_pool2d: a 4×4 window does not fit input [1, 1, 3, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(avg_pool2d(ones({3, 3}), 2), "avg_pool2d: expected input [N, C, H, W], got [3, 3]", ShapeError);
  CHECK_THROWS_AS(l2_pool2d(ones({1, 1, 3, 3}), 0), ValueError);
}

TEST_CASE("pooling: a max-pool that is not recorded (inference) gives the recorded one's values, NaN and ties included") {
  // Without recording the 2×2 float32 pool writes no argmax; its values must not change.
  Generator gen(11);
  Tensor x = randn({3, 5, 9, 14}, f32, gen);  // odd height: an uncovered row
  float* p = x.mutable_data<float>();
  for (std::int64_t i = 0; i < x.numel(); ++i) p[i] = std::round(2 * p[i]);  // many ties
  p[7] = std::nanf("");
  p[100] = -INFINITY;
  const Tensor xr = x.detach().requires_grad(true);
  const Tensor recorded = max_pool2d(xr, 2);
  Tensor plain;
  {
    NoGradGuard no_grad;
    plain = max_pool2d(xr, 2);
  }
  CHECK_FALSE(plain.requires_grad());
  const auto a = recorded.to_vector<float>(), b = plain.to_vector<float>();
  REQUIRE(a.size() == b.size());
  int differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += !(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])));
  CHECK(differ == 0);
  recorded.backward(ones_like(recorded));  // the recorded one still has its indices
  CHECK(sum(xr.grad()).item<double>() == doctest::Approx(double(recorded.numel())));
}
