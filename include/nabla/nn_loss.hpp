// nabla/nn_loss.hpp — the loss modules of torch.nn, each the module form of a loss in
// nabla/losses.hpp with the same options (nn::CrossEntropyLossOptions is CrossEntropyFuncOptions, as
// libtorch's), called with two inputs:
//
//   nn::CrossEntropyLoss criterion({.label_smoothing = 0.1});
//   Tensor loss = criterion(logits, labels);
//
// A loss module's weight (and BCEWithLogitsLoss's pos_weight) is a buffer, as PyTorch's, so it is in
// state() and follows Module::to(dtype). Module's one-tensor forward(x) is refused with an error
// naming the module: a loss takes (input, target).
#pragma once

#include <string>

#include "nabla/losses.hpp"
#include "nabla/nn_module.hpp"

namespace nabla::nn {

/// The base of the loss modules: forward(input, target), and a call operator taking the same that puts
/// the module on the anomaly module path (Module::run_scoped).
class Loss : public Module {
 public:
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target);
  /// A ValueError: "CrossEntropyLoss(...): a loss takes (input, target), got one tensor".
  Tensor forward(const Tensor& x) override;
  using Module::operator();
};

using MSELossOptions = MSELossFuncOptions;
using L1LossOptions = L1LossFuncOptions;
using SmoothL1LossOptions = SmoothL1LossFuncOptions;
using HuberLossOptions = HuberLossFuncOptions;
using KLDivLossOptions = KLDivFuncOptions;
using BCELossOptions = BinaryCrossEntropyFuncOptions;
using BCEWithLogitsLossOptions = BinaryCrossEntropyWithLogitsFuncOptions;
using NLLLossOptions = NLLLossFuncOptions;
using CrossEntropyLossOptions = CrossEntropyFuncOptions;

/// Declares a loss module `Name` with options `Opts` calling the functional loss.
#define NABLA_LOSS_MODULE(Name, Opts)                                      \
  class Name : public Loss {                                               \
   public:                                                                 \
    explicit Name(Opts opts = {});                                         \
    using Loss::forward;                                                   \
    Tensor forward(const Tensor& input, const Tensor& target) override;    \
    std::string describe() const override;                                 \
    const Opts& options() const { return opts_; }                          \
                                                                           \
   private:                                                                \
    Opts opts_;                                                            \
  };

NABLA_LOSS_MODULE(MSELoss, MSELossOptions)
NABLA_LOSS_MODULE(L1Loss, L1LossOptions)
NABLA_LOSS_MODULE(SmoothL1Loss, SmoothL1LossOptions)
NABLA_LOSS_MODULE(HuberLoss, HuberLossOptions)
NABLA_LOSS_MODULE(KLDivLoss, KLDivLossOptions)
NABLA_LOSS_MODULE(BCELoss, BCELossOptions)
NABLA_LOSS_MODULE(BCEWithLogitsLoss, BCEWithLogitsLossOptions)
NABLA_LOSS_MODULE(NLLLoss, NLLLossOptions)
NABLA_LOSS_MODULE(CrossEntropyLoss, CrossEntropyLossOptions)

#undef NABLA_LOSS_MODULE

}  // namespace nabla::nn
