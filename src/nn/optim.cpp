// src/nn/optim.cpp — learning-rate schedules and early stopping (nabla/optim.hpp).
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "nabla/optim.hpp"

namespace nabla::optim {

// ---- schedules ----------------------------------------------------------------------------------------

namespace {
void check_lr(const char* who, double lr) {
  if (!(lr > 0) || !std::isfinite(lr)) throw ValueError(fmt::format("{}: learning rate must be > 0, got {}", who, lr));
}
}  // namespace

ConstantLR::ConstantLR(double lr0, double factor, int total_iters) : lr0_(lr0), factor_(factor), total_(total_iters) {
  check_lr("ConstantLR", lr0);
  if (!(factor > 0 && factor <= 1) || total_iters < 0) {
    throw ValueError(fmt::format("ConstantLR: need factor in (0, 1] and total_iters ≥ 0, got {} and {}", factor, total_iters));
  }
}
std::string ConstantLR::describe() const {
  if (factor_ == 1 || total_ == 0) return fmt::format("constant η = {}", lr0_);
  return fmt::format("constant: η = {} × {} for {} epochs, then {}", lr0_, factor_, total_, lr0_);
}

StepLR::StepLR(double lr0, int step_size, double gamma) : lr0_(lr0), gamma_(gamma), step_(step_size) {
  check_lr("StepLR", lr0);
  if (step_size <= 0 || !(gamma > 0 && gamma <= 1)) {
    throw ValueError(fmt::format("StepLR: need step_size > 0 and gamma in (0, 1], got {} and {}", step_size, gamma));
  }
}
double StepLR::lr() const { return lr0_ * std::pow(gamma_, epoch_ / step_); }
std::string StepLR::describe() const { return fmt::format("step: η = {} × {}^(epoch / {})", lr0_, gamma_, step_); }

ExponentialLR::ExponentialLR(double lr0, double gamma) : lr0_(lr0), gamma_(gamma) {
  check_lr("ExponentialLR", lr0);
  if (!(gamma > 0 && gamma <= 1)) throw ValueError(fmt::format("ExponentialLR: need gamma in (0, 1], got {}", gamma));
}
double ExponentialLR::lr() const { return lr0_ * std::pow(gamma_, epoch_); }
std::string ExponentialLR::describe() const { return fmt::format("exponential: η = {} × {}^epoch", lr0_, gamma_); }

CosineAnnealingLR::CosineAnnealingLR(double lr0, int T_max, double eta_min) : lr0_(lr0), eta_min_(eta_min), t_max_(T_max) {
  check_lr("CosineAnnealingLR", lr0);
  if (T_max <= 0 || !(eta_min >= 0) || eta_min > lr0) {
    throw ValueError(fmt::format("CosineAnnealingLR: need T_max > 0 and 0 ≤ eta_min ≤ lr0, got {} and {}", T_max, eta_min));
  }
}
double CosineAnnealingLR::lr() const {
  const double t = double(epoch_) / double(t_max_);
  return eta_min_ + (lr0_ - eta_min_) * (1 + std::cos(std::numbers::pi * t)) / 2;
}
std::string CosineAnnealingLR::describe() const {
  return fmt::format("cosine: η from {} to {} at epoch {}", lr0_, eta_min_, t_max_);
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
