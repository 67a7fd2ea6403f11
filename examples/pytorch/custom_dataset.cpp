// examples/pytorch/custom_dataset.cpp — pytorch/examples' cpp/custom-dataset (custom-dataset.cpp)
// in nabla, written as a libtorch user would: a Dataset subclass that reads the image files listed in
// an info file, a DataLoader with worker threads, AlexNet as an nn::Sequential of Conv2d, Functional
// (relu, max_pool2d, reshape) and a LogSoftmax module, trained by SGD with momentum.
//
// Stand-ins (the original reads Caltech-101 with OpenCV; neither is here):
//  - the images are PGM files written from Fashion-MNIST by --make-sample (28×28 gray, its own
//    train/test split through data::datasets::MNIST), with the info file "path label train|test";
//  - cv::imread → a 20-line PGM reader; cv::resize (bilinear) → upsample_nearest2d (nearest; a
//    bilinear interpolate is being added separately); BGR channels → the gray image expanded to 3;
//  - the classes are 1 + the largest label in the info file (the original's 102 for Caltech).
//
//   custom_dataset --make-sample /tmp/cd --train-count 160 --test-count 80   # writes images + info
//   custom_dataset --data /tmp/cd                                            # trains, as the original
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

using namespace nabla;

struct Options {
  std::int64_t image_size = 224;
  std::int64_t train_batch_size = 8;
  std::int64_t test_batch_size = 200;
  std::int64_t iterations = 10;
  std::int64_t log_interval = 20;
  std::int64_t workers = 2;
  std::string dataset_path = "./dataset/";  // holds the images and info.txt
};
static Options options;

using Data = std::vector<std::pair<std::string, std::int64_t>>;

// cv::imread for 8-bit binary PGM (P5): [height, width] uint8 values as float32.
Tensor read_pgm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  std::int64_t width = 0, height = 0, maxval = 0;
  in >> magic >> width >> height >> maxval;
  if (!in || magic != "P5" || width <= 0 || height <= 0 || width > 4096 || height > 4096 || maxval != 255) {
    throw IoError(fmt::format("\"{}\": not an 8-bit binary PGM image", path));
  }
  in.get();  // the one whitespace after maxval
  std::vector<unsigned char> bytes(static_cast<std::size_t>(width * height));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw IoError(fmt::format("\"{}\": truncated", path));
  }
  std::vector<float> pixels(bytes.begin(), bytes.end());
  return from_vector(std::span<const float>(pixels), {height, width});
}

class CustomDataset : public data::datasets::Dataset<CustomDataset> {
  using Example = data::Example;
  Data data;

 public:
  explicit CustomDataset(const Data& data) : data(data) {}

  Example get(std::int64_t index) override {
    const std::string path = options.dataset_path + data[static_cast<std::size_t>(index)].first;
    Tensor mat = read_pgm(path);  // [H, W], 0..255 as cv::imread's bytes
    // cv::resize to image_size × image_size (nearest here), then 3 channels as the colour original.
    Tensor resized = upsample_nearest2d(mat.reshape({1, 1, mat.shape()[0], mat.shape()[1]}), options.image_size,
                                        options.image_size);
    Tensor tdata = expand(resized.reshape({1, options.image_size, options.image_size}),
                          {3, options.image_size, options.image_size});
    Tensor tlabel = full({1}, double(data[static_cast<std::size_t>(index)].second), i64);
    return {tdata, tlabel};
  }

  std::int64_t size() const override { return static_cast<std::int64_t>(data.size()); }
};

std::pair<Data, Data> readInfo() {
  Data train, test;
  const std::string info = options.dataset_path + "info.txt";
  std::ifstream stream(info);
  if (!stream) throw IoError(fmt::format("\"{}\": cannot open (write a sample with --make-sample)", info));
  std::int64_t label;
  std::string path, type;
  while (stream >> path >> label >> type) {
    if (type == "train") {
      train.push_back(std::make_pair(path, label));
    } else if (type == "test") {
      test.push_back(std::make_pair(path, label));
    } else {
      throw IoError(fmt::format("\"{}\": type \"{}\"; expected train or test", info, type));
    }
  }
  std::mt19937 shuffle_rng;  // std::random_shuffle's role, with a fixed seed
  std::shuffle(train.begin(), train.end(), shuffle_rng);
  std::shuffle(test.begin(), test.end(), shuffle_rng);
  return std::make_pair(train, test);
}

// AlexNet, as the original's NetworkImpl (a SequentialImpl subclass).
struct Network : nn::Sequential {
  explicit Network(std::int64_t classes) {
    auto pool = [](const Tensor& x) { return max_pool2d(x, 3, 2); };  // torch::max_pool2d(x, 3, {2, 2}, 0, 1, false)
    auto relu_ = [](const Tensor& x) { return relu(x); };
    const std::int64_t s = pooled_side(options.image_size);
    push_back(std::make_shared<nn::Conv2d>(3, 64, 11, nn::Conv2dOptions{.stride = 4, .padding = 2}));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Functional>(pool, "max_pool2d"));
    push_back(std::make_shared<nn::Conv2d>(64, 192, 5, nn::Conv2dOptions{.padding = 2}));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Functional>(pool, "max_pool2d"));
    push_back(std::make_shared<nn::Conv2d>(192, 384, 3, nn::Conv2dOptions{.padding = 1}));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Conv2d>(384, 256, 3, nn::Conv2dOptions{.padding = 1}));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Conv2d>(256, 256, 3, nn::Conv2dOptions{.padding = 1}));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Functional>(pool, "max_pool2d"));
    push_back(std::make_shared<nn::Functional>([s](const Tensor& x) { return x.reshape({-1, 256 * s * s}); }, "reshape"));
    push_back(std::make_shared<nn::Dropout>());
    push_back(std::make_shared<nn::Linear>(256 * s * s, 4096));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Dropout>());
    push_back(std::make_shared<nn::Linear>(4096, 4096));
    push_back(std::make_shared<nn::Functional>(relu_, "relu"));
    push_back(std::make_shared<nn::Linear>(4096, classes));
    push_back(std::make_shared<nn::LogSoftmax>(1));
  }
  // The side of the last pooled map: 6 for 224 (256 · 6 · 6 as the original), 1 for 64.
  static std::int64_t pooled_side(std::int64_t n) {
    auto pool = [](std::int64_t x) { return (x - 3) / 2 + 1; };
    return pool(pool(pool((n + 4 - 11) / 4 + 1)));
  }
};

template <typename DataLoader>
void train(Network& network, DataLoader& loader, optim::Optimizer& optimizer, std::int64_t epoch, std::int64_t data_size) {
  std::int64_t index = 0;
  network.train();
  float Loss = 0, Acc = 0;
  for (auto& batch : loader) {
    auto data = batch.data;
    auto targets = batch.target.reshape({-1});
    auto output = network.forward(data);
    auto loss = nll_loss(output, targets);
    if (std::isnan(loss.template item<float>())) throw NumericError("custom_dataset: the loss is NaN");
    auto acc = sum(eq(argmax(output, 1), targets));  // int64, as torch's bool sum
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    Loss += loss.template item<float>() * float(targets.shape()[0]);
    Acc += acc.template item<float>();
    const auto end = std::min(data_size, (index + 1) * options.train_batch_size);
    if (index++ % options.log_interval == 0) {
      std::cout << "Train Epoch: " << epoch << " " << end << "/" << data_size << "\tLoss: " << Loss / float(end)
                << "\tAcc: " << Acc / float(end) << std::endl;
    }
  }
}

// The test set's loss and accuracy (fraction correct).
template <typename DataLoader>
std::pair<float, float> test(Network& network, DataLoader& loader, std::int64_t data_size) {
  network.eval();
  NoGradGuard no_grad;
  float Loss = 0, Acc = 0;
  for (const auto& batch : loader) {
    auto targets = batch.target.reshape({-1});
    auto output = network.forward(batch.data);
    auto loss = nll_loss(output, targets);
    auto acc = sum(eq(argmax(output, 1), targets));  // int64, as torch's bool sum
    Loss += loss.template item<float>() * float(targets.shape()[0]);
    Acc += acc.template item<float>();
  }
  std::cout << "Test Loss: " << Loss / float(data_size) << "\tAcc: " << Acc / float(data_size) << std::endl;
  return {Loss / float(data_size), Acc / float(data_size)};
}

// The stand-in for Caltech-101: Fashion-MNIST's first images of its own train and test files as PGM.
void make_sample(const std::string& fashion, std::int64_t train_count, std::int64_t test_count) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::path(options.dataset_path) / "train");
  fs::create_directories(fs::path(options.dataset_path) / "test");
  std::ofstream info(options.dataset_path + "info.txt");
  for (auto [mode, count] : {std::pair(data::datasets::MNIST::Mode::kTrain, train_count),
                             std::pair(data::datasets::MNIST::Mode::kTest, test_count)}) {
    data::datasets::MNIST source(fashion, mode);
    const char* type = source.is_train() ? "train" : "test";
    if (count > source.size()) throw ValueError(fmt::format("--{}-count {} > {} images", type, count, source.size()));
    for (std::int64_t i = 0; i < count; ++i) {
      const data::Example e = source.get(i);
      const std::string name = fmt::format("{}/img_{:05}.pgm", type, i);
      std::ofstream out(options.dataset_path + name, std::ios::binary);
      out << "P5\n28 28\n255\n";
      for (float v : e.data.to_vector<float>()) out.put(static_cast<char>(std::lround(v * 255.0f)));
      info << name << " " << e.target.item<std::int64_t>() << " " << type << "\n";
    }
  }
  std::cout << "wrote " << train_count << " train and " << test_count << " test images and info.txt to "
            << options.dataset_path << std::endl;
}

int main(int argc, char** argv) {
  CLI::App app{"pytorch/examples' custom-dataset (AlexNet on images listed in an info file) in nabla"};
  std::string make = "";
  std::string fashion = data::kFashionMnistDir;
  std::int64_t train_count = 160, test_count = 80;
  app.add_option("--data", options.dataset_path, "directory of the images and info.txt");
  app.add_option("--make-sample", make, "write Fashion-MNIST images as PGM and info.txt to this directory, and exit");
  app.add_option("--fashion-mnist", fashion, "Fashion-MNIST's directory (for --make-sample)");
  app.add_option("--train-count", train_count, "training images to write")->check(CLI::PositiveNumber);
  app.add_option("--test-count", test_count, "test images to write")->check(CLI::PositiveNumber);
  app.add_option("--iterations", options.iterations, "passes over the training images")->check(CLI::PositiveNumber);
  app.add_option("--image-size", options.image_size, "side of the resized images (224: AlexNet's)")->check(CLI::Range(63, 4096));
  app.add_option("--train-batch", options.train_batch_size, "training batch size")->check(CLI::PositiveNumber);
  app.add_option("--test-batch", options.test_batch_size, "test batch size")->check(CLI::PositiveNumber);
  app.add_option("--workers", options.workers, "DataLoader worker threads")->check(CLI::Range(0, 64));
  CLI11_PARSE(app, argc, argv);
  try {
    if (!options.dataset_path.empty() && options.dataset_path.back() != '/') options.dataset_path += '/';
    if (!make.empty()) {
      options.dataset_path = make.back() == '/' ? make : make + "/";
      make_sample(fashion, train_count, test_count);
      return 0;
    }
    manual_seed(1);
    auto data = readInfo();
    std::int64_t classes = 0;
    for (const auto& d : {data.first, data.second}) {
      for (const auto& [path, label] : d) classes = std::max(classes, label + 1);
    }

    auto train_set = CustomDataset(data.first).map(data::transforms::Stack());
    auto train_size = train_set.size();
    auto train_loader = data::make_data_loader<data::samplers::SequentialSampler>(
        std::move(train_set), {.batch_size = options.train_batch_size, .num_workers = options.workers});

    auto test_set = CustomDataset(data.second).map(data::transforms::Stack());
    auto test_size = test_set.size();
    auto test_loader = data::make_data_loader<data::samplers::SequentialSampler>(
        std::move(test_set), {.batch_size = options.test_batch_size, .num_workers = options.workers});

    Network network(classes);
    optim::SGD optimizer(network.parameters(), {.lr = 0.001, .momentum = 0.5});

    const auto t0 = std::chrono::steady_clock::now();
    std::pair<float, float> last{};
    for (std::int64_t i = 0; i < options.iterations; ++i) {
      ::train(network, *train_loader, optimizer, i + 1, train_size);  // nabla::train is a namespace
      std::cout << std::endl;
      last = test(network, *test_loader, test_size);
      std::cout << std::endl;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << fmt::format("final test accuracy {:.4f}, loss {:.4f}; {} classes, {} train / {} test images; {:.1f} s",
                             last.second, last.first, classes, train_size, test_size, seconds)
              << std::endl;
  } catch (const Error& e) {
    std::cerr << "custom_dataset: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
