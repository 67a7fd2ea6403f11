// nabla/optim.hpp — optimizers on one base (optim::Optimizer: parameter groups, the loop over
// parameters and their float type, state for checkpoints), with torch.optim's names: SGD (plain,
// momentum, Nesterov, with the book's L2 and L1 terms and gradient-norm clipping), Adam, AdamW,
// RMSprop and Adagrad. Learning-rate schedules, which work with every optimizer, and early
// stopping are in nabla/lr_scheduler.hpp (included).
//
//   optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});  // as libtorch
//   optim::SGD book(net.parameters(), {.lr = 0.5, .l2 = 5.0, .n = 50000});  // the book's λ = 5 over n
//   optim::Adam adam(net.parameters(), {.lr = 1e-3, .betas = {0.9, 0.999}});
//   opt.zero_grad(); cost.backward(); opt.step();
//
// SGD's update for each parameter w with gradient ∇C0 (book ch. 3), with g = ∇C0 + λ₂ w + λ₁ sgn(w)
// (λ₂ is weight_decay, applied to every parameter as torch's, or the book's l2/n; λ₁ the book's l1/n;
// the book's terms only for parameters with decay, i.e. weights — biases are excluded, as in the book):
//   plain     w → w − η g                     (with L2 this is w → (1 − ηλ/n) w − η ∇C0, eq. 93)
//   momentum  v → μ v − η g,  w → w + v        (eq. 107–108)
//   Nesterov  v → μ v − η g,  w → w + μ v − η g
// The Nesterov form is Sutskever et al. (2013)'s v → μv − η∇C(w + μv), w → w + v rewritten in
// terms of the look-ahead point w + μv, which is what is stored, so the gradient is taken where the
// parameters are (Bengio et al. 2013, eq. 7). The velocity v is −η times torch's momentum buffer, so
// with a constant η the steps are torch.optim.SGD's.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/lr_scheduler.hpp"  // the schedules, which set an optimizer's lr
#include "nabla/nn.hpp"  // nn::Param, and the modules optimizers are used with
#include "nabla/tensor.hpp"

namespace nabla::optim {

/// Parameters with their own learning rate and weight decay (torch.optim's param_groups). An
/// unset (NaN) field takes the optimizer's option.
struct ParamGroup {
  std::vector<nn::Param> params;
  double lr = std::numeric_limits<double>::quiet_NaN();
  double weight_decay = std::numeric_limits<double>::quiet_NaN();
};

/// One parameter's update as an optimizer writes it, in the parameter's float type T (float or
/// double): its values, its gradient, its buffers, and its group's options at this step.
template <class T>
struct ParamUpdate {
  static constexpr std::size_t kMaxBuffers = 4;
  T* w;                                  // the parameter's values, updated in place
  const T* g;                            // its gradient
  std::int64_t n;                        // the elements of both and of each buffer
  std::array<T*, kMaxBuffers> buffer;    // buffer[b]: the b-th add_buffer's, for this parameter
  double lr;                             // the group's learning rate now
  double weight_decay;                   // the group's weight decay (every parameter, as torch.optim)
  bool decay;                            // nn::Param::decay (weights yes, biases no): where SGD's book terms apply
  std::int64_t step;                     // the count of this step, 1 for the first
};

/// What every optimizer shares: parameter groups, zero_grad, the learning rate a schedule sets, a
/// step count, a state that checkpoints save and load (nabla/io.hpp), and step() itself: the loop
/// over the parameters and their float type, which calls the optimizer's update() for each.
/// Weight decay, in every optimizer, applies to every parameter of its group, as torch.optim's (to
/// exempt biases, give them a group with weight_decay 0: split_decay below). Only SGD's book terms
/// (l2, l1 over n) follow nn::Param::decay, applying to weights and not biases, as in the book.
///
/// An optimizer is a constructor (checks its options, names its buffers with add_buffer) and an
/// update() per float type, usually both one template:
///   void update(const ParamUpdate<float>& u) override { my_update(u, opts_); }
///   void update(const ParamUpdate<double>& u) override { my_update(u, opts_); }
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// The class name ("SGD", "RMSprop"), which names the optimizer in its errors.
  std::string_view name() const { return name_; }
  /// The name in lower case ("sgd", "rmsprop"): recorded in checkpoints, so that a checkpoint of
  /// one optimizer is refused by another.
  std::string_view kind() const { return kind_; }
  /// Forgets every parameter's gradient.
  void zero_grad();
  /// What step(closure) calls: zero_grad, forward, backward, and returns the loss (torch's closure).
  using Closure = std::function<Tensor()>;
  /// One update of every parameter from its .grad (parameters without a gradient are skipped).
  /// A parameter whose dtype or shape is no longer its gradient's or its buffers' (converted with
  /// Module::to after the optimizer was made) is a ValueError naming the optimizer and the
  /// parameter, before anything is updated or the step counted.
  virtual void step();
  /// Calls the closure (with grad mode on), then step(); returns the closure's loss (as
  /// torch.optim's step(closure)). LBFGS calls it several times per step.
  virtual Tensor step(const Closure& closure);
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
  /// `name` names the optimizer in errors and, in lower case, is its kind(); `lr` and
  /// `weight_decay` are the defaults of the groups. Each parameter must be a leaf that requires
  /// grad, and there must be at least one (as torch.optim): otherwise a ValueError.
  Optimizer(std::string_view name, std::vector<ParamGroup> groups, double lr, double weight_decay);
  /// What step() checks first (see there).
  void check_step() const;
  /// Called by step() after its checks and the step count, before any parameter is updated (SGD
  /// takes its clipping factor from the joint gradient norm here).
  virtual void begin_step() {}
  /// The update of one parameter (see ParamUpdate), in float32 and in float64.
  virtual void update(const ParamUpdate<float>& u) = 0;
  virtual void update(const ParamUpdate<double>& u) = 0;
  /// Adds a buffer per parameter (zeros, or `fill`), saved as "<name>.<parameter name>"; at most
  /// ParamUpdate::kMaxBuffers.
  void add_buffer(const std::string& name, double fill = 0.0);

 private:
  struct Group {
    double lr_factor, weight_decay;
  };
  struct Buffer {
    std::string name;
    std::vector<Tensor> tensors;
  };
  std::string name_, kind_;
  std::vector<nn::Param> params_;
  std::vector<std::size_t> group_of_;
  std::vector<Group> groups_;
  /// groups_[g], or a ValueError naming `what` when g is out of range.
  const Group& group(std::size_t g, const char* what) const;
  std::vector<Buffer> buffers_;
  double lr_;
  std::int64_t steps_ = 0;
};

/// torch.optim.SGD's options in its order, then nabla's: the book's L2 and L1 terms over the
/// training-set size n, on weights only (l2 = λ gives the weight decay λ/n on the parameters with
/// nn::Param::decay; set weight_decay or l2, not both) and
/// gradient-norm clipping. dampening as torch's (the first step undamped); Nesterov needs momentum
/// and no dampening. State: "velocity.*" (with momentum), "steps".
struct SGDOptions {
  double lr = 0.1;            // η
  double momentum = 0.0;      // μ; 0 is plain SGD
  double dampening = 0.0;     // v → μ v − η (1 − dampening) g
  double weight_decay = 0.0;  // λ₂ itself: g + λ₂ w, on every parameter (torch's)
  bool nesterov = false;
  bool maximize = false;      // ascend: −∇C in place of ∇C
  double l2 = 0.0;            // the book's λ of the L2 term λ/(2n) Σ w²: weight decay λ/n on weights only
  double l1 = 0.0;            // the book's λ of the L1 term λ/n Σ |w|
  std::int64_t n = 0;         // training-set size, the n of λ/n; required when l2 or l1 > 0
  double clip_norm = 0.0;     // if > 0, gradients are rescaled so their joint L2 norm is at most this (NaN refused)
};
class SGD : public Optimizer {
 public:
  SGD(std::vector<nn::Param> params, SGDOptions opts);
  /// A group's weight_decay is its λ₂ as it is (not over n).
  SGD(std::vector<ParamGroup> groups, SGDOptions opts);
  const SGDOptions& options() const { return opts_; }

 protected:
  void begin_step() override;
  void update(const ParamUpdate<float>& u) override;
  void update(const ParamUpdate<double>& u) override;

 private:
  SGDOptions opts_;
  double l2_ = 0, l1_ = 0, clip_ = 1;  // the book's λ₂/n and λ₁/n (weights only); this step's clipping factor
};

/// Adam (Kingma & Ba, 2015), as torch.optim.Adam: g = ∇C + λ w (L2, where decay);
/// m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g², w ← w − η m̂ / (√v̂ + ε) with the bias corrections
/// m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ). State: "exp_avg.*", "exp_avg_sq.*", "steps".
struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;   // v̂ from the running maximum of v (Reddi et al., 2018); state "max_exp_avg_sq.*"
  bool maximize = false;  // ascend: −∇C in place of ∇C
};
class Adam : public Optimizer {
 public:
  Adam(std::vector<nn::Param> params, AdamOptions opts = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions opts = {});
  const AdamOptions& options() const { return opts_; }

 protected:
  Adam(std::string_view name, std::vector<ParamGroup> groups, AdamOptions opts, bool decoupled);
  void update(const ParamUpdate<float>& u) override;
  void update(const ParamUpdate<double>& u) override;

 private:
  AdamOptions opts_;
  bool decoupled_;
};

/// AdamW (Loshchilov & Hutter, 2019), as torch.optim.AdamW: the decay taken out of the gradient and
/// applied to the weights directly, w ← w − η λ w, then Adam's step on ∇C. weight_decay 0.01 by default.
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool amsgrad = false;
  bool maximize = false;
};
class AdamW : public Adam {
 public:
  AdamW(std::vector<nn::Param> params, AdamWOptions opts = {});
  AdamW(std::vector<ParamGroup> groups, AdamWOptions opts = {});
};

/// RMSprop (Hinton), as torch.optim.RMSprop: v ← α v + (1 − α) g², a = √v + ε (centered:
/// ḡ ← α ḡ + (1 − α) g, a = √(v − ḡ²) + ε); without momentum w ← w − η g / a, with it
/// b ← μ b + g / a, w ← w − η b. State: "square_avg.*", "momentum_buffer.*" (with momentum),
/// "grad_avg.*" (centered), "steps".
struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
  bool maximize = false;
};
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<nn::Param> params, RMSpropOptions opts = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions opts = {});
  const RMSpropOptions& options() const { return opts_; }

 protected:
  void update(const ParamUpdate<float>& u) override;
  void update(const ParamUpdate<double>& u) override;

 private:
  RMSpropOptions opts_;
};

/// Adagrad (Duchi et al., 2011), as torch.optim.Adagrad: s ← s + g², w ← w − η_t g / (√s + ε) with
/// η_t = η / (1 + (t − 1) lr_decay). State: "sum.*", "steps".
struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
  bool maximize = false;
};
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<nn::Param> params, AdagradOptions opts = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions opts = {});
  const AdagradOptions& options() const { return opts_; }

 protected:
  void update(const ParamUpdate<float>& u) override;
  void update(const ParamUpdate<double>& u) override;

 private:
  AdagradOptions opts_;
};

/// L-BFGS, as torch.optim.LBFGS (after minFunc): each step(closure) runs up to max_iter
/// iterations of limited-memory BFGS over all parameters as one vector (history_size pairs), with
/// a fixed step lr (the first iteration min(1, 1/‖g‖₁)·lr) or a strong-Wolfe line search
/// (line_search_fn "strong_wolfe", torch's _strong_wolfe and _cubic_interpolate); stops when the
/// largest |gradient| ≤ tolerance_grad, the loss or the step changes by less than
/// tolerance_change, or after max_eval closure calls (−1: max_iter · 5 / 4). One group, no weight
/// decay. The closure must zero the gradients, recompute the loss and call backward. The history
/// lives in the optimizer and is not part of state() (checkpoints restart it).
///   optim::LBFGS opt(net.parameters(), {.lr = 1, .line_search_fn = "strong_wolfe"});
///   opt.step([&] { opt.zero_grad(); Tensor loss = mse(net(x), y); loss.backward(); return loss; });
struct LBFGSOptions {
  double lr = 1.0;
  std::int64_t max_iter = 20;
  std::int64_t max_eval = -1;  // −1: max_iter * 5 / 4
  double tolerance_grad = 1e-7;
  double tolerance_change = 1e-9;
  std::int64_t history_size = 100;
  std::string line_search_fn = "";  // "" (none) or "strong_wolfe"
  bool maximize = false;
};
class LBFGS : public Optimizer {
 public:
  LBFGS(std::vector<nn::Param> params, LBFGSOptions opts = {});
  const LBFGSOptions& options() const { return opts_; }
  /// LBFGS needs the closure: a ValueError.
  void step() override;
  Tensor step(const Closure& closure) override;

 protected:
  void update(const ParamUpdate<float>& u) override;
  void update(const ParamUpdate<double>& u) override;

 private:
  LBFGSOptions opts_;
  struct History;
  std::shared_ptr<History> h_;
};

/// The parameters in two groups, those with nn::Param::decay (weights) and then those without
/// (biases, batch-norm scales and shifts) with weight_decay 0: torch's idiom for decaying weights
/// only. An empty group is left out.
///   optim::AdamW opt(optim::split_decay(net.parameters()), {.lr = 1e-3, .weight_decay = 0.01});
std::vector<ParamGroup> split_decay(std::vector<nn::Param> params);

/// Rescales the gradients of `params` in place so that their joint L2 norm is at most `max_norm`
/// (torch.nn.utils.clip_grad_norm_); parameters without a gradient are skipped. Returns the norm
/// before clipping. Call it between backward() and step(), e.g. for recurrent nets.
double clip_grad_norm_(const std::vector<nn::Param>& params, double max_norm);

}  // namespace nabla::optim
