// nabla/optim.hpp — optimizers on one base (optim::Optimizer: parameter groups, state for
// checkpoints): stochastic gradient descent (plain, momentum, Nesterov) with the book's L2 and L1
// terms and gradient-norm clipping; Adam, AdamW, RMSprop and Adagrad as torch.optim's;
// learning-rate schedules, which work with every optimizer; early stopping.
//
//   optim::Sgd opt(net.parameters(), {.lr = 0.5, .l2 = 5.0, .n = 50000});
//   optim::Adam adam(net.parameters(), {.lr = 1e-3});
//   opt.zero_grad(); cost.backward(); opt.step();
//
// The update for each parameter w with gradient ∇C0 (book ch. 3), with g = ∇C0 + (λ₂/n) w +
// (λ₁/n) sgn(w) (the regularization terms only for parameters with decay, i.e. weights — biases are
// excluded, as in the book):
//   plain     w → w − η g                     (with L2 this is w → (1 − ηλ/n) w − η ∇C0, eq. 93)
//   momentum  v → μ v − η g,  w → w + v        (eq. 107–108)
//   Nesterov  v → μ v − η g,  w → w + μ v − η g
// The Nesterov form is Sutskever et al. (2013)'s v → μv − η∇C(w + μv), w → w + v rewritten in
// terms of the look-ahead point w + μv, which is what is stored, so the gradient is taken where the
// parameters are (Bengio et al. 2013, eq. 7).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/nn.hpp"
#include "nabla/tensor.hpp"

namespace nabla::optim {

struct SgdOptions {
  double lr = 0.1;          // η
  double momentum = 0.0;    // μ; 0 is plain SGD
  bool nesterov = false;    // needs momentum > 0
  double l2 = 0.0;          // λ of the L2 term λ/(2n) Σ w²
  double l1 = 0.0;          // λ of the L1 term λ/n Σ |w|
  std::int64_t n = 0;       // training-set size, the n of λ/n; required when l2 or l1 > 0
  double clip_norm = 0.0;   // if > 0, gradients are rescaled so their joint L2 norm is at most this (NaN refused)
};

/// Parameters with their own learning rate and weight decay (torch.optim's param_groups). An
/// unset (NaN) field takes the optimizer's option.
struct ParamGroup {
  std::vector<nn::Param> params;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double weight_decay = std::numeric_limits<double>::quiet_NaN();
};

/// What every optimizer shares: parameter groups, zero_grad, the learning rate a schedule sets, a
/// step count, and a state that checkpoints save and load (nabla/io.hpp). Weight decay, in every
/// optimizer, applies to the parameters with `decay` (weights, not biases — the book's rule).
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// "sgd", "adam", "adamw", "rmsprop", "adagrad": recorded in checkpoints, so that a checkpoint
  /// of one optimizer is refused by another.
  virtual std::string_view kind() const = 0;
  /// Forgets every parameter's gradient.
  void zero_grad();
  /// One update of every parameter from its .grad (parameters without a gradient are skipped).
  /// A parameter whose dtype or shape is no longer its gradient's or its buffers' (converted with
  /// Module::to after the optimizer was made) is a ValueError naming the optimizer and the
  /// parameter, before anything is updated or the step counted.
  virtual void step() = 0;
  /// The base learning rate. set_lr (a schedule's) sets it, and every group's in proportion: a
  /// group made with its own lr keeps its ratio to the base.
  double lr() const { return lr_; }
  void set_lr(double lr);
  /// The learning rate and weight decay group g uses now; a g ≥ group_count() is a ValueError.
  double group_lr(std::size_t g) const { return lr_ * group(g, "group_lr").lr_factor; }
  double group_weight_decay(std::size_t g) const { return group(g, "group_weight_decay").weight_decay; }
  std::size_t group_count() const { return groups_.size(); }
  std::int64_t steps() const { return steps_; }
  /// Every parameter, group after group.
  const std::vector<nn::Param>& params() const { return params_; }
  /// The joint L2 norm of the parameters' gradients as they are now.
  double grad_norm() const;

  /// Buffers ("<buffer>.<parameter name>") and the step count ("steps", a 0-d int64).
  std::map<std::string, Tensor> state() const;
  /// Restores state(); checks every name, shape, dtype and value first (the step count in
  /// [0, 2^62], buffers finite, no entry left over): a ValueError naming it, nothing changed.
  void load_state(const std::map<std::string, Tensor>& state);

 protected:
  /// `who` names the optimizer in errors; `lr` and `weight_decay` are the defaults of the groups.
  /// Each parameter must be a leaf that requires grad, and there must be at least one (as
  /// torch.optim): otherwise a ValueError.
  Optimizer(std::string_view who, std::vector<ParamGroup> groups, double lr, double weight_decay);
  /// What step() checks first (see there); each step() calls it before it changes anything.
  void check_step() const;
  /// Adds a buffer per parameter (zeros, or `fill`), saved as "<name>.<parameter name>".
  void add_buffer(const std::string& name, double fill = 0.0);
  Tensor& buffer(std::size_t b, std::size_t param) { return buffers_[b].tensors[param]; }
  std::size_t group_of(std::size_t param) const { return group_of_[param]; }
  void count_step() { ++steps_; }
  std::string_view who_;

 private:
  struct Group {
    double lr_factor, weight_decay;
  };
  struct Buffer {
    std::string name;
    std::vector<Tensor> tensors;
  };
  std::vector<nn::Param> params_;
  std::vector<std::size_t> group_of_;
  std::vector<Group> groups_;
  /// groups_[g], or a ValueError naming `what` when g is out of range.
  const Group& group(std::size_t g, const char* what) const;
  std::vector<Buffer> buffers_;
  double lr_;
  std::int64_t steps_ = 0;
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<nn::Param> params, SgdOptions opts);
  /// With groups: a group's weight_decay is its λ₂ (the book's L2, over n).
  Sgd(std::vector<ParamGroup> groups, SgdOptions opts);
  std::string_view kind() const override { return "sgd"; }
  void step() override;
  const SgdOptions& options() const { return opts_; }

 private:
  SgdOptions opts_;
};

/// Adam (Kingma & Ba, 2015), as torch.optim.Adam: g = ∇C + λ w (L2, where decay);
/// m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g², w ← w − η m̂ / (√v̂ + ε) with the bias corrections
/// m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ). State: "exp_avg.*", "exp_avg_sq.*", "steps".
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};
class Adam : public Optimizer {
 public:
  Adam(std::vector<nn::Param> params, AdamOptions opts = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions opts = {});
  std::string_view kind() const override { return decoupled_ ? "adamw" : "adam"; }
  void step() override;
  const AdamOptions& options() const { return opts_; }

 protected:
  Adam(std::string_view who, std::vector<ParamGroup> groups, AdamOptions opts, bool decoupled);

 private:
  AdamOptions opts_;
  bool decoupled_;
};

/// AdamW (Loshchilov & Hutter, 2019), as torch.optim.AdamW: the decay taken out of the gradient and
/// applied to the weights directly, w ← w − η λ w, then Adam's step on ∇C. weight_decay 0.01 by default.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};
class AdamW : public Adam {
 public:
  AdamW(std::vector<nn::Param> params, AdamWOptions opts = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions opts = {});
};

/// RMSprop (Hinton), as torch.optim.RMSprop (not centered): v ← α v + (1 − α) g²; without momentum
/// w ← w − η g / (√v + ε), with it b ← μ b + g / (√v + ε), w ← w − η b. State: "square_avg.*",
/// "momentum_buffer.*" (with momentum), "steps".
struct RmspropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
};
class Rmsprop : public Optimizer {
 public:
  Rmsprop(std::vector<nn::Param> params, RmspropOptions opts = {});
  Rmsprop(std::vector<ParamGroup> groups, RmspropOptions opts = {});
  std::string_view kind() const override { return "rmsprop"; }
  void step() override;

 private:
  RmspropOptions opts_;
};

/// Adagrad (Duchi et al., 2011), as torch.optim.Adagrad: s ← s + g², w ← w − η_t g / (√s + ε) with
/// η_t = η / (1 + (t − 1) lr_decay). State: "sum.*", "steps".
struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double eps = 1e-10;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
};
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<nn::Param> params, AdagradOptions opts = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions opts = {});
  std::string_view kind() const override { return "adagrad"; }
  void step() override;

 private:
  AdagradOptions opts_;
};

/// Rescales the gradients of `params` in place so that their joint L2 norm is at most `max_norm`
/// (torch.nn.utils.clip_grad_norm_); parameters without a gradient are skipped. Returns the norm
/// before clipping. Call it between backward() and step(), e.g. for recurrent nets.
double clip_grad_norm_(const std::vector<nn::Param>& params, double max_norm);

/// A learning-rate schedule, advanced once per epoch with that epoch's validation metric (higher
/// is better, e.g. accuracy; pass NaN when there is none).
class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  /// The learning rate for the current epoch.
  virtual double lr() const = 0;
  /// Ends an epoch.
  virtual void epoch_end(double metric) = 0;
  /// Whether training should stop (only the halving rule says so).
  virtual bool should_stop() const { return false; }
  virtual std::string describe() const = 0;
};

/// η for every epoch.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double lr);
  double lr() const override { return lr_; }
  void epoch_end(double) override {}
  std::string describe() const override;

 private:
  double lr_;
};

/// η₀ · γ^⌊epoch / step⌋.
class StepLr : public LrSchedule {
 public:
  StepLr(double lr0, int step_epochs, double gamma);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, gamma_;
  int step_, epoch_ = 0;
};

/// η_min + (η₀ − η_min)(1 + cos(π · epoch / epochs)) / 2, reaching η_min at the last epoch.
class CosineLr : public LrSchedule {
 public:
  CosineLr(double lr0, int epochs, double lr_min = 0.0);
  double lr() const override;
  void epoch_end(double) override { ++epoch_; }
  std::string describe() const override;

 private:
  double lr0_, lr_min_;
  int epochs_, epoch_ = 0;
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
