// examples/pytorch/dcgan.cpp — pytorch/examples' cpp/dcgan/dcgan.cpp in nabla: a DCGAN generator
// (ConvTranspose2d, BatchNorm2d, ReLU, Tanh) and discriminator (Conv2d, BatchNorm2d, LeakyReLU(0.2),
// Sigmoid) trained with binary cross-entropy (real labels drawn from U(0.8, 1)), Adam lr 2e-4 betas
// (0.5, 0.5), batch 64, noise 100, checkpoints of both models and optimizers every 200 batches with
// 10 samples. Fashion-MNIST where the original reads MNIST (all 60,000 training images).
// Beyond the original: --resume continues a run where its last checkpoint was written (the epoch and
// batch are in the checkpoints' metadata; an epoch's batch order is fixed by its seed, so the batches
// already trained are skipped), and the losses every 10 batches go to DIR/losses.csv.
//
//   ./pytorch_dcgan --epochs 1 [--train-limit N] [--out DIR] [--restore | --resume]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

constexpr std::int64_t kNoiseSize = 100;
constexpr std::int64_t kNumberOfSamplesPerCheckpoint = 10;
constexpr std::int64_t kLogInterval = 10;

// TORCH_MODULE(DCGANGenerator) with its Impl → a Module subclass holding its children.
struct DCGANGenerator : nn::Module {
  explicit DCGANGenerator(std::int64_t noise_size)
      : conv1(std::make_shared<nn::ConvTranspose2d>(noise_size, 256, 4, nn::ConvTranspose2dOptions{.has_bias = false})),
        batch_norm1(std::make_shared<nn::BatchNorm2d>(256)),
        conv2(std::make_shared<nn::ConvTranspose2d>(256, 128, 3, nn::ConvTranspose2dOptions{.stride = 2, .padding = 1, .has_bias = false})),
        batch_norm2(std::make_shared<nn::BatchNorm2d>(128)),
        conv3(std::make_shared<nn::ConvTranspose2d>(128, 64, 4, nn::ConvTranspose2dOptions{.stride = 2, .padding = 1, .has_bias = false})),
        batch_norm3(std::make_shared<nn::BatchNorm2d>(64)),
        conv4(std::make_shared<nn::ConvTranspose2d>(64, 1, 4, nn::ConvTranspose2dOptions{.stride = 2, .padding = 1, .has_bias = false})) {
    // register_module() is needed if we want to use the parameters() method later on
    register_module("conv1", conv1);
    register_module("conv2", conv2);
    register_module("conv3", conv3);
    register_module("conv4", conv4);
    register_module("batch_norm1", batch_norm1);
    register_module("batch_norm2", batch_norm2);
    register_module("batch_norm3", batch_norm3);
  }

  Tensor forward(const Tensor& input) override {
    Tensor x = relu((*batch_norm1)((*conv1)(input)));
    x = relu((*batch_norm2)((*conv2)(x)));
    x = relu((*batch_norm3)((*conv3)(x)));
    x = tanh((*conv4)(x));
    return x;
  }
  std::string describe() const override { return "DCGANGenerator"; }

  std::shared_ptr<nn::ConvTranspose2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> batch_norm1;
  std::shared_ptr<nn::ConvTranspose2d> conv2;
  std::shared_ptr<nn::BatchNorm2d> batch_norm2;
  std::shared_ptr<nn::ConvTranspose2d> conv3;
  std::shared_ptr<nn::BatchNorm2d> batch_norm3;
  std::shared_ptr<nn::ConvTranspose2d> conv4;
};

nn::Sequential make_discriminator() {
  return nn::Sequential{
      // Layer 1
      nn::Conv2d(1, 64, 4, {.stride = 2, .padding = 1, .has_bias = false}), nn::LeakyReLU(0.2),
      // Layer 2
      nn::Conv2d(64, 128, 4, {.stride = 2, .padding = 1, .has_bias = false}), nn::BatchNorm2d(128), nn::LeakyReLU(0.2),
      // Layer 3
      nn::Conv2d(128, 256, 4, {.stride = 2, .padding = 1, .has_bias = false}), nn::BatchNorm2d(256), nn::LeakyReLU(0.2),
      // Layer 4
      nn::Conv2d(256, 1, 3, {.stride = 1, .padding = 0, .has_bias = false}), nn::Sigmoid()};
}

// Normalize(0.5, 0.5) on [N, 1, 28, 28] images.
data::Batch to_images(data::Batch b, Generator&) {
  static constexpr std::array<double, 1> half{0.5};
  b.x = data::normalize(reshape(b.x, {-1, 1, 28, 28}), half, half);
  return b;
}

int main(int argc, char** argv) {
  CLI::App app{"pytorch/examples' dcgan.cpp in nabla, on Fashion-MNIST"};
  std::string data_dir = data::kFashionMnistDir, out = ".";
  std::int64_t epochs = 30, batch_size = 64, train_limit = 0, checkpoint_every = 200;
  std::uint64_t seed = 1;
  bool restore = false, resume = false;
  app.add_option("--data", data_dir, "directory of the four IDX files");
  app.add_option("--epochs", epochs, "passes over the training set (the original: 30)")->check(CLI::PositiveNumber);
  app.add_option("--train-limit", train_limit, "use only the first N training images (0: all 60,000)")->check(CLI::NonNegativeNumber);
  app.add_option("--checkpoint-every", checkpoint_every, "batches between checkpoints")->check(CLI::PositiveNumber);
  app.add_option("--out", out, "directory for checkpoints and samples");
  app.add_option("--seed", seed, "torch::manual_seed");
  auto* restore_flag = app.add_flag("--restore", restore, "load the checkpoints in --out, then train from epoch 1 (kRestoreFromCheckpoint)");
  app.add_flag("--resume", resume, "load the checkpoints in --out and continue at the epoch and batch they were written at")
      ->excludes(restore_flag);
  CLI11_PARSE(app, argc, argv);
  try {
    manual_seed(seed);
    std::filesystem::create_directories(out);
    DCGANGenerator generator(kNoiseSize);
    nn::Sequential discriminator = make_discriminator();

    data::Dataset dataset = data::load_fashion_mnist(data_dir, 0).train;
    if (train_limit > 0) dataset = dataset.slice(0, std::min(train_limit, dataset.size()));
    const auto batches_per_epoch = static_cast<std::int64_t>(std::ceil(double(dataset.size()) / double(batch_size)));

    optim::Adam generator_optimizer(generator.parameters(), {.lr = 2e-4, .betas = {0.5, 0.5}});
    optim::Adam discriminator_optimizer(discriminator.parameters(), {.lr = 2e-4, .betas = {0.5, 0.5}});
    const std::string g_path = out + "/generator-checkpoint.safetensors", d_path = out + "/discriminator-checkpoint.safetensors";
    std::int64_t checkpoint_counter = 1, first_epoch = 1, skip = 0;
    if (restore || resume) {
      const io::TensorFile g = io::load_checkpoint(g_path, generator, &generator_optimizer);
      io::load_checkpoint(d_path, discriminator, &discriminator_optimizer);
      if (resume) {
        // Where the run was: the batch count of that run must be this one's.
        const std::int64_t saved_batches = g.meta_int("batches_per_epoch", 1, std::int64_t(1) << 40);
        if (saved_batches != batches_per_epoch) {
          throw ValueError(fmt::format("--resume: {} was written by a run of {} batches per epoch; this one has {} "
                                       "(the same --train-limit is needed)", g_path, saved_batches, batches_per_epoch));
        }
        first_epoch = g.meta_int("epoch", 1, std::int64_t(1) << 40);
        skip = g.meta_int("batch", 0, batches_per_epoch);
        checkpoint_counter = g.meta_int("checkpoint", 1, std::int64_t(1) << 40);
        if (skip == batches_per_epoch) first_epoch++, skip = 0;
        std::printf("resuming at epoch %lld, batch %lld\n", static_cast<long long>(first_epoch), static_cast<long long>(skip));
      }
    }
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> losses_file(
        std::fopen((out + "/losses.csv").c_str(), resume ? "a" : "w"), &std::fclose);
    std::FILE* losses = losses_file.get();
    if (losses == nullptr) throw IoError(fmt::format("cannot write {}/losses.csv", out));
    if (!resume) std::fprintf(losses, "epoch,batch,d_loss,g_loss\n");

    const auto start = std::chrono::steady_clock::now();
    double d_loss_value = 0, g_loss_value = 0;
    for (std::int64_t epoch = first_epoch; epoch <= epochs; ++epoch) {
      std::int64_t batch_index = 0;
      data::Loader data_loader(dataset, batch_size,
                               {.batches = {.shuffle = true, .seed = static_cast<std::uint64_t>(epoch)}, .transform = to_images});
      for (; epoch == first_epoch && batch_index < skip; ++batch_index) data_loader.next();
      while (auto batch = data_loader.next()) {
        const std::int64_t n = batch->x.shape()[0];
        // Train discriminator with real images.
        discriminator.zero_grad();
        Tensor real_images = batch->x;
        Tensor real_labels = uniform({n}, 0.8, 1.0);
        Tensor real_output = reshape(discriminator(real_images), real_labels.shape());
        Tensor d_loss_real = binary_cross_entropy(real_output, real_labels, {});
        d_loss_real.backward();

        // Train discriminator with fake images.
        Tensor noise = randn({n, kNoiseSize, 1, 1});
        Tensor fake_images = generator(noise);
        Tensor fake_labels = zeros({n});
        Tensor fake_output = reshape(discriminator(fake_images.detach()), fake_labels.shape());
        Tensor d_loss_fake = binary_cross_entropy(fake_output, fake_labels, {});
        d_loss_fake.backward();

        Tensor d_loss = d_loss_real + d_loss_fake;
        discriminator_optimizer.step();

        // Train generator.
        generator.zero_grad();
        fake_labels.fill_(1);
        fake_output = reshape(discriminator(fake_images), fake_labels.shape());
        Tensor g_loss = binary_cross_entropy(fake_output, fake_labels, {});
        g_loss.backward();
        generator_optimizer.step();
        batch_index++;
        d_loss_value = d_loss.item<double>();
        g_loss_value = g_loss.item<double>();
        if (!std::isfinite(d_loss_value) || !std::isfinite(g_loss_value)) {
          throw NumericError(fmt::format("D_loss {} G_loss {} at batch {}", d_loss_value, g_loss_value, batch_index));
        }
        if (batch_index % kLogInterval == 0) {
          std::fprintf(losses, "%lld,%lld,%.6f,%.6f\n", static_cast<long long>(epoch), static_cast<long long>(batch_index),
                       d_loss_value, g_loss_value);
          std::fflush(losses);
          std::printf("[%2lld/%2lld][%3lld/%3lld] D_loss: %.4f | G_loss: %.4f\n", static_cast<long long>(epoch),
                      static_cast<long long>(epochs), static_cast<long long>(batch_index),
                      static_cast<long long>(batches_per_epoch), d_loss.item<float>(), g_loss.item<float>());
          std::fflush(stdout);
        }
        if (batch_index % checkpoint_every == 0) {
          // Checkpoint the model and optimizer state.
          const std::map<std::string, std::string> at{{"epoch", std::to_string(epoch)},
                                                      {"batch", std::to_string(batch_index)},
                                                      {"checkpoint", std::to_string(checkpoint_counter + 1)},
                                                      {"batches_per_epoch", std::to_string(batches_per_epoch)}};
          io::save_checkpoint(g_path, generator, &generator_optimizer, at);
          io::save_checkpoint(d_path, discriminator, &discriminator_optimizer, at);
          // Sample the generator and save the images.
          NoGradGuard no_grad;
          Tensor samples = generator(randn({kNumberOfSamplesPerCheckpoint, kNoiseSize, 1, 1}));
          io::save_safetensors(fmt::format("{}/dcgan-sample-{}.safetensors", out, checkpoint_counter),
                               {{"samples", (samples + 1.0) / 2.0}});
          std::printf("-> checkpoint %lld\n", static_cast<long long>(++checkpoint_counter));
        }
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("dcgan: %lld epochs on %lld images, last D_loss %.4f G_loss %.4f, %.1f s\n",
                static_cast<long long>(epochs), static_cast<long long>(dataset.size()), d_loss_value, g_loss_value, seconds);
  } catch (const Error& e) {
    std::fprintf(stderr, "pytorch_dcgan: %s\n", e.what());
    return 1;
  }
}
