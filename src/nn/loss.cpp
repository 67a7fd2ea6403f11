// src/nn/loss.cpp — the loss modules (nabla/nn_loss.hpp): each calls its functional loss
// (ops/losses.cpp, ops/losses_nll.cpp) with its options; weights are buffers.
#include <fmt/format.h>

#include "nabla/error.hpp"
#include "nabla/nn_loss.hpp"

namespace nabla::nn {

Tensor Loss::operator()(const Tensor& input, const Tensor& target) {
  Tensor y;
  run_scoped([&] { y = forward(input, target); });
  return y;
}

Tensor Loss::forward(const Tensor& x) {
  throw ValueError(fmt::format("{}: a loss takes (input, target), got one tensor {}; call it as loss(input, target)",
                               describe(), x.defined() ? fmt::format("{}", x.shape()) : std::string("(undefined)")));
}

namespace {

std::string reduction_part(Reduction r) {
  return r == Reduction::mean ? std::string() : fmt::format("reduction={}", to_string(r));
}

/// "Name(a, b)" from the non-empty parts.
std::string describe_parts(std::string_view name, std::initializer_list<std::string> parts) {
  std::string s(name);
  s += '(';
  bool first = true;
  for (const std::string& p : parts) {
    if (p.empty()) continue;
    if (!first) s += ", ";
    s += p;
    first = false;
  }
  return s + ')';
}

}  // namespace

MSELoss::MSELoss(MSELossOptions opts) : opts_(opts) {}
Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return mse_loss(input, target, opts_); }
std::string MSELoss::describe() const { return describe_parts("MSELoss", {reduction_part(opts_.reduction)}); }

L1Loss::L1Loss(L1LossOptions opts) : opts_(opts) {}
Tensor L1Loss::forward(const Tensor& input, const Tensor& target) { return l1_loss(input, target, opts_); }
std::string L1Loss::describe() const { return describe_parts("L1Loss", {reduction_part(opts_.reduction)}); }

SmoothL1Loss::SmoothL1Loss(SmoothL1LossOptions opts) : opts_(opts) {}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) { return smooth_l1_loss(input, target, opts_); }
std::string SmoothL1Loss::describe() const {
  return describe_parts("SmoothL1Loss", {reduction_part(opts_.reduction),
                                         opts_.beta == 1.0 ? std::string() : fmt::format("beta={}", opts_.beta)});
}

HuberLoss::HuberLoss(HuberLossOptions opts) : opts_(opts) {}
Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) { return huber_loss(input, target, opts_); }
std::string HuberLoss::describe() const {
  return describe_parts("HuberLoss", {reduction_part(opts_.reduction),
                                      opts_.delta == 1.0 ? std::string() : fmt::format("delta={}", opts_.delta)});
}

KLDivLoss::KLDivLoss(KLDivLossOptions opts) : opts_(opts) {}
Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) { return kl_div(input, target, opts_); }
std::string KLDivLoss::describe() const {
  return describe_parts("KLDivLoss",
                        {reduction_part(opts_.reduction), opts_.log_target ? std::string("log_target=true") : ""});
}

BCELoss::BCELoss(BCELossOptions opts) : opts_(std::move(opts)) {
  if (opts_.weight.defined()) opts_.weight = register_buffer("weight", opts_.weight);
}
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) { return binary_cross_entropy(input, target, opts_); }
std::string BCELoss::describe() const {
  return describe_parts("BCELoss", {reduction_part(opts_.reduction), opts_.weight.defined() ? "weight" : ""});
}

BCEWithLogitsLoss::BCEWithLogitsLoss(BCEWithLogitsLossOptions opts) : opts_(std::move(opts)) {
  if (opts_.weight.defined()) opts_.weight = register_buffer("weight", opts_.weight);
  if (opts_.pos_weight.defined()) opts_.pos_weight = register_buffer("pos_weight", opts_.pos_weight);
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return binary_cross_entropy_with_logits(input, target, opts_);
}
std::string BCEWithLogitsLoss::describe() const {
  return describe_parts("BCEWithLogitsLoss", {reduction_part(opts_.reduction), opts_.weight.defined() ? "weight" : "",
                                              opts_.pos_weight.defined() ? "pos_weight" : ""});
}

NLLLoss::NLLLoss(NLLLossOptions opts) : opts_(std::move(opts)) {
  if (opts_.weight.defined()) opts_.weight = register_buffer("weight", opts_.weight);
}
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) { return nll_loss(input, target, opts_); }
std::string NLLLoss::describe() const {
  return describe_parts(
      "NLLLoss", {opts_.weight.defined() ? "weight" : "",
                  opts_.ignore_index == -100 ? std::string() : fmt::format("ignore_index={}", opts_.ignore_index),
                  reduction_part(opts_.reduction)});
}

CrossEntropyLoss::CrossEntropyLoss(CrossEntropyLossOptions opts) : opts_(std::move(opts)) {
  if (opts_.weight.defined()) opts_.weight = register_buffer("weight", opts_.weight);
}
Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return cross_entropy(input, target, opts_);
}
std::string CrossEntropyLoss::describe() const {
  return describe_parts(
      "CrossEntropyLoss",
      {opts_.weight.defined() ? "weight" : "",
       opts_.ignore_index == -100 ? std::string() : fmt::format("ignore_index={}", opts_.ignore_index),
       reduction_part(opts_.reduction),
       opts_.label_smoothing == 0 ? std::string() : fmt::format("label_smoothing={}", opts_.label_smoothing)});
}

}  // namespace nabla::nn
