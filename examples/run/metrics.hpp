// examples/run/metrics.hpp — a run's metrics: one row of numbers per epoch under named columns
// (the first the epoch), written as metrics.csv and kept in the checkpoint's "rows"; and the
// checked reading of a checkpoint's JSON metadata, every fault naming file, field and value.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nabla/nabla.hpp>

#include "plot.hpp"

namespace nabla_run {

using json = nlohmann::json;

/// A value for an error message: short as it is, long ones cut.
inline std::string excerpt(const std::string& v) { return v.size() <= 60 ? "'" + v + "'" : "'" + v.substr(0, 57) + "...'"; }

/// A metadata field parsed as JSON (nested at most 8 deep: the fields nabla writes nest 2).
inline json meta_json(const nabla::io::TensorFile& file, const std::string& key) {
  const std::string& text = file.meta(key);
  try {
    return json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > 8) throw nabla::IoError(fmt::format("\"{}\": metadata field \"{}\" nests deeper than 8 levels", file.source, key));
      return true;
    });
  } catch (const json::exception& e) {
    throw nabla::IoError(fmt::format("\"{}\": metadata field \"{}\" is not valid JSON ({}): {}", file.source, key, e.what(),
                                     excerpt(text)));
  }
}

/// The table of a run: metrics.csv, one row per epoch; NaN is an empty cell (and null in JSON).
class Metrics {
 public:
  explicit Metrics(std::vector<std::string> columns) : columns_(std::move(columns)) {}

  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<double>>& rows() const { return rows_; }
  /// The column's index; a ValueError naming it when there is none.
  std::size_t column(const std::string& name) const {
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i] == name) return i;
    }
    throw nabla::ValueError(fmt::format("Metrics: no column '{}'", name));
  }
  void add(std::vector<double> row) {
    if (row.size() != columns_.size()) {
      throw nabla::ValueError(fmt::format("Metrics: a row of {} numbers; expected {}", row.size(), columns_.size()));
    }
    rows_.push_back(std::move(row));
  }

  std::string csv() const {
    std::string s = fmt::format("{}\n", fmt::join(columns_, ","));
    for (const auto& r : rows_) {
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (i > 0) s += ',';
        if (!std::isnan(r[i])) s += fmt::format("{:.6g}", r[i]);
      }
      s += "\n";
    }
    return s;
  }
  /// The rows as JSON arrays, the epoch an integer and NaN null.
  json to_json() const {
    json j = json::array();
    for (const auto& r : rows_) {
      json row = json::array({static_cast<std::int64_t>(r[0])});
      for (std::size_t i = 1; i < r.size(); ++i) row.push_back(std::isnan(r[i]) ? json(nullptr) : json(r[i]));
      j.push_back(row);
    }
    return j;
  }
  /// The rows of a checkpoint's "rows" field: one per epoch trained, each [epoch, then numbers or nulls].
  void restore(const nabla::io::TensorFile& file, int epochs) {
    const json j = meta_json(file, "rows");
    if (!j.is_array() || j.size() != static_cast<std::size_t>(epochs)) {
      throw nabla::IoError(fmt::format("\"{}\": metadata field \"rows\" is not an array of {} rows (one per epoch trained)",
                                       file.source, epochs));
    }
    rows_.clear();
    for (std::size_t i = 0; i < j.size(); ++i) {
      const json& r = j[i];
      bool ok = r.is_array() && r.size() == columns_.size() && r[0].is_number() && r[0].get<double>() == double(i + 1);
      for (std::size_t k = 1; ok && k < r.size(); ++k) ok = r[k].is_number() || r[k].is_null();
      if (!ok) {
        throw nabla::IoError(fmt::format("\"{}\": metadata field \"rows\": row {} is {}; expected [epoch {}, then {} numbers or nulls]",
                                         file.source, i, excerpt(r.dump().substr(0, 200)), i + 1, columns_.size() - 1));
      }
      std::vector<double> row;
      for (const json& v : r) row.push_back(v.is_null() ? NAN : v.get<double>());
      rows_.push_back(std::move(row));
    }
  }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<double>> rows_;
};

}  // namespace nabla_run
