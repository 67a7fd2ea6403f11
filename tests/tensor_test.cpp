// Tensor: creation, dtypes, element access, views, in-place changes, printing, errors.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Contains;

TEST_CASE("tensor: creation functions give the right shape, dtype and values") {
  CHECK(zeros({2, 3}).shape() == Shape{2, 3});
  CHECK(zeros({2, 3}).dtype() == f32);
  CHECK(ones({4}, f64).to_vector() == std::vector<double>{1, 1, 1, 1});
  CHECK(full({2}, 2.5, f64).to_vector() == std::vector<double>{2.5, 2.5});
  CHECK(arange(0, 5).to_vector() == std::vector<double>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25, f64).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(scalar(3.0).dim() == 0);
  CHECK(scalar(3.0).item() == 3.0);
  Tensor t = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  CHECK(t.at({1, 2}) == 6);
  CHECK(t.at({0, 1}) == 2);
  CHECK(t.size(-1) == 3);
  CHECK(t.numel() == 6);
  std::vector<float> fv{1.5f, -2.0f};
  CHECK(from_vector(fv, {2}).to_vector() == std::vector<double>{1.5, -2.0});
  std::vector<std::int64_t> iv{3, 1};
  CHECK(from_vector(std::span<const std::int64_t>(iv), {2}).dtype() == i64);
}

TEST_CASE("tensor: data pointers are 64-byte aligned") {
  for (std::int64_t n : {1, 3, 17, 1000}) {
    auto p = reinterpret_cast<std::uintptr_t>(zeros({n}).data<float>());
    CHECK(p % 64 == 0);
  }
}

TEST_CASE("tensor: reused buffers (small and large) come back aligned, and zeros() zeroes them") {
  // Freed buffers are cached per thread and handed out again for the same size (src/tensor.cpp):
  // a buffer filled with 7s and freed must not show through a new zeros() or leak into values.
  for (std::int64_t n : {5, 3000, 300000, 2000000}) {
    const void* first = nullptr;
    {
      Tensor t = full({n}, 7.0);
      first = t.data<float>();
    }
    Tensor z = zeros({n});
    CHECK(reinterpret_cast<std::uintptr_t>(z.data<float>()) % 64 == 0);
#ifndef NABLA_NO_ALLOC_CACHE
    if (n >= 3000) CHECK(z.data<float>() == first);  // the cached block was handed out again
#else
    (void)first;
#endif
    CHECK(sum(z).item() == 0.0);
    Tensor o = ones({n});
    CHECK(sum(o).item() == double(n));
  }
}

TEST_CASE("tensor: randn and uniform are reproducible from a seed and have the right moments") {
  Generator g1(42), g2(42), g3(7);
  CHECK(randn({10}, f64, g1).to_vector() == randn({10}, f64, g2).to_vector());
  CHECK(randn({10}, f64, g1).to_vector() != randn({10}, f64, g3).to_vector());
  Generator g(1);
  const auto v = randn({20000}, f64, g, 1.0, 2.0).to_vector();
  double mean = 0, var = 0;
  for (double x : v) mean += x / v.size();
  for (double x : v) var += (x - mean) * (x - mean) / v.size();
  CHECK(mean == doctest::Approx(1.0).epsilon(0.05));
  CHECK(var == doctest::Approx(4.0).epsilon(0.05));
  const auto u = uniform({1000}, -2, 3, f32, g).to_vector();
  CHECK(*std::min_element(u.begin(), u.end()) >= -2);
  CHECK(*std::max_element(u.begin(), u.end()) < 3);
  manual_seed(5);
  auto a = randn({3}).to_vector();
  manual_seed(5);
  CHECK(randn({3}).to_vector() == a);
}

TEST_CASE("tensor: reshape is a view sharing storage; -1 is inferred") {
  Tensor t = arange(0, 6, 1, f64);
  Tensor r = t.reshape({2, -1});
  CHECK(r.shape() == Shape{2, 3});
  r.set({1, 0}, 42);
  CHECK(t.at({3}) == 42);
  CHECK(t.version() == r.version());
  CHECK_THROWS_WITH_AS(t.reshape({4, 2}), "reshape: [6] has 6 elements, target [4, 2] has 8", ShapeError);
  CHECK_THROWS_AS(t.reshape({-1, 4}), ShapeError);
}

TEST_CASE("tensor: dtype conversion is explicit; mixing dtypes in an op is an error") {
  Tensor a = tensor({1.5, 2.5}, {2}, f32);
  Tensor b = a.to(f64);
  CHECK(b.dtype() == f64);
  CHECK(b.to_vector() == std::vector<double>{1.5, 2.5});
  CHECK(a.to(f32).is_same(a));
  CHECK_THROWS_WITH_AS(add(a, b), "add: dtypes differ: float32 [2] and float64 [2]; convert one with .to(dtype)",
                       ValueError);
  CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), ones({2, 2}, f64)), Contains("matmul: dtypes differ"), ValueError);
}

TEST_CASE("tensor: in-place changes bump the version counter") {
  Tensor t = zeros({3}, f64);
  const auto v0 = t.version();
  t.add_(ones({3}, f64), 2.0);
  CHECK(t.version() == v0 + 1);
  CHECK(t.to_vector() == std::vector<double>{2, 2, 2});
  t.mul_(0.5);
  t.fill_(7);
  CHECK(t.version() == v0 + 3);
  CHECK(t.to_vector() == std::vector<double>{7, 7, 7});
  t.copy_(tensor({1, 2, 3}, {3}, f32));
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3});
  CHECK_THROWS_AS(t.add_(ones({4}, f64)), ShapeError);
}

TEST_CASE("tensor: fmt prints dtype, shape and values, summarizing large tensors") {
  CHECK(fmt::format("{}", tensor({1, 2, 3, 4, 5, 6}, {2, 3})) == "tensor(float32, [2, 3], [[1, 2, 3],\n"
                                                                   "                         [4, 5, 6]])");
  CHECK(fmt::format("{}", scalar(0.5, f64)) == "tensor(float64, [], 0.5)");
  CHECK(fmt::format("{}", Shape{64, 784}) == "[64, 784]");
  CHECK(fmt::format("{}", ones({2}).requires_grad(true)) == "tensor(float32, [2], [1, 1], requires_grad)");
  const std::string big = fmt::format("{}", arange(0, 2000));
  CHECK(big == "tensor(float32, [2000], [0, 1, 2, ..., 1997, 1998, 1999])");
  CHECK(fmt::format("{}", Tensor{}) == "tensor(undefined)");
}

TEST_CASE("tensor: bad input is a nabla::Error naming what was wrong") {
  CHECK_THROWS_WITH_AS(zeros({2, -1}), "zeros: negative dimension in shape [2, -1]", ShapeError);
  CHECK_THROWS_WITH_AS(tensor({1, 2, 3}, {2, 2}), "from_vector: 3 values do not fill shape [2, 2] (4 elements)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(ones({2}).item(), "item: tensor [2] has 2 elements, expected 1", ValueError);
  CHECK_THROWS_WITH_AS(ones({2, 3}).at({2, 0}), "at: index 2 is out of range for axis 0 of [2, 3]", ValueError);
  CHECK_THROWS_WITH_AS(ones({2}).data<double>(), "data: tensor is float32, asked for float64", ValueError);
  CHECK_THROWS_AS(Tensor{}.shape(), Error);
  CHECK_THROWS_WITH_AS(zeros({2}, i64).requires_grad(true), Contains("only float32 and float64"), ValueError);
  CHECK_THROWS_WITH_AS(sigmoid(zeros({2}, i64)), "sigmoid: expected a float32 or float64 tensor, got int64 [2]",
                       ValueError);
  CHECK_THROWS_AS(arange(0, 1, 0), ValueError);
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7, 8, 9}), ShapeError);
}
