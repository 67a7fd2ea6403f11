// The op API a custom op is written with (nabla/op.hpp, nabla/toolkit.hpp): several outputs,
// input shapes from the context, the state slot, and the toolkit's standard checks.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {

// Two outputs of one input: (sin x, cos x). gx = gs · cos x − gc · sin x, each term only where
// its output received a gradient.
struct SinCos {
  static constexpr std::string_view name = "sincos";
  static constexpr bool differentiable_backward = true;
  std::array<Tensor, 2> forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    return {map(x, [](auto v) { return std::sin(v); }), map(x, [](auto v) { return std::cos(v); })};
  }
  Grads backward(Context& ctx, const Grads& gys) const {
    const Tensor& x = ctx.saved(0);
    if (grad_enabled()) {  // create_graph: the same with recorded ops, so it can be differentiated again
      Tensor gx = zeros_like(x);
      if (gys[0].defined()) gx = gx + gys[0] * cos(x);
      if (gys[1].defined()) gx = gx - gys[1] * sin(x);
      return {gx};
    }
    Tensor gx = zeros_like(x);
    if (gys[0].defined()) gx = gx + zip(gys[0], x, [](auto g, auto v) { return g * std::cos(v); });
    if (gys[1].defined()) gx = gx - zip(gys[1], x, [](auto g, auto v) { return g * std::sin(v); });
    return {gx};
  }
};

// A float output and an int64 one: the row maxima and where they are (the indices need no gradient).
struct RowMax {
  static constexpr std::string_view name = "row_max";
  std::array<Tensor, 2> forward(Context&, const Tensor& x) const {
    check_floating(name, x);
    check_rank(name, x, 2, "[rows, columns]");
    return {max(x, 1), argmax(x, 1)};
  }
  Grads backward(Context& ctx, const Grads& gys) const {
    // Recomputed from nothing but the shapes would be wrong; this op saves nothing, so it asks
    // its inputs' shapes of the context and puts each gradient at its row's first column (wrong on
    // purpose, for the failure-message test below) unless `exact`.
    const Shape& s = ctx.input_shape(0);
    Tensor gx = zeros(s, ctx.input_dtype(0));
    for (std::int64_t r = 0; r < s[0]; ++r) gx.set({r, 0}, gys[0].at({r}));
    return {gx};
  }
};

// Keeps which branch forward took in the context's state.
struct Branchy {
  static constexpr std::string_view name = "branchy";
  static constexpr bool differentiable_backward = true;
  enum class Took { square, twice };
  Tensor forward(Context& ctx, const Tensor& x) const {
    check_floating(name, x);
    ctx.save(x);
    const bool square = x.numel() > 2;
    ctx.set_state(square ? Took::square : Took::twice);
    return square ? x * x : x * 2.0;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    if (ctx.state<Took>() == Took::square) return {gy * ctx.saved(0) * 2.0};
    return {gy * 2.0};
  }
};

struct WrongStateType {
  static constexpr std::string_view name = "wrong_state";
  Tensor forward(Context& ctx, const Tensor& x) const {
    ctx.set_state(1);
    return x * 1.0;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    (void)ctx.state<double>();
    return {gy};
  }
};

struct UndefinedSecond {
  static constexpr std::string_view name = "undefined_second";
  std::vector<Tensor> forward(Context&, const Tensor& x) const { return {x * 1.0, Tensor{}}; }
  Grads backward(Context&, const Grads& gys) const { return {gys[0]}; }
};

}  // namespace

TEST_CASE("op API: a custom op with two outputs, each with its own gradient, gradient-checked through both") {
  Generator gen(91);
  for (Shape s : awkward_shapes()) {
    Tensor x = param(s, gen);
    CHECK(check_grad(SinCos{}, {x}));
  }
  Tensor x = tensor({0.5, -1.0}, {2}, f64).requires_grad(true);
  auto [s, c] = apply(SinCos{}, x);
  CHECK(s.grad_fn() == c.grad_fn());  // one node, two outputs
  CHECK(s.grad_fn()->num_outputs() == 2);
  CHECK(s.at({0}) == doctest::Approx(std::sin(0.5)));
  sum(c).backward();  // only the second output: the first one's gradient is undefined in backward
  CHECK(x.grad().at({0}) == doctest::Approx(-std::sin(0.5)));
  x.zero_grad();
  auto [s2, c2] = apply(SinCos{}, x);
  sum(s2 * c2).backward();  // both: d(sin x cos x)/dx = cos 2x
  CHECK(x.grad().at({1}) == doctest::Approx(std::cos(-2.0)));
}

TEST_CASE("op API: an int64 output needs no gradient; gradcheck skips it and names the output that fails") {
  Tensor x = tensor({1, 5, 2, 7, 3, 4}, {2, 3}, f64).requires_grad(true);
  auto [values, indices] = apply(RowMax{}, x);
  CHECK(values.requires_grad());
  CHECK_FALSE(indices.requires_grad());
  CHECK(indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 0});
  const GradcheckResult r = gradcheck(RowMax{}, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.message == "gradcheck: d out0[0] / d in[0] differs at [0, 0]: analytic 1, numeric 0 (atol 1e-07, rtol 1e-05)");
  CHECK_THROWS_WITH_AS(apply(RowMax{}, zeros({3})), "row_max: expected a 2-d tensor [rows, columns], got [3]",
                       ShapeError);
}

TEST_CASE("op API: backward reads input shapes and forward's decisions from the context") {
  Tensor small = tensor({1, 2}, {2}, f64).requires_grad(true);
  Tensor big = tensor({1, 2, 3}, {3}, f64).requires_grad(true);
  CHECK(check_grad(Branchy{}, {small}));
  CHECK(check_grad(Branchy{}, {big}));
  sum(apply(Branchy{}, big)).backward();
  CHECK(big.grad().to_vector() == std::vector<double>{2, 4, 6});
  Tensor y = apply(WrongStateType{}, small);
  CHECK_THROWS_WITH_AS(sum(y).backward(), "wrong_state: ctx.state() asked for a value of another type than set_state kept",
                       GraphError);
  CHECK_THROWS_WITH_AS(apply(UndefinedSecond{}, small), "undefined_second: forward returned an undefined tensor as output 1",
                       GraphError);
}

TEST_CASE("toolkit: the standard checks name the op, what it got and what it expected") {
  CHECK_THROWS_WITH_AS(check_floating("my_op", zeros({2}, i64)), "my_op: expected a float32 or float64 tensor, got int64 [2]",
                       ValueError);
  CHECK_THROWS_WITH_AS(check_same_dtype("my_op", zeros({2}), zeros({2}, f64)),
                       "my_op: dtypes differ: float32 [2] and float64 [2]; convert one with .to(dtype)", ValueError);
  CHECK_THROWS_WITH_AS(check_rank("my_op", zeros({2, 3}), 4, "[N, C, H, W]"),
                       "my_op: expected a 4-d tensor [N, C, H, W], got [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(check_rank("my_op", zeros({2}), 2), "my_op: expected a 2-d tensor, got [2]", ShapeError);
  CHECK(normalize_axis("my_op", -1, Shape{2, 3}) == 1);
  CHECK_THROWS_WITH_AS(normalize_axis("my_op", 2, Shape{2, 3}), "my_op: axis 2 is out of range for a tensor of shape [2, 3]",
                       ValueError);
  CHECK_THROWS_WITH_AS(dispatch_float(i64, "my_op", [](auto) { return 0; }),
                       "my_op: expected a float32 or float64 tensor, got int64", ValueError);
  // map, zip and broadcast_zip dispatch on the dtype themselves: a parameter is cast inside the lambda.
  const double c = 0.5;
  Tensor y = map(tensor({1, 2}, {2}, f32), [c](auto v) { using T = decltype(v); return v + T(c); });
  CHECK(y.dtype() == f32);
  CHECK(y.to_vector() == std::vector<double>{1.5, 2.5});
  Tensor z = broadcast_zip(tensor({1, 2}, {2, 1}, f64), tensor({10, 20, 30}, {3}, f64), Shape{2, 3},
                           [](auto a, auto b) { return a * b; });
  CHECK(z.to_vector() == std::vector<double>{10, 20, 30, 20, 40, 60});
  Tensor v = view(arange(0, 6, 1, f64), {2, 3});
  CHECK(v.at({1, 0}) == 3);
}
