// The losses with PyTorch's options (nabla/losses.hpp) and their modules (nabla/nn_loss.hpp):
// float64 gradcheck and gradgradcheck of each (they are composed of differentiable ops, so create_graph
// works through them), the book's costs unchanged beside them, and the errors for bad options, shapes
// and labels. Values against PyTorch: losses_reference_test.cpp.
#include <cmath>
#include <limits>
#include <string>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using nabla_test::check_grad;
using nabla_test::message_of;

namespace {

Tensor labels(std::initializer_list<std::int64_t> v, const Shape& s) {
  return from_vector(std::span<const std::int64_t>(v.begin(), v.size()), s);
}

/// Probabilities in (0.05, 0.95), float64, requiring grad.
Tensor probabilities(const Shape& s, Generator& gen) {
  return (sigmoid(randn(s, f64, gen)) * 0.9 + 0.05).detach().requires_grad(true);
}

}  // namespace

TEST_CASE("regression losses: gradcheck and gradgradcheck in float64 for every reduction") {
  Generator gen(7);
  const Tensor x = nabla_test::param_away_from_zero({3, 4}, gen);
  // target = x + d with |d| kept away from beta / delta and from 0 (the kinks)
  std::vector<double> d = randn({3, 4}, f64, gen).to_vector();
  for (double& v : d) v = v >= 0 ? v + 0.15 : v - 0.15;
  for (int i = 0; i < 3; ++i) d[static_cast<std::size_t>(i)] = 0.3 * (i % 2 ? 1 : -1);  // inside beta = delta = 0.7
  const Tensor y = (x.detach() + from_vector(d, {3, 4}, f64)).detach().requires_grad(true);
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    CAPTURE(to_string(r));
    CHECK(check_grad([r](const Tensor& a, const Tensor& b) { return mse_loss(a, b, {.reduction = r}); }, {x, y}));
    CHECK(check_grad([r](const Tensor& a, const Tensor& b) { return l1_loss(a, b, {.reduction = r}); }, {x, y}));
    for (double beta : {0.0, 0.7, 1.0}) {
      CHECK(check_grad([r, beta](const Tensor& a, const Tensor& b) { return smooth_l1_loss(a, b, {.reduction = r, .beta = beta}); },
                       {x, y}));
    }
    for (double delta : {0.7, 1.0}) {
      CHECK(check_grad([r, delta](const Tensor& a, const Tensor& b) { return huber_loss(a, b, {.reduction = r, .delta = delta}); },
                       {x, y}));
    }
  }
}

TEST_CASE("kl_div: gradcheck and gradgradcheck, log_target and batchmean; 0 · log 0 is 0") {
  Generator gen(8);
  const Tensor x = log_softmax(randn({3, 5}, f64, gen), 1).detach().requires_grad(true);
  const Tensor q = softmax(randn({3, 5}, f64, gen), 1).detach().requires_grad(true);
  const Tensor lq = log(q).detach().requires_grad(true);
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum, Reduction::batchmean}) {
    CAPTURE(to_string(r));
    CHECK(check_grad([r](const Tensor& a, const Tensor& b) { return kl_div(a, b, {.reduction = r}); }, {x, q}));
    CHECK(check_grad([r](const Tensor& a, const Tensor& b) { return kl_div(a, b, {.reduction = r, .log_target = true}); },
                     {x, lq}));
  }
  // log_target gives the same divergence as the probabilities
  CHECK(std::abs(kl_div(x, q, {.reduction = Reduction::batchmean}).item() -
                 kl_div(x, lq, {.reduction = Reduction::batchmean, .log_target = true}).item()) < 1e-14);
  // batchmean is the sum over the batch size; mean over every element
  CHECK(kl_div(x, q, {.reduction = Reduction::batchmean}).item() ==
        doctest::Approx(kl_div(x, q, {.reduction = Reduction::sum}).item() / 3).epsilon(1e-14));
  Tensor t = tensor({0.0, 1.0}, {2}, f64);
  Tensor in = tensor({-1.0, -0.5}, {2}, f64).requires_grad(true);
  Tensor l = kl_div(in, t, {.reduction = Reduction::none});
  CHECK(l.to_vector() == std::vector<double>{0.0, 0.5});
  sum(l).backward();
  CHECK(in.grad().to_vector() == std::vector<double>{0.0, -1.0});
}

TEST_CASE("binary cross-entropy with options: gradcheck and gradgradcheck, weight and pos_weight") {
  Generator gen(9);
  const Tensor a = probabilities({4, 3}, gen);
  const Tensor y = probabilities({4, 3}, gen);
  const Tensor w = (uniform({3}, 0.5, 1.5, f64, gen)).detach();
  const Tensor pw = (uniform({3}, 0.2, 3.0, f64, gen)).detach();
  const Tensor z = nabla_test::param({4, 3}, gen);
  for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
    CAPTURE(to_string(r));
    CHECK(check_grad([r](const Tensor& p, const Tensor& t) { return binary_cross_entropy(p, t, {.reduction = r}); }, {a, y}));
    CHECK(check_grad([r, w](const Tensor& p, const Tensor& t) { return binary_cross_entropy(p, t, {.weight = w, .reduction = r}); },
                     {a, y}));
    CHECK(check_grad([r](const Tensor& s, const Tensor& t) { return binary_cross_entropy_with_logits(s, t, {.reduction = r}); },
                     {z, y}));
    CHECK(check_grad(
        [r, w, pw](const Tensor& s, const Tensor& t) {
          return binary_cross_entropy_with_logits(s, t, {.weight = w, .reduction = r, .pos_weight = pw});
        },
        {z, y}));
  }
  // a logit of exactly 0 has the gradient (σ(0) − y)/n, from the stable form's z ≥ 0 side
  Tensor z0 = zeros({1}, f64).requires_grad(true);
  binary_cross_entropy_with_logits(z0, tensor({1.0}, {1}, f64), {}).backward();
  CHECK(z0.grad().item() == -0.5);
  // huge logits stay finite
  const Tensor big = tensor({800.0, -800.0}, {2}, f64);
  CHECK(binary_cross_entropy_with_logits(big, tensor({0.0, 1.0}, {2}, f64), {.reduction = Reduction::sum}).item() == 1600.0);
  // saturated probabilities: each log floored at −100 (PyTorch's value), a finite gradient
  Tensor sat = tensor({0.0, 1.0}, {2}, f64).requires_grad(true);
  Tensor l = binary_cross_entropy(sat, tensor({1.0, 0.0}, {2}, f64), {.reduction = Reduction::sum});
  CHECK(l.item() == 200.0);
  l.backward();
  CHECK(std::isfinite(sat.grad().to_vector()[0]));
}

TEST_CASE("the book's costs keep their definitions beside PyTorch's forms") {
  Generator gen(10);
  const Tensor a = probabilities({5, 3}, gen).detach(), y = probabilities({5, 3}, gen).detach();
  // the book: 1/n Σ_x Σ_j; PyTorch's mean is over every element
  CHECK(binary_cross_entropy(a, y).item() ==
        doctest::Approx(binary_cross_entropy(a, y, {.reduction = Reduction::sum}).item() / 5).epsilon(1e-13));
  CHECK(binary_cross_entropy(a, y, {}).item() ==
        doctest::Approx(binary_cross_entropy(a, y, {.reduction = Reduction::sum}).item() / 15).epsilon(1e-13));
  const Tensor z = randn({5, 3}, f64, gen);
  CHECK(binary_cross_entropy_with_logits(z, y).item() ==
        doctest::Approx(binary_cross_entropy_with_logits(z, y, {.reduction = Reduction::sum}).item() / 5).epsilon(1e-13));
  // quadratic_cost is 1/(2n) Σ ||·||², mse_loss the mean of squares
  CHECK(quadratic_cost(a, y).item() == doctest::Approx(mse_loss(a, y).item() * 15 / 10).epsilon(1e-13));
  // nll_loss: the book's two-argument form is PyTorch's default for [N, C]; softmax_cross_entropy is cross_entropy
  const Tensor lp = log_softmax(randn({5, 3}, f64, gen), 1);
  const Tensor t = labels({0, 2, 1, 1, 0}, {5});
  CHECK(nll_loss(lp, t).item() == doctest::Approx(nll_loss(lp, t, {}).item()).epsilon(1e-14));
  CHECK(softmax_cross_entropy(z, t).item() == doctest::Approx(cross_entropy(z, t).item()).epsilon(1e-13));
}

TEST_CASE("nll_loss and cross_entropy: gradcheck and gradgradcheck over weight, ignore_index, K-d inputs, smoothing") {
  Generator gen(11);
  const Tensor w = uniform({4}, 0.5, 1.5, f64, gen).detach();
  struct Shaped {
    Shape input;
    Tensor target;
  };
  const std::vector<Shaped> shapes{{{5, 4}, labels({0, 3, -100, 1, 2}, {5})},
                                   {{2, 4, 3}, labels({1, 0, 3, 2, -100, 0}, {2, 3})},
                                   {{4}, labels({2}, {})}};
  for (const Shaped& s : shapes) {
    CAPTURE(s.input);
    const Tensor z = nabla_test::param(s.input, gen);
    const Tensor t = s.target;
    const int axis = s.input.rank() == 1 ? 0 : 1;
    for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum}) {
      CAPTURE(to_string(r));
      for (bool weighted : {false, true}) {
        const Tensor wt = weighted ? w : Tensor{};
        CHECK(check_grad([&](const Tensor& x) { return nll_loss(log_softmax(x, axis), t, {.weight = wt, .reduction = r}); }, {z}));
        for (double eps : {0.0, 0.25}) {
          CHECK(check_grad(
              [&](const Tensor& x) { return cross_entropy(x, t, {.weight = wt, .reduction = r, .label_smoothing = eps}); },
              {z}));
        }
      }
    }
  }
  // class-probability targets: differentiable in both
  const Tensor z = nabla_test::param({3, 4}, gen);
  const Tensor p = softmax(randn({3, 4}, f64, gen), 1).detach().requires_grad(true);
  CHECK(check_grad([&](const Tensor& x, const Tensor& y) { return cross_entropy(x, y, {.weight = w, .label_smoothing = 0.1}); },
                   {z, p}));
}

TEST_CASE("nll_loss: the weighted mean is Σ w_y l / Σ w_y over the targets not ignored; all ignored is NaN") {
  const Tensor lp = tensor({-1.0, -2.0, -3.0, -0.5, -1.5, -2.5}, {2, 3}, f64);
  const Tensor w = tensor({1.0, 2.0, 4.0}, {3}, f64);
  CHECK(nll_loss(lp, labels({2, 1}, {2}), {.weight = w}).item() == doctest::Approx((4 * 3.0 + 2 * 1.5) / 6));
  CHECK(nll_loss(lp, labels({2, 7}, {2}), {.weight = w, .ignore_index = 7}).item() == doctest::Approx(3.0));
  CHECK(nll_loss(lp, labels({2, 1}, {2}), {.weight = w, .reduction = Reduction::sum}).item() == doctest::Approx(15.0));
  CHECK(nll_loss(lp, labels({2, 1}, {2}), {.reduction = Reduction::none}).to_vector() == std::vector<double>{3.0, 1.5});
  CHECK(std::isnan(nll_loss(lp, labels({-100, -100}, {2}), {}).item()));
  CHECK(nll_loss(lp, labels({-100, -100}, {2}), {.reduction = Reduction::sum}).item() == 0.0);
}

TEST_CASE("loss modules: two inputs, options, weights as buffers, describe, the one-tensor forward refused") {
  Generator gen(12);
  const Tensor z = randn({4, 3}, f64, gen);
  const Tensor t = labels({0, 2, 1, 2}, {4});
  nn::CrossEntropyLoss ce({.weight = tensor({1.0, 2.0, 3.0}, {3}, f64), .label_smoothing = 0.1});
  CHECK(ce(z, t).item() == cross_entropy(z, t, ce.options()).item());
  CHECK(ce.describe() == "CrossEntropyLoss(weight, label_smoothing=0.1)");
  REQUIRE(ce.state().count("weight") == 1);
  CHECK(ce.parameters().empty());
  ce.to(f32);
  CHECK(ce(z.to(f32), t).dtype() == f32);
  nn::NLLLoss nll({.reduction = Reduction::sum});
  CHECK(nll.describe() == "NLLLoss(reduction=sum)");
  CHECK(nll(log_softmax(z, 1), t).item() == doctest::Approx(4 * nll_loss(log_softmax(z, 1), t).item()));
  nn::MSELoss mse;
  CHECK(mse.describe() == "MSELoss()");
  CHECK(nn::SmoothL1Loss({.beta = 0.5}).describe() == "SmoothL1Loss(beta=0.5)");
  CHECK(nn::BCEWithLogitsLoss({.pos_weight = ones({3}, f64)}).state().count("pos_weight") == 1);
  const std::string m = message_of([&] { mse(z); });
  CHECK(m.find("MSELoss()") != std::string::npos);
  CHECK(m.find("(input, target)") != std::string::npos);
  // a loss module in a Sequential's place is still a Module
  nn::Module& as_module = mse;
  CHECK_THROWS_AS(as_module(z), ValueError);
}

TEST_CASE("losses: bad options, shapes and labels are errors naming the loss, the shapes and what was expected") {
  const Tensor z = zeros({4, 3}, f64);
  const Tensor y = zeros({4, 3}, f64);
  const Tensor t = labels({0, 2, 1, 2}, {4});
  std::string m = message_of([&] { mse_loss(z, zeros({4}, f64)); });
  CHECK(m == "mse_loss: target [4] does not match input [4, 3]; expected target of input's shape");
  m = message_of([&] { l1_loss(z, zeros({4, 3}, f32)); });
  CHECK(m.find("l1_loss: dtypes differ") == 0);
  m = message_of([&] { smooth_l1_loss(z, y, {.beta = -1}); });
  CHECK(m == "smooth_l1_loss: beta is -1; expected a finite beta >= 0");
  m = message_of([&] { huber_loss(z, y, {.delta = 0}); });
  CHECK(m == "huber_loss: delta is 0; expected a finite delta > 0");
  m = message_of([&] { mse_loss(z, y, {.reduction = Reduction::batchmean}); });
  CHECK(m == "mse_loss: reduction batchmean is kl_div's only; expected none, mean or sum");
  m = message_of([&] { binary_cross_entropy(full({4, 3}, 1.5, f64), y, {}); });
  CHECK(m.find("binary_cross_entropy: input element [0, 0] of [4, 3] is 1.5; expected probabilities in [0, 1]") == 0);
  m = message_of([&] { binary_cross_entropy(z, y, {.weight = ones({4}, f64)}); });
  CHECK(m == "binary_cross_entropy: weight [4] does not broadcast to input [4, 3]; expected a shape broadcastable to it");
  m = message_of([&] { binary_cross_entropy_with_logits(z, y, {.pos_weight = ones({3}, f32)}); });
  CHECK(m == "binary_cross_entropy_with_logits: pos_weight is float32 [3]; expected float64 as the input [4, 3]");
  m = message_of([&] { nll_loss(z, labels({0, 3, 1, 2}, {4}), {}); });
  CHECK(m == "nll_loss: target 3 at [1] is out of range for 3 classes; expected a class in [0, 3) or ignore_index -100");
  m = message_of([&] { cross_entropy(z, labels({0, 1}, {2})); });
  CHECK(m == "cross_entropy: target is int64 [2]; expected int64 class indices [4] for input [4, 3]");
  m = message_of([&] { cross_entropy(zeros({2, 3, 5}, f64), labels({0, 1}, {2})); });
  CHECK(m == "cross_entropy: target is int64 [2]; expected int64 class indices [2, 5] for input [2, 3, 5]");
  m = message_of([&] { cross_entropy(z, t, {.weight = ones({4}, f64)}); });
  CHECK(m == "cross_entropy: weight is float64 [4]; expected float64 [3], one weight per class of input [4, 3]");
  m = message_of([&] { cross_entropy(z, t, {.label_smoothing = 1.5}); });
  CHECK(m == "cross_entropy: label_smoothing is 1.5; expected a value in [0, 1]");
  m = message_of([&] { cross_entropy(z, zeros({4, 2}, f64)); });
  CHECK(m.find("cross_entropy: floating target [4, 2] does not match input [4, 3]") == 0);
  m = message_of([&] { nll_loss(zeros({}, f64), t, {}); });
  CHECK(m == "nll_loss: input is 0-d; expected [N, C, d1, ...], [N, C] or [C] scores");
  m = message_of([&] { nn::KLDivLoss kl; kl(z, zeros({3}, f64)); });
  CHECK(m == "kl_div: target [3] does not match input [4, 3]; expected target of input's shape");
}
