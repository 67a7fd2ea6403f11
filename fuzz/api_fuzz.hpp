// fuzz/api_fuzz.hpp — the API harness's input decoder (sizes, axes, values, dtypes read from the
// fuzzer's bytes), its size limits, the check of a well-formed result, and the pool of tensors the
// calls work on. The op table (Harness::call) is in api_calls.cpp; the entry point and the layout of an
// input are described in api_fuzz.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <span>
#include <vector>

#include <nabla/nabla.hpp>

#include "fuzz_util.hpp"

namespace api_fuzz {

using namespace nabla;

constexpr std::int64_t I64MAX = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t I64MIN = std::numeric_limits<std::int64_t>::min();
constexpr double kSkipLow = 16777216.0;        // 2^24 elements: above, …
constexpr double kSkipHigh = 274877906944.0;   // … and below 2^38: skipped (valid, but too big to run here)
constexpr std::int64_t kPoolMax = 4096;        // a result larger than this does not go back into the pool

class Input {
 public:
  Input(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool empty() const { return n_ == 0; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | u8();
    return v;
  }
  bool flag() { return u8() & 1; }
  /// A size or count: mostly small, sometimes one of the edges, sometimes any int64.
  std::int64_t size() {
    static constexpr std::int64_t kEdges[16] = {-1,         -2,          8,           16,
                                                31,         64,          2147483647,  2147483648,
                                                4294967297, 1LL << 40,   1LL << 62,   (1LL << 62) - 1,
                                                I64MAX,     I64MIN,      1LL << 61,   1LL << 31 << 1};
    const std::uint8_t b = u8();
    if (b < 0x80) return b % 6;
    if (b < 0xF0) return kEdges[b & 15];
    return static_cast<std::int64_t>(u64());
  }
  /// An axis: mostly in [−5, 5], sometimes far out.
  int axis() {
    const std::uint8_t b = u8();
    if (b < 0xF0) return static_cast<int>(b % 11) - 5;
    static constexpr int kEdges[4] = {std::numeric_limits<int>::max(), std::numeric_limits<int>::min(), 9, -9};
    return kEdges[b & 3];
  }
  /// An element value or scalar argument.
  double value() {
    static constexpr double kValues[16] = {0.0,
                                           -0.0,
                                           1.0,
                                           -1.0,
                                           0.5,
                                           2.0,
                                           3.0,
                                           -7.0,
                                           std::numeric_limits<double>::quiet_NaN(),
                                           std::numeric_limits<double>::infinity(),
                                           -std::numeric_limits<double>::infinity(),
                                           1e30,
                                           -1e308,
                                           4.9e-324,
                                           9.3e18,
                                           1e-7};
    const std::uint8_t b = u8();
    if (b < 0xF0) return kValues[b & 15];
    const std::uint64_t bits = u64();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  Dtype dtype() {
    static constexpr Dtype kDtypes[4] = {f32, f64, i64, b8};
    return kDtypes[u8() & 3];
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

/// |a · b · …| as a double (no overflow); a negative factor counts as its magnitude.
inline double amount(std::initializer_list<double> factors) {
  double n = 1;
  for (double f : factors) n *= std::abs(f);
  return n;
}
/// Whether a request of this many elements (or this much work) is valid but too big to run here.
inline bool skip(double n) { return n > kSkipLow && n < kSkipHigh; }
inline double numel_of(const Shape& s) {
  double n = 1;
  for (std::int64_t d : s) n *= std::abs(static_cast<double>(d));
  return n;
}

/// The product of the non-zero dimensions: what an op may produce from a tensor of this shape even
/// when it is empty (a sum over its empty axis has that many elements).
inline double span_of(const Shape& s) {
  double n = 1;
  for (std::int64_t d : s) n *= d == 0 ? 1.0 : std::abs(static_cast<double>(d));
  return n;
}

/// A well-formed result: defined, a valid dtype, dimensions ≥ 0 whose product is numel, and data
/// whose first and last elements can be read (AddressSanitizer checks the reads).
inline void check_tensor(const Tensor& t) {
  fuzz_check(t.defined(), "an op returned an undefined tensor");
  const Dtype d = t.dtype();
  fuzz_check(d == f32 || d == f64 || d == i64 || d == b8, "an op returned a tensor of an invalid dtype");
  const Shape& s = t.shape();
  fuzz_check(s.rank() >= 0 && s.rank() <= Shape::kMaxRank, "an op returned a tensor of an invalid rank");
  std::int64_t n = 1;
  for (std::int64_t k : s) {
    fuzz_check(k >= 0, "an op returned a tensor with a negative dimension");
    fuzz_check(!__builtin_mul_overflow(n, k, &n), "an op returned a tensor whose element count overflows int64");
  }
  fuzz_check(t.numel() == n, "numel is not the product of the shape");
  if (n == 0 || n > (std::int64_t(1) << 26)) return;
  volatile unsigned char sink = 0;
  const auto* bytes = static_cast<const unsigned char*>(tensor_bytes(t));
  const std::size_t size = dtype_size(d);
  sink = sink + bytes[0];
  sink = sink + bytes[static_cast<std::size_t>(n - 1) * size + size - 1];
  (void)sink;
}

struct Harness {
  Input in;
  std::vector<Tensor> pool;

  Tensor& pick() { return pool[in.u8() % pool.size()]; }
  void keep(const Tensor& t) {
    check_tensor(t);
    Tensor& slot = pool[in.u8() % pool.size()];
    if (t.numel() <= kPoolMax && span_of(t.shape()) <= kPoolMax) slot = t;  // an empty one bounded alike
  }
  void keep(const std::vector<Tensor>& ts) {
    for (const Tensor& t : ts) check_tensor(t);
    if (!ts.empty()) keep(ts[in.u8() % ts.size()]);
  }
  void keep(const ValuesIndices& vi) {
    check_tensor(vi.values);
    check_tensor(vi.indices);
    fuzz_check(vi.indices.dtype() == i64 && vi.indices.shape() == vi.values.shape(), "values and indices differ");
    keep(vi.values);
  }

  Shape shape(int max_rank) {
    const std::uint8_t r = in.u8();
    const int rank = r < 0xF0 ? r % (max_rank + 1) : r % 10;  // sometimes past kMaxRank
    std::vector<std::int64_t> dims;
    for (int k = 0; k < rank; ++k) dims.push_back(in.size());
    return Shape(std::span<const std::int64_t>(dims));
  }
  std::vector<int> axes() {
    std::vector<int> a;
    for (int n = in.u8() % 4; n > 0; --n) a.push_back(in.axis());
    return a;
  }
  std::vector<std::int64_t> sizes(int max_count) {
    std::vector<std::int64_t> v;
    for (int n = in.u8() % (max_count + 1); n > 0; --n) v.push_back(in.size());
    return v;
  }

  Tensor make_tensor() {
    const Dtype dtype = in.dtype();
    const Shape s = shape(4);
    const bool grad = in.flag();
    const int count = 1 + in.u8() % 16;
    std::vector<double> values;
    for (int i = 0; i < count; ++i) values.push_back(in.value());
    const double n = numel_of(s);
    bool negative = false;
    for (std::int64_t d : s) negative = negative || d < 0;
    const double span = span_of(s);
    if (negative || n >= kSkipHigh || span >= kSkipHigh) {
      // Must be refused (or, if a creation function accepts it, must still be well-formed).
      Tensor t = zeros(s, dtype);
      check_tensor(t);
      // accepted (an empty shape whose other dimensions are within the 2^40 limit): not pooled if large
      return span_of(t.shape()) <= kPoolMax ? t : scalar(values[0], dtype == b8 ? f32 : dtype);
    }
    // Too big to pool; an empty tensor too, by its other dimensions, so that what the calls make of
    // the pool stays within the skip limits (a valid 2^31-element sum over an empty axis is not a finding).
    if (n > kPoolMax || span > kPoolMax) return scalar(values[0], dtype == b8 ? f32 : dtype);
    std::vector<double> data(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < data.size(); ++i) {
      double v = values[i % values.size()];
      if (dtype == i64) v = std::isfinite(v) && std::abs(v) < 9e18 ? std::trunc(v) : static_cast<double>(i % 7);
      data[i] = v;
    }
    Tensor t = dtype == b8 ? (from_vector(std::span<const double>(data), s, f32) != 0.0)
                           : from_vector(std::span<const double>(data), s, dtype);
    if (grad && is_floating(dtype)) t = t.requires_grad(true);
    return t;
  }

  void call();
};

}  // namespace api_fuzz
