// src/tensor.cpp — tensor creation, element access, in-place changes, grad mode, printing.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include <fmt/format.h>

#include "nabla/kernels.hpp"
#include "nabla/toolkit.hpp"
#include "tensor_impl.hpp"

namespace nabla {

namespace detail {

double load(const Tensor& t, std::int64_t i) {
  switch (t.dtype()) {
    case Dtype::f32: return t.data<float>()[i];
    case Dtype::f64: return t.data<double>()[i];
    case Dtype::i64: return static_cast<double>(t.data<std::int64_t>()[i]);
    case Dtype::b8: return t.data<bool>()[i] ? 1.0 : 0.0;
    case Dtype::bf16: return float(t.data<bfloat16>()[i]);
  }
  return 0;
}

void store(const Tensor& t, std::int64_t i, double v) {
  void* p = t.impl()->storage->data;
  switch (t.dtype()) {
    case Dtype::f32: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case Dtype::f64: static_cast<double*>(p)[i] = v; break;
    case Dtype::i64: static_cast<std::int64_t*>(p)[i] = to_int64(v); break;
    case Dtype::b8: static_cast<bool*>(p)[i] = v != 0; break;
    case Dtype::bf16: static_cast<bfloat16*>(p)[i] = bfloat16(static_cast<float>(v)); break;  // as c10: through float32
  }
}

}  // namespace detail

using detail::load;
using detail::store;

// ---- dtype and shape ------------------------------------------------------------------------------

std::string_view dtype_name(Dtype d) {
  switch (d) {
    case Dtype::f32: return "float32";
    case Dtype::f64: return "float64";
    case Dtype::i64: return "int64";
    case Dtype::b8: return "bool";
    case Dtype::bf16: return "bfloat16";
  }
  return "?";
}

std::size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::f32: return 4;
    case Dtype::b8: return 1;
    case Dtype::bf16: return 2;
    default: return 8;
  }
}

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::span(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > kMaxRank) {
    throw ShapeError(fmt::format("shape: rank {} exceeds the maximum of {}", dims.size(), kMaxRank));
  }
  std::copy(dims.begin(), dims.end(), dims_.begin());
  rank_ = static_cast<int>(dims.size());
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) {
    // A product past int64 (from a file, or a typo) would wrap, to 0 even, and pass size checks.
    if (__builtin_mul_overflow(n, dims_[static_cast<std::size_t>(i)], &n)) {
      throw ShapeError(fmt::format("shape {}: the number of elements does not fit in 64 bits", *this));
    }
  }
  return n;
}

void Shape::push_back(std::int64_t d) {
  if (rank_ == kMaxRank) throw ShapeError(fmt::format("shape: rank exceeds the maximum of {}", kMaxRank));
  dims_[static_cast<std::size_t>(rank_++)] = d;
}

bool operator==(const Shape& a, const Shape& b) {
  return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
}

std::string to_string(const Shape& s) { return fmt::format("[{}]", fmt::join(s.begin(), s.end(), ", ")); }

// ---- random ----------------------------------------------------------------------------------------

Generator& default_generator() {
  thread_local Generator gen(0);
  return gen;
}

void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

// ---- grad mode --------------------------------------------------------------------------------------

namespace {
// initial-exec: read by every op, and without it each read is a __tls_get_addr call (OpScope).
[[gnu::tls_model("initial-exec")]] thread_local bool t_grad_enabled = true;
}

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }
GradModeGuard::GradModeGuard(bool enabled) : previous_(t_grad_enabled) { t_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { t_grad_enabled = previous_; }

MemoryStats memory_stats() {
  auto& c = detail::counters();
  return {c.tensors.load(), c.storages.load(), c.storage_bytes.load(), c.nodes.load()};
}

// ---- Tensor: metadata and element access -------------------------------------------------------------

void Tensor::throw_undefined(const char* what) { throw ValueError(fmt::format("{}: the tensor is undefined", what)); }

const Shape& Tensor::shape() const {
  check_defined("shape");
  return impl_->shape;
}

std::int64_t Tensor::size(int axis) const {
  const int r = dim();
  const int a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) {
    throw ValueError(fmt::format("size: axis {} is out of range for shape {}", axis, shape()));
  }
  return impl_->shape[a];
}

std::int64_t Tensor::numel() const { return shape().numel(); }

Dtype Tensor::dtype() const {
  check_defined("dtype");
  return impl_->dtype;
}

template <class T>
const T* Tensor::data() const {
  check_defined("data");
  if (impl_->dtype != detail::dtype_of<T>()) {
    throw ValueError(fmt::format("data: tensor is {}, asked for {}", impl_->dtype,
                                 dtype_name(detail::dtype_of<T>())));
  }
  return static_cast<const T*>(impl_->storage->data);
}

template <class T>
T* Tensor::mutable_data() {
  const T* p = data<T>();
  ++impl_->storage->version;
  return const_cast<T*>(p);
}

template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const std::int64_t* Tensor::data<std::int64_t>() const;
template const bool* Tensor::data<bool>() const;
template const bfloat16* Tensor::data<bfloat16>() const;
template bfloat16* Tensor::mutable_data<bfloat16>();
template float* Tensor::mutable_data<float>();
template double* Tensor::mutable_data<double>();
template std::int64_t* Tensor::mutable_data<std::int64_t>();
template bool* Tensor::mutable_data<bool>();

namespace {

std::int64_t flat_index(const Shape& shape, std::initializer_list<std::int64_t> index, const char* op) {
  if (static_cast<int>(index.size()) != shape.rank()) {
    throw ValueError(fmt::format("{}: index has {} entries, tensor {} has rank {}", op, index.size(),
                                 shape, shape.rank()));
  }
  std::int64_t flat = 0;
  int axis = 0;
  for (std::int64_t i : index) {
    if (i < 0 || i >= shape[axis]) {
      throw ValueError(fmt::format("{}: index {} is out of range for axis {} of {}", op, i, axis, shape));
    }
    flat = flat * shape[axis] + i;
    ++axis;
  }
  return flat;
}

void check_inplace_allowed(const Tensor& t, const char* op) {
  if (grad_enabled() && t.requires_grad()) {
    throw GraphError(fmt::format(
        "{}: in-place change of a tensor that requires grad while grad mode is on; "
        "make the change under nabla::NoGradGuard (as optimizers do)",
        op));
  }
}

}  // namespace

double Tensor::item() const {
  check_defined("item");
  if (numel() != 1) {
    throw ValueError(fmt::format("item: tensor {} has {} elements, expected 1", shape(), numel()));
  }
  return load(*this, 0);
}

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  check_defined("at");
  return load(*this, flat_index(shape(), index, "at"));
}

void Tensor::set(std::initializer_list<std::int64_t> index, double value) {
  check_defined("set");
  check_inplace_allowed(*this, "set");
  store(*this, flat_index(shape(), index, "set"), value);
  ++impl_->storage->version;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_defined("to_vector");
  if constexpr (std::is_same_v<T, std::int64_t>) {
    if (dtype() == Dtype::i64) {  // exactly, as from_vector stores them
      const std::int64_t* p = data<std::int64_t>();
      return std::vector<T>(p, p + numel());
    }
  }
  std::vector<T> out(static_cast<std::size_t>(numel()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double v = load(*this, static_cast<std::int64_t>(i));
    if constexpr (std::is_same_v<T, std::int64_t>) out[i] = detail::to_int64(v);
    else out[i] = static_cast<T>(v);
  }
  return out;
}
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;

// ---- Tensor: autodiff state ----------------------------------------------------------------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor Tensor::requires_grad(bool on) const {
  check_defined("requires_grad");
  if (on && !is_floating_point(impl_->dtype)) {
    throw ValueError(fmt::format("requires_grad: only float32 and float64 tensors (and bfloat16) can require grad, "
                                 "this one is {} {}", impl_->dtype, impl_->shape));
  }
  if (!on && impl_->grad_fn) {
    throw GraphError("requires_grad: only leaves can stop requiring grad; use detach() instead");
  }
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}

Tensor Tensor::grad() const {
  check_defined("grad");
  if (!impl_->requires_grad) {
    throw GraphError(fmt::format("grad: this tensor {} does not require grad, so it has none; "
                                 "create it with .requires_grad(true)", impl_->shape));
  }
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) const {
  check_defined("set_grad");
  if (g.defined() && (g.shape() != shape() || g.dtype() != dtype())) {
    throw ShapeError(fmt::format("set_grad: gradient is {} {}, tensor is {} {}", g.dtype(), g.shape(),
                                 dtype(), shape()));
  }
  impl_->grad = g;
}

void Tensor::zero_grad() const {
  check_defined("zero_grad");
  impl_->grad = Tensor{};
}

Tensor Tensor::detach() const {
  check_defined("detach");
  return Tensor(std::make_shared<detail::TensorImpl>(impl_->storage, impl_->shape, impl_->dtype));
}

std::uint64_t Tensor::version() const {
  check_defined("version");
  return impl_->storage->version;
}

// ---- Tensor: in-place changes ---------------------------------------------------------------------------

namespace {
/// Calls f(T* data) for a float32 or float64 tensor; a ValueError naming op and shape for int64.
template <class F>
void for_each_float(Tensor& t, const char* op, F f) {
  check_floating(op, t);
  dispatch_float(t.dtype(), op, [&](auto tag) { f(t.mutable_data<decltype(tag)>()); });
}
}  // namespace

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_defined("add_");
  if (!other.defined()) throw ValueError("add_: other is an undefined tensor");
  check_inplace_allowed(*this, "add_");
  if (other.shape() != shape() || other.dtype() != dtype()) {
    throw ShapeError(fmt::format("add_: other is {} {}, this tensor is {} {}; they must match",
                                 other.dtype(), other.shape(), dtype(), shape()));
  }
  const std::int64_t n = numel();
  if (dtype() == Dtype::bf16) {  // in float32, each result rounded once
    bfloat16* p = mutable_data<bfloat16>();
    const bfloat16* o = other.data<bfloat16>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = bfloat16(float(p[i]) + static_cast<float>(alpha) * float(o[i]));
    return *this;
  }
  for_each_float(*this, "add_", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    const T* q = other.data<T>();
    const T a = static_cast<T>(alpha);
    for (std::int64_t i = 0; i < n; ++i) p[i] += a * q[i];
  });
  return *this;
}

Tensor& Tensor::mul_(double factor) {
  check_defined("mul_");
  check_inplace_allowed(*this, "mul_");
  const std::int64_t n = numel();
  for_each_float(*this, "mul_", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    for (std::int64_t i = 0; i < n; ++i) p[i] *= static_cast<T>(factor);
  });
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_defined("fill_");
  check_inplace_allowed(*this, "fill_");
  const std::int64_t n = numel();
  if (dtype() == Dtype::i64) {
    if (!(value >= -0x1p63 && value < 0x1p63)) {  // NaN too; truncation is defined inside
      throw ValueError(fmt::format("fill_: {} cannot be stored in an int64 tensor {}", value, shape()));
    }
    std::fill_n(mutable_data<std::int64_t>(), n, static_cast<std::int64_t>(value));
    return *this;
  }
  if (dtype() == Dtype::b8) {
    std::fill_n(mutable_data<bool>(), n, value != 0);
    return *this;
  }
  if (dtype() == Dtype::bf16) {
    std::fill_n(mutable_data<bfloat16>(), n, bfloat16(static_cast<float>(value)));
    return *this;
  }
  for_each_float(*this, "fill_", [&](auto* p) {
    using T = std::remove_pointer_t<decltype(p)>;
    if (value == 0 && !std::signbit(value)) {  // +0 is all zero bits: libc's memset, vectorized for this CPU
      std::memset(p, 0, static_cast<std::size_t>(n) * sizeof(T));
    } else {
      std::fill_n(p, n, static_cast<T>(value));
    }
  });
  return *this;
}

namespace {
/// The conversions to and from bfloat16 as contiguous loops (copy_'s and so to()'s hot path under
/// autocast); the other dtypes go through float32 or double as load/store do, with the same bits.
void convert_bf16(const Tensor& src, const Tensor& dst) {
  const std::int64_t n = src.numel();
  void* out = dst.impl()->storage->data;
  if (dst.dtype() == Dtype::bf16 && src.dtype() == Dtype::f32) {
    kernels::float_to_bf16(src.data<float>(), static_cast<bfloat16*>(out), n);
  } else if (src.dtype() == Dtype::bf16 && dst.dtype() == Dtype::f32) {
    kernels::bf16_to_float(src.data<bfloat16>(), static_cast<float*>(out), n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) store(dst, i, load(src, i));
  }
}
}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_");
  if (!src.defined()) throw ValueError("copy_: the source is an undefined tensor");
  check_inplace_allowed(*this, "copy_");
  if (src.shape() != shape()) {
    throw ShapeError(fmt::format("copy_: source is {}, this tensor is {}; they must match", src.shape(), shape()));
  }
  if (src.dtype() == dtype()) {
    std::memcpy(impl_->storage->data, src.impl()->storage->data,
                static_cast<std::size_t>(numel()) * dtype_size(dtype()));
  } else if (dtype() == Dtype::bf16 || src.dtype() == Dtype::bf16) {
    convert_bf16(src, *this);
  } else {
    for (std::int64_t i = 0; i < numel(); ++i) store(*this, i, load(src, i));
  }
  ++impl_->storage->version;
  return *this;
}

// ---- creation --------------------------------------------------------------------------------------------

Tensor empty(const Shape& shape, Dtype dtype) { return detail::make_tensor(shape, dtype, "empty"); }

Tensor zeros(const Shape& shape, Dtype dtype) {
  Tensor t = detail::make_tensor(shape, dtype, "zeros");
  std::memset(t.impl()->storage->data, 0, t.impl()->storage->nbytes);
  return t;
}

namespace {
Tensor filled(std::string_view op, const Shape& shape, double value, Dtype dtype) {
  if (dtype == Dtype::i64 && !(value >= -0x1p63 && value < 0x1p63)) {  // before allocating
    throw ValueError(fmt::format("{}: {} cannot be stored in an int64 tensor", OpScope::current(op), value));
  }
  Tensor t = detail::make_tensor(shape, dtype, op);
  NoGradGuard g;
  t.fill_(value);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, double value, Dtype dtype) { return filled("full", shape, value, dtype); }
Tensor ones(const Shape& shape, Dtype dtype) { return filled("ones", shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor scalar(double value, Dtype dtype) { return full(Shape{}, value, dtype); }

Tensor arange(double start, double stop, double step, Dtype dtype) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    throw ValueError(fmt::format("arange: need finite start, stop and a non-zero step, got {}, {}, {}",
                                 start, stop, step));
  }
  const double count = std::max(0.0, std::ceil((stop - start) / step));  // inf if stop − start overflows
  if (!(count <= static_cast<double>(kMaxNumel))) {
    throw ShapeError(fmt::format("arange: [{}, {}) in steps of {} gives {} values, more than a tensor may hold (2^40)",
                                 start, stop, step, count));
  }
  const auto n = static_cast<std::int64_t>(count);
  Tensor t = detail::make_tensor(Shape{n}, dtype, "arange");
  for (std::int64_t i = 0; i < n; ++i) store(t, i, start + static_cast<double>(i) * step);
  return t;
}

namespace {
template <class V>
Tensor from_values(std::span<const V> values, const Shape& shape, Dtype dtype) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel()) {
    throw ShapeError(fmt::format("from_vector: {} values do not fill shape {} ({} elements)",
                                 values.size(), shape, shape.numel()));
  }
  Tensor t = detail::make_tensor(shape, dtype, "from_vector");
  if constexpr (std::is_same_v<V, std::int64_t>) {
    if (dtype == Dtype::i64) {  // exactly: through double, integers past 2^53 would change
      std::copy(values.begin(), values.end(), t.mutable_data<std::int64_t>());
      return t;
    }
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    store(t, static_cast<std::int64_t>(i), static_cast<double>(values[i]));
  }
  return t;
}
}  // namespace

Tensor from_vector(std::span<const double> v, const Shape& s, Dtype d) { return from_values(v, s, d); }
Tensor from_vector(std::span<const float> v, const Shape& s, Dtype d) { return from_values(v, s, d); }
Tensor from_vector(std::span<const std::int64_t> v, const Shape& s, Dtype d) { return from_values(v, s, d); }
Tensor tensor(std::initializer_list<double> values, const Shape& shape, Dtype dtype) {
  return from_values(std::span(values.begin(), values.size()), shape, dtype);
}

Tensor randn(const Shape& shape, Dtype dtype, Generator& gen, double mean, double stddev) {
  if (!is_floating(dtype)) throw ValueError("randn: dtype must be float32 or float64");
  if (!std::isfinite(mean) || !(stddev >= 0) || !std::isfinite(stddev)) {
    throw ValueError(fmt::format("randn: need a finite mean and a finite stddev ≥ 0, got mean {} and stddev {}", mean, stddev));
  }
  Tensor t = detail::make_tensor(shape, dtype, "randn");
  if (stddev == 0) {  // std::normal_distribution needs stddev > 0
    for (std::int64_t i = 0; i < t.numel(); ++i) store(t, i, mean);
    return t;
  }
  std::normal_distribution<double> dist(mean, stddev);
  for (std::int64_t i = 0; i < t.numel(); ++i) store(t, i, dist(gen.engine()));
  return t;
}

Tensor uniform(const Shape& shape, double low, double high, Dtype dtype, Generator& gen) {
  if (!is_floating(dtype)) throw ValueError("uniform: dtype must be float32 or float64");
  if (!(low < high)) throw ValueError(fmt::format("uniform: need low < high, got [{}, {})", low, high));
  // std::uniform_real_distribution needs high − low to be a finite double (else every draw is inf or NaN).
  if (!std::isfinite(high - low)) {
    throw ValueError(fmt::format("uniform: the range [{}, {}) is not finite; need finite bounds with high − low finite",
                                 low, high));
  }
  Tensor t = detail::make_tensor(shape, dtype, "uniform");
  std::uniform_real_distribution<double> dist(low, high);
  for (std::int64_t i = 0; i < t.numel(); ++i) store(t, i, dist(gen.engine()));
  return t;
}

}  // namespace nabla
