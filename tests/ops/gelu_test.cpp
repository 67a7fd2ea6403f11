// ops/activations.cpp's gelu on its float32 kernels (kernels::gelu, kernels::gelu_backward;
// src/kernels/level/gelu.cpp at avx2 and avx512 level, generic.cpp's double loop at generic level):
// against the value worked in double from the same float32 input, over a dense sweep and the edges.
// CTest runs this suite at every level the CPU has (level/*) and on emulated CPUs (qemu/*).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/kernels.hpp>
#include <nabla/nabla.hpp>

using namespace nabla;

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kInvSqrt2 = 1 / std::numbers::sqrt2, kInvSqrt2Pi = std::numbers::inv_sqrtpi / std::numbers::sqrt2;
constexpr double kK = std::numbers::sqrt2 * std::numbers::inv_sqrtpi, kC = 0.044715;  // √(2/π)

/// The float32 ulp at |v| (the smallest subnormal's below the normal range).
double ulp_at(double v) {
  const float f = std::abs(static_cast<float>(v));
  if (f < std::numeric_limits<float>::min()) return std::ldexp(1.0, -149);
  return double(std::nextafter(f, kInf)) - double(f);
}

/// Double-precision references from the float32 x. Φ(x) = erfc(−x/√2)/2: std::erfc rather than
/// 1 + std::erf(x/√2), which cancels in double too once x ≪ 0 (at x = −8 only 4 digits are left).
struct Ref {
  double y, d;          // GELU(x) and GELU′(x)
  double d_scale;       // the larger of GELU′'s two terms (they cancel near the minimum, x ≈ −0.75)
  double cond;          // 1, or 1 + 2|u| on the tanh form's negative side (the rounding of u, amplified)
};
Ref exact_ref(double x) {
  const double cdf = 0.5 * std::erfc(-x * kInvSqrt2), xpdf = x * std::exp(-x * x / 2) * kInvSqrt2Pi;
  return {x * cdf, cdf + xpdf, std::max(std::abs(cdf), std::abs(xpdf)), 1};
}
Ref tanh_ref(double x) {  // x (1 + tanh u)/2 = x σ(2u); (1 + t)/2 + x (1 − t²) u′/2 = σ(2u) + 2x u′ σ(2u) σ(−2u)
  const double u = kK * (x + kC * x * x * x), du = kK * (1 + 3 * kC * x * x);
  const double s = 1 / (1 + std::exp(-2 * u)), sn = 1 / (1 + std::exp(2 * u));
  const double second = 2 * x * du * s * sn;
  return {x * s, s + second, std::max(std::abs(s), std::abs(second)), x < 0 ? 1 + 2 * std::abs(u) : 1};
}

std::vector<float> sweep() {
  std::vector<float> xs;
  for (float v = -20.0f; v <= 20.0f; v += 0.000731f) xs.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, -1e-40f, 1e-6f, -1e-6f, 0.75f, -0.75f, 13.2f, -13.2f, 14.0f,
                  -14.0f, 15.0f, -15.0f, 30.0f, -30.0f, 1e10f, -1e10f, 3e38f, -3e38f}) {
    xs.push_back(v);
    xs.push_back(std::nextafter(v, kInf));
    xs.push_back(std::nextafter(v, -kInf));
  }
  return xs;
}

/// Worst error of got against want in ulp of scale, over the finite sweep, divided by cond.
struct Worst {
  double ulp = 0, at = 0;
  void add(float got, double want, double scale, double cond, float x) {
    const double e = std::abs(double(got) - want) / ulp_at(scale) / cond;
    if (e > ulp) {
      ulp = e;
      at = x;
    }
  }
};

void check_form(bool tanh_form, double fwd_bound, double bwd_bound) {
  std::vector<float> xs = sweep();
  const std::size_t finite = xs.size();
  xs.insert(xs.end(), {kInf, -kInf, std::numeric_limits<float>::quiet_NaN()});
  const auto n = static_cast<std::int64_t>(xs.size());
  std::vector<float> gys(xs.size());
  for (std::size_t i = 0; i < gys.size(); ++i) gys[i] = i % 3 == 0 ? 1.0f : static_cast<float>(std::cos(0.37 * double(i)) * 3);
  const Tensor x = from_vector(std::span<const float>(xs), {n}), gy = from_vector(std::span<const float>(gys), {n});
  const Tensor y = kernels::gelu(x, tanh_form), gx = kernels::gelu_backward(gy, x, tanh_form);
  const float* py = y.data<float>();
  const float* pg = gx.data<float>();
  Worst fwd, bwd;
  for (std::size_t i = 0; i < finite; ++i) {
    const Ref r = tanh_form ? tanh_ref(xs[i]) : exact_ref(xs[i]);
    fwd.add(py[i], r.y, r.y, r.cond, xs[i]);
    bwd.add(pg[i], double(gys[i]) * r.d, double(gys[i]) * r.d_scale, r.cond, xs[i]);
  }
  CAPTURE(fwd.at);
  CAPTURE(bwd.at);
  MESSAGE("gelu(", tanh_form ? "tanh" : "none", ") at level ", std::string(to_string(cpu_info().level)), ": forward within ", fwd.ulp,
          " ulp, backward within ", bwd.ulp, " ulp of its larger term");
  CHECK(fwd.ulp <= fwd_bound);
  CHECK(bwd.ulp <= bwd_bound);
  // Large x: x itself and slope 1; large −x: −0 and slope 0.
  for (std::size_t i = 0; i < finite; ++i) {
    if (xs[i] >= 30) {
      CHECK(py[i] == xs[i]);
      CHECK(pg[i] == gys[i]);
    }
    if (xs[i] <= -30) {
      CHECK(py[i] == 0.0f);
      CHECK(pg[i] == 0.0f);
    }
  }
  // ±inf as the formula (and torch.nn.functional.gelu): inf, and −inf · 0 = NaN; NaN slopes. NaN stays NaN.
  CHECK(py[finite] == kInf);
  CHECK(std::isnan(py[finite + 1]));
  CHECK(std::isnan(py[finite + 2]));
  CHECK(std::isnan(pg[finite]));
  CHECK(std::isnan(pg[finite + 1]));
  CHECK(std::isnan(pg[finite + 2]));
  // Every tail length of the vector loops (masked lanes) gives the same values as the whole run.
  for (std::int64_t len = 1; len <= 40; ++len) {
    const Tensor part = kernels::gelu(narrow(x, 0, 1000, len), tanh_form);
    for (std::int64_t j = 0; j < len; ++j) CHECK(part.data<float>()[j] == py[1000 + j]);
  }
}
}  // namespace

TEST_CASE("gelu: float32 exact form within 8 ulp of x Φ(x) worked in double, its slope too, over ±20, tiny, huge, inf, NaN") {
  check_form(false, 8.0, 8.0);
}

TEST_CASE("gelu: float32 tanh form within 6 ulp (× (1 + 2|u|) for x < 0: the rounding of u) of the double value, its slope too") {
  check_form(true, 6.0, 6.0);
}

TEST_CASE("gelu: the op's float32 forward and backward are the kernels'; float64 keeps std::erf's formula") {
  std::vector<float> xs;
  for (int i = 0; i < 203; ++i) xs.push_back(static_cast<float>(-9 + 0.09 * i));
  const auto n = static_cast<std::int64_t>(xs.size());
  const Tensor gy = from_vector(std::span<const float>(xs), {n}) * 0.5;
  for (const char* approx : {"none", "tanh"}) {
    CAPTURE(approx);
    const bool tanh_form = std::string_view(approx) == "tanh";
    Tensor x = from_vector(std::span<const float>(xs), {n}).requires_grad(true);
    const Tensor y = gelu(x, approx);
    CHECK(y.to_vector() == kernels::gelu(x.detach(), tanh_form).to_vector());
    sum(y * gy).backward();
    CHECK(x.grad().to_vector() == kernels::gelu_backward(gy, x.detach(), tanh_form).to_vector());
  }
  const Tensor x64 = tensor({-7, -0.5, 0, 0.5, 3}, {5}, f64);
  const auto y64 = gelu(x64).to_vector();
  for (std::size_t i = 0; i < y64.size(); ++i) {
    const double v = x64.to_vector()[i];
    CHECK(y64[i] == v * (1 + std::erf(v * kInvSqrt2)) / 2);
  }
}
