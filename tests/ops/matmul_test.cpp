// ops/matmul.cpp: 2-d product with transpose flags.
#include <cmath>
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

TEST_CASE("matmul: known values, and flags equal explicit transposes") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, f64);
  Tensor b = tensor({1, 0, 0, 1, 1, 1}, {3, 2}, f64);
  CHECK(matmul(a, b).to_vector() == std::vector<double>{4, 5, 10, 11});
  Tensor bt = transpose(b);
  CHECK(matmul(a, bt, {.trans_b = true}).to_vector() == matmul(a, b).to_vector());
  CHECK(matmul(transpose(a), b, {.trans_a = true}).to_vector() == matmul(a, b).to_vector());
  CHECK(matmul(transpose(a), bt, {.trans_a = true, .trans_b = true}).to_vector() == matmul(a, b).to_vector());
  CHECK(matmul(a.to(f32), b.to(f32)).dtype() == f32);
  CHECK(matmul(a.to(f32), b.to(f32)).to_vector() == std::vector<double>{4, 5, 10, 11});
}

TEST_CASE("matmul: gradients agree with central differences in float64, for every flag combination") {
  Generator gen(61);
  const std::vector<std::array<std::int64_t, 3>> sizes = {{1, 1, 1}, {1, 7, 3}, {5, 3, 4}, {3, 1, 2}, {2, 6, 1}};
  for (auto [m, k, n] : sizes) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        CAPTURE(m);
        CAPTURE(k);
        CAPTURE(n);
        CAPTURE(ta);
        CAPTURE(tb);
        Tensor a = param(ta ? Shape{k, m} : Shape{m, k}, gen);
        Tensor b = param(tb ? Shape{n, k} : Shape{k, n}, gen);
        CHECK(check_grad([=](const Tensor& x, const Tensor& y) { return matmul(x, y, {.trans_a = ta, .trans_b = tb}); },
                         {a, b}));
      }
    }
  }
}

TEST_CASE("matmul: shape errors name both shapes") {
  CHECK_THROWS_WITH_AS(matmul(ones({10, 784}), ones({30, 785})),
                       "matmul: inner dimensions differ: a is [10, 784], b is [30, 785]; need a.shape[1] == b.shape[0]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(ones({10, 784}), ones({30, 785}), {.trans_b = true}),
                       "matmul: inner dimensions differ: a is [10, 784], b (transposed) is [30, 785]; need a.shape[1] "
                       "== b.shape[1]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(matmul(ones({3}), ones({3, 2})), "matmul: expected 2-d tensors, got a [3] and b [3, 2]",
                       ShapeError);
}

TEST_CASE("matmul: OpenBLAS runs kernels this CPU supports, and they agree with a direct product") {
  const std::string info = blas_info();
  INFO(info);
  CHECK(info.find(", core ") != std::string::npos);
#if defined(__x86_64__)
  // Debian 12's OpenBLAS falls back to its SSE3 "Prescott" kernels on CPUs it does not know;
  // nabla must have replaced them with ones that use the CPU's AVX2 or AVX-512 units.
  __builtin_cpu_init();
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    CHECK(info.find("core Prescott") == std::string::npos);
  }
#endif
  // Sizes that span several of the kernels' register blocks, with ragged edges.
  Generator gen(3);
  const std::int64_t m = 67, k = 131, n = 93;
  Tensor a = uniform({m, k}, -1, 1, f32, gen), b = uniform({k, n}, -1, 1, f32, gen);
  const std::vector<double> va = a.to_vector(), vb = b.to_vector(), c = matmul(a, b).to_vector();
  double worst = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t q = 0; q < k; ++q) s += va[i * k + q] * vb[q * n + j];
      worst = std::max(worst, std::abs(s - c[i * n + j]));
    }
  }
  CHECK(worst < 1e-4);
}
