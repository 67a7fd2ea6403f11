// src/data/data_loader.cpp — the DataLoader: a pass's batches made in order by the caller or by worker
// threads that run ahead (nabla/data_loader.hpp).
#include "nabla/data_loader.hpp"

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace nabla::data {

namespace {

constexpr std::int64_t kMaxWorkers = 256;

std::string indices_text(const std::vector<std::int64_t>& idx) {
  if (idx.size() <= 8) return fmt::format("[{}]", fmt::join(idx, ", "));
  return fmt::format("[{}, … {} in all]", fmt::join(idx.begin(), idx.begin() + 8, ", "), idx.size());
}

/// Rethrows the exception in flight as the same nabla error kind (nabla::Error for any other
/// std::exception), its message prefixed with `where`, the original nested in it.
[[noreturn]] void rethrow_with(const std::string& where) {
  try {
    throw;
  } catch (const ShapeError& e) {
    std::throw_with_nested(ShapeError(where + e.what()));
  } catch (const ValueError& e) {
    std::throw_with_nested(ValueError(where + e.what()));
  } catch (const IoError& e) {
    std::throw_with_nested(IoError(where + e.what()));
  } catch (const NumericError& e) {
    std::throw_with_nested(NumericError(where + e.what()));
  } catch (const GraphError& e) {
    std::throw_with_nested(GraphError(where + e.what()));
  } catch (const DistError& e) {
    std::throw_with_nested(DistError(where + e.what()));
  } catch (const std::exception& e) {
    std::throw_with_nested(Error(where + e.what()));
  } catch (...) {
    std::throw_with_nested(Error(where + "an exception not derived from std::exception"));
  }
}

}  // namespace

/// One pass: its batches' indices (fixed when it starts, so the order never depends on the workers)
/// and, with workers, the batches made ahead of the caller.
struct Pass {
  struct Result {
    Example batch;
    std::exception_ptr error;
  };

  datasets::DatasetBase* dataset;
  std::vector<std::vector<std::int64_t>> batches;
  std::int64_t consumed = 0;  // batches handed to the caller

  // With workers: all below under m.
  std::mutex m;
  std::condition_variable work_cv, ready_cv;
  std::int64_t next_job = 0, window = 0;
  std::map<std::int64_t, Result> ready;
  bool stop = false;
  std::vector<std::thread> workers;

  Example make(std::int64_t k, std::int64_t worker) const {
    NoGradGuard no_grad;  // loading records no graph, on any thread
    const std::vector<std::int64_t>& idx = batches[static_cast<std::size_t>(k)];
    const std::string who = worker < 0 ? std::string() : fmt::format(" in worker {}", worker);
    std::vector<Example> examples;
    examples.reserve(idx.size());
    for (std::int64_t i : idx) {
      try {
        examples.push_back(dataset->get(i));
      } catch (...) {
        rethrow_with(fmt::format("DataLoader: dataset get({}) of batch {}{}: ", i, k, who));
      }
    }
    try {
      return dataset->collate(std::move(examples));
    } catch (...) {
      rethrow_with(fmt::format("DataLoader: collating batch {} (indices {}){}: ", k, indices_text(idx), who));
    }
  }

  void work(std::int64_t worker) {
    std::unique_lock lock(m);
    const auto count = static_cast<std::int64_t>(batches.size());
    for (;;) {
      work_cv.wait(lock, [&] { return stop || next_job >= count || next_job < consumed + window; });
      if (stop || next_job >= count) return;
      const std::int64_t k = next_job++;
      lock.unlock();
      Result r;
      try {
        r.batch = make(k, worker);
      } catch (...) {
        r.error = std::current_exception();
      }
      lock.lock();
      ready.emplace(k, std::move(r));
      ready_cv.notify_all();
    }
  }

  void start(std::int64_t num_workers, std::int64_t prefetch_factor) {
    window = num_workers * prefetch_factor;
    workers.reserve(static_cast<std::size_t>(num_workers));
    try {
      for (std::int64_t w = 0; w < num_workers; ++w) workers.emplace_back([this, w] { work(w); });
    } catch (...) {
      finish();
      throw;
    }
  }

  /// The next batch, or nothing at the end of the pass; rethrows that batch's exception.
  std::optional<Example> next() {
    const auto count = static_cast<std::int64_t>(batches.size());
    if (consumed >= count) return std::nullopt;
    if (workers.empty()) return make(consumed++, -1);
    std::unique_lock lock(m);
    ready_cv.wait(lock, [&] { return ready.count(consumed) > 0; });
    auto node = ready.extract(consumed);
    ++consumed;
    work_cv.notify_all();
    lock.unlock();
    if (node.mapped().error) std::rethrow_exception(node.mapped().error);
    return std::move(node.mapped().batch);
  }

  /// Stops the workers: each finishes the batch it is making, takes no other, and is joined.
  void finish() {
    {
      std::lock_guard lock(m);
      stop = true;
    }
    work_cv.notify_all();
    for (std::thread& t : workers) t.join();
    workers.clear();
  }

  ~Pass() { finish(); }
};

DataLoader::DataLoader(std::shared_ptr<datasets::DatasetBase> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  if (dataset_ == nullptr) throw ValueError("DataLoader: no dataset");
  const DataLoaderOptions& o = options_;
  if (o.batch_size < 1) throw ValueError(fmt::format("DataLoader: batch_size must be positive, got {}", o.batch_size));
  if (o.num_workers < 0 || o.num_workers > kMaxWorkers) {
    throw ValueError(fmt::format("DataLoader: num_workers must be in [0, {}], got {}", kMaxWorkers, o.num_workers));
  }
  if (o.prefetch_factor < 1) {
    throw ValueError(fmt::format("DataLoader: prefetch_factor must be positive, got {}", o.prefetch_factor));
  }
  if (o.sampler != nullptr && o.shuffle) throw ValueError("DataLoader: sampler option is mutually exclusive with shuffle");
  const std::int64_t n = dataset_->size();
  if (n < 0) throw ValueError(fmt::format("DataLoader: the dataset's size() is {}", n));
  if (o.sampler != nullptr) {
    sampler_ = o.sampler;
  } else if (o.shuffle) {
    sampler_ = std::make_shared<samplers::RandomSampler>(n, o.seed);
  } else {
    sampler_ = std::make_shared<samplers::SequentialSampler>(n);
  }
}

DataLoader::~DataLoader() { end_pass(); }

void DataLoader::end_pass() {
  current_.reset();
  pass_.reset();  // ~Pass stops and joins the workers
}

std::int64_t DataLoader::size() const {
  const std::optional<std::int64_t> m = sampler_->size();
  if (!m) throw ValueError("DataLoader: size() needs a sampler that knows its size (Sampler::size())");
  const std::int64_t b = options_.batch_size;
  return options_.drop_last ? *m / b : (*m == 0 ? 0 : (*m - 1) / b + 1);
}

DataLoader::iterator DataLoader::begin() {
  end_pass();
  ++pass_id_;
  auto pass = std::make_unique<Pass>();
  pass->dataset = dataset_.get();
  sampler_->reset();
  const std::int64_t n = dataset_->size(), b = options_.batch_size;
  while (auto idx = sampler_->next(b)) {
    if (idx->empty()) break;
    if (static_cast<std::int64_t>(idx->size()) > b) {
      throw ValueError(fmt::format("DataLoader: the sampler gave {} indices for a batch of {}", idx->size(), b));
    }
    for (std::int64_t i : *idx) {
      if (i < 0 || i >= n) {
        throw ValueError(fmt::format("DataLoader: the sampler gave index {} for a dataset of {} examples", i, n));
      }
    }
    if (options_.drop_last && static_cast<std::int64_t>(idx->size()) < b) break;
    pass->batches.push_back(std::move(*idx));
  }
  if (options_.num_workers > 0 && !pass->batches.empty()) pass->start(options_.num_workers, options_.prefetch_factor);
  pass_ = std::move(pass);
  advance();
  return iterator(this, pass_id_);
}

void DataLoader::advance() {
  current_.reset();
  if (pass_ != nullptr) current_ = pass_->next();
  if (!current_) pass_.reset();  // the pass is over: its workers are joined now
}

Example& DataLoader::iterator::operator*() const {
  if (loader_->pass_id_ != pass_ || !loader_->current_) {
    throw ValueError("DataLoader: iterator of a pass that has ended (a later begin() or the end of the pass)");
  }
  return *loader_->current_;
}

DataLoader::iterator& DataLoader::iterator::operator++() {
  if (loader_->pass_id_ != pass_) throw ValueError("DataLoader: iterator of a pass that has ended (a later begin())");
  loader_->advance();
  return *this;
}

bool DataLoader::iterator::operator==(std::default_sentinel_t) const {
  return loader_->pass_id_ != pass_ || !loader_->current_;
}

}  // namespace nabla::data
