// ops/conv.cpp: conv2d against a direct nested-loop reference, gradient checks, errors.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;

namespace {

/// The definition, literally: y[n,f,i,j] = b[f] + Σ_{c,p,q} w[f,c,p,q] · x[n,c,i·s+p−pad,j·s+q−pad].
std::vector<double> reference_conv(const Tensor& x, const Tensor& w, const Tensor& b, std::int64_t s, std::int64_t pad) {
  const auto X = x.to_vector(), W = w.to_vector(), B = b.to_vector();
  const std::int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], Wd = x.shape()[3];
  const std::int64_t F = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  const std::int64_t Ho = (H + 2 * pad - kh) / s + 1, Wo = (Wd + 2 * pad - kw) / s + 1;
  std::vector<double> y;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t f = 0; f < F; ++f)
      for (std::int64_t i = 0; i < Ho; ++i)
        for (std::int64_t j = 0; j < Wo; ++j) {
          double acc = B[f];
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t p = 0; p < kh; ++p)
              for (std::int64_t q = 0; q < kw; ++q) {
                const std::int64_t r = i * s + p - pad, col = j * s + q - pad;
                if (r < 0 || r >= H || col < 0 || col >= Wd) continue;
                acc += W[((f * C + c) * kh + p) * kw + q] * X[((n * C + c) * H + r) * Wd + col];
              }
          y.push_back(acc);
        }
  return y;
}

struct Case {
  std::int64_t n, c, h, w, f, k, stride, pad;
};
const std::vector<Case> kCases = {
    {1, 1, 5, 5, 1, 1, 1, 0}, {1, 1, 5, 7, 2, 3, 1, 0}, {2, 3, 7, 6, 4, 3, 2, 1}, {1, 2, 6, 6, 3, 2, 3, 2},
    {3, 1, 9, 8, 2, 5, 1, 2}, {2, 2, 5, 5, 2, 1, 2, 1}, {1, 3, 4, 4, 2, 4, 1, 0}, {2, 1, 7, 7, 3, 3, 3, 0},
};

}  // namespace

TEST_CASE("conv2d: forward agrees with a direct nested-loop reference") {
  Generator gen(101);
  for (const Case& t : kCases) {
    CAPTURE(t.n);
    CAPTURE(t.k);
    CAPTURE(t.stride);
    CAPTURE(t.pad);
    Tensor x = randn({t.n, t.c, t.h, t.w}, f64, gen), w = randn({t.f, t.c, t.k, t.k}, f64, gen), b = randn({t.f}, f64, gen);
    Tensor y = conv2d(x, w, b, {.stride = t.stride, .padding = t.pad});
    CHECK(y.shape() == Shape{t.n, t.f, (t.h + 2 * t.pad - t.k) / t.stride + 1, (t.w + 2 * t.pad - t.k) / t.stride + 1});
    const auto ref = reference_conv(x, w, b, t.stride, t.pad);
    double err = 0;
    const auto got = y.to_vector();
    for (std::size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::abs(ref[i] - got[i]));
    CHECK(err < 1e-12);
    // float32 agrees too, to float32 precision.
    const auto got32 = conv2d(x.to(f32), w.to(f32), b.to(f32), {.stride = t.stride, .padding = t.pad}).to_vector();
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(got32[i] == doctest::Approx(ref[i]).epsilon(1e-4).scale(1));
  }
  // Without a bias.
  Tensor x = randn({1, 1, 4, 4}, f64, gen), w = randn({1, 1, 3, 3}, f64, gen);
  CHECK(max_abs_diff(conv2d(x, w, Tensor{}), conv2d(x, w, zeros({1}, f64))) == 0);
}

TEST_CASE("conv2d: gradients for input, weights and bias agree with central differences in float64") {
  Generator gen(102);
  for (const Case& t : kCases) {
    CAPTURE(t.k);
    CAPTURE(t.stride);
    CAPTURE(t.pad);
    Tensor x = param({t.n, t.c, t.h, t.w}, gen), w = param({t.f, t.c, t.k, t.k}, gen), b = param({t.f}, gen);
    CHECK(check_grad([&](const Tensor& a, const Tensor& k, const Tensor& c) {
      return conv2d(a, k, c, {.stride = t.stride, .padding = t.pad});
    }, {x, w, b}));
  }
}

TEST_CASE("conv2d: batches processed in several blocks give the reference output and input gradient") {
  // The kernels work a few images at a time (blocks of about 1 MiB): 21 images of [3, 20, 20] with
  // 40 filters of 3×3 are 3 blocks forward (8, 8, 5) and 2 for the input gradient (12, 9).
  Generator gen(103);
  const std::int64_t N = 21, C = 3, H = 20, F = 40, K = 3, s = 1, pad = 1, Ho = 20;
  Tensor x = randn({N, C, H, H}, f64, gen).requires_grad(true), w = randn({F, C, K, K}, f64, gen), b = randn({F}, f64, gen);
  Tensor y = conv2d(x, w, b, {.stride = s, .padding = pad});
  const auto ref = reference_conv(x, w, b, s, pad), got = y.to_vector();
  double err = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::abs(ref[i] - got[i]));
  CHECK(err < 1e-12);
  // gx[n,c,r,col] = Σ_{f,i,j} w[f,c,r−i·s+pad,col−j·s+pad] · gy[n,f,i,j], accumulated literally.
  Tensor gy = randn({N, F, Ho, Ho}, f64, gen);
  y.backward(gy);
  const auto W = w.to_vector(), G = gy.to_vector(), gx = x.grad().to_vector();
  std::vector<double> want(gx.size(), 0.0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t f = 0; f < F; ++f)
      for (std::int64_t i = 0; i < Ho; ++i)
        for (std::int64_t j = 0; j < Ho; ++j)
          for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t p = 0; p < K; ++p)
              for (std::int64_t q = 0; q < K; ++q) {
                const std::int64_t r = i * s + p - pad, col = j * s + q - pad;
                if (r < 0 || r >= H || col < 0 || col >= H) continue;
                want[std::size_t(((n * C + c) * H + r) * H + col)] +=
                    W[std::size_t(((f * C + c) * K + p) * K + q)] * G[std::size_t(((n * F + f) * Ho + i) * Ho + j)];
              }
  err = 0;
  for (std::size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(want[i] - gx[i]));
  CHECK(err < 1e-11);
}

TEST_CASE("conv2d: float32 output and gradients agree with the float64 ones") {
  // float32 runs nabla's own tiles at avx2 and avx512 level (ConvKind::tiles; CTest runs this suite at each
  // level the CPU has) and float64 the im2col + BLAS path the gradient checks above cover, so this
  // compares the two. The extra cases reach every branch of the tiles at both vector widths: 1–8,
  // 9–16, 17–24, 25–32, 33–40 and over 64 filters (one to five vectors of filters, several filter
  // tiles), rows of im2col not a multiple of a tile, planes not a multiple of 8, 16 or 32, rows wider
  // than 16.
  std::vector<Case> cases = kCases;
  cases.push_back({3, 2, 12, 20, 50, 5, 1, 0});
  cases.push_back({2, 4, 9, 9, 17, 3, 1, 0});
  cases.push_back({4, 20, 12, 12, 40, 5, 1, 0});  // network3's second layer
  cases.push_back({2, 1, 28, 28, 20, 5, 1, 0});   // and its first
  cases.push_back({1, 3, 40, 37, 5, 2, 1, 0});
  // Stride 1 with padding: the input padded once, then the unpadded tiles (the batch-norm CNN's 3×3
  // layers); 49–64 filters take the four-vector weight-gradient tile.
  cases.push_back({2, 5, 28, 28, 32, 3, 1, 1});
  cases.push_back({3, 8, 11, 13, 64, 3, 1, 1});
  cases.push_back({2, 3, 9, 20, 50, 3, 1, 2});
  cases.push_back({2, 2, 10, 9, 7, 3, 1, 0});    // under one AVX2 vector of filters
  cases.push_back({2, 3, 10, 10, 27, 3, 1, 0});  // four
  cases.push_back({2, 3, 10, 10, 90, 3, 1, 0});  // several tiles of five, and of four AVX-512 vectors
  cases.push_back({2, 3, 11, 11, 12, 3, 2, 1});  // stride 2: im2col by the portable loop, then the tiles
  Generator gen(104);
  for (const Case& t : cases) {
    CAPTURE(t.c);
    CAPTURE(t.f);
    CAPTURE(t.k);
    CAPTURE(t.stride);
    CAPTURE(t.pad);
    const Conv2dFuncOptions opts{.stride = t.stride, .padding = t.pad};
    const Tensor x = randn({t.n, t.c, t.h, t.w}, f64, gen), w = randn({t.f, t.c, t.k, t.k}, f64, gen);
    const Tensor b = randn({t.f}, f64, gen);
    const Shape ys{t.n, t.f, (t.h + 2 * t.pad - t.k) / t.stride + 1, (t.w + 2 * t.pad - t.k) / t.stride + 1};
    const Tensor gy = randn(ys, f64, gen);
    std::vector<Tensor> grads[2];
    for (int k = 0; k < 2; ++k) {
      const Dtype dt = k == 0 ? f64 : f32;
      Tensor xk = x.to(dt).clone().requires_grad(true), wk = w.to(dt).clone().requires_grad(true);
      Tensor bk = b.to(dt).clone().requires_grad(true);
      Tensor y = conv2d(xk, wk, bk, opts);
      y.backward(gy.to(dt));
      grads[k] = {y.detach(), xk.grad(), wk.grad(), bk.grad()};
    }
    for (std::size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      const auto want = grads[0][i].to_vector(), got = grads[1][i].to_vector();
      REQUIRE(want.size() == got.size());
      double scale = 1, err = 0;
      for (std::size_t j = 0; j < want.size(); ++j) {
        scale = std::max(scale, std::abs(want[j]));
        err = std::max(err, std::abs(want[j] - got[j]));
      }
      CHECK(err / scale < 1e-5);
    }
  }
}

TEST_CASE("conv2d and max_pool2d give the same bits on one thread and on two") {
  // nabla's own loops (avx2 and avx512 level) split images, planes and weight-gradient panels over
  // threads; no sum is split across threads, so the thread count must not change a single bit. (At
  // generic level float32 convolution runs through OpenBLAS, whose threaded GEMM promises no such
  // thing: nothing to test there.)
  if (cpu_info().level == CpuLevel::generic) return;
  Generator gen(105);
  const Tensor x = randn({9, 3, 14, 14}, f32, gen), w = randn({40, 3, 5, 5}, f32, gen), b = randn({40}, f32, gen);
  const Tensor gy = randn({9, 40, 5, 5}, f32, gen);
  const Tensor w64 = randn({64, 3, 3, 3}, f32, gen).requires_grad(true);
  const int saved = num_threads();
  std::vector<std::vector<double>> out[2];
  for (int t = 0; t < 2; ++t) {
    set_num_threads(t + 1);
    Tensor xt = x.clone().requires_grad(true), wt = w.clone().requires_grad(true), bt = b.clone().requires_grad(true);
    Tensor y = max_pool2d(conv2d(xt, wt, bt), 2);
    Tensor z = conv2d(xt, w64, Tensor{}, {.padding = 1});  // padded, 64 filters
    (sum(y * gy) + sum(z * z)).backward();
    out[t] = {y.to_vector(), xt.grad().to_vector(), wt.grad().to_vector(), bt.grad().to_vector(), w64.grad().to_vector()};
    w64.zero_grad();
  }
  set_num_threads(saved);
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(out[0][i] == out[1][i]);
  }
}

TEST_CASE("conv2d: zero input channels give the bias alone (an empty sum)") {
  Tensor y = conv2d(zeros({2, 0, 5, 5}), zeros({3, 0, 3, 3}), from_vector(std::vector<double>{1, 2, 3}, {3}));
  CHECK(y.shape() == Shape{2, 3, 3, 3});
  CHECK(sum(y).item() == doctest::Approx(2 * 9 * (1 + 2 + 3)));
}

TEST_CASE("conv2d: shape errors name the op, the shapes and the parameters") {
  CHECK_THROWS_WITH_AS(conv2d(ones({10, 3, 28, 28}), ones({20, 1, 5, 5}), ones({20})),
                       "conv2d: input [10, 3, 28, 28] has 3 channels, weight [20, 1, 5, 5] expects 1", ShapeError);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 1, 4, 4}), ones({1, 1, 5, 5}), Tensor{}),
                       "conv2d: a 5×5 kernel does not fit input [1, 1, 4, 4] with padding 0", ShapeError);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 4, 4}), ones({1, 1, 3, 3}), Tensor{}),
                       "conv2d: expected input [N, C, H, W] and weight [F, C, kh, kw], got [1, 4, 4] and [1, 1, 3, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(conv2d(ones({1, 1, 4, 4}), ones({2, 1, 3, 3}), ones({3})),
                       "conv2d: bias is float32 [3]; expected float32 [2] for weight [2, 1, 3, 3]", ShapeError);
  CHECK_THROWS_AS(conv2d(ones({1, 1, 4, 4}), ones({1, 1, 3, 3}), Tensor{}, {.stride = 0}), ValueError);
}
