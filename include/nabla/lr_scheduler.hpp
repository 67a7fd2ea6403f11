// nabla/lr_scheduler.hpp — learning-rate schedules with torch.optim.lr_scheduler's names, defaults and
// values (ConstantLR, LinearLR, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR,
// ReduceLROnPlateau; LinearWarmup for LinearLR + SequentialLR) and the book's HalveOnPlateau. Each
// is advanced by step(metric) (≡ epoch_end) — once per epoch or once per batch, as the user
// chooses (torch's scheduler.step()) — and gives the lr to set, so they work with every optimizer
// (opt.set_lr(schedule.lr())); early stopping.
//
//   optim::CosineAnnealingLR schedule(0.1, epochs - 1);   // η from 0.1 to 0 at the last epoch
//   for (int e = 0; e < epochs; ++e) { opt.set_lr(schedule.lr()); …; schedule.epoch_end(accuracy); }
//   optim::OneCycleLR cycle(0.1, epochs * batches);       // per batch:
//   for (…each batch…) { opt.set_lr(cycle.lr()); …; opt.step(); cycle.step(); }
#pragma once

#include <limits>
#include <map>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/nn_module.hpp"
#include "nabla/tensor.hpp"

namespace nabla::optim {

/// A learning-rate schedule, advanced once per epoch with that epoch's validation metric (higher
/// is better, e.g. accuracy; pass NaN when there is none).
class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  /// The learning rate for the current epoch.
  virtual double lr() const = 0;
  /// Ends an epoch.
  virtual void epoch_end(double metric) = 0;
  /// torch's scheduler.step(): the same as epoch_end (a schedule counts whatever it is stepped by).
  void step(double metric = std::numeric_limits<double>::quiet_NaN()) { epoch_end(metric); }
  /// Whether training should stop (only the halving rule says so).
  virtual bool should_stop() const { return false; }
  virtual std::string describe() const = 0;
};

/// torch.optim.lr_scheduler.ConstantLR: η₀ · factor for the first total_iters epochs, then η₀;
/// ConstantLR(η, 1, 0) is η for every epoch.
class ConstantLR : public LrSchedule {
 public:
  explicit ConstantLR(double lr0, double factor = 1.0 / 3, int total_iters = 5);
  double lr() const override { return epoch_ < total_ ? lr0_ * factor_ : lr0_; }
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, factor_;
  int total_, epoch_ = 0;
};

/// torch.optim.lr_scheduler.LinearLR: η₀ · (f₀ + (f₁ − f₀) · min(step, total_iters) / total_iters),
/// from start_factor f₀ to end_factor f₁ over total_iters steps — a linear warmup by steps.
class LinearLR : public LrSchedule {
 public:
  explicit LinearLR(double lr0, double start_factor = 1.0 / 3, double end_factor = 1.0, int total_iters = 5);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, start_, end_;
  int total_, epoch_ = 0;
};

/// torch.optim.lr_scheduler.MultiStepLR: η₀ · γ^(the number of milestones ≤ step).
class MultiStepLR : public LrSchedule {
 public:
  MultiStepLR(double lr0, std::vector<int> milestones, double gamma = 0.1);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, gamma_;
  std::vector<int> milestones_;
  int epoch_ = 0;
};

/// torch.optim.lr_scheduler.OneCycleLR's options (Smith & Topin, 2017), torch's defaults. The
/// momentum cycling of torch's (cycle_momentum) is not here: set the optimizer's momentum yourself.
struct OneCycleLROptions {
  double pct_start = 0.3;                // the share of the steps spent rising
  std::string anneal_strategy = "cos";   // "cos" or "linear"
  double div_factor = 25.0;              // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;         // final lr = initial lr / final_div_factor
  bool three_phase = false;              // rise, fall back to the initial lr, then anneal to the final
};
/// torch.optim.lr_scheduler.OneCycleLR, stepped once per batch: total_steps steps from
/// max_lr / div_factor up to max_lr and down to max_lr / div_factor / final_div_factor. Stepping
/// past total_steps is a ValueError (as torch).
class OneCycleLR : public LrSchedule {
 public:
  OneCycleLR(double max_lr, std::int64_t total_steps, OneCycleLROptions opts = {});
  double lr() const override;
  void epoch_end(double) override;
  std::string describe() const override;

 private:
  double max_lr_;
  std::int64_t total_, step_ = 0;
  OneCycleLROptions o_;
};

/// torch.optim.lr_scheduler.ReduceLROnPlateau's options, torch's defaults.
struct ReduceLROnPlateauOptions {
  std::string mode = "min";            // "min": lower metric is better (a loss); "max": higher (accuracy)
  double factor = 0.1;                 // η ← max(η · factor, min_lr)
  int patience = 10;                   // steps without improvement tolerated
  double threshold = 1e-4;             // how much better counts as better
  std::string threshold_mode = "rel";  // "rel": best · (1 ∓ threshold); "abs": best ∓ threshold
  int cooldown = 0;                    // steps after a reduction before counting again
  double min_lr = 0.0;
  double eps = 1e-8;                   // a reduction smaller than this is skipped
};
/// torch.optim.lr_scheduler.ReduceLROnPlateau: step(metric) with the metric of the mode's sense;
/// after more than `patience` steps without improvement, η ← max(η · factor, min_lr).
class ReduceLROnPlateau : public LrSchedule {
 public:
  explicit ReduceLROnPlateau(double lr0, ReduceLROnPlateauOptions opts = {});
  double lr() const override { return lr_; }
  void epoch_end(double metric) override;
  std::string describe() const override;

 private:
  double lr_;
  ReduceLROnPlateauOptions o_;
  double best_;
  int bad_ = 0, cooldown_left_ = 0;
  bool better(double a) const;
};

/// torch.optim.lr_scheduler.StepLR: η₀ · γ^⌊epoch / step_size⌋.
class StepLR : public LrSchedule {
 public:
  StepLR(double lr0, int step_size, double gamma = 0.1);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, gamma_;
  int step_, epoch_ = 0;
};

/// torch.optim.lr_scheduler.ExponentialLR: η₀ · γ^epoch.
class ExponentialLR : public LrSchedule {
 public:
  ExponentialLR(double lr0, double gamma);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, gamma_;
  int epoch_ = 0;
};

/// torch.optim.lr_scheduler.CosineAnnealingLR: η_min + (η₀ − η_min)(1 + cos(π · epoch / T_max)) / 2,
/// reaching η_min at epoch T_max (so T_max = epochs − 1 ends a run of `epochs` epochs at η_min)
/// and rising again after it, as torch's.
class CosineAnnealingLR : public LrSchedule {
 public:
  CosineAnnealingLR(double lr0, int T_max, double eta_min = 0.0);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, eta_min_;
  int t_max_, epoch_ = 0;
};

/// Linear warmup before another schedule (torch.optim.lr_scheduler.LinearLR then SequentialLR):
/// for the first `warmup_epochs` epochs η = after.lr() · (f + (1 − f) · epoch / warmup_epochs),
/// f = start_factor, rising from f·η to η; then `after` runs from its own first epoch (it sees
/// no epoch_end, and no metric, during the warmup). Works with any schedule, so with any optimizer.
class LinearWarmup : public LrSchedule {
 public:
  LinearWarmup(std::unique_ptr<LrSchedule> after, int warmup_epochs, double start_factor = 0.1);
  double lr() const override;
  void epoch_end(double metric) override;
  bool should_stop() const override { return epoch_ >= warmup_ && after_->should_stop(); }
  std::string describe() const override;

 private:
  std::unique_ptr<LrSchedule> after_;
  int warmup_, epoch_ = 0;
  double start_;
};

/// The book's rule (ch. 3, "variable learning rate"): halve η whenever the validation metric has
/// not improved for `patience` epochs; stop once η has fallen to η₀ / stop_ratio (128 in the book).
class HalveOnPlateau : public LrSchedule {
 public:
  HalveOnPlateau(double lr0, int patience, double stop_ratio = 128.0);
  double lr() const override { return lr_; }
  void epoch_end(double metric) override;
  bool should_stop() const override { return lr_ <= lr0_ / stop_ratio_ * (1 + 1e-12); }
  std::string describe() const override;

 private:
  double lr0_, lr_, stop_ratio_;
  int patience_, since_best_ = 0;
  double best_ = -std::numeric_limits<double>::infinity();
};

/// Stops when the validation metric (higher is better) has not improved for `patience` epochs,
/// and keeps a copy of the parameters of the best epoch.
class EarlyStopping {
 public:
  explicit EarlyStopping(int patience);
  /// Records an epoch's metric; copies the module's parameters if it is the best so far.
  /// Returns whether it improved.
  bool observe(double metric, const nn::Module& module);
  bool should_stop() const { return since_best_ >= patience_; }
  /// Copies the best parameters back into the module (a no-op before the first observe).
  void restore_best(nn::Module& module) const;
  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }
  /// Rebuilds the state after `history` (the metric of each epoch so far) with the parameters of
  /// the best of those epochs, as saved in a checkpoint; used to resume training.
  void resume(const std::vector<double>& history, std::map<std::string, Tensor> best_state);
  const std::map<std::string, Tensor>& best_state() const { return best_state_; }

 private:
  int patience_, since_best_ = 0, epoch_ = 0, best_epoch_ = -1;
  double best_ = -std::numeric_limits<double>::infinity();
  std::map<std::string, Tensor> best_state_;
};

}  // namespace nabla::optim
