// nabla/op.hpp — the op API: how every op, built-in or user-defined, is written.
//
// An op is a plain struct with
//   static constexpr std::string_view name = "swish";          // used in errors and graph dumps
//   <typed parameters as members>                               // e.g. double beta = 1.0;
//   Tensor forward(Context& ctx, const Tensor& x, ...) const;   // one or more tensor inputs
//   Grads backward(Context& ctx, const Tensor& gy) const;       // one gradient per tensor input
// and is called with `apply(Swish{.beta = 1.5}, x)`. Its loops and checks come from
// nabla/toolkit.hpp, as the built-ins' do.
//
// Forward validates its inputs (the free function that calls apply only builds the struct), may
// save tensors for backward with `ctx.save(...)`, and may keep a small non-tensor fact it decided
// (a layout, a flag) with `ctx.set_state(value)`, read back in backward with `ctx.state<T>()`.
// Backward reads input shapes and dtypes from the context (`ctx.input_shape(i)`), so the struct
// holds only its parameters.
//
// A run-time number of inputs (cat): forward takes `const std::vector<Tensor>&` and the op is
// called with `nabla::apply(op, tensors)` (qualified: std::apply is found for a std::vector
// argument too); backward returns one gradient per tensor of the vector.
//
// Several outputs: forward returns std::array<Tensor, N> (or std::vector<Tensor>, for a count
// known only at run time) and backward takes `const Grads& gys`, one gradient per output, undefined
// (`!gys[k].defined()`) where no gradient flowed into output k. `apply` returns what forward
// returns; each output is its own tensor with its own gradient. An int64 output (indices) never
// requires grad.
//
// `apply` records a graph node only when grad mode is on and some input requires grad. Forward
// always runs with recording off, so it may call other nabla ops freely. Backward runs with
// recording off too, except under `create_graph` (a gradient that is to be differentiated again):
// then it records, and an op that declares
//   static constexpr bool differentiable_backward = true;
// promises that its backward, when grad mode is on, computes with recorded nabla ops (for a fused
// kernel, make the backward an op of its own and call it: docs/custom-ops.md). Under
// create_graph, saved tensors that are inputs or outputs of the op come back from `ctx.saved(i)`
// connected to the graph; anything else forward computed and saved is a constant to the second
// derivative, so recompute it in backward from the inputs if it depends on them. The gradients of
// an op without the declaration are marked: differentiating them again is a GraphError naming the
// op, never a silently wrong second derivative. Saved tensors are version-checked before backward
// runs (an in-place change after saving is a GraphError) and released after it, unless backward
// was called with retain_graph (or create_graph). Backward returns one gradient per tensor input, shaped and typed like that input,
// or an undefined `Tensor{}` for an input that needs none (`ctx.needs_grad(i)` tells which do).
// A wrong count, shape or dtype is a GraphError naming the op.
//
// An undefined tensor (`Tensor{}`) passed as an input is refused before forward runs: "add: input 0
// is an undefined tensor" (ValueError). An op that takes an optional input (a bias) lists it in
//   static constexpr std::uint32_t optional_inputs = 1U << 2;   // input 2 may be Tensor{}
// and forward sees the undefined tensor as it was passed (`b.defined()` is false).
#pragma once

#include <any>
#include <array>
#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/detail/graph.hpp"  // internal: the engine's parts of Context and Node
#include "nabla/tensor.hpp"

namespace nabla {

/// What backward returns: one gradient per tensor input of the op, in order. For an op with
/// several outputs, also what it receives: one gradient per output.
using Grads = std::vector<Tensor>;

/// Per-call state of an op: the tensors saved for backward, which inputs need a gradient, the
/// inputs' shapes and dtypes, and one slot for a non-tensor fact forward decided.
class Context {
 public:
  /// Keeps tensors for backward (a no-op when nothing is being recorded).
  template <class... Ts>
    requires(std::convertible_to<const Ts&, const Tensor&> && ...)
  void save(const Ts&... tensors) {
    if (recording_) {
      saved_.reserve(saved_.size() + sizeof...(Ts));
      (save_one(tensors), ...);
    }
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
  /// Whether tensor input i needs a gradient in this call.
  bool needs_grad(std::size_t input) const {
    if (input < 32) return (needs_grad_ >> input) & 1U;
    return input - 32 < more_needs_grad_.size() && more_needs_grad_[input - 32];
  }
  /// Whether this call is being recorded (false when no input requires grad, or under no_grad).
  bool recording() const { return recording_; }

  /// The number of tensor inputs of this call (while recording).
  std::size_t node_inputs() const;
  /// Shape and dtype of tensor input i as forward saw it (while recording: in forward and backward).
  const Shape& input_shape(std::size_t i) const;
  Dtype input_dtype(std::size_t i) const;

  /// Keeps one value forward decided, for backward (a no-op when nothing is being recorded):
  ///   ctx.set_state(Layout::reads_x);   …   auto layout = ctx.state<Layout>();
  template <class T>
  void set_state(T value) {
    if (recording_) state_ = std::move(value);
  }
  /// The value set_state kept; a GraphError naming the op if none, or one of another type, was kept.
  template <class T>
  const T& state() const {
    if (const T* p = std::any_cast<T>(&state_)) return *p;
    state_error();
  }

 private:
  friend class Node;
  friend struct detail::Access;

  void save_one(const Tensor& t);
  [[noreturn]] void state_error() const;
  [[noreturn]] void input_error(std::size_t i) const;

  std::vector<detail::SavedLink> saved_;
  std::vector<Tensor> live_;  // the saved tensors reconnected, while a create_graph backward runs
  std::any state_;
  const Node* node_ = nullptr;
  std::uint32_t needs_grad_ = 0;
  std::vector<bool> more_needs_grad_;  // inputs 32, 33, … of an op called with a vector of tensors
  bool recording_ = false;
};

/// Where a gradient flows from a node: to output `output_nr` of the node of the op that produced
/// the input, or, for a leaf that requires grad, into that leaf's .grad. The leaf is held weakly: a
/// graph does not keep its leaves alive (a leaf's .grad may hold a graph, under create_graph, and
/// the two would otherwise keep each other); a gradient for a leaf that is gone goes nowhere. Both
/// empty: the input needs no gradient.
struct Edge {
  std::shared_ptr<Node> fn;
  std::weak_ptr<detail::TensorImpl> leaf;
  std::uint32_t output_nr = 0;
  bool needs_grad() const { return fn != nullptr || !leaf.expired(); }
};

/// A recorded op in the graph (what Tensor::grad_fn() returns). Tensors own the node that produced
/// them; a node owns the nodes of its inputs through its edges, so a graph lives exactly as long as
/// some tensor refers to it.
class Node : public std::enable_shared_from_this<Node> {
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
  /// Number of outputs, and the shape and dtype of output k (the first by default).
  std::size_t num_outputs() const { return 1 + more_outputs_.size(); }
  const Shape& output_shape(std::size_t k = 0) const { return k == 0 ? output_shape_ : more_outputs_[k - 1].shape; }
  Dtype output_dtype(std::size_t k = 0) const { return k == 0 ? output_dtype_ : more_outputs_[k - 1].dtype; }
  /// The module path the op was recorded in; recorded only under inspect::AnomalyGuard.
  const std::string& scope() const { return scope_; }
  /// L2 norm of the gradient that reached this op's outputs in the last backward, if that backward
  /// ran under inspect::GradNormGuard; NaN otherwise.
  double grad_norm() const { return grad_norm_; }
  /// True once backward has run through this node without retain_graph.
  bool released() const { return released_; }
  /// Whether the op's backward records differentiable ops under create_graph (see the top).
  virtual bool differentiable_backward() const = 0;

  /// Runs the op's backward for one gradient per output; the engine calls this. Checks saved
  /// versions before and the returned gradients after, then releases saved tensors unless
  /// `retain_graph`. With `create_graph`, saved tensors are reconnected to the graph for the call
  /// and the gradients of an op without a differentiable backward are marked (see the top).
  std::vector<Tensor> run_backward(std::span<const Tensor> grad_outputs, bool retain_graph, bool create_graph = false);

 protected:
  Node() = default;
  virtual Grads call_backward(std::span<const Tensor> grad_outputs) = 0;
  virtual Context& context() = 0;

 private:
  friend struct detail::Access;
  friend struct detail::Engine;

  struct OutputMeta {
    Shape shape;
    Dtype dtype;
  };

  std::vector<Edge> edges_;
  std::vector<Shape> input_shapes_;
  std::vector<Dtype> input_dtypes_;
  Shape output_shape_;
  Dtype output_dtype_ = Dtype::f32;
  std::vector<OutputMeta> more_outputs_;  // outputs 1, 2, … of an op with several
  std::string scope_;
  double grad_norm_ = std::numeric_limits<double>::quiet_NaN();
  bool released_ = false;
  detail::NodeWalk walk_;  // the backward walk's scratch space and the outputs' tensor hooks
};

inline std::size_t Context::node_inputs() const { return node_ == nullptr ? 0 : node_->num_inputs(); }
inline const Shape& Context::input_shape(std::size_t i) const {
  if (node_ == nullptr || i >= node_->num_inputs()) input_error(i);
  return node_->input_shape(i);
}
inline Dtype Context::input_dtype(std::size_t i) const {
  if (node_ == nullptr || i >= node_->num_inputs()) input_error(i);
  return node_->input_dtype(i);
}

namespace detail {
template <class Op, class... Args>
auto apply_op(const Op& op, std::span<const Tensor* const> inputs, const Args&... args);  // detail/apply.hpp
}

/// Runs op on the inputs, recording a node when grad mode is on and some input requires grad.
/// Returns what Op::forward returns: a Tensor, or one per output.
template <class Op, class... Ts>
  requires(std::convertible_to<const Ts&, const Tensor&> && ...)
auto apply(const Op& op, const Ts&... inputs) {
  static_assert(sizeof...(Ts) >= 1 && sizeof...(Ts) <= 32, "an op takes 1 to 32 tensor inputs");
  static_assert(std::convertible_to<decltype(Op::name), std::string_view>,
                "an op struct needs: static constexpr std::string_view name = \"...\";");
  const std::array<const Tensor*, sizeof...(Ts)> ins{&static_cast<const Tensor&>(inputs)...};
  return detail::apply_op(op, ins, inputs...);
}

/// Runs an op whose forward takes `const std::vector<Tensor>&` (a run-time number of inputs).
template <class Op>
  requires requires(const Op& op, Context& ctx, const std::vector<Tensor>& xs) { op.forward(ctx, xs); }
auto apply(const Op& op, const std::vector<Tensor>& inputs) {
  std::vector<const Tensor*> ins;
  ins.reserve(inputs.size());
  for (const Tensor& t : inputs) ins.push_back(&t);
  return detail::apply_op(op, ins, inputs);
}

}  // namespace nabla

#include "nabla/detail/apply.hpp"  // internal: OpNode and the one path of every apply call
