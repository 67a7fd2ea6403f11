// examples/autoencoder.cpp — nabla-autoencoder: a convolutional autoencoder on Fashion-MNIST. The
// encoder halves the image twice with strided convolutions down to a code of 4 × 7 × 7 = 196
// numbers (a quarter of the 784 pixels); the decoder doubles it back with transposed convolutions
// and ends in a sigmoid. Trained with Adam on the mean squared error of the reconstruction; the
// model of the best validation epoch is measured once on the test set, beside the error of always
// answering the mean training image, and drawn: test images above their reconstructions.
//
//   nabla-autoencoder                              10 epochs, out/autoencoder-fashion
//   nabla-autoencoder --epochs 1 --limit-train 2000
//   nabla-autoencoder --resume out/autoencoder-fashion/checkpoint.safetensors --epochs 20
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "cli_checks.hpp"
#include "run_files.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

nn::Sequential autoencoder(Generator& gen) {
  const nn::Conv2dOptions down{.stride = 2, .padding = 1, .bias = nn::Init::zeros};
  const nn::ConvTranspose2dOptions up{.stride = 2, .padding = 1, .output_padding = 1, .bias = nn::Init::zeros};
  return nn::Sequential{
      nn::Reshape({1, 28, 28}),
      nn::Conv2d(1, 16, 3, down, gen), nn::ReLU(),                                  // [16, 14, 14]
      nn::Conv2d(16, 32, 3, down, gen), nn::ReLU(),                                 // [32, 7, 7]
      nn::Conv2d(32, 4, 3, {.padding = 1, .bias = nn::Init::zeros}, gen),           // the code: [4, 7, 7]
      nn::Conv2d(4, 32, 3, {.padding = 1, .bias = nn::Init::zeros}, gen), nn::ReLU(),  // [32, 7, 7]
      nn::ConvTranspose2d(32, 16, 3, up, gen), nn::ReLU(),                          // [16, 14, 14]
      nn::ConvTranspose2d(16, 1, 3, up, gen), nn::Sigmoid(),                        // [1, 28, 28]
      nn::Flatten()};
}

/// The mean squared error per pixel, the cost and the measure.
Tensor mse(const Tensor& reconstruction, const Tensor& image) { return mean(square(reconstruction - image)); }

/// The mean squared error of the model over a data set (evaluation mode, recording off).
double evaluate(nn::Module& model, const data::Dataset& d) {
  NoGradGuard no_grad;
  model.eval();
  double total = 0;
  for (auto [x, y] : d.batches(1000)) total += mse(model(x), x).item() * double(x.shape()[0]);
  model.train();
  return total / double(d.size());
}

/// The error of answering every image with the mean training image.
double mean_image_mse(const data::Dataset& train, const data::Dataset& test) {
  NoGradGuard no_grad;
  const Tensor m = mean(train.x(), 0, true);
  return mse(m, test.x()).item();  // m broadcast over the rows
}

/// reconstructions.png: `n` test images (top row) above their reconstructions (bottom row).
bool draw(nn::Module& model, const data::Dataset& test, std::int64_t n, const fs::path& dir) {
  NoGradGuard no_grad;
  model.eval();
  const Tensor x = slice(test.x(), 0, 0, n);
  const std::vector<float> orig = x.to_vector<float>(), rec = model(x).to_vector<float>();
  model.train();
  std::string m;  // a (2·28) × (n·28) matrix, top row first; gnuplot's image puts row 0 at the bottom
  for (int half = 1; half >= 0; --half) {
    const std::vector<float>& src = half == 1 ? rec : orig;
    for (int r = 27; r >= 0; --r) {
      for (std::int64_t i = 0; i < n; ++i) {
        for (int c = 0; c < 28; ++c) m += fmt::format("{:.3f} ", src[std::size_t(i * 784 + r * 28 + c)]);
      }
      m += "\n";
    }
  }
  run_files::write_text(dir / "reconstructions.txt", m);
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) return false;
  const fs::path script = dir / "reconstructions.gp";
  std::ofstream gp(script);
  gp << "set terminal pngcairo size " << n * 28 * 3 << "," << 56 * 3 + 40 << " font 'sans,10' noenhanced\n"
     << "set output '" << (dir / "reconstructions.png").string() << "'\n"
     << "set title 'Fashion-MNIST test images (top) and their reconstructions from 196 numbers (bottom)'\n"
     << "unset key\nunset colorbox\nunset xtics\nunset ytics\nset palette gray negative\nset cbrange [0:1]\n"
     << "set size ratio -1\nset xrange [-0.5:" << n * 28 - 0.5 << "]\nset yrange [-0.5:55.5]\n"
     << "set lmargin 1\nset rmargin 1\nset bmargin 1\n"
     << "plot '" << (dir / "reconstructions.txt").string() << "' matrix with image\n";
  gp.close();
  return std::system(fmt::format("gnuplot '{}' 2> /dev/null", script.string()).c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla-autoencoder: a convolutional autoencoder on Fashion-MNIST"};
  std::string dir = data::kFashionMnistDir, out = "out/autoencoder-fashion";
  int epochs = 10, threads = 0;
  std::int64_t batch = 64, limit_train = 0, limit_test = 0;
  double lr = 2e-3;
  std::uint64_t seed = 0;
  bool quiet = false;
  app.add_option("--data-dir", dir, "Fashion-MNIST's IDX files")->capture_default_str();
  app.add_option("--epochs", epochs, "epochs")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--batch", batch, "mini-batch size")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--lr", lr, "Adam's learning rate (cosine schedule over the epochs)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit-train", limit_train, "use only the first N training and validation images")->check(cli_checks::non_negative);
  app.add_option("--limit-test", limit_test, "use only the first N test images")->check(cli_checks::non_negative);
  app.add_option("--seed", seed, "seed of the initial weights and the shuffling")->capture_default_str();
  app.add_option("--threads", threads, "threads (default: OpenBLAS's choice)")->check(CLI::Range(1, 256));
  app.add_option("--out", out, "output directory")->capture_default_str();
  app.add_flag("--quiet", quiet, "progress lines on stdout, once per epoch");
  std::string resume;
  app.add_option("--resume", resume, "continue from this checkpoint (its settings are kept; --epochs: the new total)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  try {
    io::TensorFile resumed;
    run_files::RunState run = run_files::begin_run(app, argc, argv, resume, "nabla-autoencoder", resumed, out, epochs);
    if (threads > 0) set_num_threads(threads);
    const auto started = std::chrono::steady_clock::now();
    data::Split d = data::load_fashion_mnist(dir, 10000);
    if (limit_train > 0) {
      d.train = d.train.slice(0, std::min(limit_train, d.train.size()));
      d.validation = d.validation.slice(0, std::min(limit_train, d.validation.size()));
    }
    if (limit_test > 0) d.test = d.test.slice(0, std::min(limit_test, d.test.size()));
    fs::create_directories(out);
    Generator gen(seed);
    nn::Sequential model = autoencoder(gen);
    optim::Adam opt(model.parameters(), {.lr = lr});
    optim::CosineLr schedule(lr, epochs);
    run_files::Metrics metrics(out, {"epoch", "lr", "train_mse", "validation_mse", "mean_image_mse", "seconds"});
    run_files::restore_run(run, resumed, resume, model, opt, schedule, metrics, 3, epochs);  // column 3: validation
    const std::int64_t parameter_count = model.parameter_count();
    const double baseline = mean_image_mse(d.train, d.validation);
    fmt::print("{} ({} parameters) on Fashion-MNIST (train {}, validation {}, test {}), batch {}, Adam, {}\n",
               model.describe(), parameter_count, d.train.size(), d.validation.size(), d.test.size(), batch, schedule.describe());
    fmt::print("baseline, the mean training image: validation MSE {:.5f}\n", baseline);
    std::fflush(stdout);

    for (int epoch = run.epoch; epoch < epochs; ++epoch) {
      opt.set_lr(schedule.lr());
      train::Progress progress(fmt::format("epoch {}/{}", epoch + 1, epochs), d.train.size(), quiet ? stdout : stderr);
      double running = 0;
      std::int64_t seen = 0;
      for (auto [x, y] : d.train.batches(batch, {.shuffle = true, .seed = seed * 1000003 + std::uint64_t(epoch)})) {
        Tensor cost = mse(model(x), x);
        opt.zero_grad();
        cost.backward();
        opt.step();
        const double v = cost.item();
        if (!std::isfinite(v)) throw ValueError(fmt::format("epoch {}: the cost became {}; try a smaller --lr", epoch + 1, v));
        running += v * double(x.shape()[0]);
        seen += x.shape()[0];
        progress.update(x.shape()[0], running / double(seen));
      }
      progress.finish();
      const double val = evaluate(model, d.validation);
      metrics.add({double(epoch + 1), opt.lr(), running / double(seen), val, baseline, progress.seconds()});
      fmt::print("epoch {:>3}  η {:.4g}  train MSE {:.5f}  validation MSE {:.5f}  {:.1f}s\n", epoch + 1, opt.lr(),
                 running / double(seen), val, progress.seconds());
      std::fflush(stdout);
      schedule.epoch_end(val);
      if (val < run.best) {  // the model is chosen on validation images only
        run.best = val;
        run.best_epoch = epoch + 1;
        io::save_safetensors((fs::path(out) / "model.safetensors").string(), model.state(), {{"epoch", std::to_string(epoch + 1)}});
      }
      run.epoch = epoch + 1;
      run.rows = metrics.rows();
      run_files::save_run(fs::path(out) / "checkpoint.safetensors", "nabla-autoencoder", model, opt, run);
      metrics.plot("convolutional autoencoder on Fashion-MNIST", "mean squared error per pixel",
                   {{"train_mse", "training"}, {"validation_mse", "validation"}, {"mean_image_mse", "the mean image"}});
    }
    model.load_state(io::load_safetensors((fs::path(out) / "model.safetensors").string()).tensors);
    const double test = evaluate(model, d.test), test_baseline = mean_image_mse(d.train, d.test);
    const bool png = draw(model, d.test, std::min<std::int64_t>(10, d.test.size()), out);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    run_files::write_text(fs::path(out) / "summary.json",
                          fmt::format("{{\"best_epoch\": {}, \"validation_mse\": {:.6f}, \"test_mse\": {:.6f}, \"mean_image_test_mse\": "
                                      "{:.6f}, \"parameters\": {}, \"wall_seconds\": {:.1f}}}\n",
                                      run.best_epoch, run.best, test, test_baseline, parameter_count, wall));
    fmt::print("the model of epoch {} (best validation MSE {:.5f}): test MSE {:.5f} (the mean image: {:.5f}); wrote {}{}\n",
               run.best_epoch, run.best, test, test_baseline, out, png ? " and reconstructions.png" : " (no PNG: gnuplot is not installed)");
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "nabla-autoencoder: {}\n", e.what());
    return 1;
  }
}
