// ops/pooling_options.cpp, ops/resample.cpp, ops/fold.cpp, ops/padding.cpp: PyTorch's pooling options,
// interpolate, unfold / fold, pad's modes, their modules, and the small aliases (view, sum of bool).
// First and second derivatives against central differences in float64; PyTorch's values are in
// tests/ops/torch_ops_reference_test.cpp.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;
using doctest::Contains;

TEST_CASE("max_pool2d / avg_pool2d options: gradcheck and gradgradcheck for padding, dilation, ceil_mode") {
  Generator gen(7);
  const std::vector<MaxPool2dFuncOptions> maxes = {
      {.kernel_size = 3, .stride = 2, .padding = 1},
      {.kernel_size = 2, .stride = 2, .padding = 1, .ceil_mode = true},
      {.kernel_size = 2, .stride = 1, .dilation = 2},
      {.kernel_size = {3, 2}, .stride = {2, 3}, .padding = {1, 0}, .dilation = {1, 2}, .ceil_mode = true},
  };
  for (const auto& o : maxes) {
    CAPTURE(o.kernel_size.h);
    const Tensor x = param_distinct({1, 2, 6, 7}, gen);
    CHECK(check_grad([o](const Tensor& t) { return max_pool2d(t, o); }, {x}));
    const Tensor x3 = param_distinct({2, 5, 5}, gen);  // unbatched
    CHECK(check_grad([o](const Tensor& t) { return max_pool2d(t, o); }, {x3}));
  }
  const std::vector<AvgPool2dFuncOptions> avgs = {
      {.kernel_size = 3, .stride = 2, .padding = 1},
      {.kernel_size = 3, .stride = 2, .padding = 1, .count_include_pad = false},
      {.kernel_size = 2, .stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false},
      {.kernel_size = 3, .stride = 2, .ceil_mode = true},
      {.kernel_size = {2, 3}, .stride = {1, 2}, .padding = {1, 1}, .divisor_override = 5},
  };
  for (const auto& o : avgs) {
    const Tensor x = param({1, 2, 6, 7}, gen);
    CHECK(check_grad([o](const Tensor& t) { return avg_pool2d(t, o); }, {x}));
  }
  const Tensor l = param_distinct({2, 3, 9}, gen);
  CHECK(check_grad([](const Tensor& t) { return max_pool1d(t, {.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true}); }, {l}));
  CHECK(check_grad([](const Tensor& t) { return avg_pool1d(t, {.kernel_size = 3, .stride = 2, .padding = 1, .count_include_pad = false}); },
                   {l}));
}

TEST_CASE("pooling options: PyTorch's output sizes, and the plain cases run the book's kernels unchanged") {
  const Tensor x = arange(0, 25, 1, f64).reshape({1, 1, 5, 5});
  // ceil_mode: ⌈(5 + 2 − 2)/2⌉ + 1 = 4, but the last window would start at 6 ≥ 5 + 1: 3.
  CHECK(max_pool2d(x, {.kernel_size = 2, .stride = 2, .padding = 1, .ceil_mode = true}).shape() == Shape{1, 1, 3, 3});
  CHECK(max_pool2d(x, {.kernel_size = 2, .stride = 2, .ceil_mode = true}).shape() == Shape{1, 1, 3, 3});
  CHECK(max_pool2d(x, {.kernel_size = 2, .stride = 2}).shape() == Shape{1, 1, 2, 2});
  CHECK(max_pool2d(x, {.kernel_size = 2, .dilation = 2}).shape() == Shape{1, 1, 2, 2});
  const auto [v, idx] = max_pool2d_with_indices(x, {.kernel_size = 2, .stride = 2, .ceil_mode = true});
  CHECK(v.to_vector() == std::vector<double>{6, 8, 9, 16, 18, 19, 21, 23, 24});
  CHECK(idx.to_vector() == std::vector<double>{6, 8, 9, 16, 18, 19, 21, 23, 24});
  // count_include_pad: the corner window of a 3×3 pooling padded by 1 holds 4 inputs of 9 places.
  const Tensor ones4 = ones({1, 1, 4, 4}, f64);
  CHECK(avg_pool2d(ones4, {.kernel_size = 3, .stride = 1, .padding = 1}).at({0, 0, 0, 0}) == doctest::Approx(4.0 / 9));
  CHECK(avg_pool2d(ones4, {.kernel_size = 3, .stride = 1, .padding = 1, .count_include_pad = false}).at({0, 0, 0, 0}) == 1);
  // Options that are the plain window give the same bits as the old calls (same kernels), float32 too.
  Generator gen(3);
  for (Dtype dt : {f32, f64}) {
    const Tensor r = randn({2, 3, 8, 8}, dt, gen);
    CHECK(max_abs_diff(max_pool2d(r, {.kernel_size = 2}), max_pool2d(r, 2)) == 0);
    // ceil_mode adds a fourth, partial window on 8 × 8 (general kernel); the first three are the plain ones.
    const Tensor ceil = max_pool2d(r, {.kernel_size = 3, .stride = 2, .ceil_mode = true});
    REQUIRE(ceil.shape() == Shape{2, 3, 4, 4});
    CHECK(max_abs_diff(narrow(narrow(ceil, 2, 0, 3), 3, 0, 3), max_pool2d(r, 3, 2)) == 0);
    CHECK(max_abs_diff(avg_pool2d(r, {.kernel_size = 2, .stride = 2}), avg_pool2d(r, 2)) == 0);
    // The general kernel with no padding agrees with the plain one.
    CHECK(max_abs_diff(max_pool2d(r, {.kernel_size = {2, 2}, .stride = {2, 2}, .dilation = {1, 1}}),
                       max_pool2d_with_indices(r, {.kernel_size = 2}).values) == 0);
  }
}

TEST_CASE("pooling options: bad arguments are errors naming the op, the shapes and what was expected") {
  const Tensor x = ones({1, 1, 4, 4});
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.kernel_size = 2, .padding = 2}),
                       "max_pool2d: padding (2, 2) must be at most half the kernel_size (2, 2), as PyTorch requires", ValueError);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, {.kernel_size = 3, .padding = -1}), "avg_pool2d: padding must be in [0, 1099511627776], got -1",
                       ValueError);
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.kernel_size = 3, .dilation = 0}), "max_pool2d: dilation must be in [1, 1099511627776], got 0",
                       ValueError);
  CHECK_THROWS_WITH_AS(max_pool2d(x, {.kernel_size = 3, .dilation = 2}),
                       "max_pool2d: input [1, 1, 4, 4] with kernel_size (3, 3), stride (3, 3), padding (0, 0), dilation (2, 2) "
                       "gives an output of 0×0; it must be at least 1×1",
                       ShapeError);
  CHECK_THROWS_WITH_AS(max_pool2d(ones({4, 4}), {.kernel_size = 2}), "max_pool2d: expected input [N, C, H, W] or [C, H, W], got [4, 4]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, {.kernel_size = 2, .divisor_override = 0}),
                       "avg_pool2d: divisor_override must be in [1, 1099511627776], got 0", ValueError);
  CHECK_THROWS_WITH_AS(max_pool1d(ones({2, 3, 4, 5}), {.kernel_size = 2}), "max_pool1d: expected input [N, C, L] or [C, L], got [2, 3, 4, 5]",
                       ShapeError);
}

TEST_CASE("interpolate: gradcheck and gradgradcheck for every mode") {
  Generator gen(11);
  const Tensor l = param({2, 2, 5}, gen);
  const Tensor p = param({1, 2, 4, 5}, gen);
  const Tensor v = param({1, 1, 3, 2, 4}, gen);
  for (std::string_view mode : {"nearest", "nearest-exact"}) {
    CAPTURE(mode);
    CHECK(check_grad([mode](const Tensor& t) { return interpolate(t, {.size = {8}, .mode = mode}); }, {l}));
    CHECK(check_grad([mode](const Tensor& t) { return interpolate(t, {.scale_factor = {0.7, 1.5}, .mode = mode}); }, {p}));
    CHECK(check_grad([mode](const Tensor& t) { return interpolate(t, {.size = {5, 3, 7}, .mode = mode}); }, {v}));
  }
  for (bool ac : {false, true}) {
    CAPTURE(ac);
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.size = {8}, .mode = "linear", .align_corners = ac}); }, {l}));
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.size = {3}, .mode = "linear", .align_corners = ac}); }, {l}));
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.scale_factor = {1.5, 0.6}, .mode = "bilinear", .align_corners = ac}); },
                     {p}));
    CHECK(check_grad([ac](const Tensor& t) { return interpolate(t, {.size = {4, 3, 6}, .mode = "trilinear", .align_corners = ac}); }, {v}));
  }
}

TEST_CASE("interpolate: known values and bad arguments") {
  const Tensor x = tensor({0, 1, 2, 3}, {1, 1, 4}, f64);
  CHECK(interpolate(x, {.size = {8}, .mode = "nearest"}).to_vector() == std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3});
  CHECK(interpolate(x, {.size = {7}, .mode = "linear", .align_corners = true}).to_vector() ==
        std::vector<double>{0, 0.5, 1, 1.5, 2, 2.5, 3});
  CHECK(interpolate(x, {.scale_factor = {2}, .mode = "linear"}).to_vector() ==
        std::vector<double>{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3});
  // interpolate's nearest is upsample_nearest2d's rule.
  Generator gen(5);
  const Tensor r = randn({2, 3, 5, 4}, f64, gen);
  CHECK(max_abs_diff(interpolate(r, {.size = {7, 9}}), upsample_nearest2d(r, 7, 9)) == 0);
  CHECK_THROWS_WITH_AS(interpolate(x, {.size = {8}, .scale_factor = {2}}), "interpolate: give exactly one of size and scale_factor",
                       ValueError);
  CHECK_THROWS_WITH_AS(interpolate(x, {.size = {8}, .mode = "bilinear"}), "interpolate: mode \"bilinear\" needs a 4-d input, got [1, 1, 4]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(interpolate(x, {.size = {8}, .mode = "nearest", .align_corners = true}),
                       "interpolate: align_corners can only be set with the linear modes and bicubic, not \"nearest\"", ValueError);
  CHECK_THROWS_WITH_AS(interpolate(x, {.size = {8}, .mode = "cubic"}), Contains("interpolate: mode must be"), ValueError);
  CHECK_THROWS_WITH_AS(interpolate(x, {.size = {2, 3}}), "interpolate: size has 2 entries; input [1, 1, 4] has 1 spatial axes (give 1 or 1)",
                       ValueError);
  CHECK_THROWS_WITH_AS(interpolate(x, {.scale_factor = {0.1}}), Contains("gives an output size of 0"), ValueError);
  CHECK_THROWS_WITH_AS(interpolate(ones({4, 4}), {.size = {2}}), Contains("expected input [N, C, L]"), ShapeError);
}

TEST_CASE("unfold and fold: each other's adjoint; gradcheck and gradgradcheck") {
  Generator gen(13);
  const std::vector<UnfoldFuncOptions> opts = {
      {.kernel_size = 2},
      {.kernel_size = 3, .padding = 1},
      {.kernel_size = 3, .dilation = 2, .padding = 2, .stride = 2},
      {.kernel_size = {3, 2}, .dilation = {1, 2}, .padding = {0, 1}, .stride = {1, 3}},
  };
  for (const auto& o : opts) {
    const Tensor x = param({2, 2, 5, 6}, gen);
    CHECK(check_grad([o](const Tensor& t) { return unfold(t, o); }, {x}));
    const Tensor cols = unfold(x.detach(), o);
    const FoldFuncOptions fo{.output_size = {5, 6}, .kernel_size = o.kernel_size, .dilation = o.dilation, .padding = o.padding, .stride = o.stride};
    const Tensor c = param(cols.shape(), gen);
    CHECK(check_grad([fo](const Tensor& t) { return fold(t, fo); }, {c}));
    // ⟨unfold(x), c⟩ = ⟨x, fold(c)⟩
    CHECK(sum(unfold(x.detach(), o) * c.detach()).item() == doctest::Approx(sum(x.detach() * fold(c.detach(), fo)).item()).epsilon(1e-12));
  }
  // fold(unfold(ones)) counts how many blocks cover each place.
  const Tensor counts = fold(unfold(ones({1, 1, 3, 3}, f64), {.kernel_size = 2}), {.output_size = 3, .kernel_size = 2});
  CHECK(counts.to_vector() == std::vector<double>{1, 2, 1, 2, 4, 2, 1, 2, 1});
  CHECK(unfold(ones({3, 4, 4}), {.kernel_size = 2}).shape() == Shape{12, 9});
  CHECK_THROWS_WITH_AS(unfold(ones({1, 1, 2, 2}), {.kernel_size = 3}),
                       "unfold: a spatial size of 2×2 ([1, 1, 2, 2]) with kernel_size (3, 3), dilation (1, 1), padding (0, 0), "
                       "stride (1, 1) gives 0×0 sliding blocks; there must be at least one along each axis",
                       ShapeError);
  CHECK_THROWS_WITH_AS(fold(ones({1, 5, 4}), {.output_size = 3, .kernel_size = 2}),
                       "fold: input [1, 5, 4] has 5 rows, not a multiple of kernel_size (2, 2) = 4 taps", ShapeError);
  CHECK_THROWS_WITH_AS(fold(ones({1, 4, 5}), {.output_size = 3, .kernel_size = 2}),
                       "fold: input [1, 4, 5] has 5 columns, but output_size (3, 3) with these options has 2×2 = 4 sliding blocks",
                       ShapeError);
  CHECK_THROWS_WITH_AS(unfold(ones({1, 1, 4, 4}), {.kernel_size = 2, .stride = 0}), "unfold: stride must be in [1, 1099511627776], got 0",
                       ValueError);
}

TEST_CASE("pad modes: gradcheck and gradgradcheck, known values, PyTorch's limits") {
  Generator gen(17);
  for (std::string_view mode : {"reflect", "replicate", "circular"}) {
    CAPTURE(mode);
    const Tensor a = param({2, 5}, gen), b = param({1, 2, 4, 5}, gen), c = param({1, 1, 3, 4, 4}, gen);
    CHECK(check_grad([mode](const Tensor& t) { return pad(t, {2, 3}, mode); }, {a}));
    CHECK(check_grad([mode](const Tensor& t) { return pad(t, {1, 2, 3, 0}, mode); }, {b}));
    CHECK(check_grad([mode](const Tensor& t) { return pad(t, {1, 1, 0, 2, 2, 1}, mode); }, {c}));
  }
  const Tensor x = tensor({1, 2, 3}, {1, 3}, f64);
  CHECK(pad(x, {2, 2}, "reflect").to_vector() == std::vector<double>{3, 2, 1, 2, 3, 2, 1});
  CHECK(pad(x, {2, 1}, "replicate").to_vector() == std::vector<double>{1, 1, 1, 2, 3, 3});
  CHECK(pad(x, {3, 2}, "circular").to_vector() == std::vector<double>{1, 2, 3, 1, 2, 3, 1, 2});
  CHECK(pad(x, {1, 1}, "constant", 9).to_vector() == std::vector<double>{9, 1, 2, 3, 9});
  CHECK_THROWS_WITH_AS(pad(x, {3, 0}, "reflect"),
                       "pad: mode \"reflect\" needs each width below the size of its axis; got (3, 0) for axis 1 of size 3 in input [1, 3]",
                       ValueError);
  CHECK_THROWS_WITH_AS(pad(x, {4, 0}, "circular"), Contains("pad: mode \"circular\" needs each width at most the size of its axis"),
                       ValueError);
  CHECK_THROWS_WITH_AS(pad(x, {-1, 0}, "replicate"), "pad: widths [-1, 0] must not be negative in mode \"replicate\"", ValueError);
  CHECK_THROWS_WITH_AS(pad(x, {1, 1}, "reflect", 2), "pad: mode \"reflect\" takes no value, got 2", ValueError);
  CHECK_THROWS_WITH_AS(pad(x, {1, 1}, "mirror"), Contains("pad: mode must be"), ValueError);
  CHECK_THROWS_WITH_AS(pad(tensor({1, 2, 3}, {3}, f64), {1, 1}, "reflect"), Contains("got widths [1, 1] for input [3]"), ValueError);
  CHECK_THROWS_WITH_AS(pad(ones({2, 3}), {1, 1, 1, 1}, "replicate"), Contains("4 with 3-d or 4-d"), ValueError);
}

TEST_CASE("modules: pooling with options, Upsample modes, Unfold / Fold, the padding layers") {
  Generator gen(19);
  const Tensor x = randn({2, 3, 7, 8}, f64, gen);
  nn::MaxPool2d mp({.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true});
  CHECK(max_abs_diff(mp(x), max_pool2d(x, {.kernel_size = 3, .stride = 2, .padding = 1, .ceil_mode = true})) == 0);
  CHECK(mp.describe() == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=true)");
  nn::AvgPool2d ap({.kernel_size = 2, .padding = 1, .count_include_pad = false});
  CHECK(max_abs_diff(ap(x), avg_pool2d(x, {.kernel_size = 2, .padding = 1, .count_include_pad = false})) == 0);
  CHECK(nn::MaxPool2d(2)(x).shape() == Shape{2, 3, 3, 4});
  const Tensor s = randn({2, 3, 9}, f64, gen);
  CHECK(nn::MaxPool1d(3, 2)(s).shape() == Shape{2, 3, 4});
  CHECK(nn::AvgPool1d({.kernel_size = 2, .padding = 1})(s).shape() == Shape{2, 3, 5});
  nn::Upsample up({.scale_factor = 2, .mode = "bilinear", .align_corners = false});
  CHECK(max_abs_diff(up(x), interpolate(x, {.scale_factor = {2.0}, .mode = "bilinear"})) == 0);
  CHECK(nn::Upsample({.out_h = 5, .out_w = 4, .mode = "bilinear", .align_corners = true})(x).shape() == Shape{2, 3, 5, 4});
  CHECK_THROWS_WITH_AS(nn::Upsample({.scale_factor = 2, .mode = "bicubic"}), Contains("Upsample: mode must be"), ValueError);
  nn::Unfold un({.kernel_size = 2, .stride = 2});
  nn::Fold fo({.output_size = {6, 8}, .kernel_size = 2, .stride = 2});
  const Tensor y = narrow(x, 2, 0, 6);
  CHECK(max_abs_diff(fo(un(y)), y) == 0);  // non-overlapping blocks: fold undoes unfold
  CHECK(nn::ReflectionPad2d(2)(x).shape() == Shape{2, 3, 11, 12});
  CHECK(max_abs_diff(nn::ReflectionPad2d({1, 2, 3, 0})(x), pad(x, {1, 2, 3, 0}, "reflect")) == 0);
  CHECK(max_abs_diff(nn::ReplicationPad2d(1)(x), pad(x, {1, 1, 1, 1}, "replicate")) == 0);
  CHECK(max_abs_diff(nn::CircularPad1d({2, 1})(s), pad(s, {2, 1}, "circular")) == 0);
  CHECK(max_abs_diff(nn::ReflectionPad1d(2)(s), pad(s, {2, 2}, "reflect")) == 0);
  CHECK(max_abs_diff(nn::ReplicationPad1d(2)(s), pad(s, {2, 2}, "replicate")) == 0);
  CHECK(max_abs_diff(nn::ZeroPad2d({1, 0, 0, 1})(x), pad(x, {1, 0, 0, 1})) == 0);
  CHECK(max_abs_diff(nn::ConstantPad2d(1, 3.5)(x), pad(x, {1, 1, 1, 1}, 3.5)) == 0);
  CHECK(max_abs_diff(nn::ConstantPad1d({1, 2}, -1)(s), pad(s, {1, 2}, -1)) == 0);
  CHECK(nn::ZeroPad1d(1)(s).shape() == Shape{2, 3, 11});
  CHECK(nn::ReflectionPad2d(1).describe() == "ReflectionPad2d([1, 1, 1, 1])");
  CHECK_THROWS_WITH_AS(nn::ReflectionPad2d({1, -1, 0, 0}), "ReflectionPad2d: padding [1, -1, 0, 0] must not be negative", ValueError);
  // A module in a Sequential, gradients through it.
  nn::Sequential net{nn::ReflectionPad2d(1), nn::MaxPool2d({.kernel_size = 3, .stride = 2, .padding = 1})};
  const Tensor xg = x.detach().requires_grad(true);
  sum(net(xg)).backward();
  CHECK(xg.grad().shape() == x.shape());
}

TEST_CASE("view is reshape; a bool tensor sums to an int64 count") {
  const Tensor x = arange(0, 12, 1, f64);
  CHECK(x.view({3, -1}).shape() == Shape{3, 4});
  const Tensor pred = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  const Tensor hit = pred > 2.5;
  CHECK(sum(hit).dtype() == i64);
  CHECK(sum(hit).item<std::int64_t>() == 4);
  CHECK(sum(hit, 1).to_vector() == std::vector<double>{1, 3});
  CHECK(sum(hit, std::vector<int>{0, 1}).item<std::int64_t>() == 4);
}
