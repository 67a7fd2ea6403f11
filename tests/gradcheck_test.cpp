// gradcheck itself, and the op API as a user sees it (custom ops, their errors).
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

namespace {

// y = x · σ(βx), written as a user would (see examples/custom_op.cpp).
struct Swish {
  static constexpr std::string_view name = "swish";
  static constexpr bool differentiable_backward = true;
  double beta = 1.0;
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor s = sigmoid(beta * x);
    ctx.save(x, s);
    return x * s;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, s_saved] = ctx.saved<2>();
    // s depends on x but is neither an input nor the output: under create_graph it is recomputed
    // from x, so that its dependence on x is recorded (the saved copy would be a constant).
    const Tensor s = grad_enabled() ? sigmoid(beta * x) : s_saved;
    return {gy * (s + beta * x * s * (1.0 - s))};
  }
};

// The same with a deliberate slip in backward (drops the β x s (1 − s) term).
struct BrokenSwish {
  static constexpr std::string_view name = "broken_swish";
  Tensor forward(Context& ctx, const Tensor& x) const {
    Tensor s = sigmoid(x);
    ctx.save(s);
    return x * s;
  }
  Grads backward(Context& ctx, const Tensor& gy) const { return {gy * ctx.saved(0)}; }
};

// A two-input op whose backward returns the wrong number of gradients.
struct WrongCount {
  static constexpr std::string_view name = "wrong_count";
  Tensor forward(Context&, const Tensor& a, const Tensor& b) const { return a * b; }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};

// An op whose gradient has the wrong shape.
struct WrongShape {
  static constexpr std::string_view name = "wrong_shape";
  Tensor forward(Context&, const Tensor& a) const { return sum(a); }
  Grads backward(Context&, const Tensor& gy) const { return {gy}; }
};

// An op that skips the gradient of its second input when it is not needed.
struct ScaleBy {
  static constexpr std::string_view name = "scale_by";
  static constexpr bool differentiable_backward = true;
  Tensor forward(Context& ctx, const Tensor& x, const Tensor& k) const {
    ctx.save(x, k);
    return x * k;
  }
  Grads backward(Context& ctx, const Tensor& gy) const {
    auto [x, k] = ctx.saved<2>();
    return {gy * k, ctx.needs_grad(1) ? sum_to(gy * x, k.shape()) : Tensor{}};
  }
};

}  // namespace

TEST_CASE("gradcheck: a correct custom op passes, as an op struct and as a lambda") {
  Generator gen(11);
  for (Shape s : nabla_test::awkward_shapes()) {
    Tensor x = nabla_test::param(s, gen);
    CHECK(nabla_test::check_grad(Swish{.beta = 1.5}, {x}));
    CHECK(nabla_test::check_grad([](const Tensor& t) { return apply(Swish{.beta = 0.5}, t); }, {x}));
  }
}

TEST_CASE("gradcheck: a wrong backward fails, naming output, input, index and both values") {
  Generator gen(12);
  Tensor x = nabla_test::param({2, 3}, gen);
  GradcheckResult r = gradcheck(BrokenSwish{}, {x});
  CHECK_FALSE(r);
  CHECK(r.message.rfind("gradcheck: d out[0, 0] / d in[0] differs at [0, 0]: analytic ", 0) == 0);
  CHECK(r.message.find("numeric") != std::string::npos);
  CHECK(r.message.find("(atol 1e-07, rtol 1e-05)") != std::string::npos);
}

TEST_CASE("gradcheck: inputs that do not require grad are held constant; the caller's tensors are untouched") {
  Generator gen(13);
  Tensor x = nabla_test::param({3, 2}, gen);
  Tensor k = randn({1, 2}, f64, gen);
  CHECK(nabla_test::check_grad(ScaleBy{}, {x, k}));
  Tensor kk = nabla_test::param({1, 2}, gen);
  CHECK(nabla_test::check_grad(ScaleBy{}, {x, kk}));
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("gradcheck: float32 inputs that require grad are rejected") {
  Tensor x = ones({2}).requires_grad(true);
  CHECK_THROWS_WITH_AS(gradcheck([](const Tensor& t) { return t * 2.0; }, {x}),
                       Contains("gradcheck: input 0 is float32 [2]; finite differences need float64"), ValueError);
  CHECK_THROWS_AS(gradcheck([](const Tensor& t) { return t * 2.0; }, {x, x}), ValueError);
}

TEST_CASE("op API: a wrong gradient count or shape is a GraphError naming the op") {
  Tensor a = ones({2}, f64).requires_grad(true);
  Tensor b = ones({2}, f64).requires_grad(true);
  CHECK_THROWS_WITH_AS(sum(apply(WrongCount{}, a, b)).backward(),
                       "wrong_count.backward returned 1 gradients for 2 tensor inputs", GraphError);
  CHECK_THROWS_WITH_AS(apply(WrongShape{}, a).backward(),
                       "wrong_shape.backward: gradient 0 is float64 [], but input 0 is float64 [2]", GraphError);
}

TEST_CASE("op API: nothing is recorded when no input requires grad; saved tensors are released") {
  Tensor x = ones({3}, f64);
  Tensor y = apply(Swish{}, x);
  CHECK_FALSE(y.requires_grad());
  CHECK(y.grad_fn() == nullptr);
  Tensor w = ones({3}, f64).requires_grad(true);
  Tensor z = sum(apply(Swish{}, w));
  const auto bytes_before = memory_stats().storage_bytes;
  z.backward();
  CHECK(memory_stats().storage_bytes < bytes_before + 3 * 8);  // saved x and s were let go; w.grad added
  CHECK(z.grad_fn()->edges()[0].fn->released());
}
