// src/graph.cpp — the recorded graph: an op's Context (its saved tensors, checked for in-place
// changes), nodes and their edges to inputs, and a node's backward. The walk over them is
// src/autograd.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "nabla/op.hpp"
#include "tensor_impl.hpp"

namespace nabla {

// ---- Context ------------------------------------------------------------------------------------------

void Context::save_one(const Tensor& t) {
  // A detached alias shares the storage (and so its version counter) but not the graph: saving
  // an op's own output would otherwise make a cycle tensor → node → saved tensor. Where it sat in
  // the graph is kept beside it (detail::SavedLink), for create_graph.
  detail::SavedLink& e = saved_.emplace_back();
  if (!t.defined()) return;
  e.tensor = t.detach();
  e.version = t.version();
  if (t.requires_grad()) {
    if (t.grad_fn()) {
      e.fn = t.grad_fn();
      e.output_nr = t.impl()->output_nr;
    } else {
      e.leaf = t.impl();
    }
  }
}

const Tensor& Context::saved(std::size_t i) const {
  if (i >= saved_.size()) {
    throw GraphError(fmt::format("saved: asked for saved tensor {}, {} were saved", i, saved_.size()));
  }
  return live_.empty() || !live_[i].defined() ? saved_[i].tensor : live_[i];
}

void Context::state_error() const {
  throw GraphError(fmt::format("{}: ctx.state() asked for a value {}", node_ ? node_->name() : "op",
                               state_.has_value() ? "of another type than set_state kept" : "that set_state never kept"));
}

void detail::undefined_input(std::string_view op, std::size_t i) {
  throw ValueError(fmt::format("{}: input {} is an undefined tensor", op, i));
}

void Context::input_error(std::size_t i) const {
  if (node_ == nullptr) {
    throw GraphError(fmt::format("op: ctx.input_shape({}) is known only while the call is recorded", i));
  }
  throw GraphError(fmt::format("{}: ctx.input_shape({}) asked for, the op has {} tensor inputs", node_->name(), i,
                               node_->num_inputs()));
}

// ---- Node -----------------------------------------------------------------------------------------------

Node::~Node() {
  // Destroy a long chain without recursing: take over the edges of each node that would die with
  // this one, so that its destructor finds nothing left to destroy.
  std::vector<std::shared_ptr<Node>> dying;
  for (Edge& e : edges_) {
    if (e.fn) dying.push_back(std::move(e.fn));
  }
  while (!dying.empty()) {
    std::shared_ptr<Node> n = std::move(dying.back());
    dying.pop_back();
    if (n.use_count() == 1) {
      for (Edge& e : n->edges_) {
        if (e.fn) dying.push_back(std::move(e.fn));
      }
    }
  }
  detail::counters().nodes.fetch_sub(1, std::memory_order_relaxed);
}

void detail::Access::connect(Node& node, Context& ctx, std::span<const Tensor* const> inputs) {
  detail::counters().nodes.fetch_add(1, std::memory_order_relaxed);
  auto& edges_ = node.edges_;
  auto& input_shapes_ = node.input_shapes_;
  auto& input_dtypes_ = node.input_dtypes_;
  edges_.reserve(inputs.size());
  input_shapes_.reserve(inputs.size());
  input_dtypes_.reserve(inputs.size());
  ctx.recording_ = true;
  ctx.node_ = &node;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor* t = inputs[i];
    Edge e;
    if (t->requires_grad()) {
      if (t->grad_fn()) {
        e.fn = t->grad_fn();
        e.output_nr = t->impl()->output_nr;
      } else {
        e.leaf = t->impl();
      }
      if (i < 32) {
        ctx.needs_grad_ |= 1U << i;
      } else {
        ctx.more_needs_grad_.resize(inputs.size() - 32);
        ctx.more_needs_grad_[i - 32] = true;
      }
    }
    edges_.push_back(std::move(e));
    input_shapes_.push_back(t->defined() ? t->shape() : Shape{});
    input_dtypes_.push_back(t->defined() ? t->dtype() : Dtype::f32);
  }
}

namespace {

// The mark on a gradient computed by an op whose backward is not differentiable, under
// create_graph: passes the gradient through, and refuses to be differentiated.
struct NotDifferentiable {
  static constexpr std::string_view name = "not_differentiable";
  std::string_view op;
  Tensor forward(Context&, const std::vector<Tensor>& xs) const { return xs[0]; }
  Grads backward(Context&, const Tensor&) const {
    throw GraphError(fmt::format(
        "{}: a second derivative through this op was asked for, but its backward is not differentiable "
        "(it does not declare differentiable_backward; write its backward with nabla ops and declare it, "
        "see nabla/op.hpp)",
        op));
  }
};

}  // namespace

std::vector<Tensor> Node::run_backward(std::span<const Tensor> gys, bool retain_graph, bool create_graph) {
  if (released_) {
    throw GraphError(fmt::format(
        "backward: the graph of this tensor was freed by an earlier backward (at op '{}'); "
        "pass retain_graph = true to the first call",
        name()));
  }
  Context& ctx = context();
  for (std::size_t i = 0; i < ctx.saved_.size(); ++i) {
    const Tensor& s = ctx.saved_[i].tensor;
    if (s.defined() && s.version() != ctx.saved_[i].version) {
      throw GraphError(fmt::format("{}.backward: saved tensor {} was modified in place after forward "
                                   "(version {}, saved at {})",
                                   name(), i, s.version(), ctx.saved_[i].version));
    }
  }
  // Under create_graph, the saved inputs and outputs take their places in the graph again.
  bool graph_inputs = false;
  if (create_graph) {
    for (const Tensor& g : gys) graph_inputs = graph_inputs || (g.defined() && g.requires_grad());
    ctx.live_.assign(ctx.saved_.size(), Tensor{});
    for (std::size_t i = 0; i < ctx.saved_.size(); ++i) {
      const detail::SavedLink& link = ctx.saved_[i];
      Tensor& live = ctx.live_[i];
      if (auto leaf = link.leaf.lock()) {
        live = Tensor(std::move(leaf));
      } else if (link.fn || link.own_output >= 0) {
        live = link.tensor.detach();
        live.impl()->requires_grad = true;
        live.impl()->grad_fn = link.fn ? link.fn : shared_from_this();
        live.impl()->output_nr = link.fn ? link.output_nr : static_cast<std::uint32_t>(link.own_output);
      }
      graph_inputs = graph_inputs || live.defined();
    }
  }
  Grads grads;
  try {
    grads = call_backward(gys);
  } catch (...) {
    ctx.live_.clear();
    throw;
  }
  if (create_graph && graph_inputs && !differentiable_backward()) {
    // Mark each gradient, connected to everything its backward read that is in the graph.
    std::vector<Tensor> from{Tensor{}};
    for (const Tensor& g : gys) {
      if (g.defined() && g.requires_grad()) from.push_back(g);
    }
    for (const Tensor& t : ctx.live_) {
      if (t.defined()) from.push_back(t);
    }
    for (Tensor& g : grads) {
      if (!g.defined()) continue;
      from[0] = g;
      g = nabla::apply(NotDifferentiable{name()}, from);
    }
  }
  ctx.live_.clear();
  if (grads.size() != edges_.size()) {
    throw GraphError(fmt::format("{}.backward returned {} gradients for {} tensor inputs", name(),
                                 grads.size(), edges_.size()));
  }
  for (std::size_t i = 0; i < grads.size(); ++i) {
    Tensor& g = grads[i];
    if (!edges_[i].needs_grad()) {
      g = Tensor{};
      continue;
    }
    if (!g.defined()) continue;
    if (g.shape() != input_shapes_[i] || g.dtype() != input_dtypes_[i]) {
      throw GraphError(fmt::format("{}.backward: gradient {} is {} {}, but input {} is {} {}", name(), i,
                                   g.dtype(), g.shape(), i, input_dtypes_[i], input_shapes_[i]));
    }
  }
  if (!retain_graph && !create_graph) {
    ctx.saved_.clear();
    released_ = true;
  }
  return grads;
}

namespace detail {

void Access::undefined_output(std::string_view op, std::size_t k, std::size_t n) {
  throw GraphError(fmt::format("{}: forward returned an undefined tensor{}", op,
                               n > 1 ? fmt::format(" as output {}", k) : std::string()));
}

void Access::attach(std::span<Tensor> outs, const std::shared_ptr<Node>& node, std::span<const Tensor* const> inputs) {
  for (std::size_t k = 0; k < outs.size(); ++k) {
    Tensor& out = outs[k];
    if (!out.defined()) undefined_output(node->name(), k, outs.size());
    bool aliases = out.impl()->grad_fn || out.impl()->requires_grad;
    for (const Tensor* t : inputs) aliases = aliases || out.is_same(*t);
    for (std::size_t j = 0; j < k; ++j) aliases = aliases || out.is_same(outs[j]);
    if (aliases) out = out.detach();
    if (k == 0) {
      node->output_shape_ = out.shape();
      node->output_dtype_ = out.dtype();
    } else {
      node->more_outputs_.push_back({out.shape(), out.dtype()});
    }
    out.impl()->requires_grad = is_floating_point(out.dtype());
    out.impl()->grad_fn = node;
    out.impl()->output_nr = static_cast<std::uint32_t>(k);
    // A saved tensor that is this output (its storage and shape) is reconnected as the output
    // under create_graph.
    Context& ctx = node->context();
    for (std::size_t i = 0; i < ctx.saved_.size(); ++i) {
      detail::SavedLink& link = ctx.saved_[i];
      const Tensor& t = link.tensor;
      if (t.defined() && !link.fn && link.leaf.expired() && link.own_output < 0 &&
          t.impl()->storage == out.impl()->storage && t.shape() == out.shape()) {
        link.own_output = static_cast<std::int32_t>(k);
      }
    }
  }
  node->walk_.more_grad_buffers.resize(outs.empty() ? 0 : outs.size() - 1);
}

}  // namespace detail

}  // namespace nabla
