// examples/train_metadata.hpp — what nabla-train writes beside the parameters: the metrics rows
// (metrics.csv, and the checkpoint's "rows"), and the checked reading of a checkpoint's metadata.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nabla/nabla.hpp>

#include "train_models.hpp"

namespace nabla_train {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// One epoch's figures: a row of metrics.csv.
struct Row {
  int epoch;
  double lr, train_cost, train_accuracy, validation_cost, validation_accuracy, test_cost, test_accuracy, seconds;
};

inline json to_json(const Row& r) {
  return json::array({r.epoch, r.lr, r.train_cost, r.train_accuracy, r.validation_cost, r.validation_accuracy, r.test_cost,
                      r.test_accuracy, r.seconds});
}

inline Row row_from_json(const json& j) {
  auto num = [&](int i) { return j.at(i).is_null() ? NAN : j.at(i).get<double>(); };
  return {j.at(0).get<int>(), num(1), num(2), num(3), num(4), num(5), num(6), num(7), num(8)};
}

inline void write_csv(const fs::path& path, const std::vector<Row>& rows) {
  std::string s = "epoch,lr,train_cost,train_accuracy,validation_cost,validation_accuracy,test_cost,test_accuracy,seconds\n";
  auto f = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{:.6g}", v); };
  for (const Row& r : rows) {
    s += fmt::format("{},{},{},{},{},{},{},{},{}\n", r.epoch, f(r.lr), f(r.train_cost), f(r.train_accuracy), f(r.validation_cost),
                     f(r.validation_accuracy), f(r.test_cost), f(r.test_accuracy), f(r.seconds));
  }
  io::write_file_atomic(path.string(), std::as_bytes(std::span(s.data(), s.size())));
}

// ---- reading a checkpoint's metadata: every field checked, every fault naming file, field and value ----

/// A value for an error message: short as it is, long ones cut.
inline std::string excerpt(const std::string& v) { return v.size() <= 60 ? "'" + v + "'" : "'" + v.substr(0, 57) + "...'"; }

/// A metadata field parsed as JSON (nested at most 8 deep: the fields nabla writes nest 2).
inline json meta_json(const io::TensorFile& file, const std::string& key) {
  const std::string& text = file.meta(key);
  try {
    return json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > 8) throw IoError(fmt::format("\"{}\": metadata field \"{}\" nests deeper than 8 levels", file.source, key));
      return true;
    });
  } catch (const json::exception& e) {
    throw IoError(fmt::format("\"{}\": metadata field \"{}\" is not valid JSON ({}): {}", file.source, key, e.what(),
                              excerpt(text)));
  }
}

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

/// The metrics rows a checkpoint carries, one per epoch trained.
inline std::vector<Row> rows_from(const io::TensorFile& file, int epochs) {
  const json j = meta_json(file, "rows");
  if (!j.is_array() || j.size() != static_cast<std::size_t>(epochs)) {
    throw IoError(fmt::format("\"{}\": metadata field \"rows\" is not an array of {} rows (one per epoch trained)", file.source,
                              epochs));
  }
  std::vector<Row> rows;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& r = j[i];
    bool ok = r.is_array() && r.size() == 9 && r[0].is_number_integer() && r[0].get<std::int64_t>() == std::int64_t(i) + 1;
    for (std::size_t k = 1; ok && k < 9; ++k) ok = r[k].is_number() || r[k].is_null();
    if (!ok) {
      throw IoError(fmt::format("\"{}\": metadata field \"rows\": row {} is {}; expected [epoch {}, then 8 numbers or nulls]",
                                file.source, i, excerpt(r.dump().substr(0, 200)), i + 1));
    }
    rows.push_back(row_from_json(r));
  }
  return rows;
}

}  // namespace nabla_train
