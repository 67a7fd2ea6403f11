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
//   mpirun -np 4 nabla-autoencoder                 data-parallel: 4 ranks of 64 images each per step
//
// Its run (flags, checkpoint, epoch loop, metrics, figure, mpirun) is examples/run/run.hpp's.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "cli_checks.hpp"
#include "run/run.hpp"

using namespace nabla;
namespace fs = std::filesystem;

namespace {

nn::Sequential autoencoder(Generator& gen) {
  const nn::Conv2dOptions down{.stride = 2, .padding = 1, .weight = nn::Init::scaled_normal, .bias = nn::Init::zeros};
  const nn::ConvTranspose2dOptions up{.stride = 2, .padding = 1, .output_padding = 1, .weight = nn::Init::scaled_normal, .bias = nn::Init::zeros};
  return nn::Sequential{
      nn::Reshape({1, 28, 28}),
      nn::Conv2d(1, 16, 3, down, gen), nn::ReLU(),                                  // [16, 14, 14]
      nn::Conv2d(16, 32, 3, down, gen), nn::ReLU(),                                 // [32, 7, 7]
      nn::Conv2d(32, 4, 3, {.padding = 1, .weight = nn::Init::scaled_normal, .bias = nn::Init::zeros}, gen),           // the code: [4, 7, 7]
      nn::Conv2d(4, 32, 3, {.padding = 1, .weight = nn::Init::scaled_normal, .bias = nn::Init::zeros}, gen), nn::ReLU(),  // [32, 7, 7]
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
  nabla_run::write_text(dir / "reconstructions.txt", m);
  return nabla_run::gnuplot(
      dir / "reconstructions.gp",
      fmt::format("set terminal pngcairo size {},{} font 'sans,10' noenhanced\nset output {}\n"
                  "set title 'Fashion-MNIST test images (top) and their reconstructions from 196 numbers (bottom)'\n"
                  "unset key\nunset colorbox\nunset xtics\nunset ytics\nset palette gray negative\nset cbrange [0:1]\n"
                  "set size ratio -1\nset xrange [-0.5:{}]\nset yrange [-0.5:55.5]\nset lmargin 1\nset rmargin 1\nset bmargin 1\n"
                  "plot {} matrix with image\n",
                  n * 28 * 3, 56 * 3 + 40, nabla_run::quote((dir / "reconstructions.png").string()), double(n * 28) - 0.5,
                  nabla_run::quote((dir / "reconstructions.txt").string())));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nabla-autoencoder: a convolutional autoencoder on Fashion-MNIST"};
  nabla_run::Run run(app, "nabla-autoencoder", {"epoch", "lr", "train_mse", "validation_mse", "mean_image_mse", "seconds"},
                     "out/autoencoder-fashion", 10);
  std::string dir = data::kFashionMnistDir;
  std::int64_t batch = 64, limit_train = 0, limit_test = 0;
  double lr = 2e-3;
  std::uint64_t seed = 0;
  app.add_option("--data-dir", dir, "Fashion-MNIST's IDX files")->capture_default_str();
  app.add_option("--batch", batch, "mini-batch size (per rank under mpirun)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--lr", lr, "Adam's learning rate (cosine schedule over the epochs)")->check(cli_checks::positive)->capture_default_str();
  app.add_option("--limit-train", limit_train, "use only the first N training and validation images")->check(cli_checks::non_negative);
  app.add_option("--limit-test", limit_test, "use only the first N test images")->check(cli_checks::non_negative);
  app.add_option("--seed", seed, "seed of the initial weights and the shuffling")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return nabla_run::guarded("nabla-autoencoder", [&] {
    run.begin(argc, argv, {"program", "args"});
    data::Split d = data::load_fashion_mnist(dir, 10000);
    if (limit_train > 0) {
      d.train = d.train.slice(0, std::min(limit_train, d.train.size()));
      d.validation = d.validation.slice(0, std::min(limit_train, d.validation.size()));
    }
    if (limit_test > 0) d.test = d.test.slice(0, std::min(limit_test, d.test.size()));
    Generator gen(seed);
    nn::Sequential model = autoencoder(gen);
    optim::Adam opt(model.parameters(), {.lr = lr});
    optim::CosineAnnealingLR schedule(lr, std::max(1, run.epochs() - 1));  // η_min at the last epoch
    run.restore(model, opt, schedule, "validation_mse");
    run.distribute(model);
    const std::int64_t parameter_count = model.parameter_count();
    const double baseline = mean_image_mse(d.train, d.validation);
    std::FILE* const log = run.log();
    fmt::print(log, "{} ({} parameters) on Fashion-MNIST (train {}, validation {}, test {}), batch {}{}, Adam, {}\n",
               model.describe(), parameter_count, d.train.size(), d.validation.size(), d.test.size(), batch,
               run.world() > 1 ? fmt::format(" per rank × {} ranks", run.world()) : "", schedule.describe());
    fmt::print(log, "baseline, the mean training image: validation MSE {:.5f}\n", baseline);
    std::fflush(log);

    run.plot("convolutional autoencoder on Fashion-MNIST",
             {{.ylabel = "mean squared error per pixel",
               .curves = {{"train_mse", "training"}, {"validation_mse", "validation"}, {"mean_image_mse", "the mean image"}}}});
    const auto batches_of = [&](int epoch) {  // under mpirun: each rank its shard of the epoch's order
      return d.train.batches(batch, {.shuffle = true, .seed = nabla_run::epoch_seed(seed, epoch), .rank = run.rank(),
                                     .world_size = run.world()});
    };
    const std::int64_t examples = run.world() > 1 ? batches_of(0).size() * batch * run.world() : d.train.size();
    run.train(model, opt, schedule, examples,
              [&](nabla_run::Epoch& e) {
                for (auto [x, y] : batches_of(e.index)) {
                  Tensor cost = mse(model(x), x);
                  opt.zero_grad();
                  cost.backward();
                  run.sync();
                  opt.step();
                  e.step(cost.item(), x.shape()[0]);
                }
              },
              [&](nabla_run::Epoch& e) {
                const double val = evaluate(model, d.validation);  // every rank the whole set
                fmt::print(log, "epoch {:>3}  η {:.4g}  train MSE {:.5f}  validation MSE {:.5f}  {:.1f}s\n", e.index + 1, opt.lr(),
                           e.mean_cost(), val, e.seconds());
                run.keep_best(model, e.index, val);  // the model is chosen on validation images only
                return nabla_run::EpochEnd{{double(e.index + 1), opt.lr(), e.mean_cost(), val, baseline, e.seconds()}, val};
              });
    run.restore_best(model);
    const double test = evaluate(model, d.test), test_baseline = mean_image_mse(d.train, d.test);
    if (!run.main()) return 0;
    const bool png = draw(model, d.test, std::min<std::int64_t>(10, d.test.size()), run.out());
    run.summary({{"best_epoch", run.best_epoch()},
                 {"validation_mse", run.best()},
                 {"test_mse", test},
                 {"mean_image_test_mse", test_baseline},
                 {"parameters", parameter_count}});
    fmt::print("the model of epoch {} (best validation MSE {:.5f}): test MSE {:.5f} (the mean image: {:.5f}); wrote {}{}\n",
               run.best_epoch(), run.best(), test, test_baseline, run.out().string(),
               png ? " and reconstructions.png" : " (no PNG: gnuplot is not installed)");
    return 0;
  });
}
