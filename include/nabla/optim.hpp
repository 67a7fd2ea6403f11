// nabla/optim.hpp — stochastic gradient descent (plain, momentum, Nesterov) with the book's L2 and
// L1 terms and gradient-norm clipping; learning-rate schedules; early stopping.
//
//   optim::Sgd opt(net.parameters(), {.lr = 0.5, .l2 = 5.0, .n = 50000});
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
#include <string>
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
  double clip_norm = 0.0;   // if > 0, gradients are rescaled so their joint L2 norm is at most this
};

class Sgd {
 public:
  Sgd(std::vector<nn::Param> params, SgdOptions opts);

  /// Forgets every parameter's gradient.
  void zero_grad();
  /// One update of every parameter from its .grad (parameters without a gradient are skipped).
  void step();

  double lr() const { return opts_.lr; }
  void set_lr(double lr);
  const SgdOptions& options() const { return opts_; }
  std::int64_t steps() const { return steps_; }
  /// The joint L2 norm of the parameters' gradients as they are now (computed on each call; after
  /// step() and before zero_grad() that is the norm the step used, before clipping).
  double grad_norm() const;
  const std::vector<nn::Param>& params() const { return params_; }

  /// Momentum buffers ("velocity.<parameter name>") and the step count ("steps", a 0-d int64).
  std::map<std::string, Tensor> state() const;
  /// Restores state(); checks every name, shape and dtype first (ValueError, nothing changed).
  void load_state(const std::map<std::string, Tensor>& state);

 private:
  std::vector<nn::Param> params_;
  std::vector<Tensor> velocity_;  // empty when momentum is 0
  SgdOptions opts_;
  std::int64_t steps_ = 0;
};

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
