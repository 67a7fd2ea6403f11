// ops/normalization.cpp — batch, layer and group normalization (torch.nn.functional's batch_norm,
// layer_norm, group_norm), composed of the differentiable ops, so every order of gradient is
// theirs. Each normalizes x over some axes to x̂ = (x − μ) / √(σ² + ε) with the biased variance
// σ², then applies an optional affine map y = γ x̂ + β (Ioffe & Szegedy 2015; Ba et al. 2016;
// Wu & He 2018).
#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {

namespace {

// x̂ over `axes` (kept as size 1): (x − mean) · (var + eps)^−½; also the batch mean and biased
// variance when asked for.
Tensor normalize(const Tensor& x, const std::vector<int>& axes, double eps, Tensor* mean_out = nullptr,
                 Tensor* var_out = nullptr) {
  const Tensor m = mean(x, axes, true);
  const Tensor d = x - m;
  const Tensor v = mean(d * d, axes, true);
  if (mean_out) *mean_out = m;
  if (var_out) *var_out = v;
  return d * rsqrt(v + eps);
}

// [C] → [1, C, 1, …] for an input of rank `rank`.
Tensor per_channel(const Tensor& t, int rank) {
  Shape s{1, t.numel()};
  for (int k = 2; k < rank; ++k) s.push_back(1);
  return t.reshape(s);
}

void check_vector(std::string_view op, std::string_view what, const Tensor& t, std::int64_t n, const Tensor& x) {
  if (!t.defined()) return;
  if (t.shape() != Shape{n} || t.dtype() != x.dtype()) {
    throw ShapeError(fmt::format("{}: {} is {} {}; expected {} [{}] for input {}", op, what, t.dtype(), t.shape(), x.dtype(),
                                 n, x.shape()));
  }
}

// Training-mode batch norm with γ and β, fused (nabla::kernels::batch_norm_forward): outputs y and
// the batch mean μ and biased variance σ² ([C]; batch_norm reads them detached, for the running
// statistics). The plain backward is one kernel; under create_graph it is written with the
// differentiable ops, from μ and σ² recomputed from x:
//   dβ = Σ dy,  dγ = Σ dy x̂,  dx = r (g − mean(g) − x̂ mean(g x̂)) with g = γ dy, x̂ = (x − μ) r,
//   r = (σ² + ε)^−½.
struct BatchNormTraining {
  static constexpr std::string_view name = "batch_norm";
  static constexpr bool differentiable_backward = true;
  double eps;

  std::array<Tensor, 3> forward(Context& ctx, const Tensor& x, const Tensor& weight, const Tensor& bias) const {
    Tensor mean, var;
    Tensor y = kernels::batch_norm_forward(x, weight, bias, eps, mean, var);
    ctx.save(x, weight, mean, var);
    return {y, mean, var};
  }

  Grads backward(Context& ctx, const Grads& gys) const {
    auto [x, weight, m, v] = ctx.saved<4>();
    const Tensor& gy = gys[0];
    if (gys[1].defined() || gys[2].defined()) {  // batch_norm detaches them: only the running statistics read them
      throw GraphError("batch_norm: a gradient reached the batch mean or variance, which batch_norm uses detached");
    }
    if (!grad_enabled() && gy.defined()) {
      Tensor dx, dw, db;
      kernels::batch_norm_backward(x, weight, m, v, eps, gy, dx, dw, db);
      return {dx, dw, db};
    }
    std::vector<int> axes{0};
    for (int k = 2; k < x.dim(); ++k) axes.push_back(k);
    const Tensor d = x - nabla::mean(x, axes, true);
    const Tensor rs = rsqrt(nabla::mean(d * d, axes, true) + eps);
    Tensor gx, gw, gb;
    if (gy.defined()) {
      const Tensor xhat = d * rs;
      const Tensor g = gy * per_channel(weight, x.dim());
      gx = rs * (g - nabla::mean(g, axes, true) - xhat * nabla::mean(g * xhat, axes, true));
      gw = sum(gy * xhat, axes);
      gb = sum(gy, axes);
    } else {
      gx = zeros_like(x);
      gw = zeros_like(weight);
      gb = zeros_like(weight);
    }
    return {gx, gw, gb};
  }
};

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_floating("batch_norm", x);
  if (x.dim() < 2) throw ShapeError(fmt::format("batch_norm: expected input [N, C, …], got {}", x.shape()));
  const std::int64_t c = x.shape()[1];
  check_vector("batch_norm", "running_mean", running_mean, c, x);
  check_vector("batch_norm", "running_var", running_var, c, x);
  check_vector("batch_norm", "weight", weight, c, x);
  check_vector("batch_norm", "bias", bias, c, x);
  if (running_mean.defined() != running_var.defined()) {
    throw ValueError("batch_norm: running_mean and running_var must be given together");
  }
  if (!(eps > 0) || !(momentum >= 0 && momentum <= 1)) {
    throw ValueError(fmt::format("batch_norm: need eps > 0 and momentum in [0, 1], got {} and {}", eps, momentum));
  }
  std::vector<int> axes{0};
  for (int k = 2; k < x.dim(); ++k) axes.push_back(k);
  Tensor xhat;
  if (training || !running_mean.defined()) {
    std::int64_t n = x.shape()[0];  // values per channel (not numel / c: C may be 0, as PyTorch counts)
    for (int k = 2; k < x.dim(); ++k) n *= x.shape()[k];
    if (n <= 1) {
      throw ValueError(fmt::format("batch_norm: expected more than 1 value per channel when training, got input {}",
                                   x.shape()));
    }
    Tensor m, v;
    if (weight.defined() && bias.defined()) {  // the affine case, fused
      auto [y, mean_c, var_c] = nabla::apply(BatchNormTraining{.eps = eps}, x, weight, bias);
      m = mean_c.detach();
      v = var_c.detach();
      xhat = y;
    } else {
      xhat = normalize(x, axes, eps, &m, &v);
      m = m.detach().reshape({c});
      v = v.detach().reshape({c});
    }
    if (training && running_mean.defined()) {  // (1 − momentum)·running + momentum·batch, unbiased variance
      NoGradGuard no_grad;
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1 - momentum).add_(m, momentum);
      rv.mul_(1 - momentum).add_(v, momentum * double(n) / double(n - 1));
    }
    if (weight.defined() && bias.defined()) return xhat;
  } else {
    xhat = (x - per_channel(running_mean, x.dim())) * per_channel(rsqrt(running_var + eps), x.dim());
  }
  if (weight.defined()) xhat = xhat * per_channel(weight, x.dim());
  if (bias.defined()) xhat = xhat + per_channel(bias, x.dim());
  return xhat;
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  check_floating("layer_norm", x);
  const int k = normalized_shape.rank();
  bool fits = k >= 1 && k <= x.dim();
  for (int i = 0; fits && i < k; ++i) fits = x.shape()[x.dim() - k + i] == normalized_shape[i];
  if (!fits) {
    throw ShapeError(fmt::format("layer_norm: input {} does not end in the normalized shape {}", x.shape(), normalized_shape));
  }
  for (const auto& [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (t->defined() && (t->shape() != normalized_shape || t->dtype() != x.dtype())) {
      throw ShapeError(fmt::format("layer_norm: {} is {} {}; expected {} {}", what, t->dtype(), t->shape(), x.dtype(),
                                   normalized_shape));
    }
  }
  if (!(eps > 0)) throw ValueError(fmt::format("layer_norm: need eps > 0, got {}", eps));
  if (normalized_shape.numel() == 0) {
    throw ValueError(fmt::format("layer_norm: the normalized shape {} holds no elements", normalized_shape));
  }
  std::vector<int> axes;
  for (int i = x.dim() - k; i < x.dim(); ++i) axes.push_back(i);
  Tensor y = normalize(x, axes, eps);
  if (weight.defined()) y = y * weight;  // broadcast from the right: the trailing axes
  if (bias.defined()) y = y + bias;
  return y;
}

Tensor group_norm(const Tensor& x, std::int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  check_floating("group_norm", x);
  if (x.dim() < 2) throw ShapeError(fmt::format("group_norm: expected input [N, C, …], got {}", x.shape()));
  const std::int64_t c = x.shape()[1];
  if (groups < 1 || c % groups != 0) {
    throw ValueError(fmt::format("group_norm: {} channels of input {} do not split into {} groups", c, x.shape(), groups));
  }
  check_vector("group_norm", "weight", weight, c, x);
  check_vector("group_norm", "bias", bias, c, x);
  if (!(eps > 0)) throw ValueError(fmt::format("group_norm: need eps > 0, got {}", eps));
  std::int64_t per_group = c / groups;  // channels, then elements, per group of one sample
  for (int k = 2; k < x.dim(); ++k) {
    if (__builtin_mul_overflow(per_group, x.shape()[k], &per_group)) {
      throw ShapeError(fmt::format("group_norm: a group of input {} holds more than 2^63 elements", x.shape()));
    }
  }
  if (per_group == 0) {
    throw ValueError(fmt::format("group_norm: input {} has no elements in a group of {} channels", x.shape(), c / groups));
  }
  Tensor y = normalize(x.reshape({x.shape()[0], groups, per_group}), {2}, eps).reshape(x.shape());
  if (weight.defined()) y = y * per_channel(weight, x.dim());
  if (bias.defined()) y = y + per_channel(bias, x.dim());
  return y;
}

}  // namespace nabla
