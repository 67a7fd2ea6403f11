// src/kernels/conv_winograd.cpp: float32 3×3 stride-1 convolution as Winograd F(2×2, 3×3), forward and
// input gradient, against the exact (float64) convolution within the bound its transforms give, and the
// choice between it and the direct convolution. CTest runs this suite at every CPU level the machine
// has (level/*) and under qemu without AVX-512 and without AVX (qemu/*).
//
// The bound. Per 2×2 output tile, Y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A + b. The filter transform is
// rounded once (computed in float64), the input transform is two additions deep, the product one
// rounding, the sum over C channels at most C − 1 more, the output transform four additions deep and
// the bias one: C + 8 roundings along any path, so (first order, u = 2⁻²⁴, γₖ = k·u / (1 − k·u))
//   |ŷ − y| ≤ γ_{C+8} · (P + |b|),  P = |Aᵀ| (Σ_c (|G| |g_c| |G|ᵀ) ⊙ (|Bᵀ| |d_c| |B|)) |A|,
// and, as every |G| entry is ≤ 1, each column of B has two entries ±1 and each column of A three,
//   P ≤ 36 · Σ_c ‖g_c‖₁ · max over the 4×4 input tile |d_c|.
// The test checks the first, with P computed in float64 element by element, and that P is within the
// second. The input gradient is the same computation on gy with the filters flipped and transposed
// (F channels summed).
#include <doctest/doctest.h>
#include <nabla/kernels.hpp>
#include <nabla/nabla.hpp>

#include <cmath>

#include "test_util.hpp"

using namespace nabla;
using namespace nabla_test;
using kernels::Conv3x3Algorithm;

namespace {

/// Sets the 3×3 algorithm for one scope.
struct AlgorithmGuard {
  Conv3x3Algorithm before;
  explicit AlgorithmGuard(Conv3x3Algorithm a) : before(kernels::set_conv3x3_algorithm(a)) {}
  ~AlgorithmGuard() { kernels::set_conv3x3_algorithm(before); }
  AlgorithmGuard(const AlgorithmGuard&) = delete;
  AlgorithmGuard& operator=(const AlgorithmGuard&) = delete;
};

using Vec = std::vector<double>;

/// y [n, f, oh, ow] = Σ_c Σ_pq g[f, c, p, q] · x[n, c, i + p − pad, j + q − pad] exactly (float64, the
/// inputs are float32 values), with oh = h + 2·pad − 2; and P, the bound's magnitude above, per output.
struct Exact {
  Vec y, p;
  std::int64_t oh, ow;
};
Exact exact_and_bound(const Vec& x, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, const Vec& g,
                      std::int64_t f, std::int64_t pad) {
  Exact r;
  r.oh = h + 2 * pad - 2;
  r.ow = w + 2 * pad - 2;
  r.y.assign(std::size_t(n * f * r.oh * r.ow), 0.0);
  r.p.assign(r.y.size(), 0.0);
  auto at = [&](std::int64_t i, std::int64_t ch, std::int64_t row, std::int64_t col) {
    return row < 0 || row >= h || col < 0 || col >= w ? 0.0 : x[std::size_t(((i * c + ch) * h + row) * w + col)];
  };
  // |G| and |B| (|Bᵀ| transposed): G rows (1 0 0), (½ ½ ½), (½ −½ ½), (0 0 1); B columns of Bᵀ's rows.
  const double ag[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 1}};
  const double abt[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
  const double aat[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < f; ++o)
      for (std::int64_t yy = 0; yy < r.oh; ++yy)
        for (std::int64_t xx = 0; xx < r.ow; ++xx) {
          double acc = 0;
          for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t p = 0; p < 3; ++p)
              for (std::int64_t q = 0; q < 3; ++q)
                acc += g[std::size_t(((o * c + ch) * 3 + p) * 3 + q)] * at(i, ch, yy + p - pad, xx + q - pad);
          r.y[std::size_t(((i * f + o) * r.oh + yy) * r.ow + xx)] = acc;
        }
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < f; ++o)
      for (std::int64_t ty = 0; 2 * ty < r.oh; ++ty)
        for (std::int64_t tx = 0; 2 * tx < r.ow; ++tx) {
          double m[4][4] = {};
          for (std::int64_t ch = 0; ch < c; ++ch) {
            double ug[4][4] = {}, vd[4][4] = {};
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) {
                for (int p = 0; p < 3; ++p)
                  for (int q = 0; q < 3; ++q)
                    ug[a][b] += ag[a][p] * std::abs(g[std::size_t(((o * c + ch) * 3 + p) * 3 + q)]) * ag[b][q];
                for (int p = 0; p < 4; ++p)
                  for (int q = 0; q < 4; ++q)
                    vd[a][b] += abt[a][p] * std::abs(at(i, ch, 2 * ty + p - pad, 2 * tx + q - pad)) * abt[b][q];
              }
            for (int a = 0; a < 4; ++a)
              for (int b = 0; b < 4; ++b) m[a][b] += ug[a][b] * vd[a][b];
          }
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
              if (2 * ty + a >= r.oh || 2 * tx + b >= r.ow) continue;
              double s = 0;
              for (int k = 0; k < 4; ++k)
                for (int l = 0; l < 4; ++l) s += aat[a][k] * m[k][l] * aat[b][l];
              r.p[std::size_t(((i * f + o) * r.oh + 2 * ty + a) * r.ow + 2 * tx + b)] = s;
            }
        }
  return r;
}

/// The loose form: 36 · Σ_c ‖g_c‖₁ · max over the output's 4×4 tile |x_c|.
double loose_bound(const Vec& x, std::int64_t c, std::int64_t h, std::int64_t w, const Vec& g, std::int64_t i,
                   std::int64_t o, std::int64_t yy, std::int64_t xx, std::int64_t pad) {
  double s = 0;
  const std::int64_t r0 = yy / 2 * 2 - pad, c0 = xx / 2 * 2 - pad;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double l1 = 0, mx = 0;
    for (int k = 0; k < 9; ++k) l1 += std::abs(g[std::size_t((o * c + ch) * 9 + k)]);
    for (std::int64_t p = 0; p < 4; ++p)
      for (std::int64_t q = 0; q < 4; ++q) {
        const std::int64_t row = r0 + p, col = c0 + q;
        if (row >= 0 && row < h && col >= 0 && col < w) mx = std::max(mx, std::abs(x[std::size_t(((i * c + ch) * h + row) * w + col)]));
      }
    s += l1 * mx;
  }
  return 36 * s;
}

struct Case {
  std::int64_t n, c, h, w, f, pad;
};
const std::vector<Case> kCases = {
    {1, 1, 5, 5, 1, 1},   {3, 2, 6, 7, 3, 0},  {1, 3, 8, 8, 4, 2},    {3, 16, 9, 10, 16, 1}, {1, 64, 7, 6, 64, 1},
    {3, 5, 3, 3, 7, 0},   {1, 7, 1, 2, 5, 1},  {3, 33, 12, 11, 40, 1}, {1, 64, 14, 14, 8, 0}, {3, 8, 4, 9, 64, 2},
    {1, 2, 6, 5, 3, 3},   {1, 1, 3, 130, 2, 1},  // padding 3; more than one run of 64 tiles in a row
    {1, 32, 28, 28, 32, 1},                      // bn_cnn's second layer, at batch 1
};

/// max over elements of |got − exact| / (γ_{C+8}·(P + |b|)), and checks P within the loose bound.
double worst_ratio(const Vec& got, const Exact& e, const Vec& bias, std::int64_t f, std::int64_t summed, const Vec& x,
                   std::int64_t c, std::int64_t h, std::int64_t w, const Vec& g, std::int64_t pad) {
  const double u = std::ldexp(1.0, -24), k = double(summed + 8), gamma = k * u / (1 - k * u);
  const std::int64_t plane = e.oh * e.ow;
  double worst = 0;
  bool within_loose = true;
  for (std::size_t j = 0; j < got.size(); ++j) {
    const std::int64_t o = std::int64_t(j) / plane % f, i = std::int64_t(j) / plane / f, yy = std::int64_t(j) % plane / e.ow,
                       xx = std::int64_t(j) % e.ow;
    const double b = bias.empty() ? 0.0 : bias[std::size_t(o)];
    const double err = std::abs(got[j] - (e.y[j] + b)), bound = gamma * (e.p[j] + std::abs(b));
    worst = std::max(worst, bound > 0 ? err / bound : (err > 0 ? 1e30 : 0.0));
    within_loose = within_loose && e.p[j] <= loose_bound(x, c, h, w, g, i, o, yy, xx, pad) * (1 + 1e-12);
  }
  CHECK(within_loose);
  return worst;
}

}  // namespace

TEST_CASE("conv2d Winograd F(2x2, 3x3): forward and input gradient within the transform's error bound") {
  Generator gen(3001);
  double worst_y = 0, worst_gx = 0;
  for (const Case& t : kCases) {
    CAPTURE(t.n);
    CAPTURE(t.c);
    CAPTURE(t.h);
    CAPTURE(t.w);
    CAPTURE(t.f);
    CAPTURE(t.pad);
    const Tensor x = randn({t.n, t.c, t.h, t.w}, f32, gen), wt = randn({t.f, t.c, 3, 3}, f32, gen), b = randn({t.f}, f32, gen);
    const Shape x_shape = x.shape();
    const kernels::Window2d win{3, 3, 1, t.pad};
    const std::int64_t oh = win.out_h(t.h), ow = win.out_w(t.w);
    const Tensor gy = randn({t.n, t.f, oh, ow}, f32, gen);
    AlgorithmGuard forced(Conv3x3Algorithm::winograd);
    CHECK(kernels::conv_uses_winograd(x_shape, wt.shape(), win));
    const Vec X = x.to_vector(), W = wt.to_vector(), B = b.to_vector(), GY = gy.to_vector();

    // Forward, through the op (with the graph, so the kept input of the weight gradient is made too).
    Tensor xg = x.clone().requires_grad(true), wg = wt.clone().requires_grad(true), bg = b.clone().requires_grad(true);
    Tensor y = conv2d(xg, wg, bg, {.padding = t.pad});
    REQUIRE(y.shape() == Shape{t.n, t.f, oh, ow});
    const Exact ey = exact_and_bound(X, t.n, t.c, t.h, t.w, W, t.f, t.pad);
    const double ry = worst_ratio(y.to_vector(), ey, B, t.f, t.c, X, t.c, t.h, t.w, W, t.pad);
    CHECK(ry <= 1.0);
    worst_y = std::max(worst_y, ry);

    // Input gradient: the convolution of gy with w flipped and transposed ([C, F, 3, 3]), padded 2 − pad.
    y.backward(gy);
    Vec WT(W.size());
    for (std::int64_t o = 0; o < t.f; ++o)
      for (std::int64_t ch = 0; ch < t.c; ++ch)
        for (int p = 0; p < 3; ++p)
          for (int q = 0; q < 3; ++q)
            WT[std::size_t(((ch * t.f + o) * 3 + p) * 3 + q)] = W[std::size_t(((o * t.c + ch) * 3 + 2 - p) * 3 + 2 - q)];
    const Exact egx = exact_and_bound(GY, t.n, t.f, oh, ow, WT, t.c, 2 - t.pad);
    REQUIRE(egx.oh == t.h);
    const double rg = worst_ratio(xg.grad().to_vector(), egx, {}, t.c, t.f, GY, t.f, oh, ow, WT, 2 - t.pad);
    CHECK(rg <= 1.0);
    worst_gx = std::max(worst_gx, rg);
    // conv2d_input_grad (the op of double backward and conv_transpose2d) takes the same path.
    CHECK(max_abs_diff(kernels::conv2d_input_grad(wt, gy, x_shape, win), xg.grad()) == 0);

    // The weight and bias gradients are the direct convolution's, bit for bit.
    Tensor wd = wt.clone().requires_grad(true), bd = b.clone().requires_grad(true);
    {
      AlgorithmGuard direct(Conv3x3Algorithm::direct);
      CHECK_FALSE(kernels::conv_uses_winograd(x_shape, wt.shape(), win));
      conv2d(x, wd, bd, {.padding = t.pad}).backward(gy);
    }
    CHECK(max_abs_diff(wd.grad(), wg.grad()) == 0);
    CHECK(max_abs_diff(bd.grad(), bg.grad()) == 0);
  }
  // How close to the bound the errors came (for the record: typically a few hundredths).
  MESSAGE("worst |error| / bound: forward " << worst_y << ", input gradient " << worst_gx);
}

TEST_CASE("conv2d Winograd: also without a bias, without a graph, and with no input channels") {
  Generator gen(3002);
  AlgorithmGuard forced(Conv3x3Algorithm::winograd);
  const Tensor x = randn({2, 4, 6, 6}, f32, gen), w = randn({5, 4, 3, 3}, f32, gen);
  Tensor direct_y;
  {
    AlgorithmGuard direct(Conv3x3Algorithm::direct);
    direct_y = conv2d(x, w, Tensor{}, {.padding = 1});
  }
  Tensor y;
  {
    NoGradGuard no_grad;
    y = conv2d(x, w, Tensor{}, {.padding = 1});
  }
  CHECK(max_abs_diff(y, direct_y) < 1e-4);
  // C = 0: the bias alone.
  const Tensor b = randn({3}, f32, gen);
  const Tensor y0 = conv2d(zeros({2, 0, 5, 5}, f32), zeros({3, 0, 3, 3}, f32), b, {.padding = 1});
  CHECK(max_abs_diff(y0, zeros({2, 3, 5, 5}, f32) + b.reshape({1, 3, 1, 1})) == 0);
}

TEST_CASE("conv2d Winograd gives the same bits on one thread and on two") {
  Generator gen(3003);
  AlgorithmGuard forced(Conv3x3Algorithm::winograd);
  const Tensor x = randn({5, 24, 20, 18}, f32, gen), w = randn({20, 24, 3, 3}, f32, gen), gy = randn({5, 20, 20, 18}, f32, gen);
  const int saved = num_threads();
  std::vector<double> out[2], gx[2];
  for (int t = 0; t < 2; ++t) {
    set_num_threads(t + 1);
    Tensor xt = x.clone().requires_grad(true);
    Tensor y = conv2d(xt, w, Tensor{}, {.padding = 1});
    y.backward(gy);
    out[t] = y.to_vector();
    gx[t] = xt.grad().to_vector();
  }
  set_num_threads(saved);
  CHECK(out[0] == out[1]);
  CHECK(gx[0] == gx[1]);
}

TEST_CASE("conv2d's 3x3 algorithm: Winograd only for 3x3 stride 1, the rule otherwise") {
  AlgorithmGuard forced(Conv3x3Algorithm::winograd);
  CHECK_FALSE(kernels::conv_uses_winograd({2, 8, 9, 9}, {4, 8, 3, 3}, {3, 3, 2, 1}));  // stride 2
  CHECK_FALSE(kernels::conv_uses_winograd({2, 8, 9, 9}, {4, 8, 5, 5}, {5, 5, 1, 2}));  // 5×5
  CHECK(kernels::conv_uses_winograd({2, 8, 9, 9}, {4, 8, 3, 3}, {3, 3, 1, 0}));
  kernels::set_conv3x3_algorithm(Conv3x3Algorithm::direct);
  CHECK_FALSE(kernels::conv_uses_winograd({2, 8, 9, 9}, {4, 8, 3, 3}, {3, 3, 1, 0}));
  CHECK(kernels::conv3x3_algorithm() == Conv3x3Algorithm::direct);
  kernels::set_conv3x3_algorithm(Conv3x3Algorithm::automatic);
  // The measured rule: not for the first layer of a CNN (one input channel), at generic level never.
  CHECK_FALSE(kernels::conv_uses_winograd({64, 1, 28, 28}, {32, 1, 3, 3}, {3, 3, 1, 1}));
  const bool tiles = cpu_info().level != CpuLevel::generic;
  CHECK(kernels::conv_uses_winograd({64, 32, 28, 28}, {32, 32, 3, 3}, {3, 3, 1, 1}) == tiles);
  CHECK(kernels::conv_uses_winograd({64, 64, 14, 14}, {64, 64, 3, 3}, {3, 3, 1, 1}) == tiles);
  CHECK_FALSE(kernels::conv_uses_winograd({1, 32, 7, 7}, {32, 32, 3, 3}, {3, 3, 1, 1}));     // 49 pixels a call
  CHECK_FALSE(kernels::conv_uses_winograd({64, 16, 56, 56}, {16, 16, 3, 3}, {3, 3, 1, 1}));  // large plane, C = 16
}
