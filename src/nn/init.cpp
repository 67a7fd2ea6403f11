// src/nn/init.cpp — torch.nn.init's initializers (nabla/nn_init.hpp).
#include "nabla/nn_init.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "nabla/autograd.hpp"
#include "nabla/error.hpp"

namespace nabla::nn::init {

namespace {

// Copies `values` (as doubles) into t without recording a graph.
Tensor fill_from(Tensor& t, const std::vector<double>& values) {
  const Tensor v = from_vector(std::span<const double>(values), t.shape(), t.dtype());
  NoGradGuard no_grad;
  t.copy_(v);
  return t;
}

void check_floating_target(const char* fn, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("nn::init::{}: the tensor is undefined", fn));
  if (!is_floating(t.dtype())) {
    throw ValueError(fmt::format("nn::init::{}: tensor is {} {}; expected float32 or float64", fn, t.dtype(), t.shape()));
  }
}

std::int64_t fan(const char* fn, const Tensor& t, std::string_view mode) {
  if (mode != "fan_in" && mode != "fan_out") {
    throw ValueError(fmt::format("nn::init::{}: mode must be \"fan_in\" or \"fan_out\", got \"{}\"", fn, mode));
  }
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? in : out;
}

}  // namespace

double calculate_gain(std::string_view nonlinearity, std::optional<double> param) {
  static constexpr std::string_view kLinear[] = {"linear",           "conv1d",           "conv2d",          "conv3d",
                                                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"};
  for (std::string_view n : kLinear) {
    if (nonlinearity == n) return 1;
  }
  if (nonlinearity == "tanh") return 5.0 / 3;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double slope = param.value_or(0.01);
    if (!std::isfinite(slope)) throw ValueError(fmt::format("calculate_gain: negative_slope {} is not a number", slope));
    return std::sqrt(2.0 / (1 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4;
  throw ValueError(fmt::format(
      "calculate_gain: unsupported nonlinearity \"{}\"; expected linear, conv1d, conv2d, conv3d, conv_transpose1d, "
      "conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu or selu",
      nonlinearity));
}

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  if (!t.defined() || t.dim() < 2) {
    throw ValueError(fmt::format("nn::init: fan in and fan out need a tensor of at least 2 axes, got {}",
                                 t.defined() ? to_string(t.shape()) : std::string("an undefined tensor")));
  }
  std::int64_t receptive = 1;
  for (int d = 2; d < t.dim(); ++d) receptive *= t.shape()[d];
  return {t.shape()[1] * receptive, t.shape()[0] * receptive};
}

Tensor uniform_(Tensor t, double a, double b, Generator& gen) {
  check_floating_target("uniform_", t);
  if (!(a <= b)) throw ValueError(fmt::format("nn::init::uniform_: expected a <= b, got a = {}, b = {}", a, b));
  const Tensor v = uniform(t.shape(), a, b, t.dtype(), gen);
  NoGradGuard no_grad;
  t.copy_(v);
  return t;
}

Tensor normal_(Tensor t, double mean, double std, Generator& gen) {
  check_floating_target("normal_", t);
  if (!(std >= 0)) throw ValueError(fmt::format("nn::init::normal_: std must be >= 0, got {}", std));
  const Tensor v = randn(t.shape(), t.dtype(), gen, mean, std);
  NoGradGuard no_grad;
  t.copy_(v);
  return t;
}

Tensor constant_(Tensor t, double value) {
  check_floating_target("constant_", t);
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}
Tensor zeros_(Tensor t) { return constant_(std::move(t), 0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1); }

Tensor xavier_uniform_(Tensor t, double gain, Generator& gen) {
  check_floating_target("xavier_uniform_", t);
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double r = gain * std::sqrt(6.0 / double(in + out));
  return uniform_(std::move(t), -r, r, gen);
}

Tensor xavier_normal_(Tensor t, double gain, Generator& gen) {
  check_floating_target("xavier_normal_", t);
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(std::move(t), 0, gain * std::sqrt(2.0 / double(in + out)), gen);
}

Tensor kaiming_uniform_(Tensor t, double a, std::string_view mode, std::string_view nonlinearity, Generator& gen) {
  check_floating_target("kaiming_uniform_", t);
  const std::int64_t f = fan("kaiming_uniform_", t, mode);
  const double r = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / double(f));
  return uniform_(std::move(t), -r, r, gen);
}

Tensor kaiming_normal_(Tensor t, double a, std::string_view mode, std::string_view nonlinearity, Generator& gen) {
  check_floating_target("kaiming_normal_", t);
  const std::int64_t f = fan("kaiming_normal_", t, mode);
  return normal_(std::move(t), 0, calculate_gain(nonlinearity, a) / std::sqrt(double(f)), gen);
}

Tensor orthogonal_(Tensor t, double gain, Generator& gen) {
  check_floating_target("orthogonal_", t);
  if (t.dim() < 2) throw ValueError(fmt::format("nn::init::orthogonal_: expected at least 2 axes, got {}", t.shape()));
  const std::int64_t rows = t.shape()[0];
  const std::int64_t cols = rows == 0 ? 0 : t.numel() / rows;
  if (t.numel() == 0) return t;
  // Orthonormalize the k = min(rows, cols) vectors of length n = max(rows, cols) of a N(0, 1) matrix
  // (Gram–Schmidt, twice for accuracy): the Q of its QR factorization with R's diagonal positive.
  const std::int64_t k = std::min(rows, cols), n = std::max(rows, cols);
  std::vector<double> q(std::size_t(k * n));
  std::normal_distribution<double> normal(0, 1);
  for (double& v : q) v = normal(gen.engine());
  for (std::int64_t j = 0; j < k; ++j) {
    double* qj = q.data() + j * n;
    for (int pass = 0; pass < 2; ++pass) {
      for (std::int64_t i = 0; i < j; ++i) {
        const double* qi = q.data() + i * n;
        double dot = 0;
        for (std::int64_t e = 0; e < n; ++e) dot += qi[e] * qj[e];
        for (std::int64_t e = 0; e < n; ++e) qj[e] -= dot * qi[e];
      }
    }
    double norm = 0;
    for (std::int64_t e = 0; e < n; ++e) norm += qj[e] * qj[e];
    norm = std::sqrt(norm);
    for (std::int64_t e = 0; e < n; ++e) qj[e] /= norm;
  }
  // rows ≤ cols: the k vectors are the rows; otherwise they are the columns.
  std::vector<double> out(std::size_t(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      out[std::size_t(r * cols + c)] = gain * (rows <= cols ? q[std::size_t(r * n + c)] : q[std::size_t(c * n + r)]);
    }
  }
  return fill_from(t, out);
}

Tensor trunc_normal_(Tensor t, double mean, double std, double a, double b, Generator& gen) {
  check_floating_target("trunc_normal_", t);
  if (!(std > 0) || !std::isfinite(std)) throw ValueError(fmt::format("nn::init::trunc_normal_: std must be > 0, got {}", std));
  if (!(a < b)) throw ValueError(fmt::format("nn::init::trunc_normal_: expected a < b, got a = {}, b = {}", a, b));
  // Redrawing needs (a, b) to hold some of the mass; PyTorch's inverse-CDF method degrades there too.
  if ((a - mean) / std > 8 || (b - mean) / std < -8) {
    throw ValueError(fmt::format("nn::init::trunc_normal_: [{}, {}] lies more than 8 std from the mean {}", a, b, mean));
  }
  std::normal_distribution<double> normal(mean, std);
  std::vector<double> values(std::size_t(t.numel()));
  for (double& v : values) {
    do v = normal(gen.engine());
    while (v < a || v > b);
  }
  return fill_from(t, values);
}

}  // namespace nabla::nn::init
