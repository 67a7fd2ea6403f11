// bad_input_messages: bad input at the API level is refused with a message that names the op the
// user called and the values the user passed — not an op it is built of, nor shapes it made.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

namespace {

Tensor idx(std::vector<std::int64_t> v, Shape s) { return from_vector(std::span<const std::int64_t>(v), s); }
Tensor idx(std::vector<std::int64_t> v) {
  const auto n = static_cast<std::int64_t>(v.size());
  return idx(std::move(v), {n});
}

// A tensor of the given rank, all dimensions 1.
Tensor of_rank(int rank) {
  Shape s;
  for (int k = 0; k < rank; ++k) s.push_back(1);
  return zeros(s);
}

}  // namespace

TEST_CASE("D28: an undefined input names the op and the input") {
  const Tensor x = ones({2});
  CHECK_THROWS_WITH_AS(add(Tensor{}, x), "add: input 0 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(x + Tensor{}, "add: input 1 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(sum(Tensor{}), "sum: input 0 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), Tensor{}), "matmul: input 1 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(cat({x, Tensor{}}), "cat: input 1 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(where(Tensor{}, x, x), "where: input 0 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(stack({x, Tensor{}}), "stack: tensor 1 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(zeros({2}).copy_(Tensor{}), "copy_: the source is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(zeros({2}).add_(Tensor{}), "add_: other is an undefined tensor", ValueError);
  // composites, and the toolkit's checks
  CHECK_THROWS_WITH_AS(dot(x, Tensor{}), "dot: input 1 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(conv1d(Tensor{}, ones({1, 1, 2}), Tensor{}), "conv1d: input 0 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(mean(Tensor{}), "mean: input 0 is an undefined tensor", ValueError);
  CHECK_THROWS_WITH_AS(var(Tensor{}), "var: expected a float32 or float64 tensor, got an undefined tensor", ValueError);
  // a bias is optional: conv2d takes an undefined one
  CHECK(conv2d(ones({1, 1, 3, 3}), ones({1, 1, 2, 2}), Tensor{}).shape() == Shape{1, 1, 2, 2});
  CHECK_THROWS_WITH_AS(conv2d(Tensor{}, ones({1, 1, 2, 2}), Tensor{}), "conv2d: input 0 is an undefined tensor", ValueError);
}

TEST_CASE("D28: Embedding and embedding name themselves and the index's position") {
  nn::Embedding emb(5, 3);
  const Tensor i = idx({0, 1, 2, 9}, {2, 2});
  CHECK_THROWS_WITH_AS(emb(i), "Embedding(5, 3): index 9 at [1, 1] of int64 [2, 2] is out of range [0, 5)", ValueError);
  CHECK_THROWS_WITH_AS(embedding(idx({-1, 0}), ones({5, 3})), "embedding: index -1 at [0] of int64 [2] is out of range [0, 5)",
                       ValueError);
  CHECK(emb(idx({4, 0}, {1, 2})).shape() == Shape{1, 2, 3});
  // the output would have one axis more than the maximum
  Tensor deep = zeros({1, 1, 1, 1, 1, 1, 1, 1}, i64);
  CHECK_THROWS_WITH_AS(emb(deep), Contains("Embedding(5, 3): indices [1, 1, 1, 1, 1, 1, 1, 1] have 8 axes"), ShapeError);
  CHECK_THROWS_WITH_AS(embedding(deep, ones({5, 3})), Contains("embedding: indices [1, 1, 1, 1, 1, 1, 1, 1] have 8 axes"),
                       ShapeError);
}

TEST_CASE("D28: conv1d checks in its own terms") {
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 2, 3}), ones({4, 2, 5}), Tensor{}),
                       "conv1d: a kernel of size 5 does not fit input [1, 2, 3] with padding 0", ShapeError);
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 2, 4}), ones({4, 2, 3}), Tensor{}, {.dilation = 2}),
                       "conv1d: a kernel of size 3 with dilation 2 (5 across) does not fit input [1, 2, 4] with padding 0",
                       ShapeError);
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 3, 4}), ones({4, 2, 3}), Tensor{}), Contains("conv1d: input [1, 3, 4] and weight [4, 2, 3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 2, 4}), ones({4, 2, 3}, f64), Tensor{}), Contains("conv1d: dtypes differ"), ValueError);
  CHECK_THROWS_WITH_AS(conv1d(ones({1, 2, 4}), ones({4, 2, 3}), ones({3})), Contains("conv1d: bias is float32 [3]"), ShapeError);
  CHECK(conv1d(ones({1, 2, 5}), ones({4, 2, 3}), ones({4}), {.padding = 1}).shape() == Shape{1, 4, 5});
}

TEST_CASE("D28: dilated conv2d speaks of the dilation; a 1×1 kernel is not dilated") {
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 1, 6, 6}), ones({1, 1, 4, 4}), Tensor{}, {.dilation = 2}),
                       "conv2d: a 4×4 kernel with dilation 2 (7×7) does not fit input [1, 1, 6, 6] with padding 0", ShapeError);
  const std::int64_t d62 = std::int64_t(1) << 62;
  // past any axis (the shared integer-argument check, D4), before the kernel is measured
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 1, 6, 6}), ones({1, 1, 3, 3}), Tensor{}, {.dilation = d62}),
                       "conv2d: dilation must be in [1, 1099511627776], got 4611686018427387904", ValueError);
  // dilation is moot for 1×1 kernels: valid, whatever its size
  const Tensor y = conv2d(ones({1, 2, 3, 3}), ones({4, 2, 1, 1}), Tensor{}, {.dilation = std::int64_t(1) << 40});
  CHECK(y.shape() == Shape{1, 4, 3, 3});
  CHECK(y.data<float>()[0] == 2.0f);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 2, 3, 3}), ones({4, 1, 1, 1}), ones({3}), {.groups = 2}),
                       Contains("conv2d: bias is float32 [3]; expected float32 [4]"), ShapeError);
}

TEST_CASE("D28: Linear and the recurrent layers name a dtype mismatch") {
  nn::Linear fc(3, 16);
  CHECK_THROWS_WITH_AS(fc(ones({10, 3}, f64)),
                       "Linear(3, 16): input is float64 [10, 3]; the weights are float32; convert one with .to(dtype)",
                       ValueError);
  nn::LSTM lstm(3, 4);
  CHECK_THROWS_WITH_AS(lstm(ones({2, 1, 3}, f64)), Contains("LSTM(3, 4): input is float64 [2, 1, 3]; the weights are float32"),
                       ValueError);
  CHECK_THROWS_WITH_AS(lstm.forward(ones({2, 1, 3}), {ones({1, 1, 4}, f64), Tensor{}}),
                       Contains("LSTM(3, 4): h0 is float64 [1, 1, 4]; the weights are float32"), ValueError);
  nn::LSTMCell cell(3, 4);
  CHECK_THROWS_WITH_AS(cell(ones({2, 3}, f64)), Contains("LSTMCell(3, 4): input is float64 [2, 3]; the weights are float32"),
                       ValueError);
}

TEST_CASE("D28: composites check dtypes under their own name") {
  CHECK_THROWS_WITH_AS(einsum("ij,jk->ik", ones({1, 2}), ones({2, 3}, f64)), Contains("einsum: dtypes differ"), ValueError);
  CHECK_THROWS_WITH_AS(einsum("ij,jk->ik", ones({1, 2}, i64), ones({2, 3}, i64)),
                       "einsum: expected a float32 or float64 tensor, got int64 [1, 2]", ValueError);
  CHECK_THROWS_WITH_AS(dot(ones({2}), ones({2}, f64)), Contains("dot: dtypes differ"), ValueError);
  CHECK_THROWS_WITH_AS(outer(ones({2}, i64), ones({2}, i64)), "outer: expected a float32 or float64 tensor, got int64 [2]",
                       ValueError);
  CHECK_THROWS_WITH_AS(stack({ones({2}), ones({2}, f64)}),
                       "stack: tensor 1 is float64 [2], tensor 0 is float32 [2]; all must have one dtype", ValueError);
  CHECK_THROWS_WITH_AS(mean(ones({2}, i64)), "mean: expected a float32 or float64 tensor, got int64 [2]", ValueError);
  CHECK_THROWS_WITH_AS(mean(ones({2}, i64), 0), "mean: expected a float32 or float64 tensor, got int64 [2]", ValueError);
}

TEST_CASE("D28: empty inputs of reductions and normalizations name the op called") {
  CHECK_THROWS_WITH_AS(var(zeros({0})), "var: the axes [0] of [0] hold no elements", ValueError);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 0}), Shape{0}, Tensor{}, Tensor{}),
                       "layer_norm: the normalized shape [0] holds no elements", ValueError);
  CHECK_THROWS_WITH_AS(group_norm(zeros({2, 0, 3}), 1, Tensor{}, Tensor{}),
                       "group_norm: input [2, 0, 3] has no elements in a group of 0 channels", ValueError);
  CHECK(group_norm(zeros({0, 4, 3}), 2, Tensor{}, Tensor{}).shape() == Shape{0, 4, 3});  // an empty batch is fine
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(zeros({1, 1, 0, 4}), 2, 2),
                       "adaptive_avg_pool2d: input [1, 1, 0, 4] has an empty plane; there is nothing to average", ValueError);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(zeros({1, 1, 3, 0}), 2, 2),
                       "upsample_nearest2d: input [1, 1, 3, 0] has an empty plane; there is nothing to sample", ValueError);
  CHECK_THROWS_WITH_AS(norm(zeros({0}), std::numeric_limits<double>::infinity()),
                       Contains("norm: the axes [0] of [0] hold no elements"), ValueError);
  CHECK(norm(zeros({0}), 2).item() == 0.0);
}

TEST_CASE("D28: labels: zero classes, one_hot's dtype argument") {
  CHECK_THROWS_WITH_AS(accuracy(zeros({2, 0}), idx({0, 0})), "accuracy: scores [2, 0] have no classes", ShapeError);
  CHECK_THROWS_WITH_AS(vote({zeros({2, 0})}), "vote: scores [2, 0] have no classes", ShapeError);
  CHECK_THROWS_WITH_AS(one_hot(idx({0, 1}), 3, i64), "one_hot: dtype must be float32 or float64, got int64", ValueError);
}

TEST_CASE("D28: Dropout, gradcheck and bp_check name themselves; clip_grad_norm_ skips a frozen parameter") {
  nn::Dropout drop(0.5);
  CHECK_THROWS_WITH_AS(drop(ones({3}, i64)), "Dropout(0.5): expected a float32 or float64 tensor, got int64 [3]", ValueError);
  CHECK_THROWS_WITH_AS(drop(ones({3}) > 0.0), "Dropout(0.5): expected a float32 or float64 tensor, got bool [3]", ValueError);

  CHECK_THROWS_WITH_AS(gradcheck([](const Tensor& t) { return t * 2.0; }, {ones({3}, i64)}),
                       Contains("gradcheck: no input requires grad"), ValueError);

  nn::Sequential net{nn::Linear(2, 3), nn::Softmax()};
  CHECK_THROWS_WITH_AS(inspect::bp_check(net, ones({2, 2}), idx({0, 7}), inspect::Cost::log_likelihood),
                       "bp_check: label 7 at [1] of int64 [2] is out of range [0, 3)", ValueError);

  // a frozen parameter (not requiring grad) has no gradient: skipped, as documented
  Tensor w = ones({3}).requires_grad(true);
  sum(w * 4.0).backward();
  Tensor frozen = ones({3});
  CHECK(optim::clip_grad_norm_(std::vector<nn::Param>{{"w", w}, {"frozen", frozen}}, 1.0) == doctest::Approx(std::sqrt(48.0)));
}

TEST_CASE("D28: SGD.load_state names a 'steps' of the wrong dtype") {
  Tensor w = ones({2}).requires_grad(true);
  optim::SGD opt(std::vector<nn::Param>{{"w", w}}, {.lr = 0.1});
  auto state = opt.state();
  state["steps"] = scalar(3.0, f64);
  CHECK_THROWS_WITH_AS(opt.load_state(state), Contains("'steps' is float64 []; expected a 0-d int64"), ValueError);
  state.erase("steps");
  CHECK_THROWS_WITH_AS(opt.load_state(state), Contains("'steps' (a 0-d int64) is missing"), ValueError);
}

TEST_CASE("D28: einsum shows a NUL or control byte of the equation escaped") {
  const std::string eq = std::string("ij,j") + '\0' + "k->ik";
  try {
    einsum(eq, ones({1, 2}), ones({2, 3}));
    FAIL("einsum accepted a NUL byte");
  } catch (const ValueError& e) {
    const std::string what = e.what();
    CHECK(what == "einsum: \"ij,j\\x00k->ik\": '\\x00' is not a label (letters only)");
    CHECK(what.find('\0') == std::string::npos);
  }
}

TEST_CASE("D28: zip names a dtype mismatch") {
  CHECK_THROWS_WITH_AS(zip(ones({2}), ones({2}, f64), [](auto a, auto b) { return a + b; }),
                       Contains("zip: dtypes differ: float32 [2] and float64 [2]"), ValueError);
}

TEST_CASE("D28: rank overflow names the op") {
  const Tensor x8 = of_rank(8);
  CHECK_THROWS_WITH_AS(unsqueeze(x8, 0), Contains("unsqueeze: tensor [1, 1, 1, 1, 1, 1, 1, 1] is already of the maximum rank 8"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(stack({x8, x8}), Contains("stack: the tensors are [1, 1, 1, 1, 1, 1, 1, 1], already of the maximum rank 8"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(autograd::jacobian([](const Tensor& t) { return t * 2.0; }, of_rank(5)),
                       "jacobian: output [1, 1, 1, 1, 1] and input [1, 1, 1, 1, 1] give a Jacobian of rank 10, past the maximum "
                       "of 8",
                       ShapeError);
}

TEST_CASE("D28: an allocation that fails names the op and the shape") {
  // 2^39 float64 elements: 4 TiB, past this machine's memory but a valid size.
  const std::int64_t n = std::int64_t(1) << 39;
  CHECK_THROWS_WITH_AS(zeros({n}, f64), Contains("zeros: out of memory allocating"), Error);
  CHECK_THROWS_WITH_AS(zeros({n}, f64), Contains("for a float64 [549755813888] tensor"), Error);
  CHECK_THROWS_WITH_AS(expand(ones({1}, f64), Shape{n}), Contains("expand: out of memory allocating"), Error);
}
