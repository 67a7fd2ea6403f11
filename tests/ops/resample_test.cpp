// ops/resample.cpp: interpolate's bicubic and area modes — first and second derivatives against central
// differences in float64, known values and bad arguments. PyTorch's values are in
// tests/ops/torch_ops_reference_test.cpp (scripts/ops_torch_reference.py).
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;
using doctest::Contains;

TEST_CASE("interpolate bicubic: gradcheck and gradgradcheck, both align_corners") {
  Generator gen(23);
  const Tensor p = param({1, 2, 4, 5}, gen);
  const Tensor q = param({2, 1, 3, 2}, gen);
  for (bool ac : {false, true}) {
    CAPTURE(ac);
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.size = {7, 9}, .mode = "bicubic", .align_corners = ac}); }, {p}));
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.size = {2, 3}, .mode = "bicubic", .align_corners = ac}); }, {p}));
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.scale_factor = {1.5, 0.6}, .mode = "bicubic", .align_corners = ac}); },
                     {p}));
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.size = {1, 4}, .mode = "bicubic", .align_corners = ac}); }, {q}));
  }
}

TEST_CASE("interpolate area: gradcheck and gradgradcheck in 1, 2 and 3 spatial axes") {
  Generator gen(29);
  const Tensor l = param({2, 2, 7}, gen);
  const Tensor p = param({1, 2, 5, 6}, gen);
  const Tensor v = param({1, 1, 3, 4, 5}, gen);
  CHECK(check_grad([](const Tensor& t) { return interpolate(t, {.size = {3}, .mode = "area"}); }, {l}));
  CHECK(check_grad([](const Tensor& t) { return interpolate(t, {.size = {10}, .mode = "area"}); }, {l}));
  CHECK(check_grad([](const Tensor& t) { return interpolate(t, {.size = {2, 4}, .mode = "area"}); }, {p}));
  CHECK(check_grad([](const Tensor& t) { return interpolate(t, {.scale_factor = {0.5, 1.5}, .mode = "area"}); }, {p}));
  CHECK(check_grad([](const Tensor& t) { return interpolate(t, {.size = {2, 3, 2}, .mode = "area"}); }, {v}));
}

TEST_CASE("interpolate bicubic and area: known values") {
  // Keys' kernel with A = −0.75: W(0.5) = 0.59375, W(1.5) = −0.09375; the edge is replicated.
  const Tensor ramp = tensor({0, 1, 2, 3}, {1, 1, 1, 4}, f64);
  CHECK(interpolate(ramp, {.size = {1, 7}, .mode = "bicubic", .align_corners = true}).to_vector() ==
        std::vector<double>{0, 0.40625, 1, 1.5, 2, 2.59375, 3});
  // Same size: the identity, with and without align_corners; a constant stays constant.
  Generator gen(31);
  const Tensor r = randn({2, 3, 5, 4}, f64, gen);
  CHECK(max_abs_diff(interpolate(r, {.size = {5, 4}, .mode = "bicubic"}), r) == 0);
  CHECK(max_abs_diff(interpolate(r, {.size = {5, 4}, .mode = "bicubic", .align_corners = true}), r) == 0);
  const Tensor c = interpolate(full({1, 1, 3, 4}, 2.5, f64), {.size = {7, 5}, .mode = "bicubic"});
  CHECK(c.shape() == Shape{1, 1, 7, 5});
  CHECK(max_abs_diff(c, full({1, 1, 7, 5}, 2.5, f64)) < 1e-14);
  // float32 runs too.
  CHECK(interpolate(r.to(f32), {.scale_factor = {2}, .mode = "bicubic"}).shape() == Shape{2, 3, 10, 8});
  // area: the means of PyTorch's adaptive windows ⌊o·n/m⌋ … ⌈(o + 1)·n/m⌉ − 1.
  const Tensor x = tensor({0, 1, 2, 3, 4}, {1, 1, 5}, f64);
  CHECK(max_abs_diff(interpolate(x, {.size = {2}, .mode = "area"}), tensor({1, 3}, {1, 1, 2}, f64)) < 1e-15);
  CHECK(max_abs_diff(interpolate(x, {.size = {1}, .mode = "area"}), tensor({2}, {1, 1, 1}, f64)) < 1e-15);
  CHECK(max_abs_diff(interpolate(x, {.size = {3}, .mode = "area"}), tensor({0.5, 2, 3.5}, {1, 1, 3}, f64)) < 1e-15);
  CHECK(interpolate(x, {.size = {5}, .mode = "area"}).to_vector() == x.to_vector());
  // In 2-d it is adaptive_avg_pool2d.
  const Tensor a = interpolate(r, {.size = {2, 3}, .mode = "area"});
  CHECK(a.shape() == Shape{2, 3, 2, 3});
  CHECK(max_abs_diff(a, adaptive_avg_pool2d(r, 2, 3)) < 1e-14);
}

TEST_CASE("interpolate bicubic and area: bad arguments") {
  const Tensor l = ones({1, 1, 4}, f64);
  CHECK_THROWS_WITH_AS(interpolate(l, {.size = {8}, .mode = "bicubic"}), "interpolate: mode \"bicubic\" needs a 4-d input, got [1, 1, 4]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(interpolate(ones({1, 1, 2, 3, 4}), {.size = {8}, .mode = "bicubic"}),
                       "interpolate: mode \"bicubic\" needs a 4-d input, got [1, 1, 2, 3, 4]", ShapeError);
  CHECK_THROWS_WITH_AS(interpolate(l, {.size = {2}, .mode = "area", .align_corners = false}),
                       "interpolate: align_corners can only be set with the linear modes and bicubic, not \"area\"", ValueError);
  CHECK_THROWS_WITH_AS(interpolate(l, {.size = {2}, .mode = "Area"}), Contains("\"bicubic\", \"trilinear\" or \"area\", got \"Area\""),
                       ValueError);
  CHECK_THROWS_WITH_AS(interpolate(ones({1, 1, 4}, i64), {.size = {2}, .mode = "area"}), Contains("interpolate"), ValueError);
}
