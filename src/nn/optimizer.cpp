// src/nn/optimizer.cpp — the optimizer base (nabla/optim.hpp): parameter groups, the loop of step()
// over the parameters and their float type, buffers and their state for checkpoints; gradient norms
// and clip_grad_norm_.
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/op.hpp"
#include "nabla/optim.hpp"

namespace nabla::optim {

// ---- Optimizer ------------------------------------------------------------------------------------------

namespace {
void check_rate(std::string_view who, const char* what, double v) {
  if (!(v >= 0) || !std::isfinite(v)) throw ValueError(fmt::format("{}: {} must be a finite number ≥ 0, got {}", who, what, v));
}
}  // namespace

Optimizer::Optimizer(std::string_view name, std::vector<ParamGroup> groups, double lr, double weight_decay)
    : name_(name), lr_(lr) {
  const std::string_view who = name;
  for (char ch : name_) kind_.push_back(char(std::tolower(static_cast<unsigned char>(ch))));
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
                                   name_, params_[k].name, w.dtype(), w.shape(), what, t.dtype(), t.shape()));
    };
    if (const Tensor g = w.grad(); g.defined() && (g.dtype() != w.dtype() || g.shape() != w.shape())) refuse("gradient", g);
    for (const Buffer& b : buffers_) {
      const Tensor& t = b.tensors[k];
      if (t.dtype() != w.dtype() || t.shape() != w.shape()) refuse(fmt::format("'{}' buffer", b.name), t);
    }
  }
}

void Optimizer::step() {
  check_step();
  ++steps_;
  begin_step();
  for (std::size_t k = 0; k < params_.size(); ++k) {
    Tensor w = params_[k].tensor;
    const Tensor g = w.grad();
    if (!g.defined()) continue;
    const Group& group = groups_[group_of_[k]];
    const bool decay = params_[k].decay;
    auto run = [&](auto zero) {
      using T = decltype(zero);
      ParamUpdate<T> u{.w = w.mutable_data<T>(), .g = g.data<T>(), .n = w.numel(), .buffer = {},
                       .lr = lr_ * group.lr_factor, .weight_decay = group.weight_decay, .decay = decay,
                       .step = steps_};
      for (std::size_t b = 0; b < buffers_.size(); ++b) u.buffer[b] = buffers_[b].tensors[k].mutable_data<T>();
      update(u);
    };
    if (w.dtype() == f32) run(float{});
    else run(double{});
  }
}

Tensor Optimizer::step(const Closure& closure) {
  if (!closure) throw ValueError(fmt::format("{}.step: the closure is empty", name_));
  Tensor loss;
  {
    GradModeGuard grad_on(true);
    loss = closure();
  }
  step();
  return loss;
}

const Optimizer::Group& Optimizer::group(std::size_t g, const char* what) const {
  if (g >= groups_.size()) {
    throw ValueError(fmt::format("{}: group {} is out of range; the optimizer has {} group(s)", what, g, groups_.size()));
  }
  return groups_[g];
}

void Optimizer::set_lr(double lr) {
  check_rate(name_, "lr", lr);
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

std::vector<ParamGroup> split_decay(std::vector<nn::Param> params) {
  ParamGroup weights, others;
  others.weight_decay = 0.0;
  for (nn::Param& p : params) (p.decay ? weights : others).params.push_back(std::move(p));
  std::vector<ParamGroup> groups;
  if (!weights.params.empty()) groups.push_back(std::move(weights));
  if (!others.params.empty()) groups.push_back(std::move(others));
  return groups;
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
  if (buffers_.size() == ParamUpdate<float>::kMaxBuffers) {
    throw ValueError(fmt::format("{}: buffer '{}' is one too many: an optimizer has at most {} per parameter", name_, name,
                                 ParamUpdate<float>::kMaxBuffers));
  }
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
  if (steps == state.end()) throw ValueError(fmt::format("{}.load_state: 'steps' (a 0-d int64) is missing", name_));
  if (!steps->second.defined() || steps->second.dtype() != i64 || steps->second.numel() != 1) {
    throw ValueError(fmt::format("{}.load_state: 'steps' is {}; expected a 0-d int64", name_,
                                 steps->second.defined() ? fmt::format("{} {}", steps->second.dtype(), steps->second.shape())
                                                         : std::string("an undefined tensor")));
  }
  // Read as the int64 it is (through double, INT64_MAX is undefined behaviour); a count is ≥ 0,
  // and far below INT64_MAX (the next step would overflow): 2^62 steps is more than any run takes.
  const std::int64_t loaded_steps = steps->second.data<std::int64_t>()[0];
  constexpr std::int64_t kMaxSteps = std::int64_t(1) << 62;
  if (loaded_steps < 0 || loaded_steps > kMaxSteps) {
    throw ValueError(fmt::format("{}.load_state: 'steps' is {}; expected a count of steps in [0, 2^62]", name_, loaded_steps));
  }
  for (const Buffer& b : buffers_) {
    for (std::size_t k = 0; k < params_.size(); ++k) {
      const std::string name = b.name + "." + params_[k].name;
      auto it = state.find(name);
      if (it == state.end()) throw ValueError(fmt::format("{}.load_state: '{}' is missing", name_, name));
      const Tensor& v = it->second;
      if (v.shape() != b.tensors[k].shape() || v.dtype() != b.tensors[k].dtype()) {
        throw ValueError(fmt::format("{}.load_state: '{}' is {} {}, expected {} {}", name_, name, v.dtype(), v.shape(),
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
      if (bad >= 0) throw ValueError(fmt::format("{}.load_state: '{}' element {} is not finite", name_, name, bad));
    }
  }
  const std::size_t expected = buffers_.size() * params_.size() + 1;
  if (state.size() != expected) {
    std::string names;
    for (const Buffer& b : buffers_) names += (names.empty() ? "" : ", ") + b.name + ".*";
    throw ValueError(fmt::format("{}.load_state: got {} entries, expected {} ({}steps)", name_, state.size(), expected,
                                 names.empty() ? "" : names + ", "));
  }
  for (Buffer& b : buffers_) {
    for (std::size_t k = 0; k < params_.size(); ++k) b.tensors[k].copy_(state.at(b.name + "." + params_[k].name));
  }
  steps_ = loaded_steps;
}

}  // namespace nabla::optim
