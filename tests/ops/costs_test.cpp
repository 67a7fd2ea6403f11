// ops/costs.cpp: quadratic, binary cross-entropy (probabilities and logits), nll, fused softmax
// cross-entropy, one_hot.
#include <cmath>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;
using doctest::Contains;

TEST_CASE("costs: known values, each the mean over the batch") {
  Tensor a = tensor({0.5, 0.5, 1.0, 0.0}, {2, 2}, f64);
  Tensor y = tensor({1, 0, 1, 0}, {2, 2}, f64);
  CHECK(quadratic_cost(a, y).item() == doctest::Approx(0.5 * 0.5 / 2));  // 1/(2n) Σ||y − a||²
  // BCE: row 0 gives 2 ln 2; row 1 is exact (0 · ln 0 taken as 0).
  CHECK(binary_cross_entropy(a, y).item() == doctest::Approx(std::log(2.0)));
  Tensor z = tensor({0, 0}, {1, 2}, f64);
  CHECK(binary_cross_entropy_with_logits(z, tensor({1, 0}, {1, 2}, f64)).item() == doctest::Approx(2 * std::log(2.0)));
  Tensor lp = log(tensor({0.25, 0.75, 0.5, 0.5}, {2, 2}, f64));
  Tensor lab = from_vector(std::vector<std::int64_t>{1, 0}, {2});
  CHECK(nll_loss(lp, lab).item() == doctest::Approx(-(std::log(0.75) + std::log(0.5)) / 2));
  CHECK(softmax_cross_entropy(tensor({0, 0, 0}, {1, 3}, f64), from_vector(std::vector<std::int64_t>{2}, {1})).item() ==
        doctest::Approx(std::log(3.0)));
  CHECK(one_hot(lab, 3).to_vector() == std::vector<double>{0, 1, 0, 1, 0, 0});
}

TEST_CASE("costs: stable on logits of ±1000") {
  Tensor z = tensor({1000, -1000}, {1, 2}, f64);
  CHECK(binary_cross_entropy_with_logits(z, tensor({1, 0}, {1, 2}, f64)).item() == doctest::Approx(0.0));
  CHECK(binary_cross_entropy_with_logits(z, tensor({0, 1}, {1, 2}, f64)).item() == doctest::Approx(2000));
  Tensor lab = from_vector(std::vector<std::int64_t>{1}, {1});
  CHECK(softmax_cross_entropy(z, lab).item() == doctest::Approx(2000));
  CHECK(softmax_cross_entropy(tensor({1000, -1000}, {1, 2}), lab).item() == doctest::Approx(2000));
}

TEST_CASE("costs: cross-entropy on saturated probabilities stays finite (logs floored at −100)") {
  for (Dtype dt : {f32, f64}) {
    Tensor a = tensor({1.0, 0.0, 0.5}, {1, 3}, dt).requires_grad(true);
    Tensor y = tensor({0.0, 1.0, 0.5}, {1, 3}, dt);
    Tensor c = binary_cross_entropy(a, y);
    CHECK(c.item() == doctest::Approx(200 + std::log(2.0)).epsilon(1e-6));
    c.backward();
    for (double g : a.grad().to_vector()) CHECK(std::isfinite(g));
  }
}

TEST_CASE("costs: gradients agree with central differences in float64") {
  Generator gen(91);
  for (Shape s : {Shape{1, 1}, Shape{1, 7}, Shape{5, 3}, Shape{3, 1}, Shape{4}}) {
    CAPTURE(s);
    Tensor a = param(s, gen), y = param(s, gen);
    CHECK(check_grad([](const Tensor& p, const Tensor& t) { return quadratic_cost(p, t); }, {a, y}));
    Tensor p = param_prob(s, gen), t = param_prob(s, gen);
    CHECK(check_grad([](const Tensor& u, const Tensor& v) { return binary_cross_entropy(u, v); }, {p, t}));
    CHECK(check_grad([](const Tensor& u, const Tensor& v) { return binary_cross_entropy_with_logits(u, v); }, {a, t}));
  }
  for (Shape s : {Shape{1, 1}, Shape{1, 7}, Shape{5, 3}, Shape{3, 10}}) {
    CAPTURE(s);
    Tensor z = param(s, gen);
    Tensor lab = labels(s[0], s[1], gen);
    CHECK(check_grad([&](const Tensor& u) { return softmax_cross_entropy(u, lab); }, {z}));
    CHECK(check_grad([&](const Tensor& u) { return nll_loss(log_softmax(u), lab); }, {z}));
    CHECK(check_grad([&](const Tensor& u) { return nll_loss(u, lab); }, {z}));
  }
}

TEST_CASE("costs: the fused softmax cross-entropy gradient is exactly (a − y)/n") {
  Generator gen(92);
  Tensor z = param({4, 5}, gen);
  Tensor lab = labels(4, 5, gen);
  softmax_cross_entropy(z, lab).backward();
  Tensor expected = (softmax(z.detach()) - one_hot(lab, 5, f64)) / 4.0;
  CHECK(max_abs_diff(z.grad(), expected) <= 1e-15);
}

TEST_CASE("costs: mismatched shapes and bad labels are errors naming both") {
  CHECK_THROWS_WITH_AS(quadratic_cost(ones({64, 10}), ones({64})),
                       "quadratic_cost: target [64] does not match prediction [64, 10]; expected [64, 10]", ShapeError);
  CHECK_THROWS_WITH_AS(binary_cross_entropy(ones({4, 2}), ones({2, 4})), Contains("does not match prediction"),
                       ShapeError);
  Tensor lab = from_vector(std::vector<std::int64_t>{0, 12}, {2});
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(ones({2, 10}), lab),
                       "softmax_cross_entropy: label 12 at row 1 is out of range for 10 classes", ValueError);
  CHECK_THROWS_WITH_AS(softmax_cross_entropy(ones({64, 10}), ones({64, 10})),
                       "softmax_cross_entropy: labels are float32 [64, 10]; expected int64 class indices [64] for "
                       "scores [64, 10]",
                       ShapeError);
  CHECK_THROWS_AS(nll_loss(ones({3}), lab), ShapeError);
  CHECK_THROWS_AS(one_hot(lab, 5), ValueError);
  CHECK_THROWS_AS(quadratic_cost(ones({0, 3}), ones({0, 3})), ShapeError);
}
