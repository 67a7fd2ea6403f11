// PyTorch cross-check of the losses with options (nabla/losses.hpp) and their nn:: modules
// (nabla/nn_loss.hpp): tests/data/loss_reference.json, written by scripts/loss_reference.py with the
// reference environment's PyTorch, holds each case's options, input, target, output and the gradients
// of sum(output · w); nabla's functional loss and its module must give them to 1e-12 in float64.
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "torch_json.hpp"

using namespace nabla;
using json = nlohmann::json;
using nabla_test::decode;
using nabla_test::worst;

namespace {

Reduction reduction_of(const json& o) {
  const std::string r = o.value("reduction", "mean");
  if (r == "none") return Reduction::none;
  if (r == "sum") return Reduction::sum;
  if (r == "batchmean") return Reduction::batchmean;
  REQUIRE(r == "mean");
  return Reduction::mean;
}

Tensor option_tensor(const json& c, const char* name) {
  const json& t = c.at("option_tensors");
  return t.contains(name) ? decode(t.at(name)) : Tensor{};
}

/// The case's loss as a module with its options (the functional form is the module's forward).
std::unique_ptr<nn::Loss> module_of(const json& c) {
  const std::string loss = c.at("loss");
  const json& o = c.at("options");
  const Reduction r = reduction_of(o);
  if (loss == "mse_loss") return std::make_unique<nn::MSELoss>(nn::MSELossOptions{.reduction = r});
  if (loss == "l1_loss") return std::make_unique<nn::L1Loss>(nn::L1LossOptions{.reduction = r});
  if (loss == "smooth_l1_loss") {
    return std::make_unique<nn::SmoothL1Loss>(nn::SmoothL1LossOptions{.reduction = r, .beta = o.value("beta", 1.0)});
  }
  if (loss == "huber_loss") {
    return std::make_unique<nn::HuberLoss>(nn::HuberLossOptions{.reduction = r, .delta = o.value("delta", 1.0)});
  }
  if (loss == "kl_div") {
    return std::make_unique<nn::KLDivLoss>(nn::KLDivLossOptions{.reduction = r, .log_target = o.value("log_target", false)});
  }
  if (loss == "binary_cross_entropy") {
    return std::make_unique<nn::BCELoss>(nn::BCELossOptions{.weight = option_tensor(c, "weight"), .reduction = r});
  }
  if (loss == "binary_cross_entropy_with_logits") {
    return std::make_unique<nn::BCEWithLogitsLoss>(nn::BCEWithLogitsLossOptions{
        .weight = option_tensor(c, "weight"), .reduction = r, .pos_weight = option_tensor(c, "pos_weight")});
  }
  if (loss == "nll_loss") {
    return std::make_unique<nn::NLLLoss>(nn::NLLLossOptions{
        .weight = option_tensor(c, "weight"), .ignore_index = o.value("ignore_index", std::int64_t{-100}), .reduction = r});
  }
  REQUIRE(loss == "cross_entropy");
  return std::make_unique<nn::CrossEntropyLoss>(
      nn::CrossEntropyLossOptions{.weight = option_tensor(c, "weight"),
                                  .ignore_index = o.value("ignore_index", std::int64_t{-100}),
                                  .reduction = r,
                                  .label_smoothing = o.value("label_smoothing", 0.0)});
}

/// The functional loss with the case's options.
Tensor functional(const json& c, const Tensor& x, const Tensor& y) {
  const std::string loss = c.at("loss");
  const json& o = c.at("options");
  const Reduction r = reduction_of(o);
  if (loss == "mse_loss") return mse_loss(x, y, {.reduction = r});
  if (loss == "l1_loss") return l1_loss(x, y, {.reduction = r});
  if (loss == "smooth_l1_loss") return smooth_l1_loss(x, y, {.reduction = r, .beta = o.value("beta", 1.0)});
  if (loss == "huber_loss") return huber_loss(x, y, {.reduction = r, .delta = o.value("delta", 1.0)});
  if (loss == "kl_div") return kl_div(x, y, {.reduction = r, .log_target = o.value("log_target", false)});
  if (loss == "binary_cross_entropy") return binary_cross_entropy(x, y, {.weight = option_tensor(c, "weight"), .reduction = r});
  if (loss == "binary_cross_entropy_with_logits") {
    return binary_cross_entropy_with_logits(
        x, y, {.weight = option_tensor(c, "weight"), .reduction = r, .pos_weight = option_tensor(c, "pos_weight")});
  }
  if (loss == "nll_loss") {
    return nll_loss(x, y, {.weight = option_tensor(c, "weight"),
                           .ignore_index = o.value("ignore_index", std::int64_t{-100}),
                           .reduction = r});
  }
  REQUIRE(loss == "cross_entropy");
  return cross_entropy(x, y, {.weight = option_tensor(c, "weight"),
                              .ignore_index = o.value("ignore_index", std::int64_t{-100}),
                              .reduction = r,
                              .label_smoothing = o.value("label_smoothing", 0.0)});
}

}  // namespace

TEST_CASE("PyTorch cross-check of the losses with options and their modules: values and gradients, 1e-12 in float64") {
  std::ifstream in(NABLA_TEST_DATA_DIR "/loss_reference.json");
  REQUIRE(in.good());
  const json all = json::parse(in);
  const json& cases = all.at("cases");
  REQUIRE(cases.size() >= 240);
  double worst_value = 0, worst_grad = 0;
  std::map<std::string, int> per_loss;
  int compared = 0;
  for (const json& c : cases) {
    CAPTURE(c.at("loss").get<std::string>());
    CAPTURE(c.at("options").dump());
    CAPTURE(c.at("input").at("shape").dump());
    ++per_loss[c.at("loss")];
    for (int form = 0; form < 2; ++form) {  // 0: functional, 1: module
      CAPTURE(form);
      const std::vector<std::string> grad_of = c.at("grad_of");
      auto wants = [&](const char* n) { return std::find(grad_of.begin(), grad_of.end(), n) != grad_of.end(); };
      Tensor x = decode(c.at("input")), y = decode(c.at("target"));
      if (wants("input")) x.requires_grad(true);
      if (wants("target")) y.requires_grad(true);
      Tensor out;
      if (form == 0) {
        out = functional(c, x, y);
      } else {
        auto m = module_of(c);
        out = (*m)(x, y);
      }
      const double wv = worst(out, decode(c.at("output")));
      CHECK(wv <= 1e-12);
      worst_value = std::max(worst_value, wv);
      sum(out * decode(c.at("w"))).backward();
      for (const std::string& name : grad_of) {
        CAPTURE(name);
        const Tensor& g = name == "input" ? x.grad() : y.grad();
        REQUIRE(g.defined());
        const double wg = worst(g, decode(c.at("grads").at(name)));
        CHECK(wg <= 1e-12);
        worst_grad = std::max(worst_grad, wg);
      }
      ++compared;
    }
  }
  std::string counts;
  for (const auto& [k, n] : per_loss) counts += fmt::format(" {} {},", k, n);
  MESSAGE(fmt::format("loss cross-check: {} PyTorch {} cases ({} calls: functional and module);{} worst value "
                      "error {:.3g}, worst gradient error {:.3g}",
                      cases.size(), all.at("torch").get<std::string>(), compared, counts, worst_value, worst_grad));
  CHECK(per_loss.size() == 9);
}
