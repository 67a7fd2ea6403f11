// src/nn/modules_torch.cpp — the modules PyTorch users expect beside the book's (nabla/nn.hpp):
// Dropout and Dropout2d with their functional forms, Softmax/LogSoftmax(dim), ReLU6, Hardswish,
// Mish, GELU, SiLU, PReLU, Functional, and Module::zero_grad.
#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "nabla/autograd.hpp"
#include "nabla/error.hpp"
#include "nabla/nn.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

namespace {

void check_p(std::string_view who, double p) {
  if (!(p >= 0 && p <= 1)) throw ValueError(fmt::format("{}: dropout probability p must be in [0, 1], got {}", who, p));
}

// 1/(1 − p) with probability 1 − p, else 0: a uniform draw per element, kept when below 1 − p.
Tensor dropout_mask(const Shape& shape, Dtype dtype, double p, Generator& gen) {
  Tensor mask = uniform(shape, 0, 1, dtype, gen);
  const double keep = 1 - p;
  NoGradGuard no_grad;
  if (mask.dtype() == f32) {
    for (float* m = mask.mutable_data<float>(), *end = m + mask.numel(); m != end; ++m) *m = *m < keep ? float(1 / keep) : 0.0f;
  } else {
    for (double* m = mask.mutable_data<double>(), *end = m + mask.numel(); m != end; ++m) *m = *m < keep ? 1 / keep : 0.0;
  }
  return mask;
}

Tensor dropout_impl(std::string_view who, const Tensor& x, double p, bool training, Generator& gen) {
  check_p(who, p);
  check_floating(who, x);
  if (!training || p == 0) return x;
  return x * dropout_mask(x.shape(), x.dtype(), p, gen);
}

Tensor dropout2d_impl(std::string_view who, const Tensor& x, double p, bool training, Generator& gen) {
  check_p(who, p);
  check_floating(who, x);
  if (x.dim() != 3 && x.dim() != 4) {
    throw ShapeError(fmt::format("{}: input is {}; expected [N, C, H, W] (or [N, C, L], as PyTorch 2)", who, x.shape()));
  }
  if (!training || p == 0) return x;
  Shape s{x.shape()[0], x.shape()[1]};
  while (s.rank() < x.dim()) s.push_back(1);
  return x * dropout_mask(s, x.dtype(), p, gen);
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) { return dropout_impl("dropout", x, p, training, gen); }
Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen) {
  return dropout2d_impl("dropout2d", x, p, training, gen);
}

Tensor relu6(const Tensor& x) { return clamp(x, 0, 6); }
Tensor hardswish(const Tensor& x) { return x * clamp(x + 3.0, 0, 6) * (1.0 / 6); }
Tensor mish(const Tensor& x) { return x * tanh(softplus(x)); }

Tensor prelu(const Tensor& x, const Tensor& weight) {
  check_floating("prelu", x);
  if (!weight.defined() || weight.dim() != 1 || weight.numel() < 1) {
    throw ShapeError(fmt::format("prelu: weight must be 1-d with 1 or C entries, got {}",
                                 weight.defined() ? to_string(weight.shape()) : std::string("undefined")));
  }
  if (weight.dtype() != x.dtype()) {
    throw ValueError(fmt::format("prelu: input is {}, weight is {}; expected one dtype", x.dtype(), weight.dtype()));
  }
  Tensor w = weight;
  if (weight.numel() > 1) {
    if (x.dim() < 2 || x.shape()[1] != weight.numel()) {
      throw ShapeError(fmt::format("prelu: {} slopes need input [N, {}, ...], got {}", weight.numel(), weight.numel(), x.shape()));
    }
    Shape s{weight.numel()};
    for (int d = 2; d < x.dim(); ++d) s.push_back(1);
    w = weight.reshape(s);
  } else {
    w = weight.reshape({});
  }
  const Tensor pos = relu(x);
  return pos + w * (x - pos);  // max(0, x) + a·min(0, x)
}

namespace nn {

// ---- Dropout, Dropout2d --------------------------------------------------------------------------------

Dropout::Dropout(double p) : p_(p) { check_p("Dropout", p); }
Dropout::Dropout(double p, std::uint64_t seed) : p_(p), own_(std::make_unique<Generator>(seed)) { check_p("Dropout", p); }
Tensor Dropout::forward(const Tensor& x) { return dropout_impl(describe(), x, p_, is_training(), generator()); }
std::string Dropout::describe() const { return fmt::format("Dropout({})", p_); }

Dropout2d::Dropout2d(double p) : p_(p) { check_p("Dropout2d", p); }
Dropout2d::Dropout2d(double p, std::uint64_t seed) : p_(p), own_(std::make_unique<Generator>(seed)) {
  check_p("Dropout2d", p);
}
Tensor Dropout2d::forward(const Tensor& x) { return dropout2d_impl(describe(), x, p_, is_training(), generator()); }
std::string Dropout2d::describe() const { return fmt::format("Dropout2d({})", p_); }

// ---- activations -------------------------------------------------------------------------------------

Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }
std::string Softmax::describe() const { return fmt::format("Softmax(dim={})", dim_); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim_); }
std::string LogSoftmax::describe() const { return fmt::format("LogSoftmax(dim={})", dim_); }

Tensor ReLU6::forward(const Tensor& x) { return relu6(x); }
Tensor Hardswish::forward(const Tensor& x) { return hardswish(x); }
Tensor Mish::forward(const Tensor& x) { return mish(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }

GELU::GELU(std::string approximate) : approximate_(std::move(approximate)) {
  if (approximate_ != "none" && approximate_ != "tanh") {
    throw ValueError(fmt::format("GELU: approximate must be \"none\" or \"tanh\", got \"{}\"", approximate_));
  }
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_); }
std::string GELU::describe() const { return approximate_ == "none" ? "GELU" : fmt::format("GELU(approximate={})", approximate_); }

PReLU::PReLU(PReLUOptions opts) : num_(opts.num_parameters) {
  if (num_ < 1) throw ValueError(fmt::format("PReLU: num_parameters must be >= 1, got {}", num_));
  if (!is_floating(opts.dtype)) throw ValueError("PReLU: dtype must be float32 or float64");
  weight_ = register_parameter("weight", full({num_}, opts.init, opts.dtype), false);
}
Tensor PReLU::forward(const Tensor& x) { return prelu(x, weight_); }
std::string PReLU::describe() const { return fmt::format("PReLU(num_parameters={})", num_); }

Functional::Functional(std::function<Tensor(const Tensor&)> f, std::string name) : f_(std::move(f)), name_(std::move(name)) {
  if (!f_) throw ValueError(fmt::format("{}: the function is empty", name_));
}

// ---- Module::zero_grad ---------------------------------------------------------------------------------

void Module::zero_grad(bool set_to_none) {
  for (const Param& p : parameters()) {
    if (set_to_none) {
      p.tensor.zero_grad();
    } else if (const Tensor g = p.tensor.grad(); g.defined()) {
      p.tensor.set_grad(zeros_like(g));
    }
  }
}

}  // namespace nn
}  // namespace nabla
