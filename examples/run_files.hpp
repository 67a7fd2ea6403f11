// examples/run_files.hpp — what the training programs beyond nabla-train write: a metrics CSV
// (rewritten atomically after every epoch), its plot (gnuplot, when installed), text files, and the
// checkpoint that `--resume` continues from.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
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
    write();
  }
  /// The rows of the epochs before a resumed run's first (written with the next add).
  void restore(std::vector<std::vector<double>> rows) { rows_ = std::move(rows); }
  const std::vector<std::vector<double>>& rows() const { return rows_; }

  void write() const {
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

/// What a run keeps in its checkpoint besides the model and optimizer, so that `--resume` goes on
/// as if it had never stopped: the options that define it, as given (all but kRunFlags), the epochs
/// done, the metrics rows, and the best validation figure so far and its epoch.
struct RunState {
  std::vector<std::string> args;  // {"--batch", "64", …}
  int epoch = 0;
  std::vector<std::vector<double>> rows;
  double best = INFINITY;
  int best_epoch = 0;
};

/// Options that say how to run, not what: free to change on --resume.
inline bool is_run_flag(const std::string& name) {
  return name == "--epochs" || name == "--threads" || name == "--out" || name == "--quiet" || name == "--resume" || name == "--help";
}

/// The options of this command that define the run, as {"--name", "value", …}.
inline std::vector<std::string> settings_given(const CLI::App& app) {
  std::vector<std::string> s;
  for (const CLI::Option* o : app.get_options()) {
    if (o->count() == 0 || is_run_flag(o->get_name())) continue;
    for (const std::string& v : o->results()) {
      s.push_back(o->get_name());
      s.push_back(v);
    }
  }
  return s;
}

/// Writes the checkpoint (atomically): model, optimizer and the run's state, under `program`.
inline void save_run(const fs::path& path, const std::string& program, const nabla::nn::Module& model,
                     const nabla::optim::Optimizer& opt, const RunState& r) {
  using nlohmann::json;
  nabla::io::save_checkpoint(path.string(), model, &opt,
                             {{"program", program},
                              {"args", json(r.args).dump()},
                              {"epoch", std::to_string(r.epoch)},
                              {"rows", json(r.rows).dump()},
                              {"best", fmt::format("{:.17g}", r.best)},
                              {"best_epoch", std::to_string(r.best_epoch)}});
}

/// With --resume: refuses options that define the run (the checkpoint's are kept), reads the
/// checkpoint `path` of `program` into `file` and its state, and parses the run's own options
/// into the program's variables after this command's. An IoError for a file that is not such a
/// checkpoint, naming it and the field.
inline RunState resume_run(CLI::App& app, int argc, char** argv, const std::string& path, const std::string& program,
                           nabla::io::TensorFile& file) {
  using nlohmann::json;
  if (const auto given = settings_given(app); !given.empty()) {
    throw nabla::ValueError(fmt::format("{} cannot be combined with --resume: the run continues with its checkpoint's settings", given[0]));
  }
  file = nabla::io::load_safetensors(path);
  auto field = [&](const char* name) -> const std::string& {
    const auto it = file.metadata.find(name);
    if (it == file.metadata.end()) {
      throw nabla::IoError(fmt::format("--resume: \"{}\" is not a checkpoint of {} (no \"{}\" in its metadata)", path, program, name));
    }
    return it->second;
  };
  if (field("program") != program) {
    throw nabla::IoError(fmt::format("--resume: \"{}\" is a checkpoint of {}, not of {}", path, field("program"), program));
  }
  RunState r;
  try {
    r.args = json::parse(field("args")).get<std::vector<std::string>>();
    r.rows = json::parse(field("rows")).get<std::vector<std::vector<double>>>();
    r.best = std::stod(field("best"));
  } catch (const std::exception& e) {
    throw nabla::IoError(fmt::format("--resume: \"{}\": its run state is malformed: {}", path, e.what()));
  }
  r.epoch = static_cast<int>(file.meta_int("epoch", 0, 1'000'000));
  r.best_epoch = static_cast<int>(file.meta_int("best_epoch", 0, 1'000'000));
  if (std::int64_t(r.rows.size()) != r.epoch) {
    throw nabla::IoError(fmt::format("--resume: \"{}\": {} metrics rows for {} epochs", path, r.rows.size(), r.epoch));
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  args.insert(args.end(), r.args.begin(), r.args.end());
  std::reverse(args.begin(), args.end());  // CLI11 parses a vector from its back
  app.clear();
  app.parse(args);
  return r;
}

/// The run to do. With --resume (`path` not empty): the checkpoint's (resume_run), written on in
/// the checkpoint's directory unless --out was given, and --epochs must exceed the epochs done.
/// Either way `args` holds the run's settings, saved with every checkpoint.
inline RunState begin_run(CLI::App& app, int argc, char** argv, const std::string& path, const std::string& program,
                          nabla::io::TensorFile& file, std::string& out, const int& epochs) {
  RunState r;
  if (!path.empty()) {
    r = resume_run(app, argc, argv, path, program, file);
    if (app.count("--out") == 0) out = fs::path(path).parent_path().string();
    if (r.epoch >= epochs) {
      throw nabla::ValueError(fmt::format("--resume: the checkpoint has {} epochs done; pass --epochs above that", r.epoch));
    }
  }
  r.args = settings_given(app);
  return r;
}

/// With --resume: the model and optimizer from the checkpoint, the schedule replayed over the
/// epochs done (fed each row's `validation_column`), the metrics rows restored.
inline void restore_run(const RunState& r, const nabla::io::TensorFile& file, const std::string& path, nabla::nn::Module& model,
                        nabla::optim::Optimizer& opt, nabla::optim::LrSchedule& schedule, Metrics& metrics,
                        std::size_t validation_column, int epochs) {
  if (path.empty()) return;
  nabla::io::load_checkpoint(file, path, model, &opt);
  for (const auto& row : r.rows) schedule.epoch_end(row.at(validation_column));
  metrics.restore(r.rows);
  fmt::print("resuming {} from epoch {} of {}\n", path, r.epoch, epochs);
}

}  // namespace run_files
