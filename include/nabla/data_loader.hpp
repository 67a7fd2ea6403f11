// nabla/data_loader.hpp — map-style datasets and the DataLoader, with libtorch's names (torch::data):
// a dataset gives example i by get(i); samplers choose the order; the loader gathers batches on
// worker threads and collates them (Stack).
//
//   struct Images : data::datasets::Dataset<Images> {
//     data::Example get(std::int64_t i) override { return {read_image(i), label(i)}; }
//     std::int64_t size() const override { return n; }
//   };
//   auto loader = data::make_data_loader(Images{...}.map(data::transforms::Stack()),
//                                        {.batch_size = 64, .num_workers = 4});  // RandomSampler
//   for (auto& batch : *loader) step(batch.data, batch.target);
//
// Names next to nabla's older data::Dataset (two tensors) and data::Loader of nabla/data.hpp, which
// the book's programs use: this header's dataset is data::datasets::Dataset, as in libtorch.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "nabla/data.hpp"
#include "nabla/tensor.hpp"

namespace nabla::data {

/// One example: its data and its target (torch::data::Example<>). A batch is an Example too, its
/// tensors with a leading batch axis. The target may be undefined (data without labels).
struct Example {
  Tensor data;
  Tensor target;
};

// ---- transforms (src/data/datasets.cpp) ----------------------------------------------------------
namespace transforms {

/// Collation: the examples' data stacked along a new first axis, and their targets likewise
/// (torch::data::transforms::Stack<>): data [B, ...], target [B, ...] (int64 scalars → [B]). All
/// examples' data must have one shape and dtype, and their targets; else a ShapeError naming both.
struct Stack {
  Example operator()(const std::vector<Example>& examples) const;
};

/// (data − mean[c]) / stddev[c] along the data's first axis (channels, [C, ...]), one value for all
/// or one per channel (torch::data::transforms::Normalize<>). Deviations finite and > 0.
class Normalize {
 public:
  Normalize(double mean, double stddev) : Normalize(std::vector<double>{mean}, std::vector<double>{stddev}) {}
  Normalize(std::vector<double> mean, std::vector<double> stddev);
  Example operator()(Example example) const;

 private:
  std::vector<double> mean_, stddev_;
};

/// Any function of an example (torch::data::transforms::Lambda).
class Lambda {
 public:
  explicit Lambda(std::function<Example(Example)> f) : f_(std::move(f)) {}
  Example operator()(Example example) const { return f_(std::move(example)); }

 private:
  std::function<Example(Example)> f_;
};

/// A function of the example's data; the target passes through (torch::data::transforms::TensorLambda).
class TensorLambda {
 public:
  explicit TensorLambda(std::function<Tensor(Tensor)> f) : f_(std::move(f)) {}
  Example operator()(Example example) const { return {f_(std::move(example.data)), std::move(example.target)}; }

 private:
  std::function<Tensor(Tensor)> f_;
};

}  // namespace transforms

// ---- datasets ------------------------------------------------------------------------------------
namespace datasets {

/// What the DataLoader reads: size() examples, example i from get(i), a batch from collate. With
/// num_workers > 0 the loader calls get() from several threads at once: get() must not change
/// shared state without a lock (reading files and tensors is fine).
class DatasetBase {
 public:
  virtual ~DatasetBase() = default;
  /// Example `index`, in [0, size()).
  virtual Example get(std::int64_t index) = 0;
  virtual std::int64_t size() const = 0;
  /// One batch of the examples get() gave, in the sampler's order; by default transforms::Stack.
  virtual Example collate(std::vector<Example> examples) const { return transforms::Stack()(examples); }
};

class MapDataset;

/// The base of a user's dataset (torch::data::datasets::Dataset<Self>): derive as
/// `struct Mine : data::datasets::Dataset<Mine>` and override get() and size().
template <class Self>
class Dataset : public DatasetBase {
 public:
  /// This dataset with a transform: a function of one example (transforms::Normalize, Lambda,
  /// TensorLambda) applied after get(), or a collation (transforms::Stack, any function of
  /// std::vector<Example>) that makes each batch. On an rvalue the dataset is moved, else copied.
  template <class T>
  MapDataset map(T transform) &&;
  template <class T>
  MapDataset map(T transform) &;
};

/// A dataset with a transform of its examples or its collation (torch::data::datasets::MapDataset).
class MapDataset : public Dataset<MapDataset> {
 public:
  using ExampleTransform = std::function<Example(Example)>;
  using Collation = std::function<Example(std::vector<Example>)>;
  /// Exactly one of transform and collate is set.
  MapDataset(std::shared_ptr<DatasetBase> dataset, ExampleTransform transform, Collation collate);
  Example get(std::int64_t index) override;
  std::int64_t size() const override { return dataset_->size(); }
  Example collate(std::vector<Example> examples) const override;
  const DatasetBase& dataset() const { return *dataset_; }

 private:
  std::shared_ptr<DatasetBase> dataset_;
  ExampleTransform transform_;
  Collation collate_;
};

namespace detail {
template <class T>
MapDataset make_map(std::shared_ptr<DatasetBase> d, T transform) {
  if constexpr (std::is_invocable_r_v<Example, const T&, Example>) {
    return MapDataset(std::move(d), MapDataset::ExampleTransform(std::move(transform)), {});
  } else {
    static_assert(std::is_invocable_r_v<Example, const T&, std::vector<Example>>,
                  "map: a transform is a function of an Example or a collation of std::vector<Example>");
    return MapDataset(std::move(d), {}, MapDataset::Collation(std::move(transform)));
  }
}
}  // namespace detail

template <class Self>
template <class T>
MapDataset Dataset<Self>::map(T transform) && {
  return detail::make_map(std::make_shared<Self>(std::move(static_cast<Self&>(*this))), std::move(transform));
}
template <class Self>
template <class T>
MapDataset Dataset<Self>::map(T transform) & {
  return detail::make_map(std::make_shared<Self>(static_cast<const Self&>(*this)), std::move(transform));
}

/// Example i of tensors: {data[i], target[i]} along their first axes (torch.utils.data.TensorDataset
/// with two tensors; libtorch's TensorDataset has the data alone: leave target undefined).
class TensorDataset : public Dataset<TensorDataset> {
 public:
  /// A ShapeError unless both have rank ≥ 1 and one length (target may be undefined).
  TensorDataset(Tensor data, Tensor target = {});
  /// nabla's two-tensor data::Dataset (x, y) as a map-style dataset: Fashion-MNIST gives [784] rows.
  explicit TensorDataset(const data::Dataset& d) : TensorDataset(d.x(), d.y()) {}
  Example get(std::int64_t index) override;
  std::int64_t size() const override { return data_.shape()[0]; }
  const Tensor& data() const { return data_; }
  const Tensor& target() const { return target_; }

 private:
  Tensor data_, target_;
};

/// MNIST or Fashion-MNIST with the files' own split (torch::data::datasets::MNIST): kTrain the
/// 60,000 training images, kTest the 10,000 test images; example i is data float32 [1, 28, 28] in
/// [0, 1] and target int64 [] (a scalar; stacked, [B]). The four IDX files, plain or .gz, as for
/// load_idx_dir (whose default is the book's 50,000 / 10,000 / 10,000 split instead).
class MNIST : public Dataset<MNIST> {
 public:
  enum class Mode { kTrain, kTest };
  explicit MNIST(const std::string& root, Mode mode = Mode::kTrain);
  Example get(std::int64_t index) override;
  std::int64_t size() const override { return targets_.shape()[0]; }
  bool is_train() const { return train_; }
  /// All images [n, 1, 28, 28] and labels [n].
  const Tensor& images() const { return images_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor images_, targets_;
  bool train_;
};

}  // namespace datasets

// ---- samplers (src/data/samplers.cpp) ----------------------------------------------------------------
namespace samplers {

/// The order of a pass (torch::data::samplers::Sampler): reset() starts a pass, next(n) gives the
/// next up to n indices, nothing at its end.
class Sampler {
 public:
  virtual ~Sampler() = default;
  /// Starts a new pass, over `new_size` examples if given.
  virtual void reset(std::optional<std::int64_t> new_size = std::nullopt) = 0;
  virtual std::optional<std::vector<std::int64_t>> next(std::int64_t batch_size) = 0;
  /// Indices in a pass (len(sampler)), if known; DataLoader::size() needs it.
  virtual std::optional<std::int64_t> size() const { return std::nullopt; }
};

/// 0, 1, …, size − 1.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(std::int64_t size);
  void reset(std::optional<std::int64_t> new_size = std::nullopt) override;
  std::optional<std::vector<std::int64_t>> next(std::int64_t batch_size) override;
  std::optional<std::int64_t> size() const override { return size_; }

 private:
  std::int64_t size_, index_ = 0;
};

/// A random permutation, a new one at each reset(), drawn from a generator seeded with `seed`
/// (torch's RandomSampler(generator=torch.Generator().manual_seed(seed))): the passes' orders are a
/// function of the seed alone (nabla's generator, so not torch's permutations).
class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(std::int64_t size, std::uint64_t seed = 0);
  void reset(std::optional<std::int64_t> new_size = std::nullopt) override;
  std::optional<std::vector<std::int64_t>> next(std::int64_t batch_size) override;
  std::optional<std::int64_t> size() const override { return static_cast<std::int64_t>(order_.size()); }

 private:
  Generator gen_;
  std::vector<std::int64_t> order_;
  std::int64_t index_ = 0;
};

/// This rank's share of each pass in data-parallel training (torch.utils.data.DistributedSampler):
/// the pass's order (shuffled from seed + epoch when `shuffle`, the same on every rank), padded by
/// repeating its first indices to a multiple of num_replicas (or cut to one when drop_last), of
/// which this rank takes positions rank, rank + R, rank + 2R, …. Call set_epoch(e) before each
/// pass, as in PyTorch, for a new order; num_replicas and rank as dist::world_size() and dist::rank().
class DistributedSampler : public Sampler {
 public:
  DistributedSampler(std::int64_t size, std::int64_t num_replicas, std::int64_t rank, bool shuffle = true,
                     std::uint64_t seed = 0, bool drop_last = false);
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  void reset(std::optional<std::int64_t> new_size = std::nullopt) override;
  std::optional<std::vector<std::int64_t>> next(std::int64_t batch_size) override;
  std::optional<std::int64_t> size() const override;

 private:
  std::int64_t size_, replicas_, rank_;
  bool shuffle_, drop_last_;
  std::uint64_t seed_, epoch_ = 0;
  std::vector<std::int64_t> order_;
  std::int64_t index_ = 0;
};

}  // namespace samplers

// ---- the loader (src/data/data_loader.cpp) ------------------------------------------------------------

/// PyTorch's DataLoader arguments and defaults (libtorch's `workers` is num_workers here).
struct DataLoaderOptions {
  std::int64_t batch_size = 1;
  /// A RandomSampler from `seed` (PyTorch: a seeded generator); false: a SequentialSampler.
  bool shuffle = false;
  /// Any order; mutually exclusive with shuffle. The loader resets it at each pass.
  std::shared_ptr<samplers::Sampler> sampler = nullptr;
  /// Threads that gather batches ahead of the caller; 0: each batch made by the caller when asked.
  /// The batches and their order are the same for every count.
  std::int64_t num_workers = 0;
  /// Drop a last batch smaller than batch_size.
  bool drop_last = false;
  std::uint64_t seed = 0;
  /// Batches in flight per worker, at most (PyTorch's prefetch_factor).
  std::int64_t prefetch_factor = 2;
};

struct Pass;  // one pass's batches and workers (src/data/data_loader.cpp)

/// Batches of a map-style dataset, in the sampler's order, each `batch_size` indices (the last one
/// smaller unless drop_last) gathered by get() and collated by the dataset's collate (Stack).
/// Range-for starts a pass: `for (auto& batch : loader)`; a new begin() ends the pass in progress
/// (its iterators are then invalid), and so does the destructor: an early break or an exception
/// leaves no thread behind and waits only for the batches being made. An exception of
/// get() or of the collation reaches the caller when it comes to that batch, of the same nabla
/// error kind (std::exception otherwise: nabla::Error), its message naming the index and the batch;
/// the original is kept as the nested exception (std::rethrow_if_nested). One thread iterates a loader.
class DataLoader {
 public:
  DataLoader(std::shared_ptr<datasets::DatasetBase> dataset, DataLoaderOptions options = {});
  template <class D>
    requires std::derived_from<std::remove_cvref_t<D>, datasets::DatasetBase>
  explicit DataLoader(D&& dataset, DataLoaderOptions options = {})
      : DataLoader(std::make_shared<std::remove_cvref_t<D>>(std::forward<D>(dataset)), std::move(options)) {}
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  class iterator {
   public:
    using value_type = Example;
    using difference_type = std::ptrdiff_t;
    Example& operator*() const;
    Example* operator->() const { return &**this; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const;

   private:
    friend class DataLoader;
    iterator(DataLoader* loader, std::uint64_t pass) : loader_(loader), pass_(pass) {}
    DataLoader* loader_;
    std::uint64_t pass_;
  };
  /// Starts a pass (resetting the sampler) and makes its first batch.
  iterator begin();
  std::default_sentinel_t end() const { return {}; }

  /// Batches in a pass (len(loader)); a ValueError for a sampler that does not know its size.
  std::int64_t size() const;
  const DataLoaderOptions& options() const { return options_; }
  datasets::DatasetBase& dataset() { return *dataset_; }

 private:
  void advance();    // makes the pass's next batch current, or ends it
  void end_pass();   // stops and joins the workers

  std::shared_ptr<datasets::DatasetBase> dataset_;
  DataLoaderOptions options_;
  std::shared_ptr<samplers::Sampler> sampler_;
  std::unique_ptr<Pass> pass_;
  std::uint64_t pass_id_ = 0;
  std::optional<Example> current_;
};

/// libtorch's make_data_loader<Sampler>(dataset, options): a loader whose sampler is
/// Sampler(dataset.size()) — RandomSampler(size, options.seed) by default, as in libtorch (PyTorch's
/// DataLoader does not shuffle by default: pass shuffle to DataLoader itself). options.sampler and
/// options.shuffle must be left unset (a ValueError).
template <class SamplerT = samplers::RandomSampler, class D>
  requires std::derived_from<std::remove_cvref_t<D>, datasets::DatasetBase>
std::unique_ptr<DataLoader> make_data_loader(D&& dataset, DataLoaderOptions options = {}) {
  auto d = std::make_shared<std::remove_cvref_t<D>>(std::forward<D>(dataset));
  if (options.sampler != nullptr || options.shuffle) {
    throw ValueError("make_data_loader: the sampler is the template argument; leave options.sampler and options.shuffle unset");
  }
  if constexpr (std::is_constructible_v<SamplerT, std::int64_t, std::uint64_t>) {
    options.sampler = std::make_shared<SamplerT>(d->size(), options.seed);
  } else {
    options.sampler = std::make_shared<SamplerT>(d->size());
  }
  return std::make_unique<DataLoader>(std::move(d), std::move(options));
}

}  // namespace nabla::data
