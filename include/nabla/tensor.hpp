// nabla/tensor.hpp — Tensor, Shape, dtypes, creation, grad mode.
//
// A Tensor is a cheap handle (one shared pointer) to shared state: a 64-byte aligned storage
// buffer, a shape, a dtype, and for autodiff the `requires_grad` flag, the accumulated `.grad`
// and the graph node that produced it. Copying a Tensor copies the handle, not the data.
// Tensors are row-major and contiguous; `reshape` returns a view sharing the storage.
//
// Floating dtypes are f32 and f64; i64 holds integer labels and indices (one_hot, nll_loss) and
// b8 the masks that comparisons return (one byte per element, 0 or 1; read as `bool`); neither is
// accepted by arithmetic ops. bf16 (bfloat16, nabla/bfloat16.hpp) is a storage and product format:
// the ops that take it are listed in docs/design.md ("bfloat16 and autocast"), the others refuse it
// naming the op; AutocastGuard (nabla/autocast.hpp) runs products in it. Ops never convert dtypes
// silently: mixing f32 and f64 in one op is a ValueError; convert explicitly with `to(dtype)`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "nabla/bfloat16.hpp"
#include "nabla/error.hpp"

namespace nabla {

enum class Dtype : std::uint8_t { f32, f64, i64, b8, bf16 };
inline constexpr Dtype f32 = Dtype::f32;
inline constexpr Dtype f64 = Dtype::f64;
inline constexpr Dtype i64 = Dtype::i64;
inline constexpr Dtype b8 = Dtype::b8;
inline constexpr Dtype bf16 = Dtype::bf16;

/// "float32", "float64", "int64", "bool" or "bfloat16".
std::string_view dtype_name(Dtype d);
/// Bytes per element.
std::size_t dtype_size(Dtype d);
/// float32 or float64: the dtypes every floating op computes in.
inline bool is_floating(Dtype d) { return d == Dtype::f32 || d == Dtype::f64; }
/// float32, float64 or bfloat16 (torch.is_floating_point): the dtypes that can require grad.
inline bool is_floating_point(Dtype d) { return is_floating(d) || d == Dtype::bf16; }

/// The extent of each dimension, at most kMaxRank of them, stored inline (no heap allocation).
/// Prints as [64, 784].
class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  /// Product of the dimensions (1 for rank 0).
  std::int64_t numel() const;
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }
  void push_back(std::int64_t d);

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

std::string to_string(const Shape& s);

/// A seeded random source. Every random function takes one, so runs are reproducible.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}
  void seed(std::uint64_t s) { engine_.seed(s); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

/// The generator used when none is passed; seeded with 0 at start. Not shared between threads.
Generator& default_generator();
/// Reseeds default_generator().
void manual_seed(std::uint64_t seed);

class Tensor;
class Node;
namespace detail {
struct TensorImpl;
}
namespace indexing {
class TensorIndex;
}

/// Options of Tensor::backward.
struct BackwardOptions {
  /// Keep the saved tensors after this pass, so that backward can run through the graph again.
  bool retain_graph = false;
  /// Record the backward pass itself as a graph, so that the gradients it produces can be
  /// differentiated again (second derivatives, Hessian-vector products, gradient penalties).
  /// Implies retain_graph.
  bool create_graph = false;
};

class Tensor {
 public:
  /// An undefined tensor: holds nothing. Used for "no gradient" in an op's backward.
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int dim() const { return shape().rank(); }
  /// Extent of one axis; negative axes count from the end.
  std::int64_t size(int axis) const;
  std::int64_t numel() const;
  Dtype dtype() const;

  /// Element pointer for reading. T must match the dtype (float, double, int64_t, bool or bfloat16).
  template <class T>
  const T* data() const;
  /// Element pointer for writing. Bumps the version counter, like every in-place change.
  template <class T>
  T* mutable_data();

  /// The single value of a one-element tensor, as double.
  double item() const;
  /// The single value as T (float, double, std::int64_t exactly, bool: nonzero), as libtorch's item<T>().
  template <class T>
  T item() const {
    if constexpr (std::is_same_v<T, bool>) {
      return item() != 0;
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      (void)item();  // one element, or the error item() gives
      return to_vector<std::int64_t>()[0];
    } else {
      return static_cast<T>(item());
    }
  }
  /// The element at a full index, as double: t.at({2, 3}).
  double at(std::initializer_list<std::int64_t> index) const;
  /// Writes one element (an in-place change: bumps the version).
  void set(std::initializer_list<std::int64_t> index, double value);
  /// All elements, converted to T, in row-major order.
  template <class T = double>
  std::vector<T> to_vector() const;

  // ---- autodiff -------------------------------------------------------------------------------
  bool requires_grad() const;
  /// Marks a leaf as needing a gradient and returns the same tensor (a handle, not a copy):
  ///   Tensor w = randn({30, 784}, f64).requires_grad(true);
  Tensor requires_grad(bool on) const;
  /// True for tensors not produced by a recorded op (user-created tensors, parameters).
  bool is_leaf() const;
  /// The node of the op that produced this tensor, or nullptr for leaves.
  const std::shared_ptr<Node>& grad_fn() const;
  /// The gradient accumulated by backward(); undefined until the first backward reaches it.
  /// A GraphError if this tensor does not require grad.
  Tensor grad() const;
  /// Replaces the accumulated gradient (used by optimizers and tests).
  void set_grad(const Tensor& g) const;
  /// Forgets the accumulated gradient (the next backward starts from zero).
  void zero_grad() const;
  /// Backpropagates from this scalar: accumulates dC/dleaf into each leaf's .grad. A GraphError if
  /// the walk reaches a node another backward is still walking (one started from a hook of that
  /// backward, or on another thread), or a leaf whose dtype or shape changed since the forward.
  void backward(BackwardOptions opts = {}) const;
  /// Backpropagates with an explicit output gradient of this tensor's shape and dtype.
  void backward(const Tensor& gradient, BackwardOptions opts = {}) const;
  /// A tensor sharing the data but cut from the graph (no grad_fn, requires_grad false).
  Tensor detach() const;
  /// Calls `hook` with the gradient flowing into this tensor in every later backward or grad()
  /// (for a non-leaf, the total over all its uses, once; for a leaf, each contribution before it
  /// is accumulated). A defined return value replaces the gradient. Returns an id for remove_hook.
  /// The tensor must require grad.
  std::size_t register_hook(std::function<Tensor(const Tensor&)> hook) const;
  /// Removes a hook registered on this tensor (either kind); an unknown id is a ValueError.
  void remove_hook(std::size_t id) const;
  /// For a leaf: calls `hook` with this tensor once in every later backward() that reaches it,
  /// after the last of that pass's contributions has been accumulated into its .grad (torch's
  /// register_post_accumulate_grad_hook; grad() does not call it, as it leaves .grad alone). What
  /// data-parallel training uses to start a gradient's allreduce while backward goes on
  /// (nabla/dist.hpp). Returns an id for remove_hook. A GraphError for a non-leaf or a tensor
  /// that does not require grad.
  std::size_t register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const;
  /// Keeps the gradient of this non-leaf tensor in its .grad in later backward passes (leaves
  /// keep theirs anyway).
  void retain_grad() const;

  // ---- layout and conversion ------------------------------------------------------------------
  /// A view with another shape of the same numel; one dimension may be -1 (inferred).
  Tensor reshape(Shape shape) const;
  /// reshape under PyTorch's name (nabla's tensors are contiguous, so every reshape is a view).
  Tensor view(Shape shape) const { return reshape(std::move(shape)); }
  /// A copy in another dtype (differentiable between f32, f64 and bf16; to bf16 rounds to nearest
  /// even, as c10::BFloat16, float64 through float32). To int64, floats are truncated
  /// toward zero, NaN becomes 0 and values beyond int64's range its nearest end (as Rust's `as`;
  /// never undefined behaviour).
  Tensor to(Dtype dtype) const;
  /// A deep copy of the data (differentiable).
  Tensor clone() const;

  // ---- indexing (ops/tensor_index.cpp) — libtorch's, composed of differentiable ops (copies) -----
  /// t[i]: the sub-tensor at index i of the first axis, a negative i counting from the end
  /// (libtorch's Tensor::operator[](int64_t); select(t, 0, i)). Out of range: a ValueError.
  Tensor operator[](std::int64_t index) const;
  /// libtorch's Tensor::index, Python's t[...] (using namespace nabla::indexing):
  ///   t.index({0, Slice(1, None, 2), None, Ellipsis, idx})
  /// an integer selects (and removes) an axis, a negative one counting from the end; Slice(start,
  /// stop, step) keeps a range with Python's rules (step ≥ 1); None adds an axis
  /// of size 1; Ellipsis ("...") stands for the axes not named; one int64 tensor picks entries of its
  /// axis (negative ones count from the end; its shape replaces the axis), one bool tensor keeps the
  /// entries where it is true over the axes it covers (they become one axis). Axes after the last one
  /// named are kept whole. More than one tensor index is a ValueError (use gather).
  Tensor index(std::initializer_list<indexing::TensorIndex> indices) const;
  Tensor index(const std::vector<indexing::TensorIndex>& indices) const;

  // ---- in-place changes (not recorded; each bumps the version counter) -------------------------
  // A tensor that requires grad may be changed in place only with grad mode off (no_grad),
  // as optimizers do.
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double factor);
  /// Every element = value (truncated toward zero for int64; a NaN or a value beyond int64's range is a
  /// ValueError there, as in `full`).
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);
  /// How many in-place changes the storage has seen; backward compares it with saved tensors.
  std::uint64_t version() const;

  /// True if both handles refer to the same tensor.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  const std::shared_ptr<detail::TensorImpl>& impl() const { return impl_; }

 private:
  void check_defined(const char* what) const {
    if (!impl_) [[unlikely]] throw_undefined(what);
  }
  [[noreturn, gnu::cold]] static void throw_undefined(const char* what);
  std::shared_ptr<detail::TensorImpl> impl_;
};

// ---- libtorch's index types (torch::indexing) ------------------------------------------------------
namespace indexing {
/// Adds an axis of size 1 in Tensor::index; an open end in Slice (Python's None).
inline constexpr std::nullopt_t None = std::nullopt;
struct EllipsisIndexType {};
/// The axes not named by the other indices (Python's `...`).
inline constexpr EllipsisIndexType Ellipsis{};
/// start:stop:step, each open when None (Python's slice).
struct Slice {
  Slice(std::optional<std::int64_t> start_ = std::nullopt, std::optional<std::int64_t> stop_ = std::nullopt,
        std::optional<std::int64_t> step_ = std::nullopt)
      : start(start_), stop(stop_), step(step_) {}
  std::optional<std::int64_t> start, stop, step;
};
/// One entry of Tensor::index: an integer, a Slice, None, Ellipsis (or "..."), or a tensor.
class TensorIndex {
 public:
  enum class Kind : std::uint8_t { integer, slice, none, ellipsis, tensor };
  TensorIndex(std::nullopt_t) : kind_(Kind::none) {}                  // NOLINT: implicit, as libtorch's
  TensorIndex(EllipsisIndexType) : kind_(Kind::ellipsis) {}           // NOLINT
  TensorIndex(Slice s) : kind_(Kind::slice), slice_(s) {}             // NOLINT
  TensorIndex(Tensor t) : kind_(Kind::tensor), tensor_(std::move(t)) {}  // NOLINT
  /// "..." only (libtorch's spelling of Ellipsis); any other string is a ValueError.
  TensorIndex(const char* s);  // NOLINT
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  TensorIndex(I i) : kind_(Kind::integer), integer_(static_cast<std::int64_t>(i)) {}  // NOLINT

  Kind kind() const { return kind_; }
  std::int64_t integer() const { return integer_; }
  const Slice& slice() const { return slice_; }
  const Tensor& tensor() const { return tensor_; }

 private:
  Kind kind_;
  std::int64_t integer_ = 0;
  Slice slice_;
  Tensor tensor_;
};
}  // namespace indexing

// ---- sizes -----------------------------------------------------------------------------------------
/// The most elements one tensor may hold: 2^40 (4 TiB of float32), as in nabla's files. Every
/// allocation is checked before it is made (toolkit.hpp: checked_bytes): a negative dimension, an
/// element count past int64 or past this limit is a ShapeError naming the op and the shape, and a
/// failed allocation an Error naming the op, the shape and the bytes.
inline constexpr std::int64_t kMaxNumel = std::int64_t(1) << 40;

/// While it lives, names `op` in the errors of the allocations made on this thread (a tensor too
/// large, out of memory). The outermost scope wins: `apply` opens one for each op it runs, so the
/// buffers an op's forward allocates are reported under its name; a function composed of several
/// ops (conv1d, one_hot) or a module's constructor opens its own, so that the name the caller used is
/// reported, not an inner op's.
class OpScope {
 public:
  explicit OpScope(std::string_view op) : set_(current_.empty()) {
    if (set_) current_ = op;
  }
  ~OpScope() {
    if (set_) current_ = {};
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  /// The name of the outermost live scope on this thread, or `fallback` if there is none.
  static std::string_view current(std::string_view fallback) { return current_.empty() ? fallback : current_; }

 private:
  bool set_;
  // initial-exec: every op opens a scope, and the default (global-dynamic) model of a shared library
  // costs a __tls_get_addr call per access; a few bytes of static TLS are always there for it.
  [[gnu::tls_model("initial-exec")]] static thread_local std::string_view current_;
};

// ---- creation -------------------------------------------------------------------------------------
Tensor empty(const Shape& shape, Dtype dtype = f32);
Tensor zeros(const Shape& shape, Dtype dtype = f32);
Tensor ones(const Shape& shape, Dtype dtype = f32);
/// Every element = value; for int64 see fill_.
Tensor full(const Shape& shape, double value, Dtype dtype = f32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
/// A 0-d tensor holding one value.
Tensor scalar(double value, Dtype dtype = f32);
/// start, start + step, ... below stop, as a 1-d tensor; more than kMaxNumel values is a ShapeError.
Tensor arange(double start, double stop, double step = 1.0, Dtype dtype = f32);
/// Copies values into a tensor of the given shape; values.size() must equal shape.numel().
Tensor from_vector(std::span<const double> values, const Shape& shape, Dtype dtype = f32);
Tensor from_vector(std::span<const float> values, const Shape& shape, Dtype dtype = f32);
Tensor from_vector(std::span<const std::int64_t> values, const Shape& shape, Dtype dtype = i64);
Tensor tensor(std::initializer_list<double> values, const Shape& shape, Dtype dtype = f32);
/// Standard normal draws scaled by `stddev` around `mean` (mean finite, stddev finite and ≥ 0, else
/// a ValueError; stddev 0 gives `mean` everywhere).
Tensor randn(const Shape& shape, Dtype dtype = f32, Generator& gen = default_generator(),
             double mean = 0.0, double stddev = 1.0);
/// Uniform draws in [low, high): low < high, both finite and high − low finite, else a ValueError.
Tensor uniform(const Shape& shape, double low, double high, Dtype dtype = f32,
               Generator& gen = default_generator());

// ---- grad mode ------------------------------------------------------------------------------------
/// Whether ops record graph nodes on this thread (on by default).
bool grad_enabled();

/// Turns recording off on this thread for its lifetime, then restores the previous mode:
///   { nabla::NoGradGuard g; w.add_(w.grad(), -lr); }
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

/// Sets grad mode on this thread to `enabled` for its lifetime, then restores the previous mode
/// (torch::AutoGradMode): GradModeGuard on(true) records again inside a NoGradGuard.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// ---- introspection for tests and leak checks --------------------------------------------------------
/// Live counts of nabla's heap objects on all threads.
struct MemoryStats {
  std::int64_t tensors = 0;        // tensor handles' shared state
  std::int64_t storages = 0;       // data buffers
  std::int64_t storage_bytes = 0;  // bytes held by data buffers
  std::int64_t nodes = 0;          // recorded graph nodes
};
MemoryStats memory_stats();

}  // namespace nabla

template <>
struct fmt::formatter<nabla::Shape> : fmt::formatter<std::string_view> {
  auto format(const nabla::Shape& s, fmt::format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}", nabla::to_string(s));
  }
};

template <>
struct fmt::formatter<nabla::Dtype> : fmt::formatter<std::string_view> {
  auto format(nabla::Dtype d, fmt::format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(nabla::dtype_name(d), ctx);
  }
};

namespace nabla {
/// "tensor(float32, [2, 3], [[1, 2, 3], [4, 5, 6]])"; large tensors show the first and last
/// three entries of each axis, with "..." between.
std::string to_string(const Tensor& t);
/// Writes to_string(t) (libtorch's `std::cout << t`).
std::ostream& operator<<(std::ostream& os, const Tensor& t);
}  // namespace nabla

template <>
struct fmt::formatter<nabla::Tensor> : fmt::formatter<std::string_view> {
  auto format(const nabla::Tensor& t, fmt::format_context& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(), "{}", nabla::to_string(t));
  }
};
