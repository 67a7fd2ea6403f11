// src/autograd.cpp — graph nodes and the backward walk.
//
// backward() runs in two iterative passes over the nodes reachable from the output (no recursion,
// so graphs of any depth work): the first counts, for each node, the edges that reach it; the
// second runs nodes in topological order (Kahn's algorithm), summing gradients where paths meet
// and running a node once every path into it has delivered. Leaf gradients accumulate into .grad.
#include <atomic>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "nabla/inspect.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "nabla/profile.hpp"
#include "tensor_impl.hpp"

namespace nabla {

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

void Node::connect(std::initializer_list<const Tensor*> inputs) {
  detail::counters().nodes.fetch_add(1, std::memory_order_relaxed);
  edges_.reserve(inputs.size());
  input_shapes_.reserve(inputs.size());
  input_dtypes_.reserve(inputs.size());
  for (const Tensor* t : inputs) {
    Edge e;
    if (t->requires_grad()) {
      if (t->grad_fn()) e.fn = t->grad_fn();
      else e.leaf = t->impl();
    }
    edges_.push_back(std::move(e));
    input_shapes_.push_back(t->defined() ? t->shape() : Shape{});
    input_dtypes_.push_back(t->defined() ? t->dtype() : Dtype::f32);
  }
}

std::vector<Tensor> Node::run_backward(const Tensor& gy, bool retain_graph) {
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
  Grads grads = call_backward(gy);
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

Tensor attach(Tensor out, std::shared_ptr<Node> node, bool aliases_input) {
  if (!out.defined()) {
    throw GraphError(fmt::format("{}: forward returned an undefined tensor", node->name()));
  }
  if (aliases_input || out.impl()->grad_fn || out.impl()->requires_grad) out = out.detach();
  Access::set_output(*node, out);
  out.impl()->requires_grad = is_floating(out.dtype());
  out.impl()->grad_fn = std::move(node);
  return out;
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
      start->grad_buffer_ = gradient;
      std::vector<Node*> ready{start};
      while (!ready.empty()) {
        Node* n = ready.back();
        ready.pop_back();
        Tensor gy = std::move(n->grad_buffer_);
        n->grad_buffer_ = Tensor{};
        std::vector<Tensor> grads;
        if (gy.defined() && inspect::detail::grad_norms_active()) [[unlikely]] {
          n->grad_norm_ = inspect::detail::l2_norm(gy);
        }
        if (gy.defined()) {
          if (profile::detail::active()) [[unlikely]] {
            const auto t0 = std::chrono::steady_clock::now();
            grads = n->run_backward(gy, retain_graph);
            profile::detail::add_backward(
                n->name(), std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
          } else {
            grads = n->run_backward(gy, retain_graph);
          }
          if (inspect::detail::anomaly_active()) [[unlikely]] inspect::detail::check_backward(*n, gy, grads);
        }
        for (std::size_t i = 0; i < n->edges_.size(); ++i) {
          const Edge& e = n->edges_[i];
          Tensor g = i < grads.size() ? std::move(grads[i]) : Tensor{};
          if (e.fn) {
            Node* m = e.fn.get();
            if (g.defined()) m->grad_buffer_ = m->grad_buffer_.defined() ? add(m->grad_buffer_, g) : std::move(g);
            if (--m->pending_ == 0) ready.push_back(m);
          } else if (e.leaf && g.defined()) {
            accumulate(*e.leaf, std::move(g));
          }
        }
      }
    } catch (...) {
      for (Node* n : reached) n->grad_buffer_ = Tensor{};
      throw;
    }
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
