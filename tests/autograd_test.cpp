// Autodiff: recording, backward, accumulation, no_grad, detach, retain_graph, version checks,
// deep graphs, and the graph's lifetime.
#include <thread>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;

TEST_CASE("autograd: backward of a scalar fills leaf gradients") {
  Tensor x = tensor({1, 2, 3}, {3}, f64).requires_grad(true);
  Tensor w = tensor({4, 5, 6}, {3}, f64).requires_grad(true);
  Tensor y = sum(x * w);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(y.grad_fn()->name() == "sum");
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{4, 5, 6});
  CHECK(w.grad().to_vector() == std::vector<double>{1, 2, 3});
}

TEST_CASE("autograd: gradients sum where paths meet, and accumulate across backward calls") {
  Tensor x = tensor({3}, {1}, f64).requires_grad(true);
  Tensor y = sum(x * x + x);  // dy/dx = 2x + 1 = 7
  y.backward();
  CHECK(x.grad().item() == 7);
  sum(x * 2.0).backward();  // accumulates: 7 + 2
  CHECK(x.grad().item() == 9);
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x * 2.0).backward();
  CHECK(x.grad().item() == 2);
}

TEST_CASE("autograd: backward with an explicit output gradient") {
  Tensor x = tensor({1, 2}, {2}, f64).requires_grad(true);
  Tensor y = x * x;
  y.backward(tensor({10, 100}, {2}, f64));
  CHECK(x.grad().to_vector() == std::vector<double>{20, 400});
  Tensor z = x * x;
  CHECK_THROWS_WITH_AS(z.backward(ones({3}, f64)),
                       "backward: gradient is float64 [3], output is float64 [2]; they must match", ShapeError);
}

TEST_CASE("autograd: backward of a non-scalar without a gradient is an error") {
  Tensor x = ones({64, 10}, f64).requires_grad(true);
  CHECK_THROWS_WITH_AS((x * 2.0).backward(),
                       "backward: output [64, 10] is not a scalar; pass a gradient of the same shape: "
                       "t.backward(gradient)",
                       GraphError);
}

TEST_CASE("autograd: a second backward through a freed graph is an error; retain_graph allows it") {
  Tensor x = tensor({0.5}, {1}, f64).requires_grad(true);
  Tensor y = sum(sigmoid(x));
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), Contains("backward: the graph of this tensor was freed by an earlier "
                                              "backward (at op 'sum'); pass retain_graph = true"),
                       GraphError);
  Tensor z = sum(sigmoid(x));
  x.zero_grad();
  z.backward({.retain_graph = true});
  const double g = x.grad().item();
  z.backward();
  CHECK(x.grad().item() == doctest::Approx(2 * g));
}

TEST_CASE("autograd: a saved tensor changed in place after forward is an error at backward") {
  Tensor w = tensor({2}, {1}, f64).requires_grad(true);
  Tensor x = tensor({3}, {1}, f64);  // saved by mul for w's gradient
  Tensor y = sum(x * w);
  x.mul_(2.0);
  CHECK_THROWS_WITH_AS(y.backward(), "mul.backward: saved tensor 0 was modified in place after forward (version 1, saved at 0)",
                       GraphError);
  Tensor s = sigmoid(w);  // saves its output
  {
    NoGradGuard g;
    s.add_(ones({1}, f64));
  }
  CHECK_THROWS_WITH_AS(sum(s).backward(), Contains("sigmoid.backward: saved tensor 0 was modified in place"),
                       GraphError);
}

TEST_CASE("autograd: .grad of a tensor that does not require grad is an error") {
  CHECK_THROWS_WITH_AS(ones({2, 3}).grad(),
                       "grad: this tensor [2, 3] does not require grad, so it has none; create it with "
                       ".requires_grad(true)",
                       GraphError);
  CHECK_THROWS_AS(sum(ones({2})).backward(), GraphError);
}

TEST_CASE("autograd: in-place change of a tensor that requires grad needs no_grad") {
  Tensor w = ones({2}, f64).requires_grad(true);
  CHECK_THROWS_WITH_AS(w.add_(ones({2}, f64)), Contains("add_: in-place change of a tensor that requires grad"),
                       GraphError);
  NoGradGuard g;
  w.add_(ones({2}, f64), -0.5);
  CHECK(w.to_vector() == std::vector<double>{0.5, 0.5});
}

TEST_CASE("autograd: no_grad stops recording on its thread only, and nests") {
  Tensor x = ones({2}, f64).requires_grad(true);
  {
    NoGradGuard outer;
    CHECK_FALSE(grad_enabled());
    {
      NoGradGuard inner;
      CHECK_FALSE((x * 2.0).requires_grad());
    }
    CHECK_FALSE(grad_enabled());
    bool other_thread_records = false;
    std::thread t([&] { other_thread_records = (x * 2.0).requires_grad(); });
    t.join();
    CHECK(other_thread_records);
  }
  CHECK(grad_enabled());
  CHECK((x * 2.0).requires_grad());
}

TEST_CASE("autograd: detach cuts the graph but shares data") {
  Tensor x = tensor({2}, {1}, f64).requires_grad(true);
  Tensor y = x * 3.0;
  Tensor d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.item() == 6);
  Tensor z = sum(y * d);  // d is a constant: dz/dx = 3 · d = 18
  z.backward();
  CHECK(x.grad().item() == 18);
}

TEST_CASE("autograd: backward through a chain of 100,000 ops is iterative") {
  Tensor x = tensor({1.0}, {1}, f64).requires_grad(true);
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  sum(y).backward();
  CHECK(x.grad().item() == 1.0);
  // Destroying the chain must not recurse either (it would overflow the stack).
  y = Tensor{};
  CHECK(memory_stats().nodes == 0);
}

TEST_CASE("autograd: the graph is freed when its last tensor dies; memory returns to its start") {
  Generator gen(3);
  Tensor w = nabla_test::param({30, 784}, gen);
  Tensor b = nabla_test::param({30}, gen);
  Tensor x = randn({10, 784}, f64, gen);
  Tensor y = one_hot(nabla_test::labels(10, 30, gen), 30, f64);
  const MemoryStats before = memory_stats();
  MemoryStats after_first{};
  for (int i = 0; i < 10000; ++i) {
    if (i == 1) after_first = memory_stats();
    Tensor loss = quadratic_cost(sigmoid(matmul(x, w, {.trans_b = true}) + b), y);
    w.zero_grad();
    b.zero_grad();
    loss.backward();
  }
  w.zero_grad();
  b.zero_grad();
  const MemoryStats after = memory_stats();
  CHECK(after.nodes == before.nodes);
  CHECK(after.tensors == before.tensors);
  CHECK(after.storages == before.storages);
  CHECK(after.storage_bytes == before.storage_bytes);
  CHECK(after_first.nodes == before.nodes);  // no node outlives its iteration
  CHECK(after_first.storage_bytes == before.storage_bytes + (30 * 784 + 30) * 8);  // only w.grad and b.grad
}

TEST_CASE("autograd: a graph that is never backpropagated is freed too") {
  const MemoryStats before = memory_stats();
  {
    Tensor x = ones({4}, f64).requires_grad(true);
    Tensor y = exp(x) * x + 1.0;
    CHECK(memory_stats().nodes == before.nodes + 3);
  }
  CHECK(memory_stats().nodes == before.nodes);
  CHECK(memory_stats().storage_bytes == before.storage_bytes);
}

TEST_CASE("accumulation into .grad: in place when nothing else holds it, a new tensor when something does") {
  Tensor w = from_vector(std::vector<double>{1, 2}, {2}).to(f64).requires_grad(true);
  sum(w * 3.0).backward();
  const Tensor first = w.grad();  // a handle held by the caller: the next backward must not change it
  sum(w * 2.0).backward();
  CHECK(first.to_vector<double>() == std::vector<double>{3, 3});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{5, 5});
  // Unheld: a weight used at many steps (as an RNN's) sums every contribution.
  w.zero_grad();
  Tensor c = sum(w);
  for (int t = 1; t < 64; ++t) c = c + sum(w * double(t));
  c.backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{2017, 2017});  // 1 + (1 + 2 + … + 63)
}
