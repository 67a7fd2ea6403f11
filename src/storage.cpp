// src/storage.cpp — tensor storage: the per-thread block cache, the one place a tensor's buffer is
// made (make_tensor, its size checked first), and the checked double → int64 conversion.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>

#include <fmt/format.h>

#include "nabla/toolkit.hpp"
#include "tensor_impl.hpp"

namespace nabla {

namespace detail {

Counters& counters() {
  static Counters c;
  return c;
}

// Freed buffers are kept in a per-thread cache and handed out again, because a training step
// allocates the same buffers step after step:
// - small ones (64 B … 64 KiB, a recorded op's output and gradients): aligned malloc/free was half
//   the time of a tiny op. Class k holds blocks of 64·2^k bytes, at most kCacheDepth each (about
//   4 MiB in all).
// - large ones (a convolution's im2col matrix, its outputs): the system maps them fresh each time and
//   every page faults on first touch — a tenth of a network3 step. They are matched by exact size
//   (rounded to 4 KiB), at most kLargeBytes in all; the oldest go first when it would overflow, and
//   blocks above kLargeMax go straight back to the system.
// Sanitizer builds skip both caches so that a use after free is still caught.
namespace {
constexpr int kClasses = 11;
constexpr int kCacheDepth = 32;
constexpr std::size_t kSmallMax = std::size_t(64) << (kClasses - 1);
constexpr std::size_t kLargeBytes = std::size_t(256) << 20, kLargeMax = std::size_t(64) << 20;
constexpr int kLargeSlots = 64;
struct BlockCache {
  void* blocks[kClasses][kCacheDepth];
  int count[kClasses];
  void* large[kLargeSlots];  // oldest first
  std::size_t large_size[kLargeSlots];
  int large_count;
  std::size_t large_bytes;
  bool closed;  // the thread is exiting: free directly
};
thread_local BlockCache block_cache{};  // trivially destructible: usable until the thread ends
struct BlockCacheCleaner {
  ~BlockCacheCleaner() {
    for (int k = 0; k < kClasses; ++k) {
      for (int i = 0; i < block_cache.count[k]; ++i) std::free(block_cache.blocks[k][i]);
      block_cache.count[k] = 0;
    }
    for (int i = 0; i < block_cache.large_count; ++i) std::free(block_cache.large[i]);
    block_cache.large_count = 0;
    block_cache.large_bytes = 0;
    block_cache.closed = true;
  }
};
thread_local BlockCacheCleaner block_cache_cleaner;

constexpr bool kCacheOn =
#ifdef NABLA_NO_ALLOC_CACHE
    false;
#else
    true;
#endif

/// The size actually allocated for n bytes: 64·2^k up to kSmallMax, whole 4 KiB pages above.
std::size_t rounded_size(std::size_t n) {
  std::size_t r = std::max<std::size_t>(64, (n + 63) / 64 * 64);
  if (r > kSmallMax) return (r + 4095) / 4096 * 4096;
  std::size_t b = 64;
  while (b < r) b <<= 1;
  return b;
}
int size_class(std::size_t rounded) {
  int k = 0;
  for (std::size_t b = 64; b < rounded; b <<= 1) ++k;
  return k;
}

void* cache_take(std::size_t rounded) {
  if (!kCacheOn || block_cache.closed) return nullptr;
  (void)&block_cache_cleaner;  // constructs the cleaner on this thread's first cached block
  BlockCache& c = block_cache;
  if (rounded <= kSmallMax) {
    const int k = size_class(rounded);
    return c.count[k] > 0 ? c.blocks[k][--c.count[k]] : nullptr;
  }
  for (int i = c.large_count - 1; i >= 0; --i) {  // the most recently freed first
    if (c.large_size[i] != rounded) continue;
    void* p = c.large[i];
    for (int j = i + 1; j < c.large_count; ++j) {
      c.large[j - 1] = c.large[j];
      c.large_size[j - 1] = c.large_size[j];
    }
    --c.large_count;
    c.large_bytes -= rounded;
    return p;
  }
  return nullptr;
}

void cache_give(void* p, std::size_t rounded) {
  BlockCache& c = block_cache;
  if (!kCacheOn || c.closed) {
    std::free(p);
  } else if (rounded <= kSmallMax) {
    const int k = size_class(rounded);
    if (c.count[k] < kCacheDepth) c.blocks[k][c.count[k]++] = p;
    else std::free(p);
  } else if (rounded > kLargeMax) {
    std::free(p);
  } else {
    int drop = 0;  // the oldest blocks that must go to make room
    std::size_t bytes = c.large_bytes;
    while (drop < c.large_count && (bytes + rounded > kLargeBytes || c.large_count - drop == kLargeSlots)) {
      bytes -= c.large_size[drop];
      std::free(c.large[drop++]);
    }
    for (int j = drop; j < c.large_count; ++j) {
      c.large[j - drop] = c.large[j];
      c.large_size[j - drop] = c.large_size[j];
    }
    c.large_count -= drop;
    c.large[c.large_count] = p;
    c.large_size[c.large_count++] = rounded;
    c.large_bytes = bytes + rounded;
  }
}
}  // namespace

Storage::Storage(std::size_t n) : nbytes(n) {
  const std::size_t rounded = rounded_size(n);
  data = cache_take(rounded);
  if (data == nullptr) data = std::aligned_alloc(64, rounded);
  if (data == nullptr) throw std::bad_alloc();  // make_tensor reports it, naming the op and the shape
  counters().storages.fetch_add(1, std::memory_order_relaxed);
  counters().storage_bytes.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
}

Storage::~Storage() {
  cache_give(data, rounded_size(nbytes));
  counters().storages.fetch_sub(1, std::memory_order_relaxed);
  counters().storage_bytes.fetch_sub(static_cast<std::int64_t>(nbytes), std::memory_order_relaxed);
}

Tensor make_tensor(const Shape& shape, Dtype dtype, std::string_view op) {
  op = OpScope::current(op);
  const std::size_t bytes = checked_bytes(op, shape, dtype);
  std::shared_ptr<Storage> storage;
  try {
    storage = std::make_shared<Storage>(bytes);
  } catch (const std::bad_alloc&) {
    throw Error(fmt::format("{}: out of memory allocating {} bytes for a {} {} tensor", op, bytes, dtype, shape));
  }
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, dtype));
}

std::int64_t to_int64(double v) {
  // Defined for every double: NaN → 0, beyond the range → its nearest end (2^63 is exact as a double).
  if (std::isnan(v)) return 0;
  if (v >= 0x1p63) return std::numeric_limits<std::int64_t>::max();
  if (v < -0x1p63) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

}  // namespace detail

[[gnu::tls_model("initial-exec")]] thread_local std::string_view OpScope::current_;

}  // namespace nabla
