// src/nn/optim.cpp — Sgd, learning-rate schedules, early stopping.
#include "nabla/optim.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"

namespace nabla::optim {

// ---- Optimizer ------------------------------------------------------------------------------------------

namespace {
void check_rate(std::string_view who, const char* what, double v) {
  if (!(v >= 0) || !std::isfinite(v)) throw ValueError(fmt::format("{}: {} must be a finite number ≥ 0, got {}", who, what, v));
}
}  // namespace

Optimizer::Optimizer(std::string_view who, std::vector<ParamGroup> groups, double lr, double weight_decay)
    : who_(who), lr_(lr) {
  check_rate(who, "lr", lr);
  check_rate(who, "weight decay", weight_decay);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ParamGroup& group = groups[g];
    double factor = 1;
    if (!std::isnan(group.lr)) {
      check_rate(who, "a group's lr", group.lr);
      if (!(lr > 0)) throw ValueError(fmt::format("{}: group {} has its own lr, which needs a base lr above 0", who, g));
      factor = group.lr / lr;
    }
    const double wd = std::isnan(group.weight_decay) ? weight_decay : group.weight_decay;
    check_rate(who, "a group's weight decay", wd);
    groups_.push_back({factor, wd});
    for (nn::Param& p : group.params) {
      if (!p.tensor.defined() || !p.tensor.requires_grad()) {
        throw ValueError(fmt::format("{}: parameter '{}' does not require grad", who, p.name));
      }
      if (p.tensor.grad_fn()) {  // a step would write into an op's output, not a parameter
        throw ValueError(fmt::format("{}: parameter '{}' ({} {}) is not a leaf: it was computed by {}; optimize the "
                                     "tensors it was computed from", who, p.name, p.tensor.dtype(), p.tensor.shape(),
                                     p.tensor.grad_fn()->name()));
      }
      for (const nn::Param& q : params_) {
        if (q.tensor.is_same(p.tensor)) throw ValueError(fmt::format("{}: parameter '{}' appears twice", who, p.name));
      }
      params_.push_back(std::move(p));
      group_of_.push_back(g);
    }
  }
  if (params_.empty()) throw ValueError(fmt::format("{}: optimizer got an empty parameter list", who));
}

void Optimizer::check_step() const {
  for (std::size_t k = 0; k < params_.size(); ++k) {
    const Tensor& w = params_[k].tensor;
    auto refuse = [&](std::string_view what, const Tensor& t) {
      throw ValueError(fmt::format("{}.step: parameter '{}' is {} {} but its {} is {} {}; was the module converted "
                                   "with Module::to after the optimizer was made? Make the optimizer after converting",
                                   who_, params_[k].name, w.dtype(), w.shape(), what, t.dtype(), t.shape()));
    };
    if (const Tensor g = w.grad(); g.defined() && (g.dtype() != w.dtype() || g.shape() != w.shape())) refuse("gradient", g);
    for (const Buffer& b : buffers_) {
      const Tensor& t = b.tensors[k];
      if (t.dtype() != w.dtype() || t.shape() != w.shape()) refuse(fmt::format("'{}' buffer", b.name), t);
    }
  }
}

const Optimizer::Group& Optimizer::group(std::size_t g, const char* what) const {
  if (g >= groups_.size()) {
    throw ValueError(fmt::format("{}: group {} is out of range; the optimizer has {} group(s)", what, g, groups_.size()));
  }
  return groups_[g];
}

void Optimizer::set_lr(double lr) {
  check_rate(who_, "lr", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (nn::Param& p : params_) p.tensor.zero_grad();
}

double Optimizer::grad_norm() const {
  double norm2 = 0;
  for (const nn::Param& p : params_) {
    Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    norm2 += kernels::squared_norm(g);
  }
  return std::sqrt(norm2);
}

double clip_grad_norm_(const std::vector<nn::Param>& params, double max_norm) {
  if (!(max_norm > 0) || !std::isfinite(max_norm)) {
    throw ValueError(fmt::format("clip_grad_norm_: max_norm is {}; expected a finite number above 0", max_norm));
  }
  // A parameter without a gradient is skipped, a frozen one (not requiring grad) included.
  auto grad_of = [](const nn::Param& p) { return p.tensor.defined() && p.tensor.requires_grad() ? p.tensor.grad() : Tensor{}; };
  double norm2 = 0;
  for (const nn::Param& p : params) {
    if (Tensor g = grad_of(p); g.defined()) norm2 += kernels::squared_norm(g);
  }
  const double norm = std::sqrt(norm2);
  if (norm > max_norm) {  // torch's factor max_norm / (norm + 1e-6), so that a norm just above stays just below
    NoGradGuard no_grad;
    for (const nn::Param& p : params) {
      if (Tensor g = grad_of(p); g.defined()) g.mul_(max_norm / (norm + 1e-6));
    }
  }
  return norm;
}

void Optimizer::add_buffer(const std::string& name, double fill) {
  Buffer b{name, {}};
  for (const nn::Param& p : params_) b.tensors.push_back(fill == 0 ? zeros_like(p.tensor) : full(p.tensor.shape(), fill, p.tensor.dtype()));
  buffers_.push_back(std::move(b));
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> s;
  for (const Buffer& b : buffers_) {
    for (std::size_t k = 0; k < params_.size(); ++k) s.emplace(b.name + "." + params_[k].name, b.tensors[k]);
  }
  const std::int64_t steps = steps_;
  s.emplace("steps", from_vector(std::span<const std::int64_t>(&steps, 1), Shape{}));
  return s;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state) {
  auto steps = state.find("steps");
  if (steps == state.end()) throw ValueError(fmt::format("{}.load_state: 'steps' (a 0-d int64) is missing", who_));
  if (!steps->second.defined() || steps->second.dtype() != i64 || steps->second.numel() != 1) {
    throw ValueError(fmt::format("{}.load_state: 'steps' is {}; expected a 0-d int64", who_,
                                 steps->second.defined() ? fmt::format("{} {}", steps->second.dtype(), steps->second.shape())
                                                         : std::string("an undefined tensor")));
  }
  // Read as the int64 it is (through double, INT64_MAX is undefined behaviour); a count is ≥ 0,
  // and far below INT64_MAX (the next step would overflow): 2^62 steps is more than any run takes.
  const std::int64_t loaded_steps = steps->second.data<std::int64_t>()[0];
  constexpr std::int64_t kMaxSteps = std::int64_t(1) << 62;
  if (loaded_steps < 0 || loaded_steps > kMaxSteps) {
    throw ValueError(fmt::format("{}.load_state: 'steps' is {}; expected a count of steps in [0, 2^62]", who_, loaded_steps));
  }
  for (const Buffer& b : buffers_) {
    for (std::size_t k = 0; k < params_.size(); ++k) {
      const std::string name = b.name + "." + params_[k].name;
      auto it = state.find(name);
      if (it == state.end()) throw ValueError(fmt::format("{}.load_state: '{}' is missing", who_, name));
      const Tensor& v = it->second;
      if (v.shape() != b.tensors[k].shape() || v.dtype() != b.tensors[k].dtype()) {
        throw ValueError(fmt::format("{}.load_state: '{}' is {} {}, expected {} {}", who_, name, v.dtype(), v.shape(),
                                     b.tensors[k].dtype(), b.tensors[k].shape()));
      }
      // A buffer that is not finite would make every later step NaN.
      const std::int64_t n = v.numel();
      std::int64_t bad = -1;
      if (v.dtype() == f32) {
        const float* p = v.data<float>();
        for (std::int64_t i = 0; i < n && bad < 0; ++i) bad = std::isfinite(p[i]) ? -1 : i;
      } else {
        const double* p = v.data<double>();
        for (std::int64_t i = 0; i < n && bad < 0; ++i) bad = std::isfinite(p[i]) ? -1 : i;
      }
      if (bad >= 0) throw ValueError(fmt::format("{}.load_state: '{}' element {} is not finite", who_, name, bad));
    }
  }
  const std::size_t expected = buffers_.size() * params_.size() + 1;
  if (state.size() != expected) {
    std::string names;
    for (const Buffer& b : buffers_) names += (names.empty() ? "" : ", ") + b.name + ".*";
    throw ValueError(fmt::format("{}.load_state: got {} entries, expected {} ({}steps)", who_, state.size(), expected,
                                 names.empty() ? "" : names + ", "));
  }
  for (Buffer& b : buffers_) {
    for (std::size_t k = 0; k < params_.size(); ++k) b.tensors[k].copy_(state.at(b.name + "." + params_[k].name));
  }
  steps_ = loaded_steps;
}

// ---- Sgd --------------------------------------------------------------------------------------------------

Sgd::Sgd(std::vector<nn::Param> params, SgdOptions opts) : Sgd(std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts) {}

Sgd::Sgd(std::vector<ParamGroup> groups, SgdOptions opts) : Optimizer("Sgd", std::move(groups), opts.lr, opts.l2), opts_(opts) {
  if (!(opts.momentum >= 0 && opts.momentum < 1)) {
    throw ValueError(fmt::format("Sgd: momentum must be in [0, 1), got {}", opts.momentum));
  }
  if (opts.nesterov && opts.momentum == 0) throw ValueError("Sgd: nesterov needs momentum > 0");
  if (!(opts.l2 >= 0) || !(opts.l1 >= 0) || !std::isfinite(opts.l2) || !std::isfinite(opts.l1)) {
    throw ValueError(fmt::format("Sgd: l2 and l1 must be finite numbers ≥ 0, got {} and {}", opts.l2, opts.l1));
  }
  bool decays = opts.l1 > 0;
  for (std::size_t g = 0; g < group_count(); ++g) decays = decays || group_weight_decay(g) > 0;
  if (decays && opts.n <= 0) throw ValueError("Sgd: l2 and l1 need n, the training-set size of the book's λ/n");
  if (!(opts.clip_norm >= 0)) throw ValueError(fmt::format("Sgd: clip_norm must be ≥ 0, got {}", opts.clip_norm));
  if (opts.momentum > 0) add_buffer("velocity");
}

namespace {
template <class T>
T sign(T v) {
  return T((v > 0) - (v < 0));
}

// w ← w − η (c g + (λ₂/n) w + (λ₁/n) sgn w), with momentum v ← μ v − η(…), w ← w + v (Nesterov:
// w ← w + μ v − η(…)). The common cases get loops without the terms that are zero.
template <class T>
void sgd_update(T* w, const T* g, T* v, std::int64_t n, T eta, T c, T l2, T l1, T mu, bool nesterov) {
  if (v == nullptr && l1 == 0) {
    return kernels::sgd_step(w, g, n, T(1) - eta * l2, eta * c);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const T gi = c * g[i] + l2 * w[i] + l1 * sign(w[i]);
    if (v == nullptr) {
      w[i] -= eta * gi;
      continue;
    }
    v[i] = mu * v[i] - eta * gi;
    w[i] += nesterov ? mu * v[i] - eta * gi : v[i];
  }
}
}  // namespace

void Sgd::step() {
  check_step();
  double clip = 1.0;
  if (opts_.clip_norm > 0) {
    const double norm = grad_norm();
    if (norm > opts_.clip_norm) clip = opts_.clip_norm / norm;
  }
  const std::vector<nn::Param>& ps = params();
  for (std::size_t k = 0; k < ps.size(); ++k) {
    Tensor w = ps[k].tensor;
    Tensor g = w.grad();
    if (!g.defined()) continue;
    const bool decay = ps[k].decay;
    const std::size_t grp = group_of(k);
    const double l2 = decay && group_weight_decay(grp) > 0 ? group_weight_decay(grp) / double(opts_.n) : 0;
    const double l1 = decay && opts_.l1 > 0 ? opts_.l1 / double(opts_.n) : 0;
    auto update = [&](auto tag) {
      using T = decltype(tag);
      sgd_update<T>(w.mutable_data<T>(), g.data<T>(), opts_.momentum > 0 ? buffer(0, k).mutable_data<T>() : nullptr, w.numel(),
                    T(group_lr(grp)), T(clip), T(l2), T(l1), T(opts_.momentum), opts_.nesterov);
    };
    if (w.dtype() == f32) update(float{});
    else update(double{});
  }
  count_step();
}

// ---- schedules ----------------------------------------------------------------------------------------

namespace {
void check_lr(const char* who, double lr) {
  if (!(lr > 0) || !std::isfinite(lr)) throw ValueError(fmt::format("{}: learning rate must be > 0, got {}", who, lr));
}
}  // namespace

ConstantLr::ConstantLr(double lr) : lr_(lr) { check_lr("ConstantLr", lr); }
std::string ConstantLr::describe() const { return fmt::format("constant η = {}", lr_); }

StepLr::StepLr(double lr0, int step_epochs, double gamma) : lr0_(lr0), gamma_(gamma), step_(step_epochs) {
  check_lr("StepLr", lr0);
  if (step_epochs <= 0 || !(gamma > 0 && gamma <= 1)) {
    throw ValueError(fmt::format("StepLr: need step > 0 and gamma in (0, 1], got {} and {}", step_epochs, gamma));
  }
}
double StepLr::lr() const { return lr0_ * std::pow(gamma_, epoch_ / step_); }
std::string StepLr::describe() const { return fmt::format("step: η = {} × {}^(epoch / {})", lr0_, gamma_, step_); }

CosineLr::CosineLr(double lr0, int epochs, double lr_min) : lr0_(lr0), lr_min_(lr_min), epochs_(epochs) {
  check_lr("CosineLr", lr0);
  if (epochs <= 0 || lr_min < 0 || lr_min > lr0) {
    throw ValueError(fmt::format("CosineLr: need epochs > 0 and 0 ≤ lr_min ≤ lr0, got {} and {}", epochs, lr_min));
  }
}
double CosineLr::lr() const {
  const double t = epochs_ <= 1 ? 0.0 : std::min(1.0, double(epoch_) / double(epochs_ - 1));
  return lr_min_ + (lr0_ - lr_min_) * (1 + std::cos(std::numbers::pi * t)) / 2;
}
std::string CosineLr::describe() const {
  return fmt::format("cosine: η from {} to {} over {} epochs", lr0_, lr_min_, epochs_);
}

LinearWarmup::LinearWarmup(std::unique_ptr<LrSchedule> after, int warmup_epochs, double start_factor)
    : after_(std::move(after)), warmup_(warmup_epochs), start_(start_factor) {
  if (!after_) throw ValueError("LinearWarmup: the schedule after the warmup is null");
  if (warmup_epochs < 1 || !(start_factor > 0 && start_factor <= 1)) {
    throw ValueError(fmt::format("LinearWarmup: need warmup_epochs ≥ 1 and start_factor in (0, 1], got {} and {}",
                                 warmup_epochs, start_factor));
  }
}
double LinearWarmup::lr() const {
  if (epoch_ >= warmup_) return after_->lr();
  return after_->lr() * (start_ + (1 - start_) * double(epoch_) / double(warmup_));
}
void LinearWarmup::epoch_end(double metric) {
  if (epoch_ >= warmup_) after_->epoch_end(metric);
  ++epoch_;
}
std::string LinearWarmup::describe() const {
  return fmt::format("linear warmup over {} epochs from {} × η, then {}", warmup_, start_, after_->describe());
}

HalveOnPlateau::HalveOnPlateau(double lr0, int patience, double stop_ratio)
    : lr0_(lr0), lr_(lr0), stop_ratio_(stop_ratio), patience_(patience) {
  check_lr("HalveOnPlateau", lr0);
  if (patience <= 0 || !(stop_ratio > 1)) {
    throw ValueError(fmt::format("HalveOnPlateau: need patience > 0 and stop_ratio > 1, got {} and {}", patience, stop_ratio));
  }
}

void HalveOnPlateau::epoch_end(double metric) {
  if (metric > best_) {
    best_ = metric;
    since_best_ = 0;
    return;
  }
  if (++since_best_ >= patience_) {
    lr_ /= 2;
    since_best_ = 0;
  }
}

std::string HalveOnPlateau::describe() const {
  return fmt::format("halve η = {} after {} epochs without improvement; stop at η₀/{}", lr0_, patience_, stop_ratio_);
}

// ---- early stopping -------------------------------------------------------------------------------------

EarlyStopping::EarlyStopping(int patience) : patience_(patience) {
  if (patience <= 0) throw ValueError(fmt::format("EarlyStopping: patience must be > 0, got {}", patience));
}

bool EarlyStopping::observe(double metric, const nn::Module& module) {
  const int epoch = epoch_++;
  if (metric > best_) {
    best_ = metric;
    best_epoch_ = epoch;
    since_best_ = 0;
    best_state_.clear();
    for (const auto& [name, t] : module.state()) best_state_.emplace(name, t.detach().clone());
    return true;
  }
  ++since_best_;
  return false;
}

void EarlyStopping::resume(const std::vector<double>& history, std::map<std::string, Tensor> best_state) {
  epoch_ = 0;
  since_best_ = 0;
  best_epoch_ = -1;
  best_ = -std::numeric_limits<double>::infinity();
  for (double m : history) {
    const int epoch = epoch_++;
    if (m > best_) {
      best_ = m;
      best_epoch_ = epoch;
      since_best_ = 0;
    } else {
      ++since_best_;
    }
  }
  best_state_ = std::move(best_state);
}

void EarlyStopping::restore_best(nn::Module& module) const {
  if (!best_state_.empty()) module.load_state(best_state_);
}

}  // namespace nabla::optim
