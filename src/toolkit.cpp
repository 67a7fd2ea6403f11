// src/toolkit.cpp — the checks, shape helpers and views of nabla/toolkit.hpp.
#include "nabla/toolkit.hpp"
#include "nabla/kernels.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "tensor_impl.hpp"

namespace nabla {

namespace detail {
void throw_undefined_input(std::string_view op, std::size_t i) {
  throw ValueError(fmt::format("{}: input {} is an undefined tensor", op, i));
}
void throw_dtypes_differ(std::string_view op, const Tensor& a, const Tensor& b) {
  throw ValueError(fmt::format("{}: dtypes differ: {} {} and {} {}; convert one with .to(dtype)", op, a.dtype(),
                               a.shape(), b.dtype(), b.shape()));
}
}  // namespace detail

void check_floating(std::string_view op, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("{}: expected a float32 or float64 tensor, got an undefined tensor", op));
  if (t.dtype() == Dtype::bf16) {
    throw ValueError(fmt::format("{}: expected a float32 or float64 tensor, got bfloat16 {}: {} does not take bfloat16 "
                                 "(convert with .to(float32), or run it under AutocastGuard, which does)",
                                 op, t.shape(), op));
  }
  if (!is_floating(t.dtype())) {
    throw ValueError(fmt::format("{}: expected a float32 or float64 tensor, got {} {}", op, t.dtype(), t.shape()));
  }
}

void check_floating_or_bf16(std::string_view op, const Tensor& t) {
  if (t.defined() && t.dtype() == Dtype::bf16) return;
  check_floating(op, t);  // the same messages as check_floating for every other dtype
}

namespace detail {
Tensor widen_bf16(const Tensor& t) {
  Tensor y = empty(t.shape(), f32);
  kernels::bf16_to_float(t.data<bfloat16>(), y.mutable_data<float>(), t.numel());
  return y;
}
Tensor narrow_to_bf16(const Tensor& t) {
  Tensor y = empty(t.shape(), bf16);
  kernels::float_to_bf16(t.data<float>(), y.mutable_data<bfloat16>(), t.numel());
  return y;
}
}  // namespace detail

void check_rank(std::string_view op, const Tensor& t, int rank, std::string_view what) {
  if (!t.defined()) throw ValueError(fmt::format("{}: expected a {}-d tensor, got an undefined tensor", op, rank));
  if (t.dim() == rank) return;
  if (what.empty()) throw ShapeError(fmt::format("{}: expected a {}-d tensor, got {}", op, rank, t.shape()));
  throw ShapeError(fmt::format("{}: expected a {}-d tensor {}, got {}", op, rank, what, t.shape()));
}

int normalize_axis(std::string_view op, int axis, int rank, const Shape& shape) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    throw ValueError(fmt::format("{}: axis {} is out of range for a tensor of shape {}", op, axis, shape));
  }
  return a;
}

int normalize_axis(std::string_view op, int axis, const Shape& shape) {
  return normalize_axis(op, axis, shape.rank(), shape);
}

void check_same_operands(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    throw ShapeError(fmt::format("{}: shapes differ: {} and {}; expected one shape", op, a.shape(), b.shape()));
  }
  check_same_dtype(op, a, b);
}

void check_broadcasts_to(std::string_view op, const Tensor& t, const Shape& out) {
  const Shape& s = t.shape();
  bool ok = s.rank() <= out.rank();
  for (int d = 0; ok && d < s.rank(); ++d) {
    const std::int64_t n = s[d], m = out[d + out.rank() - s.rank()];
    ok = n == m || n == 1;
  }
  if (!ok) throw ShapeError(fmt::format("{}: {} does not broadcast to {}", op, s, out));
}

std::size_t checked_bytes(std::string_view op, const Shape& shape, Dtype dtype) {
  // The common case in one pass: every dimension positive, the product within the limit.
  std::int64_t count = 1;
  bool plain = true;
  for (std::int64_t d : shape) plain &= d > 0 && !__builtin_mul_overflow(count, d, &count);
  if (plain && count <= kMaxNumel) [[likely]] return static_cast<std::size_t>(count) * dtype_size(dtype);
  for (std::int64_t d : shape) {
    if (d < 0) throw ShapeError(fmt::format("{}: negative dimension in shape {}", op, shape));
  }
  // An empty tensor still has strides, and ops take products of its leading or trailing dimensions
  // (outer · inner around an axis): its non-zero dimensions are held to the same limit, so that no
  // such product can wrap.
  if (std::find(shape.begin(), shape.end(), std::int64_t(0)) != shape.end()) {
    std::int64_t span = 1;
    for (std::int64_t d : shape) {
      if (d != 0 && (__builtin_mul_overflow(span, d, &span) || span > kMaxNumel)) {
        throw ShapeError(fmt::format("{}: shape {} is empty, but its other dimensions hold more than a tensor may "
                                     "(2^40 elements)",
                                     op, shape));
      }
    }
    return 0;
  }
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) {
      throw ShapeError(fmt::format("{}: shape {}: the number of elements does not fit in 64 bits", op, shape));
    }
  }
  if (n > kMaxNumel) {
    throw ShapeError(fmt::format("{}: shape {} has {} elements, more than a tensor may hold (2^40)", op, shape, n));
  }
  // n ≤ 2^40 and at most 8 bytes each: the byte count, and the allocator's rounding of it, fit size_t.
  return static_cast<std::size_t>(n) * dtype_size(dtype);
}

std::int64_t check_int_arg(std::string_view op, std::string_view name, std::int64_t value, std::int64_t lo,
                           std::int64_t hi) {
  if (value >= lo && value <= hi) return value;
  if (hi == std::numeric_limits<std::int64_t>::max()) {
    throw ValueError(fmt::format("{}: {} must be ≥ {}, got {}", op, name, lo, value));
  }
  throw ValueError(fmt::format("{}: {} must be in [{}, {}], got {}", op, name, lo, hi, value));
}

std::int64_t checked_add(std::string_view op, std::string_view what, std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    throw ShapeError(fmt::format("{}: {} = {} + {} does not fit in 64 bits", op, what, a, b));
  }
  return r;
}

std::int64_t checked_mul(std::string_view op, std::string_view what, std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) {
    throw ShapeError(fmt::format("{}: {} = {} · {} does not fit in 64 bits", op, what, a, b));
  }
  return r;
}

Shape broadcast_shape(const Shape& a, const Shape& b, std::string_view op) {
  if (a == b) return a;
  const int r = std::max(a.rank(), b.rank());
  Shape out;
  for (int d = 0; d < r; ++d) {
    const int da = d - (r - a.rank()), db = d - (r - b.rank());
    const std::int64_t x = da >= 0 ? a[da] : 1, y = db >= 0 ? b[db] : 1;
    if (x != y && x != 1 && y != 1) {
      throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast: axis {} has {} and {}", op, a, b, d, x, y));
    }
    out.push_back(x == 1 ? y : x);
  }
  return out;
}

BroadcastStrides broadcast_strides(const Shape& shape, const Shape& out) {
  BroadcastStrides b;
  const int shift = out.rank() - shape.rank();
  std::int64_t stride = 1;
  for (int d = shape.rank() - 1; d >= 0; --d) {
    b.s[d + shift] = shape[d] == 1 ? 0 : stride;
    stride *= shape[d];
  }
  return b;
}

std::string index_string(const Shape& s, std::int64_t flat) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(s.rank()));
  for (int d = s.rank() - 1; d >= 0; --d) {
    if (s[d] == 0) break;
    idx[static_cast<std::size_t>(d)] = flat % s[d];
    flat /= s[d];
  }
  return fmt::format("[{}]", fmt::join(idx, ", "));
}

void check_indices(std::string_view op, const Tensor& indices, std::int64_t n, std::string_view noun) {
  if (indices.dtype() != Dtype::i64) {
    throw ValueError(fmt::format("{}: expected int64 {}s, got {} {}", op, noun, indices.dtype(), indices.shape()));
  }
  const std::int64_t* p = indices.data<std::int64_t>();
  for (std::int64_t i = 0, count = indices.numel(); i < count; ++i) {
    if (p[i] < 0 || p[i] >= n) {
      throw ValueError(fmt::format("{}: {} {} at {} of int64 {} is out of range [0, {})", op, noun, p[i],
                                   index_string(indices.shape(), i), indices.shape(), n));
    }
  }
}

AxisSplit split_at(const Shape& s, int axis) {
  if (axis < 0 || axis >= s.rank()) {
    throw ValueError(fmt::format("split_at: axis {} is out of range for shape {}; expected 0 to rank − 1", axis, s));
  }
  AxisSplit a{1, s[axis], 1};
  for (int d = 0; d < axis; ++d) a.outer *= s[d];
  for (int d = axis + 1; d < s.rank(); ++d) a.inner *= s[d];
  return a;
}

Shape reduced_shape(const Shape& s, int axis, bool keepdim) {
  Shape out;
  for (int d = 0; d < s.rank(); ++d) {
    if (d != axis) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

Tensor view(const Tensor& x, const Shape& shape) {
  checked_bytes(OpScope::current("view"), shape, x.dtype());  // an empty target is held to the limit too
  if (shape.numel() != x.numel()) {
    throw ShapeError(fmt::format("view: {} has {} elements, target {} has {}", x.shape(), x.numel(), shape,
                                 shape.numel()));
  }
  return Tensor(std::make_shared<detail::TensorImpl>(x.impl()->storage, shape, x.dtype()));
}

}  // namespace nabla
