// src/autograd.cpp — graph nodes and the backward walk.
//
// backward() runs in two iterative passes over the nodes reachable from the output (no recursion,
// so graphs of any depth work): the first counts, for each node, the edges that reach it; the
// second runs nodes in topological order (Kahn's algorithm), summing gradients where paths meet
// and running a node once every path into it has delivered. Leaf gradients accumulate into .grad.
#include <atomic>
#include <chrono>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "nabla/inspect.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/profile.hpp"
#include "tensor_impl.hpp"

namespace nabla {

// ---- hooks --------------------------------------------------------------------------------------------

namespace {
thread_local unsigned t_hooks = 0;
}

namespace detail {
unsigned hooks() { return t_hooks; }
bool set_hook(Hook h, bool on) {
  const bool was = (t_hooks & h) != 0;
  t_hooks = on ? (t_hooks | h) : (t_hooks & ~unsigned(h));
  return was;
}

double hook_clock_us() {
  if (!(t_hooks & kProfileHook)) return 0;
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void hooked_before(std::string_view op, bool advised, std::span<const Tensor* const> inputs) {
  if (advised && inspect::detail::warn_pending_any()) inspect::detail::advise(op, inputs);
}

void hooked_after(std::string_view op, std::span<const Tensor* const> inputs, std::span<Tensor> outputs,
                  double start_us) {
  if (t_hooks & kAnomalyHook) {
    for (const Tensor& out : outputs) inspect::detail::check_forward(op, inputs, out);
    for (const Tensor& out : outputs) {
      if (out.grad_fn()) Access::set_scope(*out.grad_fn(), inspect::detail::scope());
    }
  }
  if (t_hooks & kProfileHook) profile::detail::add_forward(op, hook_clock_us() - start_us);
}
}  // namespace detail

// ---- Context ------------------------------------------------------------------------------------------

void Context::save_one(const Tensor& t) {
  // A detached alias shares the storage (and so its version counter) but not the graph: saving
  // an op's own output would otherwise make a cycle tensor → node → saved tensor.
  saved_.push_back(t.defined() ? t.detach() : Tensor{});
  saved_versions_.push_back(t.defined() ? t.version() : 0);
}

const Tensor& Context::saved(std::size_t i) const {
  if (i >= saved_.size()) {
    throw GraphError(fmt::format("saved: asked for saved tensor {}, {} were saved", i, saved_.size()));
  }
  return saved_[i];
}

void Context::state_error() const {
  throw GraphError(fmt::format("{}: ctx.state() asked for a value {}", node_ ? node_->name() : "op",
                               state_.has_value() ? "of another type than set_state kept" : "that set_state never kept"));
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

void detail::Access::connect(Node& node, std::span<const Tensor* const> inputs) {
  detail::counters().nodes.fetch_add(1, std::memory_order_relaxed);
  auto& edges_ = node.edges_;
  auto& input_shapes_ = node.input_shapes_;
  auto& input_dtypes_ = node.input_dtypes_;
  edges_.reserve(inputs.size());
  input_shapes_.reserve(inputs.size());
  input_dtypes_.reserve(inputs.size());
  for (const Tensor* t : inputs) {
    Edge e;
    if (t->requires_grad()) {
      if (t->grad_fn()) {
        e.fn = t->grad_fn();
        e.output_nr = t->impl()->output_nr;
      } else {
        e.leaf = t->impl();
      }
    }
    edges_.push_back(std::move(e));
    input_shapes_.push_back(t->defined() ? t->shape() : Shape{});
    input_dtypes_.push_back(t->defined() ? t->dtype() : Dtype::f32);
  }
}

std::vector<Tensor> Node::run_backward(std::span<const Tensor> gys, bool retain_graph) {
  if (released_) {
    throw GraphError(fmt::format(
        "backward: the graph of this tensor was freed by an earlier backward (at op '{}'); "
        "pass retain_graph = true to the first call",
        name()));
  }
  Context& ctx = context();
  for (std::size_t i = 0; i < ctx.saved_.size(); ++i) {
    const Tensor& s = ctx.saved_[i];
    if (s.defined() && s.version() != ctx.saved_versions_[i]) {
      throw GraphError(fmt::format("{}.backward: saved tensor {} was modified in place after forward "
                                   "(version {}, saved at {})",
                                   name(), i, s.version(), ctx.saved_versions_[i]));
    }
  }
  Grads grads = call_backward(gys);
  if (grads.size() != edges_.size()) {
    throw GraphError(fmt::format("{}.backward returned {} gradients for {} tensor inputs", name(),
                                 grads.size(), edges_.size()));
  }
  for (std::size_t i = 0; i < grads.size(); ++i) {
    Tensor& g = grads[i];
    if (!edges_[i].fn && !edges_[i].leaf) {
      g = Tensor{};
      continue;
    }
    if (!g.defined()) continue;
    if (g.shape() != input_shapes_[i] || g.dtype() != input_dtypes_[i]) {
      throw GraphError(fmt::format("{}.backward: gradient {} is {} {}, but input {} is {} {}", name(), i,
                                   g.dtype(), g.shape(), i, input_dtypes_[i], input_shapes_[i]));
    }
  }
  if (!retain_graph) {
    ctx.saved_.clear();
    ctx.saved_versions_.clear();
    released_ = true;
  }
  return grads;
}

namespace detail {

void Access::attach(std::span<Tensor> outs, const std::shared_ptr<Node>& node, std::span<const Tensor* const> inputs) {
  for (std::size_t k = 0; k < outs.size(); ++k) {
    Tensor& out = outs[k];
    if (!out.defined()) {
      throw GraphError(fmt::format("{}: forward returned an undefined tensor{}", node->name(),
                                   outs.size() > 1 ? fmt::format(" as output {}", k) : std::string()));
    }
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
    out.impl()->requires_grad = is_floating(out.dtype());
    out.impl()->grad_fn = node;
    out.impl()->output_nr = static_cast<std::uint32_t>(k);
  }
  node->more_grad_buffers_.resize(outs.empty() ? 0 : outs.size() - 1);
}

// ---- the backward walk ----------------------------------------------------------------------------------

struct Engine {
  static void accumulate(TensorImpl& leaf, Tensor g) {
    if (!leaf.grad.defined()) {
      // Keep the gradient itself only if nothing else refers to its data.
      const bool unique = g.impl().use_count() == 1 && g.impl()->storage.use_count() == 1;
      leaf.grad = unique ? std::move(g) : g.clone();
    } else {
      leaf.grad = add(leaf.grad, g);
    }
  }

  static void run(const Tensor& root, const Tensor& gradient, bool retain_graph) {
    NoGradGuard no_grad;
    Node* start = root.grad_fn().get();
    if (start == nullptr) {
      accumulate(*root.impl(), gradient);
      return;
    }
    static std::atomic<std::uint64_t> next_walk{1};
    const std::uint64_t walk = next_walk.fetch_add(1);

    // Pass 1: count the edges into each reachable node.
    std::vector<Node*> reached{start};
    start->walk_id_ = walk;
    start->pending_ = 0;
    for (std::size_t k = 0; k < reached.size(); ++k) {
      for (const Edge& e : reached[k]->edges_) {
        Node* m = e.fn.get();
        if (m == nullptr) continue;
        if (m->walk_id_ != walk) {
          m->walk_id_ = walk;
          m->pending_ = 0;
          reached.push_back(m);
        }
        ++m->pending_;
      }
    }

    // Pass 2: run each node once all its gradient has arrived.
    try {
      start->grad_buffer(root.impl()->output_nr) = gradient;
      std::vector<Node*> ready{start};
      std::vector<Tensor> gys;
      while (!ready.empty()) {
        Node* n = ready.back();
        ready.pop_back();
        gys.clear();
        bool any = n->grad_buffer_.defined();
        gys.push_back(std::move(n->grad_buffer_));
        n->grad_buffer_ = Tensor{};
        for (Tensor& b : n->more_grad_buffers_) {
          any = any || b.defined();
          gys.push_back(std::move(b));
          b = Tensor{};
        }
        std::vector<Tensor> grads;
        if (any) {
          if (detail::hooks() != 0) [[unlikely]] grads = run_hooked(*n, gys, retain_graph);
          else grads = n->run_backward(gys, retain_graph);
        }
        for (std::size_t i = 0; i < n->edges_.size(); ++i) {
          const Edge& e = n->edges_[i];
          Tensor g = i < grads.size() ? std::move(grads[i]) : Tensor{};
          if (e.fn) {
            Node* m = e.fn.get();
            if (g.defined()) {
              Tensor& buf = m->grad_buffer(e.output_nr);
              buf = buf.defined() ? add(buf, g) : std::move(g);
            }
            if (--m->pending_ == 0) ready.push_back(m);
          } else if (e.leaf && g.defined()) {
            accumulate(*e.leaf, std::move(g));
          }
        }
      }
    } catch (...) {
      for (Node* n : reached) {
        n->grad_buffer_ = Tensor{};
        for (Tensor& b : n->more_grad_buffers_) b = Tensor{};
      }
      throw;
    }
  }

  // One node's backward with the hooks that are active: the gradient norm, profile time, anomaly check.
  static std::vector<Tensor> run_hooked(Node& n, std::span<const Tensor> gys, bool retain_graph) {
    const unsigned h = detail::hooks();
    if (h & kGradNormHook) {
      double sq = 0;
      for (const Tensor& g : gys) {
        if (g.defined()) sq += std::pow(inspect::detail::l2_norm(g), 2);
      }
      n.grad_norm_ = std::sqrt(sq);
    }
    const double t0 = hook_clock_us();
    std::vector<Tensor> grads = n.run_backward(gys, retain_graph);
    if (h & kProfileHook) profile::detail::add_backward(n.name(), hook_clock_us() - t0);
    if (h & kAnomalyHook) inspect::detail::check_backward(n, gys, grads);
    return grads;
  }
};

}  // namespace detail

void Tensor::backward(BackwardOptions opts) const { backward(Tensor{}, opts); }

void Tensor::backward(const Tensor& gradient, BackwardOptions opts) const {
  check_defined("backward");
  if (!impl_->requires_grad) {
    throw GraphError(fmt::format("backward: this tensor {} does not require grad: none of the tensors "
                                 "it was computed from requires grad, or it was made under no_grad",
                                 shape()));
  }
  Tensor g = gradient;
  if (!g.defined()) {
    if (numel() != 1) {
      throw GraphError(fmt::format("backward: output {} is not a scalar; pass a gradient of the same "
                                   "shape: t.backward(gradient)", shape()));
    }
    g = ones(shape(), dtype());
  } else if (g.shape() != shape() || g.dtype() != dtype()) {
    throw ShapeError(fmt::format("backward: gradient is {} {}, output is {} {}; they must match",
                                 g.dtype(), g.shape(), dtype(), shape()));
  }
  detail::Engine::run(*this, g, opts.retain_graph);
}

}  // namespace nabla
