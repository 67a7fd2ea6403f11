// nn::init (torch.nn.init): gains, fans, and the moments and bounds of each initializer on large
// tensors; orthogonality; bad arguments refused with errors naming the function.
#include <algorithm>
#include <cmath>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Approx;
using doctest::Contains;

namespace {

struct Moments {
  double mean, sd, lo, hi;
};
Moments moments(const Tensor& t) {
  const auto v = t.to_vector();
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, std::sqrt(s / double(v.size())), *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())};
}

}  // namespace

TEST_CASE("nn::init: calculate_gain and the fans are PyTorch's") {
  CHECK(nn::init::calculate_gain("linear") == 1);
  CHECK(nn::init::calculate_gain("conv2d") == 1);
  CHECK(nn::init::calculate_gain("sigmoid") == 1);
  CHECK(nn::init::calculate_gain("tanh") == Approx(5.0 / 3));
  CHECK(nn::init::calculate_gain("relu") == Approx(std::sqrt(2.0)));
  CHECK(nn::init::calculate_gain("leaky_relu") == Approx(std::sqrt(2 / (1 + 0.01 * 0.01))));
  CHECK(nn::init::calculate_gain("leaky_relu", std::sqrt(5.0)) == Approx(std::sqrt(1 / 3.0)));
  CHECK(nn::init::calculate_gain("selu") == Approx(0.75));
  CHECK_THROWS_WITH_AS(nn::init::calculate_gain("swish"), Contains("calculate_gain: unsupported nonlinearity \"swish\""), ValueError);
  const auto [in, out] = nn::init::calculate_fan_in_and_fan_out(empty({16, 8, 3, 5}));
  CHECK(in == 8 * 15);
  CHECK(out == 16 * 15);
  CHECK_THROWS_WITH_AS(nn::init::calculate_fan_in_and_fan_out(empty({5})), Contains("at least 2 axes"), ValueError);
}

TEST_CASE("nn::init: uniform, normal, constant, xavier and kaiming draw their moments and bounds") {
  Generator gen(11);
  Tensor t = empty({500, 400}, f64);
  Moments m = moments(nn::init::uniform_(t, -2, 3, gen));
  CHECK(m.mean == Approx(0.5).epsilon(0.02));
  CHECK(m.sd == Approx(5 / std::sqrt(12.0)).epsilon(0.01));
  CHECK((m.lo >= -2 && m.hi <= 3));
  m = moments(nn::init::normal_(t, 1.5, 0.25, gen));
  CHECK(m.mean == Approx(1.5).epsilon(0.002));
  CHECK(m.sd == Approx(0.25).epsilon(0.01));
  CHECK(nn::init::constant_(t, 0.3).to_vector() == std::vector<double>(200000, 0.3));
  CHECK(nn::init::zeros_(t).to_vector() == std::vector<double>(200000, 0.0));
  CHECK(nn::init::ones_(t).to_vector() == std::vector<double>(200000, 1.0));

  const double xb = 2 * std::sqrt(6.0 / 900);
  m = moments(nn::init::xavier_uniform_(t, 2, gen));
  CHECK((m.lo >= -xb && m.hi <= xb));
  CHECK(m.sd == Approx(xb / std::sqrt(3.0)).epsilon(0.01));
  m = moments(nn::init::xavier_normal_(t, 1, gen));
  CHECK(m.sd == Approx(std::sqrt(2.0 / 900)).epsilon(0.01));
  CHECK(std::abs(m.mean) < 1e-3);

  // PyTorch's Linear default: kaiming_uniform_(a = √5) = U(±1/√fan_in).
  m = moments(nn::init::kaiming_uniform_(t, std::sqrt(5.0), "fan_in", "leaky_relu", gen));
  CHECK((m.lo >= -1 / std::sqrt(400.0) && m.hi <= 1 / std::sqrt(400.0)));
  CHECK(m.hi > 0.99 / std::sqrt(400.0));
  m = moments(nn::init::kaiming_uniform_(t, 0, "fan_out", "relu", gen));
  CHECK(m.hi <= std::sqrt(2.0) * std::sqrt(3 / 500.0));
  CHECK(m.sd == Approx(std::sqrt(2.0 / 500)).epsilon(0.01));
  m = moments(nn::init::kaiming_normal_(t, 0, "fan_in", "relu", gen));
  CHECK(m.sd == Approx(std::sqrt(2.0 / 400)).epsilon(0.01));
  m = moments(nn::init::kaiming_normal_(t, 0.2, "fan_out", "leaky_relu", gen));
  CHECK(m.sd == Approx(std::sqrt(2 / (1 + 0.04)) / std::sqrt(500.0)).epsilon(0.01));

  // A layer's weight handle is filled in place, without a graph.
  nn::Linear fc(30, 20, {}, gen);
  nn::init::zeros_(fc.bias());
  CHECK(fc.bias().to_vector() == std::vector<double>(20, 0.0));
  CHECK(fc.bias().requires_grad());
  CHECK(fc.bias().is_leaf());
}

TEST_CASE("nn::init: orthogonal_ gives orthonormal rows or columns, times the gain") {
  Generator gen(3);
  for (const Shape& s : {Shape{20, 50}, Shape{50, 20}, Shape{16, 4, 3, 3}, Shape{7, 7}}) {
    Tensor t = empty(s, f64);
    nn::init::orthogonal_(t, 2.0, gen);
    const std::int64_t rows = s[0], cols = t.numel() / rows;
    Tensor w = t.reshape({rows, cols});
    const bool wide = rows <= cols;
    Tensor g = wide ? matmul(w, w, {.trans_b = true}) : matmul(w, w, {.trans_a = true});
    const std::int64_t k = std::min(rows, cols);
    const auto v = g.to_vector();
    double worst = 0;
    for (std::int64_t i = 0; i < k; ++i) {
      for (std::int64_t j = 0; j < k; ++j) worst = std::max(worst, std::abs(v[std::size_t(i * k + j)] - (i == j ? 4.0 : 0.0)));
    }
    CAPTURE(s);
    CHECK(worst < 1e-5);
  }
  Tensor a = empty({5, 5}), b = empty({5, 5});
  Generator g1(1), g2(1);
  CHECK(nn::init::orthogonal_(a, 1, g1).to_vector() == nn::init::orthogonal_(b, 1, g2).to_vector());
  CHECK_THROWS_WITH_AS(nn::init::orthogonal_(empty({4})), Contains("orthogonal_: expected at least 2 axes"), ValueError);
}

TEST_CASE("nn::init: trunc_normal_ stays within its bounds with the truncated moments") {
  Generator gen(5);
  Tensor t = empty({400, 500}, f64);
  Moments m = moments(nn::init::trunc_normal_(t, 0, 1, -2, 2, gen));
  CHECK((m.lo >= -2 && m.hi <= 2));
  CHECK(std::abs(m.mean) < 0.01);
  // The variance of N(0, 1) truncated to [−2, 2]: 1 − 2·2·φ(2)/(Φ(2) − Φ(−2)).
  const double phi2 = std::exp(-2.0) / std::sqrt(2 * M_PI), mass = std::erf(2 / std::sqrt(2.0));
  CHECK(m.sd == Approx(std::sqrt(1 - 4 * phi2 / mass)).epsilon(0.01));
  m = moments(nn::init::trunc_normal_(t, 0.5, 0.02, 0.45, 0.6, gen));
  CHECK((m.lo >= 0.45 && m.hi <= 0.6));
}

TEST_CASE("nn::init: bad arguments are refused naming the function") {
  Tensor t = empty({4, 3});
  CHECK_THROWS_WITH_AS(nn::init::kaiming_uniform_(t, 0, "fan_avg"), Contains("kaiming_uniform_: mode must be \"fan_in\" or \"fan_out\""),
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::init::kaiming_normal_(t, 0, "fan_in", "swish"), Contains("unsupported nonlinearity \"swish\""), ValueError);
  CHECK_THROWS_WITH_AS(nn::init::trunc_normal_(t, 0, 1, 2, -2), Contains("trunc_normal_: expected a < b"), ValueError);
  CHECK_THROWS_WITH_AS(nn::init::trunc_normal_(t, 0, -1), Contains("trunc_normal_: std must be > 0"), ValueError);
  CHECK_THROWS_WITH_AS(nn::init::normal_(t, 0, -1), Contains("normal_: std must be >= 0"), ValueError);
  CHECK_THROWS_WITH_AS(nn::init::uniform_(t, 1, 0), Contains("uniform_: expected a <= b"), ValueError);
  CHECK_THROWS_WITH_AS(nn::init::zeros_(ones({3}, i64)), Contains("constant_: tensor is int64"), ValueError);
  CHECK_THROWS_WITH_AS(nn::init::xavier_uniform_(empty({3})), Contains("at least 2 axes"), ValueError);
}
