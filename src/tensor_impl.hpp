// src/tensor_impl.hpp — the shared state behind a Tensor handle (internal).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::detail {

struct Counters {
  std::atomic<std::int64_t> tensors{0}, storages{0}, storage_bytes{0}, nodes{0};
};
Counters& counters();

/// A 64-byte aligned buffer and the version counter of every tensor that views it.
struct Storage {
  explicit Storage(std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  std::size_t nbytes = 0;
  std::uint64_t version = 0;
};

struct TensorImpl {
  TensorImpl(std::shared_ptr<Storage> s, const Shape& sh, Dtype dt)
      : storage(std::move(s)), shape(sh), dtype(dt) {
    counters().tensors.fetch_add(1, std::memory_order_relaxed);
  }
  ~TensorImpl() { counters().tensors.fetch_sub(1, std::memory_order_relaxed); }
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  std::shared_ptr<Storage> storage;
  Shape shape;
  Dtype dtype;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::uint32_t output_nr = 0;  // which output of grad_fn this tensor is
  // Hooks on a leaf's incoming gradient (a non-leaf's live on its node's walk_.pre_hooks).
  std::vector<std::pair<std::size_t, std::function<Tensor(const Tensor&)>>> hooks;
  bool retains_grad = false;
  // A leaf's post-accumulate hooks, and the contributions of the current backward still to come.
  std::vector<std::pair<std::size_t, std::function<void(const Tensor&)>>> post_hooks;
  std::uint64_t post_walk = 0;
  std::int64_t post_pending = 0;
};

/// Element i (row-major) as double, and written from double, for any dtype.
double load(const Tensor& t, std::int64_t i);
void store(const Tensor& t, std::int64_t i, double v);

/// A new uninitialized tensor (the same as nabla::empty); every tensor's storage is made here. The
/// size is checked first (checked_bytes); errors name the op of the live OpScope, else `op`.
Tensor make_tensor(const Shape& shape, Dtype dtype, std::string_view op = "tensor");
/// A double as int64, defined for every value: truncated toward zero, NaN → 0, beyond the range →
/// the nearest end.
std::int64_t to_int64(double v);

template <class T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return Dtype::f32;
  else if constexpr (std::is_same_v<T, double>) return Dtype::f64;
  else if constexpr (std::is_same_v<T, bool>) return Dtype::b8;
  else if constexpr (std::is_same_v<T, bfloat16>) return Dtype::bf16;
  else return Dtype::i64;
}

}  // namespace nabla::detail
