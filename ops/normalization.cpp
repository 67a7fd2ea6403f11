// ops/normalization.cpp — batch, layer and group normalization (torch.nn.functional's batch_norm,
// layer_norm, group_norm), composed of the differentiable ops, so every order of gradient is
// theirs. Each normalizes x over some axes to x̂ = (x − μ) / √(σ² + ε) with the biased variance
// σ², then applies an optional affine map y = γ x̂ + β (Ioffe & Szegedy 2015; Ba et al. 2016;
// Wu & He 2018).
#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/autocast.hpp"
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

// `want`: the dtype the op computes in (x's own, or float32 for a bf16 x under autocast).
void check_vector(std::string_view op, std::string_view what, const Tensor& t, std::int64_t n, const Tensor& x, Dtype want) {
  if (!t.defined()) return;
  if (t.shape() != Shape{n} || t.dtype() != want) {
    throw ShapeError(fmt::format("{}: {} is {} {}; expected {} [{}] for input {}", op, what, t.dtype(), t.shape(), want,
                                 n, x.shape()));
  }
}

// The axes batch norm reduces over: all but the channels (axis 1).
std::vector<int> batch_norm_axes(int rank) {
  std::vector<int> axes{0};
  for (int k = 2; k < rank; ++k) axes.push_back(k);
  return axes;
}

// Training-mode batch norm's backward op (PyTorch's native_batch_norm_backward): one kernel
// (nabla::kernels::batch_norm_backward), from the forward's μ and σ² (constants, read by the kernel
// only):
//   dβ = Σ dy,  dγ = Σ dy x̂,  dx = r (g − mean(g) − x̂ mean(g x̂)) with g = γ dy, x̂ = (x − μ) r,
//   r = (σ² + ε)^−½, sums and means over the N values of each channel.
// Its own derivative, for gradients A of dx, B of dγ, Cb of dβ, with x̂ and r recomputed from x in
// recorded ops and Q(t) = r (t − mean(t) − x̂ mean(t x̂)), dx for the gradient t and γ = 1 (this op):
//   ∂/∂dy = γ Q(A) + B x̂ + Cb,   ∂/∂γ = Σ A Q(dy),
//   ∂/∂x  = B Q(dy) − γ r/N (x̂ Σ A Q(dy) + Q(A) Σ dy x̂ + Q(dy) Σ A x̂).
struct BatchNormGrad {
  static constexpr std::string_view name = "batch_norm_backward";
  static constexpr bool differentiable_backward = true;
  double eps;
  Tensor mean, var;
  std::array<Tensor, 3> forward(Context& ctx, const Tensor& gy, const Tensor& x, const Tensor& weight) const {
    ctx.save(gy, x, weight);
    Tensor dx, dw, db;
    kernels::batch_norm_backward(x, weight, mean, var, eps, gy, dx, dw, db);
    return {dx, dw, db};
  }
  Grads backward(Context& ctx, const Grads& gg) const {
    auto [gy, x_saved, weight] = ctx.saved<3>();
    // A bf16 x (autocast's fused batch norm) in float32 here, its gradient rounded back at the end.
    const Tensor x = x_saved.dtype() == Dtype::bf16 ? x_saved.to(f32) : x_saved;
    const std::vector<int> axes = batch_norm_axes(x.dim());
    const Tensor d = x - nabla::mean(x, axes, true);
    const Tensor r = rsqrt(nabla::mean(d * d, axes, true) + eps);
    const Tensor xhat = d * r;
    const Tensor gamma = per_channel(weight, x.dim());
    const Tensor ones = ones_like(weight);
    auto q = [&](const Tensor& t) { return nabla::apply(BatchNormGrad{eps, mean, var}, t, x, ones)[0]; };
    const double n = double(x.numel()) / double(weight.numel());
    const Tensor a = gg[0].defined() && gg[0].dtype() != x.dtype() ? gg[0].to(x.dtype()) : gg[0];  // a bf16 dx's gradient
    Tensor g_gy, g_x, g_w;
    auto add = [](Tensor& to, const Tensor& t) { to = to.defined() ? to + t : t; };
    if (a.defined()) {
      const Tensor qa = q(a), qd = q(gy);
      add(g_gy, gamma * qa);
      g_w = sum(a * qd, axes);
      add(g_x, -(gamma * r * (1.0 / n)) * (xhat * sum(a * qd, axes, true) + qa * sum(gy * xhat, axes, true) +
                                           qd * sum(a * xhat, axes, true)));
    }
    if (gg[1].defined()) {
      add(g_gy, per_channel(gg[1], x.dim()) * xhat);
      add(g_x, per_channel(gg[1], x.dim()) * q(gy));
    }
    if (gg[2].defined()) add(g_gy, per_channel(gg[2], x.dim()) + zeros_like(gy));
    if (g_x.defined() && x_saved.dtype() != x.dtype()) g_x = g_x.to(x_saved.dtype());
    return {g_gy, g_x, g_w};
  }
};

// Training-mode batch norm with γ and β, fused (nabla::kernels::batch_norm_forward): outputs y and
// the batch mean μ and biased variance σ² ([C]; batch_norm reads them detached, for the running
// statistics). Its backward is the op above.
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
    if (!gy.defined()) return {zeros_like(x), zeros_like(weight), zeros_like(weight)};
    auto [gx, gw, gb] = nabla::apply(BatchNormGrad{eps, m.detach(), v.detach()}, gy, x, weight);
    return {gx, gw, gb};
  }
};

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  // On autocast's float32 list. A bf16 x in training with γ and β goes to the fused kernel as it is
  // (it widens each channel and rounds dx back: the bits of x.to(f32) and the float32 op, without the
  // float32 copies of x and dx); every other case casts once, here.
  const bool mixed = autocast_enabled() && x.defined() && x.dtype() == Dtype::bf16;
  if (mixed && !((training || !running_mean.defined()) && weight.defined() && bias.defined() &&
                 weight.dtype() == Dtype::f32 && bias.dtype() == Dtype::f32)) {
    return batch_norm(x.to(f32), running_mean, running_var, weight, bias, training, momentum, eps);
  }
  if (mixed) {
    check_floating_or_bf16("batch_norm", x);
  } else {
    check_floating("batch_norm", x);
  }
  const Dtype want = mixed ? Dtype::f32 : x.dtype();
  if (x.dim() < 2) throw ShapeError(fmt::format("batch_norm: expected input [N, C, …], got {}", x.shape()));
  const std::int64_t c = x.shape()[1];
  check_vector("batch_norm", "running_mean", running_mean, c, x, want);
  check_vector("batch_norm", "running_var", running_var, c, x, want);
  check_vector("batch_norm", "weight", weight, c, x, want);
  check_vector("batch_norm", "bias", bias, c, x, want);
  if (running_mean.defined() != running_var.defined()) {
    throw ValueError("batch_norm: running_mean and running_var must be given together");
  }
  if (!(eps > 0) || !(momentum >= 0 && momentum <= 1)) {
    throw ValueError(fmt::format("batch_norm: need eps > 0 and momentum in [0, 1], got {} and {}", eps, momentum));
  }
  const std::vector<int> axes = batch_norm_axes(x.dim());
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
      const AutocastGuard own_dtypes(bf16, false);  // a bf16 x stays bf16 (above)
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
  if (autocast_enabled() && x.defined() && x.dtype() == Dtype::bf16) return layer_norm(x.to(f32), normalized_shape, weight, bias, eps);
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
  if (autocast_enabled() && x.defined() && x.dtype() == Dtype::bf16) return group_norm(x.to(f32), groups, weight, bias, eps);
  check_floating("group_norm", x);
  if (x.dim() < 2) throw ShapeError(fmt::format("group_norm: expected input [N, C, …], got {}", x.shape()));
  const std::int64_t c = x.shape()[1];
  if (groups < 1 || c % groups != 0) {
    throw ValueError(fmt::format("group_norm: {} channels of input {} do not split into {} groups", c, x.shape(), groups));
  }
  check_vector("group_norm", "weight", weight, c, x, x.dtype());
  check_vector("group_norm", "bias", bias, c, x, x.dtype());
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
