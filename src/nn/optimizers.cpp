// src/nn/optimizers.cpp — SGD, Adam, AdamW, RMSprop and Adagrad, as torch.optim's (nabla/optim.hpp).
// Each is its options' checks and one update of one parameter: a loop over its memory in its own
// float type. The loop over the parameters is Optimizer::step's (src/nn/optimizer.cpp).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/optim.hpp"

namespace nabla::optim {

namespace {

void check_beta(std::string_view who, const char* what, double b) {
  if (!(b >= 0 && b < 1)) throw ValueError(fmt::format("{}: {} must be in [0, 1), got {}", who, what, b));
}
void check_eps(std::string_view who, double eps) {
  if (!(eps >= 0) || !std::isfinite(eps)) throw ValueError(fmt::format("{}: eps must be a finite number ≥ 0, got {}", who, eps));
}

template <class T>
T sign(T v) {
  return T((v > 0) - (v < 0));
}

}  // namespace

// ---- SGD ----------------------------------------------------------------------------------------------

SGD::SGD(std::vector<nn::Param> params, SGDOptions opts) : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions opts)
    : Optimizer("SGD", std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
  if (!(opts.momentum >= 0 && opts.momentum < 1)) {
    throw ValueError(fmt::format("SGD: momentum must be in [0, 1), got {}", opts.momentum));
  }
  if (!(opts.dampening >= 0 && opts.dampening <= 1)) {
    throw ValueError(fmt::format("SGD: dampening must be in [0, 1], got {}", opts.dampening));
  }
  if (opts.nesterov && opts.momentum == 0) throw ValueError("SGD: nesterov needs momentum > 0");
  if (opts.nesterov && opts.dampening != 0) throw ValueError("SGD: nesterov needs dampening 0 (as torch.optim.SGD)");
  if (!(opts.l2 >= 0) || !(opts.l1 >= 0) || !std::isfinite(opts.l2) || !std::isfinite(opts.l1)) {
    throw ValueError(fmt::format("SGD: l2 and l1 must be finite numbers ≥ 0, got {} and {}", opts.l2, opts.l1));
  }
  if ((opts.l2 > 0 || opts.l1 > 0) && opts.n <= 0) throw ValueError("SGD: l2 and l1 need n, the training-set size of the book's λ/n");
  if (opts.l2 > 0 && opts.weight_decay > 0) {
    throw ValueError(fmt::format("SGD: weight_decay {} and the book's l2 {} (over n) are the same term; give one", opts.weight_decay,
                                 opts.l2));
  }
  if (!(opts.clip_norm >= 0)) throw ValueError(fmt::format("SGD: clip_norm must be ≥ 0, got {}", opts.clip_norm));
  if (opts.l2 > 0) l2_ = opts.l2 / double(opts.n);
  if (opts.l1 > 0) l1_ = opts.l1 / double(opts.n);
  if (opts.momentum > 0) add_buffer("velocity");
}

void SGD::begin_step() {
  clip_ = 1.0;
  if (opts_.clip_norm > 0) {
    const double norm = grad_norm();
    if (norm > opts_.clip_norm) clip_ = opts_.clip_norm / norm;
  }
}

namespace {
// w ← w − η (c g + λ₂ w + λ₁ sgn w), λ₂ the group's weight decay plus, on weights, the book's l2/n;
// λ₁ the book's l1/n on weights; with momentum v ← μ v − η d (…), w ← w + v (Nesterov:
// w ← w + μ v − η(…)); d = 1 − dampening, 1 on the first step. The common case (no momentum, no
// L1) is the kernel's.
template <class T>
void sgd_update(const ParamUpdate<T>& u, const SGDOptions& o, double l2_book, double l1, double clip) {
  T* w = u.w;
  const T* g = u.g;
  T* v = o.momentum > 0 ? u.buffer[0] : nullptr;
  const T eta = T(u.lr), c = T(clip), l2 = T(u.weight_decay + (u.decay ? l2_book : 0.0)), l1t = T(u.decay ? l1 : 0.0), mu = T(o.momentum);
  if (v == nullptr && l1t == 0 && !o.maximize) return kernels::sgd_step(w, g, u.n, T(1) - eta * l2, eta * c);
  const T sg = o.maximize ? T(-1) : T(1);
  const T eta_d = eta * (u.step == 1 ? T(1) : T(1 - o.dampening));  // η itself without dampening
  for (std::int64_t i = 0; i < u.n; ++i) {
    const T gi = c * (sg * g[i]) + l2 * w[i] + l1t * sign(w[i]);
    if (v == nullptr) {
      w[i] -= eta * gi;
      continue;
    }
    v[i] = mu * v[i] - eta_d * gi;
    w[i] += o.nesterov ? mu * v[i] - eta * gi : v[i];
  }
}
}  // namespace

void SGD::update(const ParamUpdate<float>& u) { sgd_update(u, opts_, l2_, l1_, clip_); }
void SGD::update(const ParamUpdate<double>& u) { sgd_update(u, opts_, l2_, l1_, clip_); }

// ---- Adam, AdamW ----------------------------------------------------------------------------------------

Adam::Adam(std::vector<nn::Param> params, AdamOptions opts) : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions opts) : Adam("Adam", std::move(groups), opts, false) {}

Adam::Adam(std::string_view name, std::vector<ParamGroup> groups, AdamOptions opts, bool decoupled)
    : Optimizer(name, std::move(groups), opts.lr, opts.weight_decay), opts_(opts), decoupled_(decoupled) {
  check_beta(name, "betas[0]", opts.betas[0]);
  check_beta(name, "betas[1]", opts.betas[1]);
  check_eps(name, opts.eps);
  add_buffer("exp_avg");
  add_buffer("exp_avg_sq");
  if (opts.amsgrad) add_buffer("max_exp_avg_sq");
}

namespace {
template <class T>
void adam_update(const ParamUpdate<T>& u, const AdamOptions& o, bool decoupled) {
  const double t = double(u.step), lr = u.lr, wd = u.weight_decay;
  const double c1 = 1 - std::pow(o.betas[0], t), c2 = 1 - std::pow(o.betas[1], t);
  T* w = u.w;
  T* m = u.buffer[0];
  T* v = u.buffer[1];
  T* vmax = o.amsgrad ? u.buffer[2] : nullptr;
  const T sg = o.maximize ? T(-1) : T(1);
  const T b1 = T(o.betas[0]), b2 = T(o.betas[1]), eps = T(o.eps), step = T(lr / c1), root_c2 = T(std::sqrt(c2));
  const T l2 = decoupled ? T(0) : T(wd), keep = decoupled ? T(1 - lr * wd) : T(1);
  for (std::int64_t i = 0; i < u.n; ++i) {
    const T gi = sg * u.g[i] + l2 * w[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    // w − η m̂ / (√v̂ + ε), with m̂ = m / c1 and √v̂ = √v / √c2 (PyTorch's arrangement); with
    // amsgrad v̂ from the running maximum of v.
    T vi = v[i];
    if (vmax != nullptr) vi = vmax[i] = std::max(vmax[i], v[i]);
    w[i] = keep * w[i] - step * m[i] / (std::sqrt(vi) / root_c2 + eps);
  }
}
}  // namespace

void Adam::update(const ParamUpdate<float>& u) { adam_update(u, opts_, decoupled_); }
void Adam::update(const ParamUpdate<double>& u) { adam_update(u, opts_, decoupled_); }

AdamW::AdamW(std::vector<nn::Param> params, AdamWOptions opts)
    : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions opts)
    : Adam("AdamW", std::move(groups), {opts.lr, opts.betas, opts.eps, opts.weight_decay, opts.amsgrad, opts.maximize}, true) {}

// ---- RMSprop ------------------------------------------------------------------------------------------

RMSprop::RMSprop(std::vector<nn::Param> params, RMSpropOptions opts)
    : RMSprop(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions opts)
    : Optimizer("RMSprop", std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
  check_beta(name(), "alpha", opts.alpha);
  check_beta(name(), "momentum", opts.momentum);
  check_eps(name(), opts.eps);
  add_buffer("square_avg");
  if (opts.momentum > 0) add_buffer("momentum_buffer");
  if (opts.centered) add_buffer("grad_avg");
}

namespace {
template <class T>
void rmsprop_update(const ParamUpdate<T>& u, const RMSpropOptions& o) {
  T* w = u.w;
  T* v = u.buffer[0];
  T* b = o.momentum > 0 ? u.buffer[1] : nullptr;
  T* ga = o.centered ? u.buffer[o.momentum > 0 ? 2 : 1] : nullptr;
  const T alpha = T(o.alpha), eps = T(o.eps), eta = T(u.lr), l2 = T(u.weight_decay), mu = T(o.momentum);
  const T sg = o.maximize ? T(-1) : T(1);
  for (std::int64_t i = 0; i < u.n; ++i) {
    const T gi = sg * u.g[i] + l2 * w[i];
    v[i] = alpha * v[i] + (1 - alpha) * gi * gi;
    T avg;
    if (ga != nullptr) {  // centered: the variance v − ḡ², ḡ ← ḡ + (1 − α)(g − ḡ) (torch's lerp)
      ga[i] += (1 - alpha) * (gi - ga[i]);
      avg = std::sqrt(v[i] - ga[i] * ga[i]) + eps;
    } else {
      avg = std::sqrt(v[i]) + eps;
    }
    const T scaled = gi / avg;
    if (b != nullptr) {
      b[i] = mu * b[i] + scaled;
      w[i] -= eta * b[i];
    } else {
      w[i] -= eta * scaled;
    }
  }
}
}  // namespace

void RMSprop::update(const ParamUpdate<float>& u) { rmsprop_update(u, opts_); }
void RMSprop::update(const ParamUpdate<double>& u) { rmsprop_update(u, opts_); }

// ---- Adagrad ------------------------------------------------------------------------------------------

Adagrad::Adagrad(std::vector<nn::Param> params, AdagradOptions opts)
    : Adagrad(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}
Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions opts)
    : Optimizer("Adagrad", std::move(groups), opts.lr, opts.weight_decay), opts_(opts) {
  check_eps(name(), opts.eps);
  if (!(opts.lr_decay >= 0) || !std::isfinite(opts.lr_decay)) {
    throw ValueError(fmt::format("Adagrad: lr_decay must be a finite number ≥ 0, got {}", opts.lr_decay));
  }
  if (!(opts.initial_accumulator_value >= 0) || !std::isfinite(opts.initial_accumulator_value)) {
    throw ValueError(fmt::format("Adagrad: initial_accumulator_value must be a finite number ≥ 0, got {}",
                                 opts.initial_accumulator_value));
  }
  add_buffer("sum", opts.initial_accumulator_value);
}

namespace {
template <class T>
void adagrad_update(const ParamUpdate<T>& u, const AdagradOptions& o) {
  const double lr = u.lr / (1 + (double(u.step) - 1) * o.lr_decay);
  T* w = u.w;
  T* s = u.buffer[0];
  const T eps = T(o.eps), eta = T(lr), l2 = T(u.weight_decay), sg = o.maximize ? T(-1) : T(1);
  for (std::int64_t i = 0; i < u.n; ++i) {
    const T gi = sg * u.g[i] + l2 * w[i];
    s[i] += gi * gi;
    w[i] -= eta * gi / (std::sqrt(s[i]) + eps);
  }
}
}  // namespace

void Adagrad::update(const ParamUpdate<float>& u) { adagrad_update(u, opts_); }
void Adagrad::update(const ParamUpdate<double>& u) { adagrad_update(u, opts_); }

}  // namespace nabla::optim
