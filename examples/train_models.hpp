// examples/train_models.hpp — nabla-train's models: the configuration of a run, one table entry per
// model (defaults, builder, cost, optimizer), and the checked reading of a configuration from a file's
// metadata.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nabla/nabla.hpp>

#include "run/metrics.hpp"

namespace nabla_train {

using namespace nabla;

/// Everything that determines a run; stored in the checkpoint so that --resume continues it.
struct Config {
  std::string model = "network2";
  std::string data = "fashion";
  std::string autocast = "none";  // bf16: forward passes under AutocastGuard (float32 master weights)
  std::string data_dir;
  std::int64_t hidden = 0;  // 0: the model's default
  std::int64_t batch = 0;  // 0: the model's default
  std::string optimizer = "sgd";  // sgd, adam or adamw (main sets the model's default; older checkpoints: sgd)
  double lr = 0;          // 0: the model's default
  double lambda = -1;     // sgd: the book's L2 λ (over n); < 0: the model's default
  double weight_decay = 0;  // adam: L2 λ added to the gradient; adamw: decoupled decay (torch's meanings)
  int warmup = 0;           // epochs of linear warmup of η from η/10 before the schedule
  double momentum = 0;
  bool nesterov = false;
  std::string schedule;  // empty: the model's default
  int patience = 3;      // for the halving schedule
  int step_epochs = 10;  // for the step schedule
  double gamma = 0.5;
  int early_stop = 0;
  std::uint64_t seed = 0;
  std::int64_t limit_train = 0, limit_test = 0;
  std::int64_t validation = -1;  // < 0: the data set's default
  double dropout = 0;            // network3: dropout before each fully connected layer
  int fc_layers = 1;             // network3: hidden fully connected layers of `hidden` units
  bool augment = false;          // network3, bn_cnn: shift by a pixel (and flip, for Fashion-MNIST) on the fly
};

// The one serialization of Config (checkpoint metadata, summary.json): every field by its name; a
// key missing from an older checkpoint takes its default.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Config, model, data, data_dir, hidden, batch, optimizer, lr, lambda, weight_decay,
                                                warmup, momentum, nesterov,
                                                schedule, patience, step_epochs, gamma, early_stop, seed, limit_train,
                                                limit_test, validation, dropout, fc_layers, augment)

// ---- the models: one table entry each (defaults, builder, cost, optimizer) ----------------------------

inline nn::Sequential network1(const Config& c, Generator& gen) {  // network.py: N(0, 1) weights, sigmoid output a = σ(z)
  return nn::Sequential{nn::Linear(784, c.hidden, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                        nn::Linear(c.hidden, 10, {.weight = nn::Init::standard_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid()};
}

// network2.py: N(0, 1/n_in) weights. The output layer's σ lives in the cost (below), so the model
// ends at z^L; argmax z = argmax σ(z), so accuracy is unchanged.
inline nn::Sequential network2(const Config& c, Generator& gen) {
  return nn::Sequential{nn::Linear(784, c.hidden, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::Sigmoid(),
                        nn::Linear(c.hidden, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
}

// network3.py's final network: conv 20@5×5 → max-pool 2×2 → ReLU → conv 40@5×5 → max-pool 2×2 → ReLU
// → fully connected 100, ReLU → softmax 10 (in the cost); dropout, if asked, on the inputs of the
// fully connected layers; the softmax layer starts at zero, as in network3.py.
inline nn::Sequential network3(const Config& c, Generator& gen) {
  nn::Sequential net{nn::Reshape({1, 28, 28}), nn::Conv2d(1, 20, 5, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::MaxPool2d(2), nn::ReLU(),
                     nn::Conv2d(20, 40, 5, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen), nn::MaxPool2d(2), nn::ReLU(), nn::Flatten()};
  std::int64_t width = 640;
  for (int l = 0; l < c.fc_layers; ++l) {
    if (c.dropout > 0) net.push_back(std::make_shared<nn::Dropout>(c.dropout, c.seed + std::uint64_t(l)));
    net.push_back(std::make_shared<nn::Linear>(width, c.hidden, nn::LinearOptions{.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen));
    net.push_back(std::make_shared<nn::ReLU>());
    width = c.hidden;
  }
  if (c.dropout > 0) net.push_back(std::make_shared<nn::Dropout>(c.dropout, c.seed + std::uint64_t(c.fc_layers)));
  net.push_back(std::make_shared<nn::Linear>(width, 10, nn::LinearOptions{.weight = nn::Init::zeros, .bias = nn::Init::zeros}, gen));
  return net;
}

// Beyond the book: a CNN with batch normalization for Fashion-MNIST under 100K parameters. Four
// 3×3 convolutions (padding 1, no bias: the batch norm's β is the bias), each followed by batch
// norm and ReLU, in two stages of `hidden` and 2·`hidden` channels with a 2×2 max-pool after each,
// then global average pooling and one linear layer to the 10 classes. hidden 32: 65,834 parameters.
inline nn::Sequential bn_cnn(const Config& c, Generator& gen) {
  auto block = [&](std::int64_t in, std::int64_t out) {
    return nn::Sequential{nn::Conv2d(in, out, 3, {.padding = 1, .weight = nn::Init::scaled_normal, .has_bias = false}, gen), nn::BatchNorm2d(out), nn::ReLU()};
  };
  const std::int64_t w = c.hidden;
  return nn::Sequential{nn::Reshape({1, 28, 28}), block(1, w), block(w, w), nn::MaxPool2d(2), block(w, 2 * w),
                        block(2 * w, 2 * w), nn::MaxPool2d(2), nn::AdaptiveAvgPool2d(1), nn::Flatten(),
                        nn::Linear(2 * w, 10, {.weight = nn::Init::scaled_normal, .bias = nn::Init::standard_normal}, gen)};
}

inline Tensor quadratic_on_labels(const Tensor& a, const Tensor& y) { return quadratic_cost(a, one_hot(y, 10)); }
// Cross-entropy of a = σ(z) (eq. 63), computed from z: stable, and δ^L = a − y (eq. 66).
inline Tensor cross_entropy_on_labels(const Tensor& z, const Tensor& y) { return binary_cross_entropy_with_logits(z, one_hot(y, 10)); }
// Softmax + log-likelihood (eq. 78–80), fused.
inline Tensor log_likelihood_on_labels(const Tensor& z, const Tensor& y) { return softmax_cross_entropy(z, y); }

struct Preset {
  std::string_view name, help, optimizer;
  double lr, lambda;
  std::int64_t hidden, batch;
  int epochs;
  bool halve_with_validation;  // the book's halving schedule by default when there is validation data
  bool images;                 // --augment applies (the model sees 28×28 images)
  bool fc_head;                // --dropout and --fc-layers apply (network3's fully connected layers)
  bool l2_per_batch;           // network3.py adds 0.5 λ Σw² per mini-batch: λ·batch in SGD's λ/n form
  nn::Sequential (*build)(const Config&, Generator&);
  Tensor (*cost)(const Tensor&, const Tensor&);
};

constexpr std::array kPresets{
    Preset{"network1", "network.py: quadratic cost, N(0,1) weights, η 3.0", "sgd", 3.0, 0.0, 30, 10, 30, false, false, false,
           false, network1, quadratic_on_labels},
    Preset{"network2", "network2.py: cross-entropy, N(0,1/n_in) weights, η 0.5, λ 5.0", "sgd", 0.5, 5.0, 100, 10, 60, true,
           false, false, false, network2, cross_entropy_on_labels},
    Preset{"network3", "network3.py's CNN: two conv + max-pool layers, ReLU, softmax, η 0.03, λ 0.1", "sgd", 0.03, 0.1, 100,
           10, 60, false, true, true, true, network3, log_likelihood_on_labels},
    Preset{"bn_cnn", "beyond the book: 4 conv 3×3 + batch norm + ReLU (hidden, 2·hidden channels), global average pooling, "
           "softmax; AdamW η 0.002, batch 64", "adamw", 2e-3, 0.0, 32, 64, 20, false, true, false, false, bn_cnn,
           log_likelihood_on_labels},
};

inline const Preset& preset(const std::string& model) {
  for (const Preset& p : kPresets) {
    if (p.name == model) return p;
  }
  throw ValueError(fmt::format("unknown model '{}'", model));
}

// ---- reading a configuration back: every field checked, every fault naming file, field and value ----

using nabla_run::excerpt;
using nabla_run::json;
using nabla_run::meta_json;

/// Why a configuration cannot be run (the field and its value), or "" — the same ranges as the flags.
inline std::string config_fault(const Config& c) {
  auto bad = [](const char* field, const auto& v, const char* expected) {
    return fmt::format("\"{}\" is {}; expected {}", field, v, expected);
  };
  bool known = false;
  for (const Preset& p : kPresets) known = known || c.model == p.name;
  if (!known) return bad("model", excerpt(c.model), "one of nabla-train's models");
  if (c.data != "fashion" && c.data != "digits" && c.data != "mnist") return bad("data", excerpt(c.data), "fashion, digits or mnist");
  if (c.hidden < 1 || c.hidden > (1 << 20)) return bad("hidden", c.hidden, "1 to 2^20");
  if (c.batch < 1 || c.batch > (1 << 20)) return bad("batch", c.batch, "1 to 2^20");
  if (!(c.lr > 0) || !std::isfinite(c.lr)) return bad("lr", c.lr, "a finite number above 0");
  if (c.optimizer != "sgd" && c.optimizer != "adam" && c.optimizer != "adamw") {
    return bad("optimizer", excerpt(c.optimizer), "sgd, adam or adamw");
  }
  if (!(c.lambda >= 0) || !std::isfinite(c.lambda)) return bad("lambda", c.lambda, "a finite number at least 0");
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay)) return bad("weight_decay", c.weight_decay, "a finite number at least 0");
  if (c.warmup < 0 || c.warmup > 1000) return bad("warmup", c.warmup, "0 to 1000");
  if (!(c.momentum >= 0 && c.momentum < 1)) return bad("momentum", c.momentum, "a number in [0, 1)");
  if (c.schedule != "constant" && c.schedule != "step" && c.schedule != "cosine" && c.schedule != "halve") {
    return bad("schedule", excerpt(c.schedule), "constant, step, cosine or halve");
  }
  if (c.patience < 1) return bad("patience", c.patience, "at least 1");
  if (c.step_epochs < 1) return bad("step_epochs", c.step_epochs, "at least 1");
  if (!(c.gamma > 0 && c.gamma <= 1)) return bad("gamma", c.gamma, "a number in (0, 1]");
  if (c.early_stop < 0) return bad("early_stop", c.early_stop, "at least 0");
  if (c.limit_train < 0) return bad("limit_train", c.limit_train, "at least 0");
  if (c.limit_test < 0) return bad("limit_test", c.limit_test, "at least 0");
  if (c.validation < -1) return bad("validation", c.validation, "at least -1");
  if (!(c.dropout >= 0 && c.dropout <= 0.95)) return bad("dropout", c.dropout, "a number in [0, 0.95]");
  if (c.fc_layers < 1 || c.fc_layers > 8) return bad("fc_layers", c.fc_layers, "1 to 8");
  return {};
}

/// The configuration a checkpoint was trained with, each of its fields checked.
inline Config config_from(const io::TensorFile& file) {
  const json j = meta_json(file, "config");
  if (!j.is_object()) throw IoError(fmt::format("\"{}\": metadata field \"config\" is not a JSON object", file.source));
  for (auto it = j.begin(); it != j.end(); ++it) {  // one key at a time, so that a fault names its key
    try {
      (void)json::object({{it.key(), it.value()}}).get<Config>();
    } catch (const json::exception&) {
      const std::string v = it.value().dump().substr(0, 200);
      throw IoError(fmt::format("\"{}\": metadata field \"config\": \"{}\" has the wrong type: {}", file.source, it.key(),
                                excerpt(v)));
    }
  }
  const Config cfg = j.get<Config>();
  if (const std::string fault = config_fault(cfg); !fault.empty()) {
    throw IoError(fmt::format("\"{}\": metadata field \"config\": {}", file.source, fault));
  }
  return cfg;
}

}  // namespace nabla_train
