// src/nn/optimizers.cpp — Adam, AdamW, RMSprop and Adagrad, as torch.optim's (nabla/optim.hpp).
// Each update is one loop over a parameter's memory, in its own float type.
#include <cmath>

#include <fmt/format.h>

#include "nabla/optim.hpp"

namespace nabla::optim {

namespace {

void check_beta(std::string_view who, const char* what, double b) {
  if (!(b >= 0 && b < 1)) throw ValueError(fmt::format("{}: {} must be in [0, 1), got {}", who, what, b));
}
void check_eps(std::string_view who, double eps) {
  if (!(eps >= 0) || !std::isfinite(eps)) throw ValueError(fmt::format("{}: eps must be a finite number ≥ 0, got {}", who, eps));
}

/// Runs f(T*, const T*, n) on parameter w and its gradient in w's float type.
template <class F>
void with_float(Tensor& w, const Tensor& g, F f) {
  if (w.dtype() == f32) f(w.mutable_data<float>(), g.data<float>(), w.numel());
  else f(w.mutable_data<double>(), g.data<double>(), w.numel());
}

template <class T>
T* data_of(Tensor& t) {
  return t.mutable_data<T>();
}

}  // namespace

// ---- Adam, AdamW ----------------------------------------------------------------------------------------

Adam::Adam(std::vector<nn::Param> params, AdamOptions opts) : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions opts) : Adam("Adam", std::move(groups), opts, false) {}

Adam::Adam(std::string_view who, std::vector<ParamGroup> groups, AdamOptions opts, bool decoupled)
    : Optimizer(who, std::move(groups), opts.lr, opts.weight_decay), opts_(opts), decoupled_(decoupled) {
  check_beta(who, "beta1", opts.beta1);
  check_beta(who, "beta2", opts.beta2);
  check_eps(who, opts.eps);
  add_buffer("exp_avg");
  add_buffer("exp_avg_sq");
}

void Adam::step() {
  check_step();
  count_step();
  const double t = double(steps());
  const double c1 = 1 - std::pow(opts_.beta1, t), c2 = 1 - std::pow(opts_.beta2, t);
  const std::vector<nn::Param>& ps = params();
  for (std::size_t k = 0; k < ps.size(); ++k) {
    Tensor w = ps[k].tensor;
    const Tensor g = w.grad();
    if (!g.defined()) continue;
    const double lr = group_lr(group_of(k)), wd = ps[k].decay ? group_weight_decay(group_of(k)) : 0.0;
    with_float(w, g, [&](auto* pw, const auto* pg, std::int64_t n) {
      using T = std::remove_cv_t<std::remove_pointer_t<decltype(pw)>>;
      T* m = data_of<T>(buffer(0, k));
      T* v = data_of<T>(buffer(1, k));
      const T b1 = T(opts_.beta1), b2 = T(opts_.beta2), eps = T(opts_.eps), step = T(lr / c1), root_c2 = T(std::sqrt(c2));
      const T l2 = decoupled_ ? T(0) : T(wd), keep = decoupled_ ? T(1 - lr * wd) : T(1);
      for (std::int64_t i = 0; i < n; ++i) {
        const T gi = pg[i] + l2 * pw[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        // w − η m̂ / (√v̂ + ε), with m̂ = m / c1 and √v̂ = √v / √c2 (PyTorch's arrangement).
        pw[i] = keep * pw[i] - step * m[i] / (std::sqrt(v[i]) / root_c2 + eps);
      }
    });
  }
}

AdamW::AdamW(std::vector<nn::Param> params, AdamWOptions opts)
    : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions opts)
    : Adam("AdamW", std::move(groups), {opts.lr, opts.beta1, opts.beta2, opts.eps, opts.weight_decay}, true) {}

// ---- RMSprop ------------------------------------------------------------------------------------------

Rmsprop::Rmsprop(std::vector<nn::Param> params, RmspropOptions opts)
    : Rmsprop(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
Rmsprop::Rmsprop(std::vector<ParamGroup> groups, RmspropOptions opts)
    : Optimizer("RMSprop", std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
  check_beta(who_, "alpha", opts.alpha);
  check_beta(who_, "momentum", opts.momentum);
  check_eps(who_, opts.eps);
  add_buffer("square_avg");
  if (opts.momentum > 0) add_buffer("momentum_buffer");
}

void Rmsprop::step() {
  check_step();
  count_step();
  const std::vector<nn::Param>& ps = params();
  for (std::size_t k = 0; k < ps.size(); ++k) {
    Tensor w = ps[k].tensor;
    const Tensor g = w.grad();
    if (!g.defined()) continue;
    const double lr = group_lr(group_of(k)), wd = ps[k].decay ? group_weight_decay(group_of(k)) : 0.0;
    with_float(w, g, [&](auto* pw, const auto* pg, std::int64_t n) {
      using T = std::remove_cv_t<std::remove_pointer_t<decltype(pw)>>;
      T* v = data_of<T>(buffer(0, k));
      T* b = opts_.momentum > 0 ? data_of<T>(buffer(1, k)) : nullptr;
      const T alpha = T(opts_.alpha), eps = T(opts_.eps), eta = T(lr), l2 = T(wd), mu = T(opts_.momentum);
      for (std::int64_t i = 0; i < n; ++i) {
        const T gi = pg[i] + l2 * pw[i];
        v[i] = alpha * v[i] + (1 - alpha) * gi * gi;
        const T scaled = gi / (std::sqrt(v[i]) + eps);
        if (b != nullptr) {
          b[i] = mu * b[i] + scaled;
          pw[i] -= eta * b[i];
        } else {
          pw[i] -= eta * scaled;
        }
      }
    });
  }
}

// ---- Adagrad ------------------------------------------------------------------------------------------

Adagrad::Adagrad(std::vector<nn::Param> params, AdagradOptions opts)
    : Adagrad(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions opts)
    : Optimizer("Adagrad", std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
  check_eps(who_, opts.eps);
  if (!(opts.lr_decay >= 0) || !std::isfinite(opts.lr_decay)) {
    throw ValueError(fmt::format("Adagrad: lr_decay must be a finite number ≥ 0, got {}", opts.lr_decay));
  }
  if (!(opts.initial_accumulator_value >= 0) || !std::isfinite(opts.initial_accumulator_value)) {
    throw ValueError(fmt::format("Adagrad: initial_accumulator_value must be a finite number ≥ 0, got {}",
                                 opts.initial_accumulator_value));
  }
  add_buffer("sum", opts.initial_accumulator_value);
}

void Adagrad::step() {
  check_step();
  count_step();
  const double t = double(steps());
  const std::vector<nn::Param>& ps = params();
  for (std::size_t k = 0; k < ps.size(); ++k) {
    Tensor w = ps[k].tensor;
    const Tensor g = w.grad();
    if (!g.defined()) continue;
    const double lr = group_lr(group_of(k)) / (1 + (t - 1) * opts_.lr_decay);
    const double wd = ps[k].decay ? group_weight_decay(group_of(k)) : 0.0;
    with_float(w, g, [&](auto* pw, const auto* pg, std::int64_t n) {
      using T = std::remove_cv_t<std::remove_pointer_t<decltype(pw)>>;
      T* s = data_of<T>(buffer(0, k));
      const T eps = T(opts_.eps), eta = T(lr), l2 = T(wd);
      for (std::int64_t i = 0; i < n; ++i) {
        const T gi = pg[i] + l2 * pw[i];
        s[i] += gi * gi;
        pw[i] -= eta * gi / (std::sqrt(s[i]) + eps);
      }
    });
  }
}

}  // namespace nabla::optim
