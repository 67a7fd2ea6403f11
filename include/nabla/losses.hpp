// nabla/losses.hpp — the losses of torch.nn.functional, with PyTorch's names, options, defaults and
// semantics (ops/losses.cpp, ops/losses_nll.cpp). The book's costs (quadratic_cost, the two-argument
// binary_cross_entropy, binary_cross_entropy_with_logits and nll_loss, softmax_cross_entropy) are in
// nabla/ops.hpp and keep the book's 1/n over the batch; a call with an options struct is PyTorch's:
//
//   Tensor l = cross_entropy(logits, labels);                          // mean over the batch
//   Tensor s = nll_loss(log_softmax(z, 1), labels, {.reduction = Reduction::sum});
//   Tensor b = binary_cross_entropy_with_logits(z, y, {.pos_weight = pw});
//
// Each loss is composed of differentiable ops, so its gradient has one formula and create_graph
// (second derivatives) works through it. Bad shapes, dtypes, labels or options are a nabla::Error
// naming the loss, the shapes and what was expected.
#pragma once

#include <cstdint>
#include <string_view>

#include "nabla/tensor.hpp"

namespace nabla {

/// How a loss reduces its elementwise values (torch's reduction): none (the elementwise tensor),
/// mean (PyTorch's default), sum; batchmean (the sum over the batch size, input.shape[0]) is kl_div's only.
enum class Reduction { none, mean, sum, batchmean };
std::string_view to_string(Reduction r);

struct MSELossFuncOptions {
  Reduction reduction = Reduction::mean;
};
struct L1LossFuncOptions {
  Reduction reduction = Reduction::mean;
};
struct SmoothL1LossFuncOptions {
  Reduction reduction = Reduction::mean;
  double beta = 1.0;  // ≥ 0; 0 is l1_loss
};
struct HuberLossFuncOptions {
  Reduction reduction = Reduction::mean;
  double delta = 1.0;  // > 0
};
struct KLDivFuncOptions {
  Reduction reduction = Reduction::mean;  // PyTorch's default; batchmean is the mathematical KL divergence
  bool log_target = false;
};
struct BinaryCrossEntropyFuncOptions {
  Tensor weight{};  // undefined, or broadcastable to the input: each element's rescaling
  Reduction reduction = Reduction::mean;
};
struct BinaryCrossEntropyWithLogitsFuncOptions {
  Tensor weight{};      // undefined, or broadcastable to the input
  Reduction reduction = Reduction::mean;
  Tensor pos_weight{};  // undefined, or broadcastable to the input along its last axis ([C]): positives' weight
};
struct NLLLossFuncOptions {
  Tensor weight{};                     // undefined, or [C]: each class's weight
  std::int64_t ignore_index = -100;  // targets equal to it add nothing (nor to mean's denominator)
  Reduction reduction = Reduction::mean;
};
struct CrossEntropyFuncOptions {
  Tensor weight{};  // undefined, or [C]
  std::int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
  double label_smoothing = 0.0;  // in [0, 1]
};

/// (input − target)², reduced. input and target of the same shape (PyTorch broadcasts with a warning;
/// nabla refuses).
Tensor mse_loss(const Tensor& input, const Tensor& target, MSELossFuncOptions opts = {});
/// |input − target|, reduced.
Tensor l1_loss(const Tensor& input, const Tensor& target, L1LossFuncOptions opts = {});
/// 0.5 d²/β where |d| < β, else |d| − 0.5 β, with d = input − target (β = 0: |d|).
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, SmoothL1LossFuncOptions opts = {});
/// 0.5 d² where |d| < δ, else δ (|d| − 0.5 δ).
Tensor huber_loss(const Tensor& input, const Tensor& target, HuberLossFuncOptions opts = {});
/// The Kullback–Leibler divergence with input = log q: target (log target − input), 0 where target is 0;
/// log_target: e^target (target − input).
Tensor kl_div(const Tensor& input, const Tensor& target, KLDivFuncOptions opts = {});
/// −w [y ln a + (1 − y) ln(1 − a)] on probabilities a (each log floored at −100, as PyTorch), reduced.
/// With options this is PyTorch's loss (mean over every element); the book's two-argument form in
/// nabla/ops.hpp sums over the classes and averages over the batch only.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, BinaryCrossEntropyFuncOptions opts);
/// The same on logits z, stable: w [(1 − y) z + (1 + (p − 1) y) (−ln σ(z))] with p = pos_weight.
/// With options this is PyTorch's loss (mean over every element); see binary_cross_entropy.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        BinaryCrossEntropyWithLogitsFuncOptions opts);
/// −w_y input[n, y, d…] for log-probabilities input [N, C, d1, …] (or [N, C], or [C] with a 0-d
/// target) and int64 targets [N, d1, …] in [0, C) or ignore_index. mean is Σ w_y l / Σ w_y over the
/// targets not ignored (NaN when all are). The book's two-argument nll_loss is this one's default
/// for [N, C].
Tensor nll_loss(const Tensor& input, const Tensor& target, NLLLossFuncOptions opts);
/// nll_loss(log_softmax(input, 1), target) with label smoothing ε: (1 − ε) nll + ε/C Σ_c −w_c
/// log_softmax_c (mean over the same Σ w_y). A floating target of input's shape holds class
/// probabilities instead: −Σ_c w_c y_c log_softmax_c, mean over the N·d1… positions.
Tensor cross_entropy(const Tensor& input, const Tensor& target, CrossEntropyFuncOptions opts = {});

namespace detail {
/// The reduction of an elementwise loss l (batchmean over `batch`); `loss` names it in errors.
Tensor reduce_loss(std::string_view loss, const Tensor& l, Reduction r, std::int64_t batch = 1);
}  // namespace detail

}  // namespace nabla
