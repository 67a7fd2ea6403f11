// examples/run_files.hpp — what the training programs beyond nabla-train write: a metrics CSV
// (rewritten atomically after every epoch), its plot (gnuplot, when installed), and text files.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

namespace run_files {

namespace fs = std::filesystem;

/// Writes `text` to `path` atomically (a reader never sees half a file).
inline void write_text(const fs::path& path, const std::string& text) {
  nabla::io::write_file_atomic(path.string(), std::as_bytes(std::span(text.data(), text.size())));
}

/// metrics.csv in `dir`: one row of numbers per epoch under the given column names.
class Metrics {
 public:
  Metrics(fs::path dir, std::vector<std::string> columns) : dir_(std::move(dir)), columns_(std::move(columns)) {}

  void add(const std::vector<double>& row) {
    if (row.size() != columns_.size()) {
      throw nabla::ValueError(fmt::format("Metrics: a row of {} numbers; expected {}", row.size(), columns_.size()));
    }
    rows_.push_back(row);
    std::string s = fmt::format("{}\n", fmt::join(columns_, ","));
    for (const auto& r : rows_) {
      std::vector<std::string> cells;
      for (double v : r) cells.push_back(std::isnan(v) ? std::string() : fmt::format("{:.6g}", v));
      s += fmt::format("{}\n", fmt::join(cells, ","));
    }
    write_text(dir_ / "metrics.csv", s);
  }

  /// learning_curves.png: the named columns ({column, title}) against the first one; false
  /// without gnuplot.
  bool plot(const std::string& title, const std::string& ylabel, const std::vector<std::pair<std::string, std::string>>& curves) const {
    if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) return false;
    const fs::path script = dir_ / "learning_curves.gp";
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 800,450 font 'sans,10' noenhanced\n"
       << "set output '" << (dir_ / "learning_curves.png").string() << "'\n"
       << "set datafile separator ','\nset grid\nset key top right\nset xlabel '" << columns_[0] << "'\n"
       << "set ylabel '" << ylabel << "'\nset title '" << title << "'\nplot ";
    for (std::size_t i = 0; i < curves.size(); ++i) {
      std::size_t col = 0;
      while (col < columns_.size() && columns_[col] != curves[i].first) ++col;
      if (col == columns_.size()) throw nabla::ValueError(fmt::format("Metrics::plot: no column '{}'", curves[i].first));
      gp << (i ? ", " : "") << "'" << (dir_ / "metrics.csv").string() << "' every ::1 using 1:" << col + 1
         << " with linespoints title '" << curves[i].second << "'";
    }
    gp << "\n";
    gp.close();
    return std::system(fmt::format("gnuplot '{}' 2> /dev/null", script.string()).c_str()) == 0;
  }

 private:
  fs::path dir_;
  std::vector<std::string> columns_;
  std::vector<std::vector<double>> rows_;
};

}  // namespace run_files
