// backward ops: every op whose gradient has a fused kernel computes it through a backward op of its
// own (ops/backward_ops.hpp), which the plain backward and create_graph share. check_grad on an op
// checks its backward op's values (gradcheck) and that op's first derivative (gradgradcheck). Here the
// function checked is the op's gradient itself, (x, v) ↦ vᵀ ∂f/∂x, so gradcheck checks the backward
// op's derivative in every input, the output gradient v included, and gradgradcheck its derivative's
// derivative (the op's third): each order is recorded, none is a constant.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {

// ∂f/∂(input k) along v at the inputs, recorded (grad mode on: gradcheck evaluates with it off).
template <class F>
auto gradient_of(F f, std::size_t k = 0) {
  return [f, k](const std::vector<Tensor>& xs, const Tensor& v) {
    GradModeGuard recording(true);
    return grad({f(xs)}, {xs[k]}, {v}, {.create_graph = true, .allow_unused = true})[0];
  };
}

// check_grad of (x, v) ↦ vᵀ ∂f/∂x for a function of one tensor.
template <class F>
GradcheckResult third_order(F f, const Tensor& x, Generator& gen) {
  const Shape out = f(x.detach()).shape();
  const auto g = gradient_of([f](const std::vector<Tensor>& xs) { return f(xs[0]); });
  return check_grad([g](const Tensor& t, const Tensor& v) { return g({t}, v); }, {x, param(out, gen)});
}

}  // namespace

TEST_CASE("backward ops: the elementwise ones, differentiated to the third order") {
  Generator gen(41);
  const Tensor x = param({2, 3}, gen);
  const Tensor pos = uniform({2, 3}, 0.5, 2.0, f64, gen).requires_grad(true);
  const Tensor away = param_away_from_zero({2, 3}, gen);
  CHECK(third_order([](const Tensor& t) { return square(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return sqrt(t); }, pos, gen));
  CHECK(third_order([](const Tensor& t) { return pow(t, 3.0); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return pow(t, 2.5); }, pos, gen));
  CHECK(third_order([](const Tensor& t) { return log1p(t); }, pos, gen));
  CHECK(third_order([](const Tensor& t) { return expm1(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return sin(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return cos(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return reciprocal(t); }, pos, gen));
  CHECK(third_order([](const Tensor& t) { return rsqrt(t); }, pos, gen));
  CHECK(third_order([](const Tensor& t) { return erf(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return 2.0 / t; }, pos, gen));
  CHECK(third_order([](const Tensor& t) { return sigmoid(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return tanh(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return softplus(t, 1.5); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return gelu(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return gelu(t, "tanh"); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return silu(t); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return elu(t, 0.7); }, away, gen));
  // Steps: the derivative of the derivative is 0 (away from the kinks), and so is the next.
  CHECK(third_order([](const Tensor& t) { return relu(t); }, away, gen));
  CHECK(third_order([](const Tensor& t) { return leaky_relu(t, 0.2); }, away, gen));
  CHECK(third_order([](const Tensor& t) { return abs(t); }, away, gen));
  CHECK(third_order([](const Tensor& t) { return clamp(t, -0.05, 0.05); }, away, gen));
  // softplus above its threshold is x itself: a derivative of 1, then 0 (all of |t| + 2.5 is above 2).
  CHECK(third_order([](const Tensor& t) { return softplus(abs(t) + 2.5, 1.0, 2.0); }, away, gen));
}

TEST_CASE("backward ops: reductions, indexing, sort and cumsum, differentiated to the third order") {
  Generator gen(42);
  const Tensor x = param_distinct({3, 4}, gen);
  CHECK(third_order([](const Tensor& t) { return square(sum(t)); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return square(sum(t, 1, false)); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return square(max(t, 0, true)); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return square(max_with_indices(t, 1).values); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return prod(t, 1); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return square(cumsum(t, 1)); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return square(sort(t, 1).values); }, x, gen));
  const Tensor idx = from_vector(std::vector<std::int64_t>{2, 0, 2}, {3});
  CHECK(third_order([idx](const Tensor& t) { return square(index_select(t, 1, idx)); }, x, gen));
  const Tensor gi = from_vector(std::vector<std::int64_t>{0, 3, 3, 1, 2, 2}, {3, 2});
  CHECK(third_order([gi](const Tensor& t) { return square(gather(t, 1, gi)); }, x, gen));
  const Tensor si = from_vector(std::vector<std::int64_t>{0, 0, 3, 1}, {2, 2});
  CHECK(third_order([si](const Tensor& t) { return square(scatter_add(zeros({2, 4}, f64), 1, si, t)); },
                    param({2, 3}, gen), gen));
  CHECK(third_order([](const Tensor& t) { return square(sum_to(t, {1, 4})); }, x, gen));
  CHECK(third_order([](const Tensor& t) { return square(cat(split(t, 2, 1), 0)); }, x, gen));
}

TEST_CASE("backward ops: costs, differentiated to the third order in each input") {
  Generator gen(43);
  const Tensor a = param_prob({3, 2}, gen), y = param_prob({3, 2}, gen), z = param({3, 2}, gen);
  const Tensor v = param({}, gen);
  auto check = [&](auto cost, const Tensor& p, const Tensor& t) {
    auto f = [cost](const std::vector<Tensor>& xs) { return cost(xs[0], xs[1]); };
    for (std::size_t k = 0; k < 2; ++k) {
      const auto g = gradient_of(f, k);
      CHECK(check_grad([g](const Tensor& p2, const Tensor& t2, const Tensor& v2) { return g({p2, t2}, v2); }, {p, t, v}));
    }
  };
  check([](const Tensor& p, const Tensor& t) { return quadratic_cost(p, t); }, a, y);
  check([](const Tensor& p, const Tensor& t) { return binary_cross_entropy(p, t); }, a, y);
  check([](const Tensor& p, const Tensor& t) { return binary_cross_entropy_with_logits(p, t); }, z, y);
  const Tensor lab = labels(3, 4, gen);
  const Tensor s = param({3, 4}, gen);
  CHECK(third_order([lab](const Tensor& t) { return softmax_cross_entropy(t, lab); }, s, gen));
  CHECK(third_order([lab](const Tensor& t) { return square(nll_loss(log_softmax(t), lab)); }, s, gen));
}

TEST_CASE("backward ops: conv2d, pooling and batch norm, differentiated to the third order") {
  Generator gen(44);
  const Tensor x = param({2, 2, 4, 4}, gen), w = param({3, 2, 3, 3}, gen), b = param({3}, gen);
  auto conv = [](const std::vector<Tensor>& xs) { return square(conv2d(xs[0], xs[1], xs[2], {.stride = 1, .padding = 1})); };
  const Tensor v = param({2, 3, 4, 4}, gen);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto g = gradient_of(conv, k);
    CHECK(check_grad([g](const Tensor& x2, const Tensor& w2, const Tensor& b2, const Tensor& v2) { return g({x2, w2, b2}, v2); },
                     {x, w, b, v}));
  }
  CHECK(third_order([](const Tensor& t) { return square(max_pool2d(t, 2)); }, param_distinct({1, 2, 4, 4}, gen), gen));
  CHECK(third_order([](const Tensor& t) { return square(avg_pool2d(t, 2, 1)); }, param({1, 2, 4, 4}, gen), gen));
  CHECK(third_order([](const Tensor& t) { return l2_pool2d(t, 2); }, param_away_from_zero({1, 2, 4, 4}, gen), gen));
  const Tensor xb = param({3, 2, 2, 2}, gen), gw = param({2}, gen), gb = param({2}, gen);
  auto bn = [](const std::vector<Tensor>& xs) { return batch_norm(xs[0], Tensor{}, Tensor{}, xs[1], xs[2], true); };
  const Tensor vb = param({3, 2, 2, 2}, gen);
  for (std::size_t k = 0; k < 2; ++k) {
    const auto g = gradient_of(bn, k);
    CHECK(check_grad([g](const Tensor& x2, const Tensor& w2, const Tensor& b2, const Tensor& v2) { return g({x2, w2, b2}, v2); },
                     {xb, gw, gb, vb}));
  }
}
