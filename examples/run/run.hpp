// examples/run/run.hpp — what every training program shares: the flags that say how to run
// (--epochs, --threads, --out, --quiet, --resume), the checkpoint that --resume continues from
// (written atomically after every epoch with the program's name, its settings and its metrics),
// one epoch loop (progress bar, metrics.csv, learning curves, checkpoint), summary.json, and
// mpirun: every rank trains (nabla/dist.hpp), rank 0 alone prints and writes.
//
//   nabla_run::Run run(app, "nabla-x", {"epoch", "lr", "train_cost", "validation_cost", "seconds"}, "out/x", 10);
//   CLI11_PARSE(app, argc, argv);
//   return nabla_run::guarded("nabla-x", [&] {
//     run.begin(argc, argv);                       // --resume: the checkpoint's settings, refusing others
//     …model, optimizer, schedule…
//     run.restore(model, opt, schedule, "validation_cost");
//     run.distribute(model);
//     run.train(model, opt, schedule, examples, [&](nabla_run::Epoch& e) { … e.step(cost, n); },
//               [&](nabla_run::Epoch& e) { … return nabla_run::EpochEnd{row, validation}; });
//     run.summary({…});
//     return 0;
//   });
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nabla/nabla.hpp>

#include "../cli_checks.hpp"
#include "metrics.hpp"
#include "plot.hpp"

namespace nabla_run {

/// The seed of an epoch's order, dropout masks and augmentations.
inline std::uint64_t epoch_seed(std::uint64_t seed, int epoch) { return seed * 1000003 + std::uint64_t(epoch); }

/// One epoch's training pass: its index (from 0) and the running mean cost its progress bar shows.
class Epoch {
 public:
  Epoch(int index, int epochs, std::int64_t examples, std::FILE* out, int world, double unit)
      : index(index), progress_(fmt::format("epoch {}/{}", index + 1, epochs), examples, out), world_(world), unit_(unit) {}
  const int index;

  /// A mini-batch of `n` examples (on this rank) done at mean cost `cost`; a ValueError once it is not finite.
  void step(double cost, std::int64_t n) {
    if (!std::isfinite(cost)) {
      throw nabla::ValueError(
          fmt::format("epoch {}: the cost became {} after {} examples; try a smaller --lr", index + 1, cost, seen_));
    }
    running_ += cost * double(n);
    seen_ += n;
    progress_.update(n * world_, running_ / double(seen_) / unit_);  // all ranks' examples; this rank's cost
  }
  /// The mean cost over the pass (this rank's examples).
  double mean_cost() const { return running_ / double(seen_); }
  double seconds() const { return progress_.seconds(); }
  void finish() { progress_.finish(); }

 private:
  nabla::train::Progress progress_;
  int world_;
  double unit_;
  double running_ = 0;
  std::int64_t seen_ = 0;
};

/// What the end of an epoch reports: its metrics row, the figure the schedule watches, and
/// whether to stop.
struct EpochEnd {
  std::vector<double> row;
  double validation = NAN;
  bool stop = false;
};

class Run {
 public:
  /// Adds the flags every program has. `columns`: metrics.csv's, the first "epoch".
  Run(CLI::App& app, std::string program, std::vector<std::string> columns, std::string out, int epochs,
      const std::string& epochs_help = "epochs in all (with --resume: the new total)")
      : app_(app), program_(std::move(program)), metrics_(std::move(columns)), out_(std::move(out)), epochs_(epochs) {
    auto* e = app.add_option("--epochs", epochs_, epochs_help)->check(cli_checks::positive);
    if (epochs_ > 0) e->capture_default_str();
    app.add_option("--threads", threads_, "threads (default: OpenBLAS's choice)")->check(CLI::Range(1, 256));
    auto* o = app.add_option("--out", out_, out_.empty() ? "output directory (default: see above)" : "output directory");
    if (!out_.empty()) o->capture_default_str();
    app.add_flag("--quiet", quiet_, "progress lines on stdout, once per epoch");
    app.add_option("--resume", resume_, "continue from this checkpoint (its settings are kept; --epochs: the new total)")
        ->check(CLI::ExistingFile);
    for (const char* f : {"--epochs", "--threads", "--out", "--quiet", "--resume", "--help"}) free_.push_back(f);
  }

  /// An option that says how to run, not what: free to change on --resume.
  CLI::Option* free(CLI::Option* o) {
    free_.push_back(o->get_name());
    return o;
  }
  /// The gnuplot figure of metrics.csv drawn after every epoch (learning_curves.png).
  void plot(std::string title, std::vector<Panel> panels, int width = 0) {
    plot_title_ = std::move(title);
    panels_ = std::move(panels);
    plot_width_ = width;
  }
  /// Metadata and tensors (saved as extra.<name>) that the next checkpoints carry besides the run's own.
  std::map<std::string, std::string> metadata;
  std::map<std::string, nabla::Tensor> extra;

  /// After the flags are parsed. With --resume: refuses the options that define the run (the
  /// checkpoint's are kept), reads the checkpoint — `required` names the fields a checkpoint of
  /// this program has, `read` reads the program's own before the epochs and rows — and parses the
  /// run's settings into the program's variables after this command's. The output directory:
  /// --out, else the checkpoint's, else `default_out`; created on rank 0.
  void begin(int argc, char** argv, const std::vector<std::string>& required,
             const std::function<void(const nabla::io::TensorFile&)>& read = {}, const std::string& default_out = "") {
    rank_ = nabla::dist::rank();
    world_ = nabla::dist::world_size();
    args_.assign(argv + 1, argv + argc);
    if (!resume_.empty()) resume(argc, argv, required, read);
    else if (out_.empty()) out_ = default_out;
    settings_ = settings_given();
    if (threads_ > 0) nabla::set_num_threads(threads_);
  }
  /// The epochs when --epochs was not given (and the constructor had no default).
  void default_epochs(int n) {
    if (epochs_ == 0) epochs_ = n;
  }
  /// Creates the output directory on rank 0 (before the first file is written).
  void ensure_out() const {
    if (std::error_code ec; main() && !fs::create_directories(out_, ec) && ec) {
      throw nabla::IoError(fmt::format("--out: cannot create \"{}\": {}", out_.string(), ec.message()));
    }
  }

  /// With --resume: the model and optimizer from the checkpoint, the schedule replayed over the
  /// epochs done (fed each row's `validation_column`).
  void restore(nabla::nn::Module& model, nabla::optim::Optimizer& opt, nabla::optim::LrSchedule& schedule,
               const std::string& validation_column) {
    if (resume_.empty()) return;
    nabla::io::load_checkpoint(file_, resume_, model, &opt);
    const std::size_t col = metrics_.column(validation_column);
    for (const auto& row : metrics_.rows()) schedule.epoch_end(row[col]);
    for (const auto& [name, t] : file_.tensors) {
      if (name.starts_with("extra.kept.")) best_state_.emplace(name.substr(11), t);
    }
    fmt::print(log(), "resuming {} from epoch {} of {}\n", resume_, start_, epochs_);
  }

  /// Under mpirun: a DistError on every rank unless all have the same model and configuration
  /// (`config`, by default the settings), then rank 0's parameters everywhere; gradients are
  /// averaged over the ranks by sync().
  void distribute(nabla::nn::Module& model, std::string config = "") {
    if (world_ > 1) {
      nabla::dist::check_same_model(model);
      const std::string c = (config.empty() ? json(settings_).dump() : config) + " epochs " + std::to_string(epochs_);
      nabla::dist::check_same("the configuration (flags)", nabla::dist::hash_bytes(c.data(), c.size()), c);
    }
    nabla::dist::broadcast_state(model);
    ddp_ = std::make_unique<nabla::dist::DistributedDataParallel>(model);
  }
  /// After backward: under mpirun, each .grad becomes the mean over the ranks.
  void sync() {
    if (ddp_) ddp_->synchronize();
  }

  /// The epoch loop, from the first epoch not done: η from the schedule, `pass(epoch)` trains (calling
  /// epoch.step per mini-batch under a progress bar of `examples` per epoch, all ranks'), `end(epoch)`
  /// evaluates, prints its line and returns the row; then the schedule, metrics.csv, the figure and
  /// the checkpoint. Stops early when `end` says so or the schedule has fallen to η₀/128.
  template <class Pass, class End>
  void train(nabla::nn::Module& model, nabla::optim::Optimizer& opt, nabla::optim::LrSchedule& schedule, std::int64_t examples,
             Pass pass, End end, double unit = 1) {
    bool stop = false;
    for (int e = start_; e < epochs_ && !stop; ++e) {
      opt.set_lr(schedule.lr());
      Epoch epoch(e, epochs_, examples, progress_out(), world_, unit);
      pass(epoch);
      epoch.finish();
      const EpochEnd r = end(epoch);
      std::fflush(log());  // each epoch's line as it happens, also into a pipe or a log
      metrics_.add(r.row);
      schedule.epoch_end(r.validation);
      stop = r.stop;
      if (schedule.should_stop()) {
        fmt::print(log(), "η has fallen to η₀/128: stopping\n");
        stop = true;
      }
      done_ = e + 1;
      save(model, opt);
    }
  }

  /// Keeps the model of the best (lowest) `value` so far as model.safetensors and in memory.
  void keep_best(const nabla::nn::Module& model, int epoch, double value) {
    if (!(value < best_)) return;
    best_ = value;
    best_epoch_ = epoch + 1;
    best_state_.clear();
    for (const auto& [name, t] : model.state()) best_state_.emplace(name, t.detach().clone());
    ensure_out();
    if (main()) nabla::io::save_safetensors((out_ / "model.safetensors").string(), best_state_, {{"epoch", std::to_string(epoch + 1)}});
  }
  /// The model of the best epoch (keep_best) back into `model`.
  void restore_best(nabla::nn::Module& model) const {
    if (!best_state_.empty()) model.load_state(best_state_);
  }
  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }

  /// summary.json (rank 0): `fields` and the run's command, epochs, ranks, threads and wall time.
  void summary(json fields) const {
    if (!main()) return;
    ensure_out();
    std::string command = program_;
    for (const std::string& a : args_) command += " " + a;
    fields["command"] = command;
    fields["epochs_run"] = metrics_.rows().size();
    fields["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    fields["ranks"] = world_;
    fields["blas_threads"] = nabla::num_threads();
    write_text(out_ / "summary.json", fields.dump(2) + "\n");
  }

  // ---- under mpirun ----
  bool main() const { return rank_ == 0; }
  int rank() const { return rank_; }
  int world() const { return world_; }
  /// stdout on rank 0; elsewhere a sink.
  std::FILE* log() const {
    static std::FILE* const sink = std::fopen("/dev/null", "w");
    return main() || sink == nullptr ? stdout : sink;
  }
  /// This rank's part of a data set for evaluation (all of it in one process).
  nabla::data::Dataset part(const nabla::data::Dataset& d) const {
    if (world_ == 1 || d.empty()) return d;
    const auto [begin, end] = nabla::dist::shard_range(d.size());
    return d.slice(begin, end);
  }
  /// The evaluation of a whole set from this rank's part of it (part()), summed over the ranks.
  nabla::train::Evaluation evaluate(nabla::nn::Module& net, const nabla::data::Dataset& part,
                                    const nabla::train::CostFunction& cost) const {
    const nabla::train::Evaluation local = part.empty() ? nabla::train::Evaluation{} : nabla::train::evaluate(net, part, cost);
    return world_ > 1 ? nabla::dist::all_reduce(local) : local;
  }

  const std::string& program() const { return program_; }
  const fs::path& out() const { return out_; }
  int epochs() const { return epochs_; }
  int start() const { return start_; }
  bool resuming() const { return !resume_.empty(); }
  bool quiet() const { return quiet_; }
  const nabla::io::TensorFile& checkpoint() const { return file_; }
  const Metrics& metrics() const { return metrics_; }
  /// The options that define the run, as {"--name", "value", "--flag", …}: given, or the checkpoint's.
  const std::vector<std::string>& settings() const { return settings_; }

 private:
  std::FILE* progress_out() const { return main() ? (quiet_ ? stdout : stderr) : log(); }

  std::vector<std::string> settings_given() const {
    std::vector<std::string> s;
    for (const CLI::Option* o : app_.get_options()) {
      if (o->count() == 0 || std::find(free_.begin(), free_.end(), o->get_name()) != free_.end()) continue;
      if (o->get_expected_max() == 0) {  // a flag: its name, as often as given
        for (std::size_t i = 0; i < o->count(); ++i) s.push_back(o->get_name());
        continue;
      }
      for (const std::string& v : o->results()) {
        s.push_back(o->get_name());
        s.push_back(v);
      }
    }
    return s;
  }

  void resume(int argc, char** argv, const std::vector<std::string>& required,
              const std::function<void(const nabla::io::TensorFile&)>& read) {
    if (const auto given = settings_given(); !given.empty()) {
      throw nabla::ValueError(
          fmt::format("{} cannot be combined with --resume: the run continues with its checkpoint's settings", given[0]));
    }
    const bool out_given = app_.count("--out") > 0;
    file_ = nabla::io::load_safetensors(resume_);
    const auto& meta = file_.metadata;
    if (meta.contains("program") && meta.at("program") != program_) {
      throw nabla::IoError(fmt::format("--resume: \"{}\" is a checkpoint of {}, not of {}", resume_, meta.at("program"), program_));
    }
    std::vector<std::string> fields = required;
    fields.insert(fields.end(), {"epoch", "rows"});
    for (const std::string& f : fields) {
      if (!meta.contains(f)) {
        throw nabla::IoError(fmt::format("--resume: \"{}\" is not a {} checkpoint (no \"{}\" in its metadata)", resume_, program_, f));
      }
    }
    if (meta.contains("args")) {  // the run's settings, parsed after this command's
      const json a = meta_json(file_, "args");
      if (!a.is_array() || !std::all_of(a.begin(), a.end(), [](const json& v) { return v.is_string(); })) {
        throw nabla::IoError(fmt::format("\"{}\": metadata field \"args\" is not an array of strings: {}", file_.source,
                                         excerpt(a.dump().substr(0, 200))));
      }
      std::vector<std::string> args(argv + 1, argv + argc);
      for (const json& v : a) args.push_back(v.get<std::string>());
      std::reverse(args.begin(), args.end());  // CLI11 parses a vector from its back
      app_.clear();
      app_.parse(args);
    }
    if (read) read(file_);
    start_ = static_cast<int>(file_.meta_int("epoch", 0, 1'000'000));
    metrics_.restore(file_, start_);
    if (meta.contains("best")) {
      const json b = meta_json(file_, "best");
      if (!b.is_number() && !b.is_null()) throw nabla::IoError(fmt::format("\"{}\": metadata field \"best\" is not a number", file_.source));
      best_ = b.is_null() ? INFINITY : b.get<double>();
      best_epoch_ = static_cast<int>(file_.meta_int("best_epoch", 0, start_));
    }
    if (!out_given) out_ = fs::path(resume_).parent_path();
    if (start_ >= epochs_) {
      throw nabla::ValueError(fmt::format("--resume: the checkpoint has {} epochs done; pass --epochs above that", start_));
    }
  }

  /// The checkpoint, metrics.csv and the figure, written on rank 0 after each epoch.
  void save(const nabla::nn::Module& model, const nabla::optim::Optimizer& opt) const {
    if (!main()) return;
    ensure_out();
    std::map<std::string, std::string> meta = metadata;
    meta["program"] = program_;
    meta["args"] = json(settings_).dump();
    meta["epoch"] = std::to_string(done_);
    meta["rows"] = metrics_.to_json().dump();
    std::map<std::string, nabla::Tensor> tensors = extra;
    if (best_epoch_ > 0) {
      meta["best"] = json(best_).dump();
      meta["best_epoch"] = std::to_string(best_epoch_);
      for (const auto& [name, t] : best_state_) tensors.emplace("kept." + name, t);
    }
    nabla::io::save_checkpoint((out_ / "checkpoint.safetensors").string(), model, &opt, meta, tensors);
    write_text(out_ / "metrics.csv", metrics_.csv());
    if (!panels_.empty()) plot_csv(out_ / "metrics.csv", metrics_.columns(), out_ / "learning_curves.png", plot_title_, panels_, plot_width_);
  }

  CLI::App& app_;
  std::string program_;
  Metrics metrics_;
  fs::path out_;
  int epochs_;
  int threads_ = 0;
  bool quiet_ = false;
  std::string resume_;
  std::vector<std::string> free_, settings_, args_;
  nabla::io::TensorFile file_;
  int start_ = 0, done_ = 0;
  double best_ = INFINITY;
  int best_epoch_ = 0;
  std::map<std::string, nabla::Tensor> best_state_;
  std::string plot_title_;
  std::vector<Panel> panels_;
  int plot_width_ = 0;
  std::unique_ptr<nabla::dist::DistributedDataParallel> ddp_;
  int rank_ = 0, world_ = 1;  // set by begin(), after dist::init
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

/// Runs a program's body under mpirun or alone: joins the job (dist::init), and reports an
/// exception as "<program> (rank r of n): message" with exit status 1 (under mpirun: without
/// MPI_Finalize, and mpirun stops the other ranks).
template <class Body>
int guarded(const std::string& program, Body body) {
  try {
    nabla::dist::init();
    const int rc = body();
    nabla::dist::finalize();
    return rc;
  } catch (const std::exception& e) {
    const std::string who =
        nabla::dist::world_size() > 1 ? fmt::format(" (rank {} of {})", nabla::dist::rank(), nabla::dist::world_size()) : "";
    fmt::print(stderr, "{}{}: {}\n", program, who, e.what());
    return 1;
  }
}

}  // namespace nabla_run
