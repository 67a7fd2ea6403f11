// bad_input_sizes: sizes and integer arguments at the API level (issue 28, part A). Each case is
// a reproducer of /work/shared/findings/api-defects.md (D1–D4, D8–D11, D14–D18, D25, D26, D29)
// and asserts the error (type and message) or the result PyTorch gives. No case allocates much: the
// refusals happen before anything is made.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Contains;

namespace {

constexpr std::int64_t I64MAX = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t I64MIN = std::numeric_limits<std::int64_t>::min();
const double NaN = std::numeric_limits<double>::quiet_NaN();

Tensor idx(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return from_vector(std::span<const std::int64_t>(v), {n});
}

/// arange(0, numel) reshaped to `shape`, float32.
Tensor ar(const Shape& shape) { return arange(0, static_cast<double>(shape.numel())).reshape(shape); }

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

TEST_CASE("D1: a tensor whose byte size passes 2^64 is refused before anything is allocated") {
  CHECK_THROWS_WITH_AS(zeros({std::int64_t(1) << 62}),
                       "zeros: shape [4611686018427387904] has 4611686018427387904 elements, more than a tensor may "
                       "hold (2^40)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(ones({std::int64_t(1) << 62}), Contains("ones: shape [4611686018427387904] has"), ShapeError);
  CHECK_THROWS_WITH_AS(empty({I64MAX}), Contains("empty: shape [9223372036854775807] has"), ShapeError);
  CHECK_THROWS_WITH_AS(zeros({I64MAX}, f32), Contains("zeros: shape [9223372036854775807]"), ShapeError);
  CHECK_THROWS_WITH_AS(full({std::int64_t(1) << 61}, 1.0, f64), Contains("full: shape [2305843009213693952] has"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(randn({std::int64_t(1) << 62}), Contains("randn: shape [4611686018427387904] has"), ShapeError);
  CHECK_THROWS_WITH_AS(arange(0, 0x1p61, 1, f64), Contains("more than a tensor may hold (2^40)"), ShapeError);
  CHECK_THROWS_WITH_AS(zeros({std::int64_t(1) << 32, std::int64_t(1) << 32}),
                       "zeros: shape [4294967296, 4294967296]: the number of elements does not fit in 64 bits", ShapeError);
  CHECK_THROWS_WITH_AS(zeros({2, -1}), "zeros: negative dimension in shape [2, -1]", ShapeError);
}

TEST_CASE("D1: ops whose output passes the limit name the op and the shape") {
  // expand allocates its result: the error names expand (the op the caller used), not the allocator.
  CHECK_THROWS_WITH_AS(expand(ones({1}), {std::int64_t(1) << 62}), Contains("expand: shape [4611686018427387904] has"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(pad(ar({5}), {std::int64_t(1) << 40, std::int64_t(1) << 40}),
                       Contains("pad: shape [2199023255557] has 2199023255557 elements"), ShapeError);
  CHECK_THROWS_WITH_AS(one_hot(idx({1000}), std::int64_t(1) << 62),
                       Contains("one_hot: shape [1, 4611686018427387904] has 4611686018427387904 elements"), ShapeError);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 1, 1, 1}), ones({1, 1, 1, 1}), Tensor{}, {.padding = (1 << 30) - 1}),
                       Contains("conv2d: shape [1, 1, 2147483647, 2147483647] has"), ShapeError);
  CHECK_THROWS_WITH_AS(
      conv_transpose2d(ones({1, 1, 2, 2}), ones({1, 1, 1, 1}), Tensor{}, {.stride = (std::int64_t(1) << 62) - 1}),
      "conv_transpose2d: shape [1, 1, 4611686018427387904, 4611686018427387904]: the number of elements does not fit in "
      "64 bits",
      ShapeError);
  CHECK_THROWS_WITH_AS(nn::Linear(std::int64_t(1) << 31, std::int64_t(1) << 31),
                       Contains("Linear: shape [2147483648, 2147483648] has 4611686018427387904 elements"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::Embedding(std::int64_t(1) << 40, 1024),
                       Contains("Embedding: shape [1099511627776, 1024] has 1125899906842624 elements"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::Conv2d(std::int64_t(1) << 40, 1 << 20, 3),
                       Contains("Conv2d: shape [1048576, 1099511627776, 3, 3]: the number of elements does not fit"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nn::Conv2d(1, 1, 1, {.dilation = std::int64_t(1) << 62}),
                       "Conv2d: dilation must be in [1, 1099511627776], got 4611686018427387904", ValueError);
}

TEST_CASE("D2: functional batch_norm with zero channels gives an empty result, as PyTorch") {
  for (Shape s : {Shape{4, 0}, Shape{2, 0, 3, 3}}) {
    const Tensor y = batch_norm(zeros(s), {}, {}, {}, {}, /*training=*/true);
    CHECK(y.shape() == s);
    const Tensor yr = batch_norm(zeros(s), zeros({0}), ones({0}), {}, {}, /*training=*/true);
    CHECK(yr.shape() == s);
  }
}

TEST_CASE("D3: grouped conv2d with fewer filters than groups is refused; zero channels give zeros") {
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 0, 5, 5}), ones({0, 0, 3, 3}), Tensor{}, {.groups = 5}),
                       "conv2d: input [1, 0, 5, 5] and weight [0, 0, 3, 3] do not fit 5 groups (need C = 5·0 and F a "
                       "positive multiple of 5)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 2, 5, 5}), ones({0, 1, 3, 3}), zeros({0}), {.groups = 2}),
                       Contains("do not fit 2 groups"), ShapeError);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 2, 5, 5}), ones({0, 1, 3, 3}), Tensor{}, {.groups = 2}),
                       Contains("do not fit 2 groups"), ShapeError);
  // Zero input channels in each of 2 groups: every output is the bias (PyTorch gives the same).
  for (Dtype d : {f32, f64}) {
    const Tensor y = conv2d(ones({1, 0, 5, 5}, d), ones({4, 0, 3, 3}, d), full({4}, 0.5, d), {.groups = 2});
    CHECK(y.shape() == Shape{1, 4, 3, 3});
    CHECK(values(y) == std::vector<double>(36, 0.5));
  }
}

TEST_CASE("D4: conv2d and conv_transpose2d with a padding or stride near INT64_MAX are refused, not wrapped") {
  CHECK_THROWS_WITH_AS(conv2d(ar({1, 2, 5, 5}), ones({3, 2, 3, 3}), zeros({3}), {.padding = I64MAX}),
                       "conv2d: padding must be in [0, 1099511627776], got 9223372036854775807", ValueError);
  CHECK_THROWS_WITH_AS(conv2d(ar({1, 2, 5, 5}), ones({3, 2, 3, 3}), zeros({3}), {.padding = I64MAX, .groups = 1}),
                       Contains("padding must be in"), ValueError);
  CHECK_THROWS_WITH_AS(conv2d(ar({1, 2, 5, 5}), ones({2, 1, 3, 3}), Tensor{}, {.padding = I64MAX, .groups = 2}),
                       "conv2d: padding must be in [0, 1099511627776], got 9223372036854775807", ValueError);
  CHECK_THROWS_WITH_AS(conv1d(ar({1, 2, 5}), ones({3, 2, 3}), Tensor{}, {.padding = I64MAX}),
                       "conv1d: padding must be in [0, 1099511627776], got 9223372036854775807", ValueError);
  CHECK_THROWS_WITH_AS(conv_transpose2d(ar({1, 1, 2, 2}), ones({1, 1, 3, 3}), Tensor{}, {.stride = I64MAX}),
                       "conv_transpose2d: the output height = 9223372036854775807 + 3 does not fit in 64 bits",
                       ShapeError);
  CHECK_THROWS_WITH_AS(conv_transpose2d(ar({1, 1, 2, 2}), ones({1, 1, 3, 3}), Tensor{}, {.padding = I64MAX}),
                       "conv_transpose2d: padding must be in [0, 1099511627776], got 9223372036854775807", ValueError);
  // A huge stride is valid for conv2d (one output position), as in PyTorch.
  CHECK(conv2d(ar({1, 1, 5, 5}), ones({1, 1, 3, 3}), Tensor{}, {.stride = I64MAX}).shape() == Shape{1, 1, 1, 1});
  // A huge dilation: the dilated kernel is refused before it is built, naming it; a 1×1 kernel has no gaps.
  CHECK_THROWS_WITH_AS(conv2d(ar({1, 1, 5, 5}), ones({1, 1, 3, 3}), Tensor{}, {.dilation = std::int64_t(1) << 40}),
                       "conv2d: a 3×3 kernel with dilation 1099511627776 (2199023255553×2199023255553) does not fit "
                       "input [1, 1, 5, 5] with padding 0",
                       ShapeError);
  CHECK(conv2d(ar({1, 1, 5, 5}), ones({1, 1, 1, 1}), Tensor{}, {.dilation = std::int64_t(1) << 40}).shape() ==
        Shape{1, 1, 5, 5});
}

TEST_CASE("D8: narrow with a start below −n is refused, naming the start passed") {
  CHECK_THROWS_WITH_AS(narrow(ar({5}), 0, -7, 7),
                       "narrow: start -7 is out of range for axis 0 of size 5 (need −5 ≤ start ≤ 5)", ValueError);
  CHECK_THROWS_WITH_AS(narrow(ar({5}), 0, -10, 8), Contains("narrow: start -10 is out of range"), ValueError);
  CHECK_THROWS_WITH_AS(narrow(ar({5}), 0, -6, 1), Contains("narrow: start -6 is out of range"), ValueError);
  CHECK_THROWS_WITH_AS(narrow(ar({5}), 0, I64MIN, 1), Contains("narrow: start -9223372036854775808 is out of range"),
                       ValueError);
  CHECK_THROWS_WITH_AS(narrow(ar({5}), 0, 1, I64MAX),
                       "narrow: start 1 and length 9223372036854775807 do not fit axis 0 of size 5", ValueError);
  CHECK(values(narrow(ar({5}), 0, -2, 2)) == std::vector<double>{3, 4});
  CHECK(values(narrow(ar({5}), 0, -5, 5)) == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(narrow(ar({5}), 0, 5, 0).shape() == Shape{0});
}

TEST_CASE("D9: slice with a step near INT64_MAX takes the first element, as Python") {
  CHECK(values(slice(ar({5}), 0, 0, 5, I64MAX)) == std::vector<double>{0});
  CHECK(values(slice(ar({2}), 0, 0, 2, I64MAX)) == std::vector<double>{0});
  CHECK(values(slice(ar({5}), 0, 1, 5, I64MAX - 1)) == std::vector<double>{1});
  const Tensor x = ar({5}).requires_grad(true);
  sum(slice(x, 0, 0, 5, I64MAX)).backward();
  CHECK(values(x.grad()) == std::vector<double>{1, 0, 0, 0, 0});
}

TEST_CASE("D10: pad widths that would overflow are refused") {
  CHECK_THROWS_WITH_AS(pad(ar({5}), {I64MAX, I64MAX}),
                       "pad: a width must be in [0, 1099511627776], got 9223372036854775807", ValueError);
  CHECK_THROWS_WITH_AS(pad(ar({5}), {I64MAX, 1}), Contains("pad: a width must be in [0, 1099511627776]"), ValueError);
  CHECK_THROWS_WITH_AS(pad(ar({5}), {1, -1}), "pad: widths [1, -1] must not be negative", ValueError);
}

TEST_CASE("D11: split sizes whose sum overflows are refused; chunk with a huge count") {
  CHECK_THROWS_WITH_AS(split(ar({5}), {I64MAX, I64MAX, 7}),
                       "split: sizes [9223372036854775807, 9223372036854775807, 7] add up to more than 2^63, but axis 0 "
                       "of [5] has 5",
                       ShapeError);
  const std::int64_t q = std::int64_t(1) << 62;
  CHECK_THROWS_WITH_AS(split(zeros({0}), {q, q, q, q}), Contains("add up to more than 2^63"), ShapeError);
  const std::vector<Tensor> c = chunk(ar({5}), I64MAX);
  CHECK(c.size() == 5);  // torch.chunk: pieces of ⌈5 / count⌉ = 1
  CHECK(c[4].shape() == Shape{1});
}

TEST_CASE("D14: a negative pooling stride is refused; only the default 0 means the kernel size") {
  const Tensor x = ar({1, 1, 4, 4});
  CHECK_THROWS_WITH_AS(max_pool2d(x, 2, -1), "max_pool2d: need kernel ≥ 1 and stride ≥ 1, got 2 and -1", ValueError);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, 2, -1), "avg_pool2d: need kernel ≥ 1 and stride ≥ 1, got 2 and -1", ValueError);
  CHECK_THROWS_WITH_AS(l2_pool2d(x, 2, -1), "l2_pool2d: need kernel ≥ 1 and stride ≥ 1, got 2 and -1", ValueError);
  nn::MaxPool2d pool(2, -3);
  CHECK_THROWS_WITH_AS(pool(x), "max_pool2d: need kernel ≥ 1 and stride ≥ 1, got 2 and -3", ValueError);
  CHECK(max_pool2d(x, 2).shape() == Shape{1, 1, 2, 2});
}

TEST_CASE("D15: huge sizes are refused before any loop runs over them") {
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(ar({1, 1, 2, 2}), std::int64_t(1) << 40, 1),
                       "adaptive_avg_pool2d: pooling 2 input lines into 1099511627776 along axis 2 of [1, 1, 2, 2] takes "
                       "more than 2^40 weights",
                       ShapeError);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(ar({1, 1, 2, 2}), std::int64_t(1) << 41, 1),
                       "adaptive_avg_pool2d: output height must be in [1, 1099511627776], got 2199023255552", ValueError);
  CHECK_THROWS_WITH_AS(nn::LSTM(1, 1, {.num_layers = std::int64_t(1) << 40}),
                       "LSTM: num_layers must be in [1, 65536], got 1099511627776", ValueError);
  // The pooling itself, windows [⌊i·n/out⌋, ⌈(i+1)·n/out⌉): 5 → 3 averages rows {0, 1}, {1, 2, 3}, {3, 4}.
  const Tensor y = adaptive_avg_pool2d(ar({1, 1, 5, 1}), 3, 1);
  CHECK(values(y) == std::vector<double>{0.5, 2, 3.5});
  CHECK(adaptive_avg_pool2d(ar({2, 3, 2, 2}), 5, 7).shape() == Shape{2, 3, 5, 7});
}

TEST_CASE("D16: errors from huge upsampling, optimizer groups and empty functions are nabla errors") {
  const Tensor x = ar({1, 2, 2, 2});
  CHECK_THROWS_WITH_AS(upsample_nearest2d(x, std::int64_t(1) << 40, 1),
                       "upsample_nearest2d: shape [1, 2, 1099511627776, 1] has 2199023255552 elements, more than a "
                       "tensor may hold (2^40)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(x, std::int64_t(1) << 61, 1),
                       "upsample_nearest2d: output height must be in [1, 1099511627776], got 2305843009213693952",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::Upsample({.scale_factor = std::int64_t(1) << 40})(x),
                       Contains("upsample_nearest2d: output height must be in [1, 1099511627776], got 2199023255552"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::Upsample({.scale_factor = std::int64_t(1) << 62}),
                       "Upsample: scale_factor must be in [1, 1099511627776], got 4611686018427387904", ValueError);
  CHECK(nn::Upsample({.scale_factor = 3})(x).shape() == Shape{1, 2, 6, 6});

  nn::Linear lin(2, 3);
  optim::SGD sgd(lin.parameters(), {.lr = 0.1});
  CHECK_THROWS_WITH_AS(sgd.group_lr(5), "group_lr: group 5 is out of range; the optimizer has 1 group(s)", ValueError);
  CHECK_THROWS_WITH_AS(sgd.group_weight_decay(1), Contains("group_weight_decay: group 1 is out of range"), ValueError);
  CHECK(sgd.group_lr(0) == doctest::Approx(0.1));

  nn::Sequential net{nn::Linear(2, 3)};
  CHECK_THROWS_WITH_AS(inspect::sharpness(net, ones({4, 2}), idx({0, 1, 2, 0}), {}),
                       "sharpness: the function `cost` is empty", ValueError);
  CHECK_THROWS_WITH_AS(autograd::jacobian({}, ones({2})), "jacobian: the function `f` is empty", ValueError);
}

TEST_CASE("D17: Dataset::batches(INT64_MAX) is one batch of everything") {
  data::Dataset d(ones({3, 2}), idx({0, 1, 2}));
  CHECK(d.batches(I64MAX).size() == 1);
  int count = 0;
  for (auto [x, y] : d.batches(I64MAX)) {
    CHECK(x.shape() == Shape{3, 2});
    CHECK(y.shape() == Shape{3});
    ++count;
  }
  CHECK(count == 1);
  CHECK(d.batches(I64MAX, {.drop_last = true}).size() == 0);
}

TEST_CASE("D18: augment refuses a negative height and width") {
  Generator gen(1);
  CHECK_THROWS_WITH_AS(data::augment(ones({2, 784}), -28, -28, {.shift = false}, gen),
                       "augment: height must be in [1, 1099511627776], got -28", ValueError);
  CHECK_THROWS_WITH_AS(data::augment(ones({2, 784}), 28, I64MAX, {.shift = false}, gen),
                       Contains("augment: width must be in [1, 1099511627776]"), ValueError);
  CHECK(values(data::augment(ones({2, 784}), 28, 28, {.shift = false}, gen)) == std::vector<double>(2 * 784, 1.0));
}

TEST_CASE("D25: float to int64 out of range is refused (a scalar) or defined (elements), never undefined") {
  CHECK(tensor({NaN, 1e30, -1e30, -2.7, 2.7}, {5}).to(i64).to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, I64MAX, I64MIN, -2, 2});
  CHECK(tensor({NaN, 1e30}, {2}).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, I64MAX});
  CHECK_THROWS_WITH_AS(full({2}, 1e30, i64), "full: 1e+30 cannot be stored in an int64 tensor", ValueError);
  CHECK_THROWS_WITH_AS(zeros({2}, i64).fill_(NaN), "fill_: nan cannot be stored in an int64 tensor [2]", ValueError);
  CHECK(full({1}, -0x1p63, i64).to_vector<std::int64_t>() == std::vector<std::int64_t>{I64MIN});
  CHECK_THROWS_WITH_AS(arange(0, 1e300), Contains("more than a tensor may hold (2^40)"), ShapeError);
  CHECK_THROWS_WITH_AS(arange(0, 1e19), Contains("arange: [0, 1e+19) in steps of 1 gives"), ShapeError);
  CHECK_THROWS_WITH_AS(arange(0, 1, 1e-300), Contains("more than a tensor may hold (2^40)"), ShapeError);
  CHECK_THROWS_WITH_AS(arange(-1e308, 1e308, 1), Contains("more than a tensor may hold (2^40)"), ShapeError);
  Generator gen(1);
  CHECK_THROWS_WITH_AS(data::random_crop(ones({1, 1, 2, 2}), std::int64_t(1) << 62, gen),
                       "random_crop: padding must be in [0, 1099511627776], got 4611686018427387904", ValueError);
}

TEST_CASE("D26: valid input with empty axes and bool 2-d transpose is accepted, as PyTorch") {
  CHECK(flatten(zeros({0, 3})).shape() == Shape{0, 3});
  CHECK(flatten(zeros({0, 3, 2})).shape() == Shape{0, 6});
  CHECK(flatten(zeros({4})).shape() == Shape{4, 1});
  nn::Flatten fl;
  CHECK(fl(zeros({0, 2, 2})).shape() == Shape{0, 4});
  const Tensor x = ar({1, 2, 5, 5});
  for (Dtype d : {f32, f64}) {
    CHECK(conv2d(x.to(d), ones({0, 2, 3, 3}, d), Tensor{}).shape() == Shape{1, 0, 3, 3});
    CHECK(conv2d(x.to(d), ones({0, 2, 3, 3}, d), zeros({0}, d)).shape() == Shape{1, 0, 3, 3});
  }
  const Tensor t = transpose(ar({2, 3}) > 2.0);
  CHECK(t.dtype() == b8);
  CHECK(t.shape() == Shape{3, 2});
  CHECK(values(t) == std::vector<double>{0, 1, 0, 1, 0, 1});
}

TEST_CASE("D29: cumsum checks the axis of a 0-d tensor; Reshape refuses a 0-d input") {
  CHECK_THROWS_WITH_AS(cumsum(scalar(2), 5), "cumsum: axis 5 is out of range for a tensor of shape []", ValueError);
  CHECK(cumsum(scalar(2), 0).item() == 2);
  CHECK(cumsum(scalar(2), -1).item() == 2);
  nn::Reshape r({1});
  CHECK_THROWS_WITH_AS(r(scalar(1)), "Reshape([1]): expected input [N, …] with a batch axis, got a 0-d tensor",
                       ShapeError);
  CHECK(r(ones({3})).shape() == Shape{3, 1});
}

TEST_CASE("fuzz: an empty tensor's other dimensions are held to the limit, so no stride or product of them wraps") {
  // The API fuzzer made [0, 64, 2^62 − 1] (0 elements) and flipped it: the contiguous strides wrapped.
  CHECK_THROWS_WITH_AS(zeros({0, 64, (std::int64_t(1) << 62) - 1}),
                       "zeros: shape [0, 64, 4611686018427387903] is empty, but its other dimensions hold more than a "
                       "tensor may (2^40 elements)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(zeros({std::int64_t(1) << 62, std::int64_t(1) << 62, 0}),
                       Contains("zeros: shape [4611686018427387904, 4611686018427387904, 0] is empty, but"), ShapeError);
  CHECK_THROWS_WITH_AS(zeros({0, 3}).reshape({0, std::int64_t(1) << 41}),
                       Contains("reshape: shape [0, 2199023255552] is empty, but"), ShapeError);
  CHECK_THROWS_WITH_AS(expand(zeros({0, 1}), {0, std::int64_t(1) << 41}),
                       Contains("expand: shape [0, 2199023255552] is empty, but"), ShapeError);
  // up to the limit an empty tensor is made and used as before
  const Tensor e = zeros({0, 64, std::int64_t(1) << 34});
  CHECK(e.numel() == 0);
  CHECK(flip(e, {1, 2}).shape() == e.shape());
  CHECK(sum(e, 2).shape() == Shape{0, 64});
}

TEST_CASE("fuzz: pad of an empty tensor to other dimensions past the limit is refused before its layout") {
  // The API fuzzer padded a [0, 2] tensor's last axis by 2^40 on each side: [0, 2^41 + 2] has no valid
  // strides; pad lays out its result before allocating it, and that layout is checked too.
  const std::int64_t w = std::int64_t(1) << 40;
  CHECK_THROWS_WITH_AS(pad(zeros({0, 2}), {w, w}),
                       "pad: shape [0, 2199023255554] is empty, but its other dimensions hold more than a tensor may "
                       "(2^40 elements)",
                       ShapeError);
  CHECK(pad(zeros({0, 2}), {1, 2}).shape() == Shape{0, 5});
}

TEST_CASE("fuzz: conv1d checks dilation and groups as conv2d does; a huge group count does not wrap C/groups · groups") {
  // The API fuzzer passed conv1d groups = 7381154898717320228: C/groups · groups wrapped.
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 2, 4}), ones({1, 5, 1}), Tensor{}, {.groups = 7381154898717320228}),
                       "conv1d: groups must be in [1, 1099511627776], got 7381154898717320228", ValueError);
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 2, 4}), ones({1, 2, 1}), Tensor{}, {.dilation = I64MAX}),
                       "conv1d: dilation must be in [1, 1099511627776], got 9223372036854775807", ValueError);
  // within the bounds, an empty weight's channel count times the groups would still pass 2^63
  const std::int64_t g = std::int64_t(1) << 40;
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 0, 3, 3}), zeros({0, std::int64_t(1) << 30, 1, 1}), Tensor{}, {.groups = g}),
                       Contains("conv2d: input [1, 0, 3, 3] and weight [0, 1073741824, 1, 1] do not fit 1099511627776 "
                                "groups"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(conv1d(zeros({1, 0, 3}), zeros({0, std::int64_t(1) << 30, 1}), Tensor{}, {.groups = g}),
                       Contains("conv1d: input [1, 0, 3] and weight [0, 1073741824, 1] do not fit 1099511627776 groups"),
                       ShapeError);
  CHECK(conv1d(ones({1, 4, 5}), ones({2, 2, 3}), Tensor{}, {.groups = 2}).shape() == Shape{1, 2, 3});
}

TEST_CASE("fuzz: a batched matmul with an empty result does no work per batch entry") {
  // The API fuzzer found a batched matmul of 2^36 batch entries, each an empty matrix, looping for
  // minutes to write nothing. The result is empty, as PyTorch gives it, at once.
  const std::int64_t b = std::int64_t(1) << 18;
  const Tensor y = matmul(zeros({b, b, 0, 4}), zeros({b, 1, 4, 2}));
  CHECK(y.shape() == Shape{b, b, 0, 2});
  const Tensor z = matmul(ones({2, 3, 0}), ones({2, 0, 4}));  // k = 0: a sum of nothing, zeros
  CHECK(z.shape() == Shape{2, 3, 4});
  CHECK(values(z) == std::vector<double>(24, 0.0));
}

TEST_CASE("fuzz: slice with a step near INT64_MAX along an outer axis takes its first row, with no stride product") {
  // The API fuzzer sliced axis 0 (stride 3) with step INT64_MAX: the first element was right (D9), but
  // stride · step wrapped. As PyTorch x[0:2:2**63-1]: the first row.
  CHECK(values(slice(ar({2, 3}), 0, 0, 2, I64MAX)) == std::vector<double>{0, 1, 2});
  CHECK(slice(ar({2, 3}), 0, 0, 2, I64MAX).shape() == Shape{1, 3});
  const Tensor x = ar({2, 3}).requires_grad(true);
  sum(slice(x, 0, 1, 2, I64MAX - 1)).backward();
  CHECK(values(x.grad()) == std::vector<double>{0, 0, 0, 1, 1, 1});
}

TEST_CASE("fuzz: softmax and log_softmax along an empty axis return the empty result at once") {
  // The API fuzzer found log_softmax over an empty axis between two long ones computing 2^36 line
  // sums (−inf each) for an empty result. As PyTorch: an empty tensor of the input's shape.
  const std::int64_t n = std::int64_t(1) << 18;
  CHECK(log_softmax(zeros({n, 0, n}), 1).shape() == Shape{n, 0, n});
  CHECK(softmax(zeros({n, 0, n}, f64), 1).shape() == Shape{n, 0, n});
  CHECK(softmax(zeros({3, 0}), 0).shape() == Shape{3, 0});
}

TEST_CASE("fuzz: sort, argsort and topk of an empty tensor with a long axis allocate nothing per line") {
  // The API fuzzer sorted a [0, 2^31]-like tensor along its long axis: a scratch of 2^31 indices (16 GB)
  // for no line at all. As PyTorch: empty results.
  const std::int64_t n = std::int64_t(1) << 31;
  CHECK(sort(zeros({0, n}), 1).values.shape() == Shape{0, n});
  CHECK(argsort(zeros({0, n}, f64), 1, true).shape() == Shape{0, n});
  const ValuesIndices t = topk(zeros({0, n}), 3, 1);
  CHECK(t.values.shape() == Shape{0, 3});
  CHECK(t.indices.shape() == Shape{0, 3});
}

TEST_CASE("cumsum, and prod's gradient, of an empty tensor with long other axes do no work per line") {
  // Found beside the fuzzer's sort finding: cumsum along an empty axis walked 2^36 lines of nothing,
  // prod's backward sized a scratch by the axis of an empty input. As PyTorch: empty results.
  const std::int64_t n = std::int64_t(1) << 18;
  CHECK(cumsum(zeros({n, 0, n}), 1).shape() == Shape{n, 0, n});
  const Tensor x = zeros({0, std::int64_t(1) << 31}).requires_grad(true);
  sum(prod(x, 1)).backward();
  CHECK(x.grad().shape() == x.shape());
}

TEST_CASE("fuzz: conv2d's gradient for an empty batch or no filters, on the portable path (float64)") {
  // The API fuzzer ran backward through a float64 conv2d of an empty batch: the plane size was
  // numel / (n · f), a division by zero. As PyTorch: empty and zero gradients.
  for (const std::int64_t filters : {std::int64_t(3), std::int64_t(0)}) {
    const Tensor x = zeros({0, 2, 5, 5}, f64).requires_grad(true);
    const Tensor w = ones({filters, 2, 3, 3}, f64).requires_grad(true);
    const Tensor b = zeros({filters}, f64).requires_grad(true);
    sum(conv2d(x, w, b)).backward();
    CHECK(x.grad().shape() == x.shape());
    CHECK(w.grad().shape() == w.shape());
    CHECK(values(w.grad()) == std::vector<double>(static_cast<std::size_t>(filters * 18), 0.0));
    CHECK(values(b.grad()) == std::vector<double>(static_cast<std::size_t>(filters), 0.0));
  }
  const Tensor x = ones({1, 2, 5, 5}, f64).requires_grad(true);  // no filters, one image: x's gradient is 0
  sum(conv2d(x, ones({0, 2, 3, 3}, f64).requires_grad(true), Tensor{})).backward();
  CHECK(values(x.grad()) == std::vector<double>(50, 0.0));
}

TEST_CASE("fuzz: float32 conv2d's weight gradient with no filters (the fast path's tile width)") {
  // The API fuzzer ran backward through a float32 conv2d with a [0, C, kh, kw] weight: the fast
  // path's tile width was 0 vectors, and the gradient's padded width divided by it.
  const Tensor x = ones({2, 2, 5, 5}).requires_grad(true);
  const Tensor w = ones({0, 2, 3, 3}).requires_grad(true);
  const Tensor b = zeros({0}).requires_grad(true);
  sum(conv2d(x, w, b)).backward();
  CHECK(w.grad().shape() == w.shape());
  CHECK(b.grad().shape() == Shape{0});
  CHECK(values(x.grad()) == std::vector<double>(100, 0.0));
}
