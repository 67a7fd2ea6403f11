// nabla/op.hpp — the op API: how every op, built-in or user-defined, is written.
//
// An op is a plain struct with
//   static constexpr std::string_view name = "swish";          // used in errors and graph dumps
//   <typed parameters as members>                               // e.g. double beta = 1.0;
//   Tensor forward(Context& ctx, const Tensor& x, ...) const;   // one or more tensor inputs
//   Grads backward(Context& ctx, const Tensor& gy) const;       // one gradient per tensor input
// and is called with `apply(Swish{.beta = 1.5}, x)`.
//
// `apply` records a graph node only when grad mode is on and some input requires grad. Forward
// always runs with recording off, so it may call other nabla ops freely; so does backward, which
// is written with nabla ops too (first-order gradients only: asking for a gradient of a gradient
// is not supported). `ctx.save(...)` keeps tensors for backward; they are version-checked before
// backward runs (an in-place change after saving is a GraphError) and released after it, unless
// backward was called with retain_graph. Backward returns one gradient per tensor input, shaped
// and typed like that input, or an undefined `Tensor{}` for an input that needs none
// (`ctx.needs_grad(i)` tells which do). A wrong count, shape or dtype is a GraphError naming the op.
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/profile.hpp"
#include "nabla/tensor.hpp"

namespace nabla {

namespace inspect::detail {
// Hooks of nabla/inspect.hpp; each costs one call per op while no guard is active.
bool anomaly_active();
bool grad_norms_active();
// Throws NumericError when `out` holds a NaN or infinity: names the op, its inputs, the module.
void check_forward(std::string_view op, std::initializer_list<const Tensor*> inputs, const Tensor& out);
// The module path of the code running now ("Sequential › [2] Linear(30, 10)"; empty outside modules).
const std::string& scope();
}  // namespace inspect::detail

namespace detail {
struct Access;  // what apply() reaches inside Context and Node
struct Engine;  // the backward walk (src/autograd.cpp)
}

/// What backward returns: one gradient per tensor input of the op, in order.
using Grads = std::vector<Tensor>;

/// Per-call state of an op: the tensors saved for backward and which inputs need a gradient.
class Context {
 public:
  /// Keeps tensors for backward (a no-op when nothing is being recorded).
  template <class... Ts>
    requires(std::convertible_to<const Ts&, const Tensor&> && ...)
  void save(const Ts&... tensors) {
    if (recording_) (save_one(tensors), ...);
  }
  /// Saved tensor i, in the order saved.
  const Tensor& saved(std::size_t i) const;
  /// The first N saved tensors, for structured bindings: auto [x, s] = ctx.saved<2>();
  template <std::size_t N>
  std::array<Tensor, N> saved() const {
    std::array<Tensor, N> out;
    for (std::size_t i = 0; i < N; ++i) out[i] = saved(i);
    return out;
  }
  std::size_t saved_count() const { return saved_.size(); }
  /// Whether tensor input i needs a gradient in this call.
  bool needs_grad(std::size_t input) const { return (needs_grad_ >> input) & 1U; }
  /// Whether this call is being recorded (false when no input requires grad, or under no_grad).
  bool recording() const { return recording_; }

 private:
  friend class Node;
  friend struct detail::Access;

  void save_one(const Tensor& t);

  std::vector<Tensor> saved_;
  std::vector<std::uint64_t> saved_versions_;
  std::uint32_t needs_grad_ = 0;
  bool recording_ = false;
};

/// Where a gradient flows from a node: to the node of the op that produced the input, or, for a
/// leaf that requires grad, into that leaf's .grad. Both empty: the input needs no gradient.
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<detail::TensorImpl> leaf;
};

/// A recorded op in the graph. Tensors own the node that produced them; a node owns the nodes of
/// its inputs through its edges, so a graph lives exactly as long as some tensor refers to it.
class Node {
 public:
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node();

  /// The op's name ("matmul", "swish").
  virtual std::string_view name() const = 0;
  /// One edge per tensor input of the op.
  const std::vector<Edge>& edges() const { return edges_; }
  /// Shape of tensor input i as seen at forward.
  const Shape& input_shape(std::size_t i) const { return input_shapes_[i]; }
  /// Number of tensor inputs.
  std::size_t num_inputs() const { return input_shapes_.size(); }
  Dtype input_dtype(std::size_t i) const { return input_dtypes_[i]; }
  /// Shape and dtype of the op's output.
  const Shape& output_shape() const { return output_shape_; }
  Dtype output_dtype() const { return output_dtype_; }
  /// The module path the op was recorded in; recorded only under inspect::AnomalyGuard.
  const std::string& scope() const { return scope_; }
  /// L2 norm of the gradient that reached this op's output in the last backward, if that backward
  /// ran under inspect::GradNormGuard; NaN otherwise.
  double grad_norm() const { return grad_norm_; }
  /// True once backward has run through this node without retain_graph.
  bool released() const { return released_; }

  /// Runs the op's backward for `grad_output`; the engine calls this. Checks saved versions before
  /// and the returned gradients after, then releases saved tensors unless `retain_graph`.
  std::vector<Tensor> run_backward(const Tensor& grad_output, bool retain_graph);

 protected:
  Node() = default;
  virtual Grads call_backward(const Tensor& grad_output) = 0;
  virtual Context& context() = 0;

 private:
  friend struct detail::Access;
  friend struct detail::Engine;

  void connect(std::initializer_list<const Tensor*> inputs);

  std::vector<Edge> edges_;
  std::vector<Shape> input_shapes_;
  std::vector<Dtype> input_dtypes_;
  Shape output_shape_;
  Dtype output_dtype_ = Dtype::f32;
  std::string scope_;
  double grad_norm_ = std::numeric_limits<double>::quiet_NaN();
  bool released_ = false;
  // Scratch space of the backward walk (see src/autograd.cpp).
  std::uint64_t walk_id_ = 0;
  std::int64_t pending_ = 0;
  Tensor grad_buffer_;
};

/// The node type `apply` records for an op struct Op.
template <class Op>
class OpNode final : public Node {
 public:
  explicit OpNode(const Op& op) : op_(op) {}
  std::string_view name() const override { return Op::name; }

 private:
  friend struct detail::Access;

  Grads call_backward(const Tensor& gy) override { return op_.backward(ctx_, gy); }
  Context& context() override { return ctx_; }

  Op op_;
  Context ctx_;
};

namespace detail {
struct Access {
  template <class Op>
  static Tensor forward_recorded(OpNode<Op>& node, std::uint32_t needs_grad, const auto&... xs) {
    node.ctx_.needs_grad_ = needs_grad;
    node.ctx_.recording_ = true;
    NoGradGuard no_grad;
    return node.op_.forward(node.ctx_, xs...);
  }
  static void connect(Node& node, std::initializer_list<const Tensor*> inputs) {
    node.connect(inputs);
  }
  static void set_scope(Node& node, const std::string& scope) { node.scope_ = scope; }
  static void set_output(Node& node, const Tensor& out) {
    node.output_shape_ = out.shape();
    node.output_dtype_ = out.dtype();
  }
};

/// Makes `out` the output of `node` (aliasing it first if it is one of the inputs or already
/// belongs to a graph).
Tensor attach(Tensor out, std::shared_ptr<Node> node, bool aliases_input);
}

namespace detail {
template <class Op, class... Ts>
Tensor apply_unprofiled(const Op& op, const Ts&... inputs) {
  static_assert(sizeof...(Ts) >= 1 && sizeof...(Ts) <= 32, "an op takes 1 to 32 tensor inputs");
  static_assert(std::convertible_to<decltype(Op::name), std::string_view>,
                "an op struct needs: static constexpr std::string_view name = \"...\";");
  const bool record = grad_enabled() && (static_cast<const Tensor&>(inputs).requires_grad() || ...);
  if (!record) {
    Context ctx;
    Tensor out = op.forward(ctx, inputs...);
    if (inspect::detail::anomaly_active()) [[unlikely]] {
      inspect::detail::check_forward(Op::name, {&static_cast<const Tensor&>(inputs)...}, out);
    }
    return out;
  }
  auto node = std::make_shared<OpNode<Op>>(op);
  std::uint32_t mask = 0, bit = 1;
  ((mask |= static_cast<const Tensor&>(inputs).requires_grad() ? bit : 0U, bit <<= 1), ...);
  Tensor out = detail::Access::forward_recorded(*node, mask, inputs...);
  if (inspect::detail::anomaly_active()) [[unlikely]] {
    inspect::detail::check_forward(Op::name, {&static_cast<const Tensor&>(inputs)...}, out);
    detail::Access::set_scope(*node, inspect::detail::scope());
  }
  detail::Access::connect(*node, {&static_cast<const Tensor&>(inputs)...});
  const bool aliases = (out.is_same(inputs) || ...);
  return detail::attach(std::move(out), std::move(node), aliases);
}
}  // namespace detail

/// Runs op on the inputs, recording a node when grad mode is on and some input requires grad.
template <class Op, class... Ts>
  requires(std::convertible_to<const Ts&, const Tensor&> && ...)
Tensor apply(const Op& op, const Ts&... inputs) {
  if (profile::detail::active()) [[unlikely]] {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor out = detail::apply_unprofiled(op, inputs...);
    profile::detail::add_forward(Op::name, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    return out;
  }
  return detail::apply_unprofiled(op, inputs...);
}

}  // namespace nabla
