// src/data/samplers.cpp — the orders of a pass: sequential, random, distributed (nabla/data_loader.hpp).
#include "nabla/data_loader.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

namespace nabla::data::samplers {

namespace {
void check_size(const char* who, std::int64_t size) {
  if (size < 0) throw ValueError(fmt::format("{}: size must be ≥ 0, got {}", who, size));
}
void check_batch(const char* who, std::int64_t batch_size) {
  if (batch_size < 1) throw ValueError(fmt::format("{}: batch size must be positive, got {}", who, batch_size));
}
std::optional<std::vector<std::int64_t>> take(const std::vector<std::int64_t>& order, std::int64_t& index, std::int64_t n) {
  const auto size = static_cast<std::int64_t>(order.size());
  if (index >= size) return std::nullopt;
  const std::int64_t end = index + std::min(n, size - index);
  std::vector<std::int64_t> out(order.begin() + index, order.begin() + end);
  index = end;
  return out;
}
std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}
}  // namespace

SequentialSampler::SequentialSampler(std::int64_t size) : size_(size) { check_size("SequentialSampler", size); }

void SequentialSampler::reset(std::optional<std::int64_t> new_size) {
  if (new_size) {
    check_size("SequentialSampler", *new_size);
    size_ = *new_size;
  }
  index_ = 0;
}

std::optional<std::vector<std::int64_t>> SequentialSampler::next(std::int64_t batch_size) {
  check_batch("SequentialSampler", batch_size);
  if (index_ >= size_) return std::nullopt;
  const std::int64_t end = index_ + std::min(batch_size, size_ - index_);
  std::vector<std::int64_t> out(static_cast<std::size_t>(end - index_));
  std::iota(out.begin(), out.end(), index_);
  index_ = end;
  return out;
}

RandomSampler::RandomSampler(std::int64_t size, std::uint64_t seed) : gen_(seed) {
  check_size("RandomSampler", size);
  order_.resize(static_cast<std::size_t>(size));
  reset();
}

void RandomSampler::reset(std::optional<std::int64_t> new_size) {
  if (new_size) {
    check_size("RandomSampler", *new_size);
    order_.resize(static_cast<std::size_t>(*new_size));
  }
  std::iota(order_.begin(), order_.end(), 0);
  std::shuffle(order_.begin(), order_.end(), gen_.engine());
  index_ = 0;
}

std::optional<std::vector<std::int64_t>> RandomSampler::next(std::int64_t batch_size) {
  check_batch("RandomSampler", batch_size);
  return take(order_, index_, batch_size);
}

DistributedSampler::DistributedSampler(std::int64_t size, std::int64_t num_replicas, std::int64_t rank, bool shuffle,
                                       std::uint64_t seed, bool drop_last)
    : size_(size), replicas_(num_replicas), rank_(rank), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  check_size("DistributedSampler", size);
  if (num_replicas < 1 || rank < 0 || rank >= num_replicas) {
    throw ValueError(fmt::format("DistributedSampler: rank {} of {} replicas; need 0 <= rank < num_replicas", rank, num_replicas));
  }
  reset();
}

std::optional<std::int64_t> DistributedSampler::size() const {
  // PyTorch's num_samples: ⌊n / R⌋ with drop_last, else ⌈n / R⌉.
  return drop_last_ ? size_ / replicas_ : (size_ + replicas_ - 1) / replicas_;
}

void DistributedSampler::reset(std::optional<std::int64_t> new_size) {
  if (new_size) {
    check_size("DistributedSampler", *new_size);
    size_ = *new_size;
  }
  std::vector<std::int64_t> order = iota(size_);
  if (shuffle_) {
    Generator gen(seed_ + epoch_);  // as PyTorch's g.manual_seed(seed + epoch): every rank draws the same order
    std::shuffle(order.begin(), order.end(), gen.engine());
  }
  const std::int64_t per_rank = *size(), total = per_rank * replicas_;
  if (total < size_) {
    order.resize(static_cast<std::size_t>(total));
  } else if (!order.empty()) {
    for (std::size_t k = 0; order.size() < static_cast<std::size_t>(total); ++k) order.push_back(order[k]);
  }
  order_.clear();
  for (std::int64_t i = rank_; i < total; i += replicas_) order_.push_back(order[static_cast<std::size_t>(i)]);
  index_ = 0;
}

std::optional<std::vector<std::int64_t>> DistributedSampler::next(std::int64_t batch_size) {
  check_batch("DistributedSampler", batch_size);
  return take(order_, index_, batch_size);
}

}  // namespace nabla::data::samplers
