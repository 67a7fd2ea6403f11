// nabla/inspect.hpp — seeing what backpropagation does: the book's BP1–BP4 checked live against
// autodiff, per-layer learning speed and saturation (book ch. 5), pictures of the recorded graph,
// anomaly mode for NaN and infinities, and advice on cost/output pairings (book ch. 3).
//
//   auto report = inspect::bp_check(net, x, y, inspect::Cost::cross_entropy);
//   fmt::print("{}", report.to_string());        // per layer: δ, ∂C/∂b, ∂C/∂w against autodiff
//
//   { inspect::AnomalyGuard guard; cost = model(x) ...; cost.backward(); }   // throws at the first NaN
//   inspect::write_dot(cost, "graph.svg");                                  // Graphviz picture
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/nn.hpp"
#include "nabla/op.hpp"
#include "nabla/tensor.hpp"

namespace nabla::inspect {

// ---- BP1–BP4 in closed form, against autodiff -----------------------------------------------------

/// The costs BP1 can be written for (book ch. 2–3), each the mean over the batch:
///   quadratic       C = 1/(2n) Σ ‖y − a‖²        δ^L = (a − y) ⊙ σ′(z^L)            (BP1, eq. 30)
///   cross_entropy   C = −1/n Σ y ln a + (1−y) ln(1−a), with a sigmoid output layer: δ^L = a − y (eq. 66);
///                   a network that ends in a Linear layer is taken as logits (binary_cross_entropy_with_logits)
///   log_likelihood  C = −1/n Σ ln a_y with a softmax output layer: δ^L = a − y (eq. 84); the network ends in
///                   a Linear layer (logits, softmax_cross_entropy) or in nn::Softmax (nll_loss of its log)
enum class Cost { quadratic, cross_entropy, log_likelihood };

/// The largest differences in one layer l (a Linear layer and the activation after it), between
/// the book's closed forms and autodiff. `*_abs` is max |book − autodiff|; `*_rel` divides it by
/// the largest |book| value of that quantity (0 when both are 0).
struct BpLayer {
  std::string name;  // "layer 2: Linear(30, 10) → Sigmoid"
  double delta_abs = 0, delta_rel = 0;    // δ^l of every example (BP1 for the last layer, BP2 below it)
  double bias_abs = 0, bias_rel = 0;      // ∂C/∂b^l (BP3)
  double weight_abs = 0, weight_rel = 0;  // ∂C/∂w^l (BP4)
};

struct BpReport {
  std::vector<BpLayer> layers;  // input side first
  /// The largest relative difference over every layer and quantity.
  double worst_relative() const;
  /// A table, one row per layer.
  std::string to_string() const;
};

/// Computes δ^l, ∂C/∂b^l and ∂C/∂w^l for the batch x [n, n_in] with targets y by BP1–BP4 in
/// closed form (in double, from the network's parameter values) and compares them with autodiff's
/// gradients of the same cost through the network's own modules. `net` must be Linear layers, each
/// followed by at most one of Sigmoid, Tanh, ReLU, LeakyReLU (and, for log_likelihood, a final
/// Softmax); anything else is a ValueError naming the layer. y is [n, n_out] (float) for quadratic
/// and cross_entropy, int64 labels [n] for log_likelihood. The parameters' .grad are left as they
/// were.
BpReport bp_check(nn::Sequential& net, const Tensor& x, const Tensor& y, Cost cost);

// ---- learning speed and saturation (book ch. 5) -----------------------------------------------------

/// One layer's learning speed on one batch.
struct LayerSpeed {
  std::string name;             // as in BpLayer
  double delta_norm = 0;        // ‖δ^l‖: root mean square over the batch of each example's ‖δ^{x,l}‖
  double bias_grad_norm = 0;    // ‖∂C/∂b^l‖ (the book's "speed of learning" of layer l)
  double weight_grad_norm = 0;  // ‖∂C/∂w^l‖
  /// Sigmoid and tanh layers: fraction of (unit, example) pairs with σ′(z) below the threshold;
  /// NaN for other activations.
  double saturated = std::numeric_limits<double>::quiet_NaN();
  /// ReLU and leaky ReLU layers: fraction of units with z ≤ 0 for every example of the batch;
  /// NaN for other activations.
  double dead = std::numeric_limits<double>::quiet_NaN();
};

/// Per layer, by autodiff through the network's modules (the same networks and costs bp_check
/// takes). Leaves the parameters' .grad as they were. `saturation`: the σ′ below which a sigmoid or
/// tanh unit counts as saturated (σ′ is at most 0.25 for sigmoid, 1 for tanh; in [0, 1], else a
/// ValueError).
std::vector<LayerSpeed> learning_speed(nn::Sequential& net, const Tensor& x, const Tensor& y, Cost cost,
                                       double saturation = 0.01);

/// What LearningMonitor::write_plot_data wrote: the layers, one data block each in this order, and
/// whether any layer has saturated or dead fractions.
struct LearningPlotData {
  std::vector<int> layers;
  bool saturated = false, dead = false;
};

/// Records learning_speed() over a training run into a CSV file (step, epoch, layer, delta_norm,
/// bias_grad_norm, weight_grad_norm, saturated, dead; one row per layer per call), and regroups it
/// for plotting. The library draws nothing; examples/book/vanishing.cpp plots the data with gnuplot.
class LearningMonitor {
 public:
  /// Creates (truncates) the CSV file; an IoError if it cannot.
  explicit LearningMonitor(std::string csv_path);
  void record(std::int64_t step, double epoch, const std::vector<LayerSpeed>& layers);
  const std::string& path() const { return path_; }
  /// Writes the recorded rows to `dat_path` regrouped into one block per layer (blocks separated by
  /// two blank lines, each headed "# layer l": gnuplot's `index`), each row "epoch ‖∂C/∂b^l‖
  /// saturated dead" with NaN where not measured. An IoError if it cannot write.
  LearningPlotData write_plot_data(const std::string& dat_path) const;

 private:
  std::string path_;
};

// ---- graph pictures -------------------------------------------------------------------------------

struct DotOptions {
  /// Ops farther than this from the output (in edges) are cut and shown as one "…" node; ≥ 0.
  int max_depth = 64;
  /// Runs of the same op sequence repeated back to back (e.g. layer after layer) are shown once,
  /// labelled "× N", when the run repeats at least three times.
  bool collapse_repeats = true;
};

/// The graph that produced `root` in Graphviz DOT: one box per op (name, output shape and dtype,
/// the module it was recorded in, and — after a backward under GradNormGuard — the norm of the
/// gradient at its output), one ellipse per leaf tensor that requires grad (shape, dtype, and its
/// .grad norm once backward has reached it), edges in the direction of the forward pass.
std::string to_dot(const Tensor& root, const DotOptions& opts = {});

/// Writes to_dot(root) to `path`. A path ending in .svg or .png is rendered with Graphviz's `dot`
/// (an IoError when it is not installed or fails); any other path gets the DOT text.
void write_dot(const Tensor& root, const std::string& path, const DotOptions& opts = {});

/// While alive (per thread), backward records at each op the L2 norm of the gradient reaching its
/// output, for to_dot and Node::grad_norm.
class GradNormGuard {
 public:
  GradNormGuard();
  ~GradNormGuard();
  GradNormGuard(const GradNormGuard&) = delete;
  GradNormGuard& operator=(const GradNormGuard&) = delete;

 private:
  bool prev_;
};

// ---- anomaly mode ---------------------------------------------------------------------------------

/// While alive (per thread), every op's forward output and every gradient its backward produces
/// are checked for NaN and infinities; the first one found throws NumericError naming the op,
/// forward or backward, its input shapes, whether its inputs were finite, and the module path it
/// was recorded in (nn::Sequential records "Sequential › [2] Linear(30, 10)"). Costs a pass over
/// every tensor: for finding a fault, not for every run.
class AnomalyGuard {
 public:
  AnomalyGuard();
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool prev_;
};

/// Adds a module to the module path while alive, in anomaly mode only (nn::Sequential and
/// Module::operator() use it; custom container modules can too).
class ModuleScope {
 public:
  explicit ModuleScope(std::string_view label);
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;

 private:
  std::size_t restore_ = std::string::npos;
};

// ---- sharpness --------------------------------------------------------------------------------------

struct SharpnessOptions {
  int iterations = 20;       // power-iteration steps at most
  double tolerance = 1e-4;   // stop once the estimate changes by less than this, relatively (finite, ≥ 0)
  std::uint64_t seed = 0;    // of the starting vector
};
struct Sharpness {
  double value = 0;          // the largest eigenvalue of the Hessian (in magnitude) — λ_max
  int iterations = 0;        // Hessian-vector products taken
};
/// The sharpness of the cost at the current parameters: the largest eigenvalue of the Hessian of
/// cost(net(x), labels) with respect to all of net's parameters, by power iteration on
/// Hessian-vector products (double backward; the Hessian is never formed). Gradient descent with
/// step η is stable along the top eigenvector only while λ_max < 2/η (book ch. 3, choosing η).
/// The module runs in its current mode (call eval() first to leave dropout out); no .grad changes.
Sharpness sharpness(nn::Module& net, const Tensor& x, const Tensor& labels,
                    const std::function<Tensor(const Tensor&, const Tensor&)>& cost, SharpnessOptions opts = {});

// ---- pairing advice ------------------------------------------------------------------------------

/// Costs print a one-time warning (each kind once per process) when their input looks paired
/// wrongly: probabilities (the output of sigmoid or softmax) fed to a cost that expects logits;
/// logits fed to one that expects probabilities or log-probabilities; a sigmoid output layer with
/// the quadratic cost on 0/1 targets, whose gradient carries σ′(z) and so learns slowly when the
/// neuron is badly wrong (book ch. 3, eqs. 55–56; the cross-entropy cost removes the factor).
/// Warnings go to the handler (default: stderr). Turn them off with set_warnings(false).
void set_warnings(bool on);
bool warnings_enabled();
/// Forgets which warnings were given, so each may be given once more.
void reset_warnings();
/// Replaces where warnings go (nullptr restores stderr); for tests and GUIs.
void set_warning_handler(std::function<void(std::string_view)> handler);

namespace detail {
/// The L2 norm of a tensor, and whether an AnomalyGuard is active on this thread (for tests; the
/// rest of the hooks the engine calls are in src/inspect/hooks.hpp).
double l2_norm(const Tensor& t);
bool anomaly_active();
}  // namespace detail

}  // namespace nabla::inspect
