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
  // A 1-d operand was an error before matmul took PyTorch's rules; now it is a row vector.
  CHECK(matmul(ones({3}), ones({3, 2})).shape() == Shape{2});
  CHECK_THROWS_WITH_AS(matmul(ones({4}), ones({3, 2})), "matmul: inner dimensions differ: a is [1, 4], b is [3, 2]; need "
                       "a.shape[1] == b.shape[0]", ShapeError);
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

namespace {
/// The batched product by loops, for checking: a [B, M, K] · b [B, K, N].
std::vector<double> loop_bmm(const Tensor& a, const Tensor& b) {
  const std::int64_t B = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  std::vector<double> out;
  for (std::int64_t i = 0; i < B; ++i) {
    for (std::int64_t m = 0; m < M; ++m) {
      for (std::int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (std::int64_t k = 0; k < K; ++k) s += a.at({i, m, k}) * b.at({i, k, n});
        out.push_back(s);
      }
    }
  }
  return out;
}
}  // namespace

TEST_CASE("matmul: PyTorch's rules for 1-d, 2-d and batched operands with batch broadcasting") {
  Generator gen(151);
  Tensor a = randn({3, 2, 4}, f64, gen), b = randn({3, 4, 5}, f64, gen);
  CHECK(max_abs_diff(matmul(a, b), from_vector(loop_bmm(a, b), {3, 2, 5}, f64)) < 1e-12);
  CHECK(max_abs_diff(bmm(a, b), matmul(a, b)) == 0);
  // Broadcasting: a 2-d b against a batch, a [1, …] batch against [3, …], and 4-d against 3-d.
  Tensor w = randn({4, 5}, f64, gen);
  CHECK(max_abs_diff(matmul(a, w), matmul(a, expand(w, {3, 4, 5}))) < 1e-12);
  CHECK(matmul(randn({2, 1, 2, 4}, f64, gen), b).shape() == Shape{2, 3, 2, 5});
  // Flags on the last two axes.
  CHECK(max_abs_diff(matmul(a, transpose(b, 1, 2), {.trans_b = true}), matmul(a, b)) < 1e-12);
  CHECK(max_abs_diff(matmul(transpose(a, -1, -2), b, {.trans_a = true}), matmul(a, b)) < 1e-12);
  // 1-d operands.
  Tensor v = randn({4}, f64, gen);
  CHECK(matmul(v, v).shape() == Shape{});
  CHECK(matmul(a, v).shape() == Shape{3, 2});
  CHECK(matmul(v, b).shape() == Shape{3, 5});
  CHECK(matmul(randn({2, 4}, f64, gen), v).shape() == Shape{2});
  CHECK(dot(v, v).item() == doctest::Approx(sum(v * v).item()));
  CHECK(outer(v, tensor({1, 2}, {2}, f64)).shape() == Shape{4, 2});
  CHECK(matmul(zeros({2, 0, 3}, f64), zeros({2, 3, 4}, f64)).shape() == Shape{2, 0, 4});
  CHECK(matmul(zeros({2, 3, 0}, f64), zeros({2, 0, 4}, f64)).to_vector() == std::vector<double>(24, 0.0));
}

TEST_CASE("matmul (batched, 1-d), bmm, dot, outer, einsum: gradients agree with central differences") {
  Generator gen(152);
  Tensor a = param({2, 3, 4}, gen), b = param({2, 4, 2}, gen), w = param({4, 2}, gen), v = param({4}, gen);
  Tensor one = param({1, 3, 4}, gen);
  auto mm = [](const Tensor& x, const Tensor& y) { return matmul(x, y); };
  CHECK(check_grad(mm, {a, b}));
  CHECK(check_grad(mm, {a, w}));     // b broadcast over the batch: its gradient sums over it
  CHECK(check_grad(mm, {one, b}));   // a batch of one against two
  CHECK(check_grad(mm, {a, v}));
  CHECK(check_grad(mm, {v, b}));
  CHECK(check_grad(mm, {v, v}));
  CHECK(check_grad([](const Tensor& x, const Tensor& y) { return matmul(x, y, {.trans_a = true}); }, {param({2, 4, 3}, gen), b}));
  CHECK(check_grad([](const Tensor& x, const Tensor& y) { return matmul(x, y, {.trans_a = true, .trans_b = true}); },
                   {param({2, 4, 3}, gen), param({2, 5, 4}, gen)}));
  CHECK(check_grad([](const Tensor& x, const Tensor& y) { return outer(x, y); }, {v, param({3}, gen)}));
  CHECK(check_grad([](const Tensor& x, const Tensor& y) { return einsum("bij,bjk->bik", x, y); }, {a, b}));
  CHECK(check_grad([](const Tensor& x, const Tensor& y) { return einsum("bij,jk->bki", x, y); }, {a, w}));
  CHECK(check_grad([](const Tensor& x, const Tensor& y) { return einsum("bij,k->ik", x, y); }, {a, v}));
}

TEST_CASE("einsum: values against matmul and sums; bad equations are errors naming the equation") {
  Generator gen(153);
  Tensor a = randn({2, 3, 4}, f64, gen), b = randn({2, 4, 5}, f64, gen), m = randn({4, 5}, f64, gen);
  CHECK(max_abs_diff(einsum("bij,bjk->bik", a, b), matmul(a, b)) < 1e-12);
  CHECK(max_abs_diff(einsum("bij,jk->bik", a, m), matmul(a, m)) < 1e-12);
  CHECK(max_abs_diff(einsum("bij,bjk", a, b), sum(matmul(a, b), {0})) < 1e-12);  // implicit: "ik"
  CHECK(max_abs_diff(einsum("ij,ij->", m, m), sum(m * m)) < 1e-12);
  CHECK(max_abs_diff(einsum("ij,kj->ik", m, m), matmul(m, m, {.trans_b = true})) < 1e-12);
  CHECK(max_abs_diff(einsum("i,j->ij", m.reshape({-1}), m.reshape({-1})), outer(m.reshape({-1}), m.reshape({-1}))) < 1e-12);
  Tensor q = randn({4, 4}, f64, gen);
  CHECK_THROWS_WITH_AS(einsum("ij,jk->il", q, q), "einsum: \"ij,jk->il\": output label 'l' is in neither operand", ValueError);
  CHECK_THROWS_WITH_AS(einsum("ij,jk->ik", m, m),
                       "einsum: \"ij,jk->ik\": label 'j' is 5 in operand 0 ([4, 5]) but 4 in operand 1 ([4, 5])", ValueError);
  CHECK_THROWS_WITH_AS(einsum("ii,ij->j", m, m),
                       "einsum: \"ii,ij->j\": label 'i' appears twice in operand 0 (diagonals are not supported)", ValueError);
  CHECK_THROWS_WITH_AS(einsum("ijk,jk->i", m, m), "einsum: \"ijk,jk->i\": operand 0 has 3 labels \"ijk\" but 2 axes ([4, 5])",
                       ValueError);
  CHECK_THROWS_WITH_AS(einsum("...j,jk->k", m, m), "einsum: \"...j,jk->k\": \"...\" is not supported", ValueError);
}

TEST_CASE("matmul: bad operands are errors naming both shapes") {
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({2, 5, 6})),
                       "matmul: inner dimensions differ: a is [2, 3, 4], b is [2, 5, 6]; need 4 == 5", ShapeError);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({3, 4, 6})),
                       "matmul: shapes [2] and [3] do not broadcast: axis 0 has 2 and 3", ShapeError);
  CHECK_THROWS_WITH_AS(matmul(scalar(1), zeros({3})), "matmul: both operands need at least 1 dimension, got [] and [3]",
                       ShapeError);
  CHECK_THROWS_WITH_AS(bmm(zeros({2, 3, 4}), zeros({3, 4, 5})),
                       "bmm: expected two 3-d tensors with one batch size, got [2, 3, 4] and [3, 4, 5]", ShapeError);
  CHECK_THROWS_WITH_AS(dot(zeros({3}), zeros({4})), "dot: expected two 1-d tensors of one length, got [3] and [4]", ShapeError);
}
