// examples/run/plot.hpp — the one place the example programs draw: a gnuplot script beside its data,
// run when gnuplot is installed. The library writes numbers (CSV, data files); pictures are made here.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

namespace nabla_run {

namespace fs = std::filesystem;

/// `s` as a gnuplot string literal in single quotes.
inline std::string quote(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return "'" + out + "'";
}

/// Writes `text` to `path` atomically (a reader never sees half a file).
inline void write_text(const fs::path& path, const std::string& text) {
  nabla::io::write_file_atomic(path.string(), std::as_bytes(std::span(text.data(), text.size())));
}

inline bool have_gnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

/// Writes the gnuplot `script` to `path` and runs it; false (nothing run) without gnuplot, or when
/// gnuplot fails.
inline bool gnuplot(const fs::path& path, const std::string& script) {
  if (!have_gnuplot()) return false;
  write_text(path, script);
  return std::system(fmt::format("gnuplot {} 2> /dev/null", quote(path.string())).c_str()) == 0;
}

/// One curve of a CSV file: its column (by name), its title, and gnuplot's style.
struct Curve {
  std::string column, title, style = "linespoints";
};

/// One panel of a figure drawn from a CSV file with named columns (the first is the x axis).
struct Panel {
  std::string title = {}, ylabel = {};
  std::vector<Curve> curves = {};
  std::string key = "top right";
  bool logy = false;
};

/// Draws the panels side by side from `csv` (its header names the columns) into `png`, the script
/// beside it as <png stem>.gp. False without gnuplot.
inline bool plot_csv(const fs::path& csv, const std::vector<std::string>& columns, const fs::path& png, const std::string& title,
                     const std::vector<Panel>& panels, int width = 0) {
  if (panels.empty()) return false;
  std::string gp = fmt::format("set terminal pngcairo size {},450 font 'sans,10' noenhanced\nset output {}\n", 
                               width > 0 ? width : int(600 * panels.size()) + (panels.size() == 1 ? 200 : 0), quote(png.string()));
  gp += fmt::format("set datafile separator ','\nset grid\nset xlabel {}\n", quote(columns.at(0)));
  const bool multi = panels.size() > 1;
  if (multi) gp += fmt::format("set multiplot layout 1,{} title {} noenhanced\n", panels.size(), quote(title));
  for (const Panel& p : panels) {
    gp += fmt::format("set title {}\nset ylabel {}\nset key {}\n{}\nplot ", quote(multi ? p.title : title + (p.title.empty() ? "" : ": " + p.title)),
                      quote(p.ylabel), p.key, p.logy ? "set logscale y" : "unset logscale y");
    for (std::size_t i = 0; i < p.curves.size(); ++i) {
      std::size_t col = 0;
      while (col < columns.size() && columns[col] != p.curves[i].column) ++col;
      if (col == columns.size()) throw nabla::ValueError(fmt::format("plot_csv: no column '{}' in {}", p.curves[i].column, csv.string()));
      gp += fmt::format("{}{} every ::1 using 1:{} with {} title {}", i ? ", " : "", quote(csv.string()), col + 1, p.curves[i].style,
                        quote(p.curves[i].title));
    }
    gp += "\n";
  }
  if (multi) gp += "unset multiplot\n";
  return gnuplot(png.parent_path() / (png.stem().string() + ".gp"), gp);
}

}  // namespace nabla_run
