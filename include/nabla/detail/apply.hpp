// nabla/detail/apply.hpp — internal, not part of nabla's API: may change in any release.
//
// What `apply` (nabla/op.hpp) instantiates for an op struct: the node type it records, and the one
// path every call takes, for a fixed number of tensor inputs and for a vector of them alike. The
// non-template steps (connecting edges, attaching outputs, the hooks) are in src/graph.cpp and
// src/inspect/hooks.cpp. Included at the end of nabla/op.hpp; op authors read that header.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nabla/detail/trace.hpp"
#include "nabla/autocast.hpp"

#include "nabla/op.hpp"  // included at its end; the classes above are complete here

namespace nabla {

/// The node type `apply` records for an op struct Op.
template <class Op>
class OpNode final : public Node {
 public:
  explicit OpNode(const Op& op) : op_(op) {}
  std::string_view name() const override { return Op::name; }
  bool differentiable_backward() const override {
    if constexpr (requires { Op::differentiable_backward; }) {
      return Op::differentiable_backward;
    } else {
      return false;
    }
  }

 private:
  friend struct detail::Access;

  Grads call_backward(std::span<const Tensor> gys) override {
    if constexpr (requires { op_.backward(ctx_, gys[0]); }) {
      return op_.backward(ctx_, gys[0]);
    } else {
      return op_.backward(ctx_, Grads(gys.begin(), gys.end()));
    }
  }
  Context& context() override { return ctx_; }

  Op op_;
  Context ctx_;
};

namespace detail {

/// What an op's forward returns: one tensor, a fixed number, or a number known at run time.
template <class R>
inline constexpr bool kTensorArray = false;
template <std::size_t N>
inline constexpr bool kTensorArray<std::array<Tensor, N>> = N >= 1;
template <class R>
concept OpOutputs = std::same_as<R, Tensor> || std::same_as<R, std::vector<Tensor>> || kTensorArray<R>;

inline std::span<Tensor> as_span(Tensor& t) { return {&t, 1}; }
inline std::span<Tensor> as_span(std::vector<Tensor>& v) { return v; }
template <std::size_t N>
std::span<Tensor> as_span(std::array<Tensor, N>& a) {
  return a;
}

struct Access {
  /// Makes `node` the node of one call with these inputs: its edges, the inputs' shapes and dtypes,
  /// and its context recording, with the bits of the inputs that need a gradient.
  static void connect(Node& node, Context& ctx, std::span<const Tensor* const> inputs);
  /// Connects the node, then runs the op's forward for it with recording off.
  template <class Op, class... Args>
  static auto forward_recorded(OpNode<Op>& node, std::span<const Tensor* const> inputs, const Args&... args) {
    connect(node, node.ctx_, inputs);
    NoGradGuard no_grad;
    return node.op_.forward(node.ctx_, args...);
  }
  /// Makes outs[k] output k of `node` (aliasing one first if it is an input, another output, or
  /// already belongs to a graph).
  static void attach(std::span<Tensor> outs, const std::shared_ptr<Node>& node, std::span<const Tensor* const> inputs);
  /// The GraphError of an op whose forward returned an undefined tensor (as output k of n > 1).
  [[noreturn]] static void undefined_output(std::string_view op, std::size_t k, std::size_t n);
  /// Checks an unrecorded op's outputs as attach checks a recorded one's.
  static void check_defined(std::string_view op, std::span<const Tensor> outs) {
    for (std::size_t k = 0; k < outs.size(); ++k) {
      if (!outs[k].defined()) [[unlikely]] undefined_output(op, k, outs.size());
    }
  }
  /// The module path an op ran in, for anomaly messages (src/inspect/hooks.cpp).
  static void set_scope(Node& node, const std::string& scope) { node.scope_ = scope; }
};

/// The inputs of Op that may be undefined, as bits (Op::optional_inputs, else none).
template <class Op>
constexpr std::uint32_t optional_inputs() {
  if constexpr (requires { Op::optional_inputs; }) {
    return Op::optional_inputs;
  } else {
    return 0;
  }
}
/// "op: input i is an undefined tensor" (ValueError).
[[noreturn]] void undefined_input(std::string_view op, std::size_t i);
/// Refuses an undefined input that is not optional, naming the op.
inline void check_inputs_defined(std::string_view op, std::span<const Tensor* const> inputs, std::uint32_t optional) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]->defined() && (i >= 32 || !((optional >> i) & 1U))) [[unlikely]] {
      undefined_input(op, i);
    }
  }
}

/// One call without the hooks: forward alone, or forward recorded as a node. `inputs` points at
/// the tensor inputs; `args` is what forward takes (the same tensors, or one vector of them).
template <class Op, class... Args>
auto run_op(const Op& op, std::span<const Tensor* const> inputs, const Args&... args) {
  using R = decltype(op.forward(std::declval<Context&>(), args...));
  static_assert(OpOutputs<R>, "forward returns a Tensor, a std::array<Tensor, N> or a std::vector<Tensor>");
  bool record = false;
  if (grad_enabled()) {
    for (const Tensor* t : inputs) record = record || t->requires_grad();
  }
  if (!record) {
    Context ctx;
    R out = op.forward(ctx, args...);
    Access::check_defined(Op::name, as_span(out));
    return out;
  }
  auto node = std::make_shared<OpNode<Op>>(op);
  R out = Access::forward_recorded(*node, inputs, args...);
  Access::attach(as_span(out), node, inputs);
  return out;
}

/// The hooks that are active around one call: advice before, profile time around, anomaly checks
/// after (src/inspect/hooks.cpp). hooked_before returns the clock hooked_after measures from.
double hooked_before(std::string_view op, bool advised, std::span<const Tensor* const> inputs);
void hooked_after(std::string_view op, std::span<const Tensor* const> inputs, std::span<Tensor> outputs,
                  double start_us);

/// The dtype autocast casts input t of an op on `list` to, given the floating inputs present (bits:
/// 1 float32, 2 bf16), or t's own dtype when it stays (nabla/autocast.hpp).
inline Dtype autocast_target(AutocastList list, const Tensor& t, unsigned present) {
  if (!t.defined()) return Dtype::f32;
  const Dtype d = t.dtype();
  switch (list) {
    case AutocastList::lower: return d == Dtype::f32 ? Dtype::bf16 : d;
    case AutocastList::float32: return d == Dtype::bf16 ? Dtype::f32 : d;
    case AutocastList::widest: return d == Dtype::bf16 && (present & 1U) ? Dtype::f32 : d;
  }
  return d;
}

template <class Op, class... Args>
auto apply_op(const Op& op, std::span<const Tensor* const> inputs, const Args&... args);

/// One call under an AutocastGuard: the inputs cast by the op's list (recorded `to()` calls, so
/// differentiable), then the op with autocast off inside it.
template <class Op, class... Args>
auto apply_autocast(const Op& op, std::span<const Tensor* const> inputs, const Args&... args)
    -> decltype(op.forward(std::declval<Context&>(), args...)) {
  constexpr AutocastList list = autocast_list(Op::name);
  const AutocastOff off;
  unsigned present = 0;
  bool cast = false;
  for (const Tensor* t : inputs) {
    if (t->defined()) present |= t->dtype() == Dtype::f32 ? 1U : t->dtype() == Dtype::bf16 ? 2U : 0U;
  }
  for (const Tensor* t : inputs) cast = cast || (t->defined() && autocast_target(list, *t, present) != t->dtype());
  if (!cast) return apply_op(op, inputs, args...);
  auto convert = [&](const Tensor& t) -> Tensor {
    const Dtype d = autocast_target(list, t, present);
    return !t.defined() || d == t.dtype() ? t : t.to(d);
  };
  if constexpr (sizeof...(Args) == 1 && (std::same_as<Args, std::vector<Tensor>> && ...)) {
    const std::vector<Tensor>& xs = (args, ...);
    std::vector<Tensor> cast_xs;
    cast_xs.reserve(xs.size());
    for (const Tensor& t : xs) cast_xs.push_back(convert(t));
    std::vector<const Tensor*> ins;
    ins.reserve(cast_xs.size());
    for (const Tensor& t : cast_xs) ins.push_back(&t);
    return apply_op(op, ins, cast_xs);
  } else {
    const std::array<Tensor, sizeof...(Args)> cast_xs{convert(static_cast<const Tensor&>(args))...};
    std::array<const Tensor*, sizeof...(Args)> ins{};
    for (std::size_t i = 0; i < cast_xs.size(); ++i) ins[i] = &cast_xs[i];
    return [&]<std::size_t... I>(std::index_sequence<I...>) { return apply_op(op, ins, cast_xs[I]...); }(
        std::make_index_sequence<sizeof...(Args)>{});
  }
}

/// What both forms of `apply` run once they have the inputs' addresses.
template <class Op, class... Args>
auto apply_op(const Op& op, std::span<const Tensor* const> inputs, const Args&... args) {
  constexpr bool advised = inspect::detail::advised(Op::name);
  check_inputs_defined(Op::name, inputs, optional_inputs<Op>());
  if (hooks() & kAutocastHookBit) [[unlikely]] return apply_autocast(op, inputs, args...);
  const OpScope scope(Op::name);  // allocation errors below name this op
  if (hooks() != 0 || (advised && inspect::detail::warn_pending_any())) [[unlikely]] {
    const double t0 = hooked_before(Op::name, advised, inputs);
    if (tracing()) {  // onnx::export_model's recorder: the outermost ops only
      const TraceDepth depth;
      auto out = run_op(op, inputs, args...);
      if (depth.outer()) trace_op(Op::name, trace_attrs(op), inputs, as_span(out));
      hooked_after(Op::name, inputs, as_span(out), t0);
      return out;
    }
    auto out = run_op(op, inputs, args...);
    hooked_after(Op::name, inputs, as_span(out), t0);
    return out;
  }
  return run_op(op, inputs, args...);
}

}  // namespace detail
}  // namespace nabla
