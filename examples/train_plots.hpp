// examples/train_plots.hpp — nabla-train's pictures: the learning curves and the sharpness log,
// drawn with gnuplot when it is installed.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

namespace train_plots {

namespace fs = std::filesystem;
using namespace nabla;

/// Renders the learning curves with gnuplot (if installed); returns whether a PNG was written.
inline bool plot(const fs::path& csv, const fs::path& png, const std::string& title, bool has_validation) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) return false;
  const fs::path script = png.parent_path() / "learning_curves.gp";
  std::ofstream gp(script);
  gp << "set terminal pngcairo size 1200,450 font 'sans,10' noenhanced\n"
     << "set output '" << png.string() << "'\n"
     << "set datafile separator ','\nset key autotitle columnhead\nset grid\nset xlabel 'epoch'\n"
     << "set multiplot layout 1,2 title '" << title << "' noenhanced\n"
     << "set title 'cost'\nset key top right\n"
     << "plot '" << csv.string() << "' using 1:3 with linespoints title 'training'"
     << (has_validation ? ", '' using 1:5 with linespoints title 'validation'" : "")
     << ", '' using 1:7 with linespoints title 'test'\n"
     << "set title 'accuracy'\nset key bottom right\n"
     << "plot '" << csv.string() << "' using 1:4 with linespoints title 'training'"
     << (has_validation ? ", '' using 1:6 with linespoints title 'validation'" : "")
     << ", '' using 1:8 with linespoints title 'test'\n"
     << "unset multiplot\n";
  gp.close();
  return std::system(fmt::format("gnuplot '{}' 2> /dev/null", script.string()).c_str()) == 0;
}

/// The sharpness log: per epoch, η, μ and λ_max of the cost's Hessian in the parameters.
struct SharpnessRow {
  int epoch;
  double lr, momentum, lambda_max;
};

inline void write_sharpness(const fs::path& dir, const std::vector<SharpnessRow>& rows) {
  std::string s = "epoch,lr,lambda_max,stability_limit\n";
  for (const SharpnessRow& r : rows) {
    s += fmt::format("{},{:.6g},{:.6g},{:.6g}\n", r.epoch, r.lr, r.lambda_max, 2 * (1 + r.momentum) / r.lr);
  }
  io::write_file_atomic((dir / "sharpness.csv").string(), std::as_bytes(std::span(s.data(), s.size())));
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) return;
  const fs::path script = dir / "sharpness.gp";
  std::ofstream gp(script);
  gp << "set terminal pngcairo size 800,450 font 'sans,10' noenhanced\n"
     << "set output '" << (dir / "sharpness.png").string() << "'\n"
     << "set datafile separator ','\nset key autotitle columnhead top left\nset grid\nset xlabel 'epoch'\n"
     << "set logscale y\nset title 'sharpness: the largest Hessian eigenvalue of the cost, and where gradient descent "
        "stops being stable'\n"
     << "plot '" << (dir / "sharpness.csv").string() << "' using 1:3 with linespoints title 'λ_max', "
     << "'' using 1:4 with lines dashtype 2 title '2(1 + μ)/η'\n";
  gp.close();
  (void)std::system(fmt::format("gnuplot '{}' 2> /dev/null", script.string()).c_str());
}

}  // namespace train_plots
