// examples/book/book.hpp — what the book's experiments share: options, a training epoch, and
// figures drawn with gnuplot by examples/run/plot.hpp (data in out/book/<name>.dat, picture in
// docs/img/<name>.png).
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "../run/plot.hpp"

namespace book {

using namespace nabla;

struct Options {
  bool quick = false;                 // a few seconds of work, for CI: same code path, tiny slice
  std::string figures = "docs/img";  // where the PNG goes
  std::string data = "out/book";     // where the plotted numbers go
  void add_to(CLI::App& app) {
    app.add_flag("--quick", quick, "a tiny slice of the work (CI smoke test)");
    app.add_option("--figures", figures, "directory for the PNG")->capture_default_str();
    app.add_option("--data", data, "directory for the plotted numbers")->capture_default_str();
  }
};

struct Series {
  std::string label;
  std::vector<double> x, y;
  bool points = false;
};

struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool logx = false, logy = false;
  std::string key = "top right";  // gnuplot's key position
};

using nabla_run::quote;

/// Writes every series to <data>/<name>.dat and, if gnuplot is installed, draws the panels side by
/// side into <figures>/<name>.png. Returns the PNG's path, or "" when gnuplot is missing.
inline std::string draw(const Options& o, const std::string& name, const std::string& title, const std::vector<Panel>& panels) {
  namespace fs = std::filesystem;
  fs::create_directories(o.data);
  fs::create_directories(o.figures);
  const std::string dat = (fs::path(o.data) / (name + ".dat")).string();
  {
    std::ofstream f(dat);
    for (const Panel& p : panels) {
      for (const Series& s : p.series) {
        f << "# " << p.title << ": " << s.label << "\n";
        for (std::size_t i = 0; i < s.x.size(); ++i) f << fmt::format("{:.9g} {:.9g}\n", s.x[i], s.y[i]);
        f << "\n\n";
      }
    }
    if (!f.flush()) throw IoError(fmt::format("cannot write {}", dat));
  }
  if (!nabla_run::have_gnuplot()) return "";
  const std::string png = (fs::path(o.figures) / (name + ".png")).string();
  const std::string gp_path = (fs::path(o.data) / (name + ".gp")).string();
  std::string gp = fmt::format("set terminal pngcairo size {},440 font 'sans,10'\nset output {}\nset grid\n", 560 * panels.size() + 80,
                               quote(png));
  gp += fmt::format("set multiplot layout 1,{} title {}\n", panels.size(), quote(title));
  int index = 0;
  for (const Panel& p : panels) {
    gp += fmt::format("set title {}\nset xlabel {}\nset ylabel {}\n{}\n{}\nset key {}\nplot ", quote(p.title), quote(p.xlabel),
                      quote(p.ylabel), p.logx ? "set logscale x" : "unset logscale x", p.logy ? "set logscale y" : "unset logscale y",
                      p.key);
    for (std::size_t k = 0; k < p.series.size(); ++k) {
      gp += fmt::format("{}{} index {} with {} lw 2 title {}", k ? ", " : "", quote(dat), index++,
                        p.series[k].points ? "linespoints" : "lines", quote(p.series[k].label));
    }
    gp += "\n";
  }
  gp += "unset multiplot\n";
  if (!nabla_run::gnuplot(gp_path, gp)) throw IoError(fmt::format("gnuplot failed on {}", gp_path));
  return png;
}

/// One epoch of mini-batch SGD; returns the seconds it took.
template <class Model, class Cost>
double train_epoch(Model& net, optim::SGD& opt, const data::Dataset& train, std::int64_t batch, std::uint64_t seed,
                   const Cost& cost) {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto [x, y] : train.batches(batch, {.shuffle = true, .seed = seed})) {
    Tensor c = cost(net(x), y);
    opt.zero_grad();
    c.backward();
    opt.step();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// network2.py's total cost: the mean cost plus the L2 term (λ/2n) Σ w².
inline double total_cost(nn::Module& net, double mean_cost, double lambda, std::int64_t n) {
  if (lambda == 0) return mean_cost;
  double sum_w2 = 0;
  for (const nn::Param& p : net.parameters()) {
    if (p.decay) sum_w2 += sum(square(p.tensor.detach())).item();
  }
  return mean_cost + 0.5 * lambda / double(n) * sum_w2;
}

/// Cross-entropy on the logits of a 10-class network (network2's cost), with integer labels.
inline Tensor cross_entropy(const Tensor& z, const Tensor& labels) {
  return binary_cross_entropy_with_logits(z, one_hot(labels, 10, z.dtype()));
}

inline void done(const std::string& png, const std::string& name) {
  if (png.empty()) fmt::print("gnuplot is not installed: numbers written, no figure for {}\n", name);
  else fmt::print("wrote {}\n", png);
}

}  // namespace book
