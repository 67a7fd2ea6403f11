// src/nn/schedules.cpp — the schedules that are often stepped per batch, as torch.optim.lr_scheduler's
// (nabla/lr_scheduler.hpp): LinearLR, MultiStepLR, OneCycleLR and ReduceLROnPlateau.
#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "nabla/optim.hpp"

namespace nabla::optim {

namespace {
void check_lr0(const char* who, const char* what, double lr) {
  if (!(lr > 0) || !std::isfinite(lr)) throw ValueError(fmt::format("{}: {} must be a finite number > 0, got {}", who, what, lr));
}
}  // namespace

// ---- LinearLR -----------------------------------------------------------------------------------------

LinearLR::LinearLR(double lr0, double start_factor, double end_factor, int total_iters)
    : lr0_(lr0), start_(start_factor), end_(end_factor), total_(total_iters) {
  check_lr0("LinearLR", "lr0", lr0);
  if (!(start_factor > 0 && start_factor <= 1)) {
    throw ValueError(fmt::format("LinearLR: start_factor must be in (0, 1], got {}", start_factor));
  }
  if (!(end_factor >= 0 && end_factor <= 1)) throw ValueError(fmt::format("LinearLR: end_factor must be in [0, 1], got {}", end_factor));
  if (total_iters < 1) throw ValueError(fmt::format("LinearLR: total_iters must be ≥ 1, got {}", total_iters));
}
double LinearLR::lr() const {
  return lr0_ * (start_ + (end_ - start_) * double(std::min(epoch_, total_)) / double(total_));
}
std::string LinearLR::describe() const {
  return fmt::format("linear: η = {} × {} rising to × {} over {} steps", lr0_, start_, end_, total_);
}

// ---- MultiStepLR --------------------------------------------------------------------------------------

MultiStepLR::MultiStepLR(double lr0, std::vector<int> milestones, double gamma) : lr0_(lr0), gamma_(gamma), milestones_(std::move(milestones)) {
  check_lr0("MultiStepLR", "lr0", lr0);
  if (!(gamma > 0) || !std::isfinite(gamma)) throw ValueError(fmt::format("MultiStepLR: gamma must be a finite number > 0, got {}", gamma));
  for (std::size_t i = 0; i < milestones_.size(); ++i) {
    if (milestones_[i] < 1 || (i > 0 && milestones_[i] <= milestones_[i - 1])) {
      throw ValueError(fmt::format("MultiStepLR: milestones must be increasing steps ≥ 1; milestone {} is {}", i, milestones_[i]));
    }
  }
}
double MultiStepLR::lr() const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), epoch_) - milestones_.begin();
  return lr0_ * std::pow(gamma_, double(passed));
}
std::string MultiStepLR::describe() const {
  return fmt::format("multi-step: η = {} × {}^(milestones passed of {})", lr0_, gamma_, fmt::join(milestones_, ", "));
}

// ---- OneCycleLR ---------------------------------------------------------------------------------------

OneCycleLR::OneCycleLR(double max_lr, std::int64_t total_steps, OneCycleLROptions opts)
    : max_lr_(max_lr), total_(total_steps), o_(std::move(opts)) {
  check_lr0("OneCycleLR", "max_lr", max_lr);
  if (total_steps < 1) throw ValueError(fmt::format("OneCycleLR: total_steps must be ≥ 1, got {}", total_steps));
  if (!(o_.pct_start >= 0 && o_.pct_start <= 1)) throw ValueError(fmt::format("OneCycleLR: pct_start must be in [0, 1], got {}", o_.pct_start));
  if (o_.anneal_strategy != "cos" && o_.anneal_strategy != "linear") {
    throw ValueError(fmt::format("OneCycleLR: anneal_strategy is '{}'; expected \"cos\" or \"linear\"", o_.anneal_strategy));
  }
  check_lr0("OneCycleLR", "div_factor", o_.div_factor);
  check_lr0("OneCycleLR", "final_div_factor", o_.final_div_factor);
}

double OneCycleLR::lr() const {
  const double initial = max_lr_ / o_.div_factor, min_lr = initial / o_.final_div_factor, n = double(total_);
  struct Phase {
    double end_step, start_lr, end_lr;
  };
  std::vector<Phase> phases;
  if (o_.three_phase) {
    phases = {{o_.pct_start * n - 1, initial, max_lr_}, {2 * o_.pct_start * n - 2, max_lr_, initial}, {n - 1, initial, min_lr}};
  } else {
    phases = {{o_.pct_start * n - 1, initial, max_lr_}, {n - 1, max_lr_, min_lr}};
  }
  const double step = double(step_);
  double start_step = 0;
  for (std::size_t i = 0; i < phases.size(); ++i) {
    const Phase& p = phases[i];
    if (step <= p.end_step || i + 1 == phases.size()) {
      const double pct = (step - start_step) / (p.end_step - start_step);
      if (o_.anneal_strategy == "linear") return (p.end_lr - p.start_lr) * pct + p.start_lr;
      return p.end_lr + (p.start_lr - p.end_lr) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
    }
    start_step = p.end_step;
  }
  return min_lr;  // not reached
}

void OneCycleLR::epoch_end(double) {
  if (step_ + 1 > total_) {
    throw ValueError(fmt::format("OneCycleLR: stepped {} times, past total_steps {}", step_ + 1, total_));
  }
  ++step_;
}

std::string OneCycleLR::describe() const {
  return fmt::format("one cycle: η from {} up to {} and down to {} over {} steps ({})", max_lr_ / o_.div_factor, max_lr_,
                     max_lr_ / o_.div_factor / o_.final_div_factor, total_, o_.anneal_strategy);
}

// ---- ReduceLROnPlateau --------------------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(double lr0, ReduceLROnPlateauOptions opts) : lr_(lr0), o_(std::move(opts)) {
  check_lr0("ReduceLROnPlateau", "lr0", lr0);
  if (o_.mode != "min" && o_.mode != "max") throw ValueError(fmt::format("ReduceLROnPlateau: mode is '{}'; expected \"min\" or \"max\"", o_.mode));
  if (o_.threshold_mode != "rel" && o_.threshold_mode != "abs") {
    throw ValueError(fmt::format("ReduceLROnPlateau: threshold_mode is '{}'; expected \"rel\" or \"abs\"", o_.threshold_mode));
  }
  if (!(o_.factor >= 0 && o_.factor < 1)) throw ValueError(fmt::format("ReduceLROnPlateau: factor must be in [0, 1), got {}", o_.factor));
  if (o_.patience < 0 || o_.cooldown < 0) {
    throw ValueError(fmt::format("ReduceLROnPlateau: patience and cooldown must be ≥ 0, got {} and {}", o_.patience, o_.cooldown));
  }
  if (!(o_.threshold >= 0) || !(o_.min_lr >= 0) || !(o_.eps >= 0)) {
    throw ValueError(fmt::format("ReduceLROnPlateau: threshold, min_lr and eps must be ≥ 0, got {}, {} and {}", o_.threshold,
                                 o_.min_lr, o_.eps));
  }
  best_ = o_.mode == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::better(double a) const {
  const bool rel = o_.threshold_mode == "rel";
  if (o_.mode == "min") return rel ? a < best_ * (1 - o_.threshold) : a < best_ - o_.threshold;
  return rel ? a > best_ * (o_.threshold + 1) : a > best_ + o_.threshold;
}

void ReduceLROnPlateau::epoch_end(double metric) {
  if (better(metric)) {
    best_ = metric;
    bad_ = 0;
  } else {
    ++bad_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_ = 0;
  }
  if (bad_ > o_.patience) {
    const double reduced = std::max(lr_ * o_.factor, o_.min_lr);
    if (lr_ - reduced > o_.eps) lr_ = reduced;
    cooldown_left_ = o_.cooldown;
    bad_ = 0;
  }
}

std::string ReduceLROnPlateau::describe() const {
  return fmt::format("reduce on plateau ({}): η × {} after {} steps without a {} improvement of {}", o_.mode, o_.factor, o_.patience,
                     o_.threshold_mode, o_.threshold);
}

}  // namespace nabla::optim
