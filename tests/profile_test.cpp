// profile: op-by-op forward and backward timing inside a real step.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;

TEST_CASE("profile: a Scope records each op's forward and backward calls, and nothing outside it") {
  profile::reset();
  Tensor x = ones({4, 3}, f64);
  Tensor w = ones({2, 3}, f64).requires_grad(true);
  sum(sigmoid(matmul(x, w, {.trans_b = true}))).backward();  // not recorded
  CHECK(profile::totals().empty());
  {
    profile::Scope scope;
    w.zero_grad();
    sum(sigmoid(matmul(x, w, {.trans_b = true}))).backward();
  }
  sigmoid(x);  // after the scope: not recorded
  const auto t = profile::totals();
  REQUIRE(t.count("matmul") == 1);
  REQUIRE(t.count("sigmoid") == 1);
  REQUIRE(t.count("sum") == 1);
  CHECK(t.at("matmul").forward_calls == 1);
  CHECK(t.at("matmul").backward_calls == 1);
  CHECK(t.at("sigmoid").forward_calls == 1);
  CHECK(t.at("sigmoid").backward_calls == 1);
  CHECK(t.at("matmul").forward_us > 0);
  CHECK(t.at("matmul").backward_us > 0);
  profile::reset();
  CHECK(profile::totals().empty());
}
