// src/autograd.cpp — the backward walk, Tensor::backward, tensor hooks and grad().
//
// backward() runs in two iterative passes over the nodes reachable from the output (no recursion,
// so graphs of any depth work): the first counts, for each node, the edges that reach it; the
// second runs nodes in topological order (Kahn's algorithm), summing gradients where paths meet
// and running a node once every path into it has delivered. Leaf gradients accumulate into .grad.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "nabla/autograd.hpp"
#include "inspect/hooks.hpp"
#include "nabla/op.hpp"
#include "nabla/ops.hpp"
#include "tensor_impl.hpp"

namespace nabla {

namespace detail {

// ---- the backward walk ----------------------------------------------------------------------------------

struct Engine {
  /// g after each hook: a defined result replaces it (of the same shape and dtype).
  template <class Hooks, class Fn>
  static Tensor run_hooks(const Hooks& hooks, Tensor g, Fn fn_of) {
    for (const auto& h : hooks) {
      Tensor r = fn_of(h)(g);
      if (!r.defined()) continue;
      if (r.shape() != g.shape() || r.dtype() != g.dtype()) {
        throw GraphError(fmt::format("register_hook: a hook returned {} {} for a gradient of {} {}; it must keep the shape and "
                                     "dtype (or return an undefined tensor to keep the gradient)",
                                     r.dtype(), r.shape(), g.dtype(), g.shape()));
      }
      g = std::move(r);
    }
    return g;
  }
  static Tensor leaf_hooks(const TensorImpl& leaf, Tensor g) {
    if (leaf.hooks.empty()) return g;
    return run_hooks(leaf.hooks, std::move(g), [](const auto& h) -> const auto& { return h.second; });
  }
  static void node_hooks(Node& n, std::vector<Tensor>& gys) {
    for (const PreHook& h : n.walk_.pre_hooks) {
      Tensor& g = gys[h.output_nr];
      if (g.defined()) g = run_hooks(std::span(&h, 1), std::move(g), [](const PreHook& p) -> const auto& { return p.fn; });
    }
  }

  static std::size_t next_hook_id() {
    static std::atomic<std::size_t> next{1};
    return next.fetch_add(1);
  }
  static std::size_t add_hook(const Tensor& t, std::function<Tensor(const Tensor&)> fn) {
    const std::size_t id = next_hook_id();
    if (t.grad_fn()) t.grad_fn()->walk_.pre_hooks.push_back({t.impl()->output_nr, id, std::move(fn)});
    else t.impl()->hooks.emplace_back(id, std::move(fn));
    return id;
  }
  static std::size_t add_post_hook(const Tensor& t, std::function<void(const Tensor&)> fn) {
    const std::size_t id = next_hook_id();
    t.impl()->post_hooks.emplace_back(id, std::move(fn));
    return id;
  }
  static bool remove_hook(const Tensor& t, std::size_t id) {
    if (t.grad_fn()) return std::erase_if(t.grad_fn()->walk_.pre_hooks, [&](const PreHook& h) { return h.id == id; }) > 0;
    return std::erase_if(t.impl()->hooks, [&](const auto& h) { return h.first == id; }) > 0 ||
           std::erase_if(t.impl()->post_hooks, [&](const auto& h) { return h.first == id; }) > 0;
  }

  static void accumulate(TensorImpl& leaf, Tensor g) {
    g = leaf_hooks(leaf, std::move(g));
    if (g.dtype() != leaf.dtype || g.shape() != leaf.shape) {
      // The leaf changed under the graph (Module::to, or its impl swapped): the sum would not be its gradient.
      throw GraphError(fmt::format("backward: a gradient {} {} reached a leaf that is now {} {}; the leaf was "
                                   "converted or reshaped after the forward (Module::to between forward and "
                                   "backward?); run the forward again after converting",
                                   g.dtype(), g.shape(), leaf.dtype, leaf.shape));
    }
    if (!leaf.grad.defined()) {
      // Keep the gradient itself only if nothing else refers to its data.
      const bool unique = g.impl().use_count() == 1 && g.impl()->storage.use_count() == 1;
      leaf.grad = unique ? std::move(g) : g.clone();
    } else if (!grad_enabled() && leaf.grad.impl().use_count() == 1 && leaf.grad.impl()->storage.use_count() == 1 &&
               leaf.grad.dtype() == g.dtype() && leaf.grad.shape() == g.shape()) {
      leaf.grad.add_(g);  // nothing else sees this .grad: summed in place (torch's AccumulateGrad does the same)
    } else {
      leaf.grad = add(leaf.grad, g);
    }
  }

  /// One more contribution of this walk will reach a leaf with post-accumulate hooks.
  static void expect_leaf(TensorImpl& leaf, std::uint64_t walk) {
    if (leaf.post_walk != walk) {
      leaf.post_walk = walk;
      leaf.post_pending = 0;
    }
    ++leaf.post_pending;
  }
  /// A contribution (or an edge that brought none) has reached the leaf: after the last, its hooks run.
  static void leaf_arrived(const std::shared_ptr<TensorImpl>& leaf) {
    if (--leaf->post_pending != 0) return;
    const Tensor t(leaf);
    const auto hooks = leaf->post_hooks;  // a hook may remove itself
    for (const auto& h : hooks) h.second(t);
  }

  /// What grad() asks for instead of accumulating into .grad: the total gradient of each input,
  /// a leaf (by its impl) or a non-leaf (by the node and output that made it).
  struct Capture {
    std::vector<Tensor> results;
    std::vector<std::pair<const TensorImpl*, std::size_t>> leaves;
    std::vector<std::pair<std::pair<const Node*, std::uint32_t>, std::size_t>> outputs;
  };

  static void add_into(Tensor& sum, Tensor g) { sum = sum.defined() ? add(sum, g) : std::move(g); }

  /// Takes node n for this walk before touching its scratch fields: true the first time, false
  /// when the walk holds it already; a GraphError when another walk in progress holds it (a
  /// backward started from a hook, or on another thread, through the same nodes), which would
  /// otherwise reset the other walk's counts and buffers and lose its gradients.
  static bool claim(Node& n, std::uint64_t walk) {
    std::uint64_t holder = 0;
    if (n.walk_.busy.compare_exchange_strong(holder, walk, std::memory_order_acquire)) {
      n.walk_.walk_id = walk;
      n.walk_.pending = 0;
      return true;
    }
    if (holder == walk) return false;
    throw GraphError(fmt::format("backward: node '{}' is in a backward that has not finished (one started from a hook "
                                 "of that backward, or on another thread); backpropagate through the same nodes one "
                                 "backward at a time",
                                 n.name()));
  }
  /// Gives back the nodes the walk still holds when it ends (all of them, after an error), dropping
  /// any gradient they had been sent.
  struct Hold {
    const std::vector<Node*>& reached;
    std::uint64_t walk;
    ~Hold() {
      for (Node* n : reached) {
        if (n->walk_.busy.load(std::memory_order_relaxed) != walk) continue;
        n->walk_.grad_buffer = Tensor{};
        for (Tensor& b : n->walk_.more_grad_buffers) b = Tensor{};
        n->walk_.busy.store(0, std::memory_order_release);
      }
    }
  };

  /// Backpropagates from each roots[r] with gradient gradients[r]. Without `capture`, leaf gradients
  /// accumulate into .grad; with it, they (and those of the captured non-leaves) are collected
  /// there, and only the nodes on a path to a captured input run.
  static void run(std::span<const Tensor> roots, std::span<const Tensor> gradients, bool retain_graph, bool create_graph,
                  Capture* capture) {
    GradModeGuard grad_mode(create_graph);
    const AutocastOff no_autocast;  // backward runs each op in the dtypes its forward chose
    static std::atomic<std::uint64_t> next_walk{1};
    const std::uint64_t walk = next_walk.fetch_add(1);
    // reached[0, starts) are the roots' nodes, each once; the rest are found by pass 1.
    std::vector<Node*> reached;
    const Hold hold{reached, walk};
    std::vector<std::size_t> leaf_roots;  // accumulated once the edges into leaves are counted
    for (std::size_t r = 0; r < roots.size(); ++r) {
      if (Node* n = roots[r].grad_fn().get()) {
        if (claim(*n, walk)) reached.push_back(n);
      } else if (capture == nullptr) {
        if (!roots[r].impl()->post_hooks.empty()) expect_leaf(*roots[r].impl(), walk);
        leaf_roots.push_back(r);
      } else {
        for (const auto& [impl, k] : capture->leaves) {
          if (impl == roots[r].impl().get()) add_into(capture->results[k], leaf_hooks(*impl, gradients[r]));
        }
      }
    }
    const std::size_t starts = reached.size();

    // Pass 1: count the edges into each reachable node (and, without a capture, into each leaf
    // with post-accumulate hooks).
    for (std::size_t k = 0; k < reached.size(); ++k) {
      for (const Edge& e : reached[k]->edges_) {
        Node* m = e.fn.get();
        if (m == nullptr) {
          if (capture == nullptr) {
            if (const auto leaf = e.leaf.lock(); leaf && !leaf->post_hooks.empty()) expect_leaf(*leaf, walk);
          }
          continue;
        }
        if (claim(*m, walk)) reached.push_back(m);
        ++m->walk_.pending;
      }
    }

    for (const std::size_t r : leaf_roots) {
      accumulate(*roots[r].impl(), gradients[r]);
      if (roots[r].impl()->post_walk == walk) leaf_arrived(roots[r].impl());
    }
    if (reached.empty()) return;

    // With a capture: which nodes must run (some path from them reaches a captured input) and which
    // must receive gradient (those, and the nodes whose outputs are captured), found in reverse
    // topological order.
    std::vector<std::uint8_t> run_it, receive;  // indexed through Node::walk_.run_index
    if (capture != nullptr) {
      for (std::size_t k = 0; k < reached.size(); ++k) reached[k]->walk_.run_index = static_cast<std::int64_t>(k);
      std::vector<std::int64_t> pending(reached.size());
      for (std::size_t k = 0; k < reached.size(); ++k) pending[k] = reached[k]->walk_.pending;
      std::vector<Node*> order, ready;
      for (std::size_t k = 0; k < starts; ++k) {
        if (pending[k] == 0) ready.push_back(reached[k]);
      }
      while (!ready.empty()) {
        Node* n = ready.back();
        ready.pop_back();
        order.push_back(n);
        for (const Edge& e : n->edges_) {
          if (e.fn && --pending[e.fn->walk_.run_index] == 0) ready.push_back(e.fn.get());
        }
      }
      run_it.assign(reached.size(), 0);
      receive.assign(reached.size(), 0);
      for (const auto& [key, k] : capture->outputs) {
        if (key.first->walk_.busy.load(std::memory_order_relaxed) == walk) receive[key.first->walk_.run_index] = 1;
      }
      for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node* n = *it;
        bool needed = false;
        for (const Edge& e : n->edges_) {
          if (e.fn) {
            needed = needed || receive[e.fn->walk_.run_index];
          } else if (const auto leaf = e.leaf.lock()) {
            for (const auto& [impl, k] : capture->leaves) needed = needed || impl == leaf.get();
          }
        }
        run_it[n->walk_.run_index] = needed;
        receive[n->walk_.run_index] = receive[n->walk_.run_index] || needed;
      }
    }

    // Pass 2: run each node once all its gradient has arrived; a node that has run is given back.
    {
      std::vector<Node*> ready;
      for (std::size_t r = 0; r < roots.size(); ++r) {
        if (Node* n = roots[r].grad_fn().get()) add_into(n->walk_.buffer(roots[r].impl()->output_nr), gradients[r]);
      }
      for (std::size_t k = 0; k < starts; ++k) {
        if (reached[k]->walk_.pending == 0) ready.push_back(reached[k]);
      }
      std::vector<Tensor> gys;
      while (!ready.empty()) {
        Node* n = ready.back();
        ready.pop_back();
        gys.clear();
        bool any = n->walk_.grad_buffer.defined();
        gys.push_back(std::move(n->walk_.grad_buffer));
        n->walk_.grad_buffer = Tensor{};
        for (Tensor& b : n->walk_.more_grad_buffers) {
          any = any || b.defined();
          gys.push_back(std::move(b));
          b = Tensor{};
        }
        if (!n->walk_.pre_hooks.empty()) node_hooks(*n, gys);
        if (capture != nullptr) {
          for (const auto& [key, k] : capture->outputs) {
            if (key.first == n && gys[key.second].defined()) add_into(capture->results[k], gys[key.second]);
          }
        }
        const bool run_node = any && (capture == nullptr || run_it[n->walk_.run_index]);
        std::vector<Tensor> grads;
        if (run_node) {
          if (detail::hooks() != 0) [[unlikely]] grads = run_hooked(*n, gys, retain_graph, create_graph);
          else grads = n->run_backward(gys, retain_graph, create_graph);
        }
        for (std::size_t i = 0; i < n->edges_.size(); ++i) {
          const Edge& e = n->edges_[i];
          Tensor g = i < grads.size() ? std::move(grads[i]) : Tensor{};
          if (e.fn) {
            Node* m = e.fn.get();
            if (g.defined() && (capture == nullptr || receive[m->walk_.run_index])) {
              add_into(m->walk_.buffer(e.output_nr), std::move(g));
            }
            if (--m->walk_.pending == 0) ready.push_back(m);
          } else if (capture == nullptr) {
            const auto leaf = e.leaf.lock();
            if (!leaf) continue;
            if (g.defined()) accumulate(*leaf, std::move(g));
            if (leaf->post_walk == walk) leaf_arrived(leaf);
          } else if (g.defined()) {
            const auto leaf = e.leaf.lock();
            if (!leaf) continue;
            for (const auto& [impl, k] : capture->leaves) {
              if (impl == leaf.get()) add_into(capture->results[k], leaf_hooks(*leaf, g));
            }
          }
        }
        n->walk_.busy.store(0, std::memory_order_release);
      }
    }
  }

  // Clears the anomaly and profile bits among `h` for its lifetime.
  struct Quiet {
    bool anomaly, profile;
    explicit Quiet(unsigned h)
        : anomaly((h & kAnomalyHook) != 0 && set_hook(kAnomalyHook, false)),
          profile((h & kProfileHook) != 0 && set_hook(kProfileHook, false)) {}
    ~Quiet() {
      if (anomaly) set_hook(kAnomalyHook, true);
      if (profile) set_hook(kProfileHook, true);
    }
    Quiet(const Quiet&) = delete;
    Quiet& operator=(const Quiet&) = delete;
  };

  // One node's backward with the hooks that are active: the gradient norm, profile time, anomaly check.
  static std::vector<Tensor> run_hooked(Node& n, std::span<const Tensor> gys, bool retain_graph, bool create_graph) {
    const unsigned h = detail::hooks();
    if (h & kGradNormHook) {
      double sq = 0;
      for (const Tensor& g : gys) {
        if (g.defined()) sq += std::pow(inspect::detail::l2_norm(g), 2);
      }
      n.grad_norm_ = std::sqrt(sq);
    }
    const double t0 = hook_clock_us();
    std::vector<Tensor> grads;
    {
      // A plain backward is one step of this node: the ops it calls (its backward op, or the ops it
      // is written with) are timed and checked as the node's backward, below, not as forwards.
      const Quiet quiet(create_graph ? 0U : h);
      grads = n.run_backward(gys, retain_graph, create_graph);
    }
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
  detail::Engine::run(std::span(this, 1), std::span(&g, 1), opts.retain_graph, opts.create_graph, nullptr);
}

std::size_t Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  check_defined("register_hook");
  if (!impl_->requires_grad) {
    throw GraphError(fmt::format("register_hook: this tensor {} {} does not require grad, so no gradient flows into it",
                                 dtype(), shape()));
  }
  if (!hook) throw ValueError("register_hook: the hook is empty");
  return detail::Engine::add_hook(*this, std::move(hook));
}

std::size_t Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const {
  check_defined("register_post_accumulate_grad_hook");
  if (!impl_->requires_grad || impl_->grad_fn) {
    throw GraphError(fmt::format("register_post_accumulate_grad_hook: this tensor {} {} is {}; the hook is for leaves "
                                 "that require grad (parameters)", dtype(), shape(),
                                 impl_->grad_fn ? "computed by an op" : "not requiring grad"));
  }
  if (!hook) throw ValueError("register_post_accumulate_grad_hook: the hook is empty");
  return detail::Engine::add_post_hook(*this, std::move(hook));
}

void Tensor::remove_hook(std::size_t id) const {
  check_defined("remove_hook");
  if (!detail::Engine::remove_hook(*this, id)) {
    throw ValueError(fmt::format("remove_hook: no hook {} is registered on this tensor", id));
  }
}

void Tensor::retain_grad() const {
  check_defined("retain_grad");
  if (!impl_->requires_grad) {
    throw GraphError(fmt::format("retain_grad: this tensor {} {} does not require grad", dtype(), shape()));
  }
  if (!impl_->grad_fn || impl_->retains_grad) return;  // a leaf keeps its gradient anyway
  impl_->retains_grad = true;
  // Held weakly: the node must not keep the tensor (and its .grad) alive.
  std::weak_ptr<detail::TensorImpl> weak = impl_;
  detail::Engine::add_hook(*this, [weak](const Tensor& g) {
    if (auto impl = weak.lock()) impl->grad = impl->grad.defined() ? add(impl->grad, g) : g.clone();
    return Tensor{};
  });
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, GradOptions opts) {
  if (outputs.empty()) throw ValueError("grad: no outputs given");
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size()) {
    throw ValueError(fmt::format("grad: {} grad_outputs for {} outputs; give one per output, or none", grad_outputs.size(),
                                 outputs.size()));
  }
  std::vector<Tensor> roots, gradients;
  for (std::size_t r = 0; r < outputs.size(); ++r) {
    const Tensor& y = outputs[r];
    if (!y.defined()) throw ValueError(fmt::format("grad: output {} is undefined", r));
    if (!y.requires_grad()) {
      throw GraphError(fmt::format("grad: output {} ({} {}) does not require grad: none of the tensors it was computed "
                                   "from requires grad, or it was made under no_grad", r, y.dtype(), y.shape()));
    }
    Tensor g = grad_outputs.empty() ? Tensor{} : grad_outputs[r];
    if (!g.defined()) {
      if (y.numel() != 1) {
        throw GraphError(fmt::format("grad: output {} is {}, not a scalar; pass grad_outputs", r, y.shape()));
      }
      g = ones(y.shape(), y.dtype());
    } else if (g.shape() != y.shape() || g.dtype() != y.dtype()) {
      throw ShapeError(fmt::format("grad: grad_outputs[{}] is {} {}, output {} is {} {}; they must match", r, g.dtype(),
                                   g.shape(), r, y.dtype(), y.shape()));
    }
    roots.push_back(y);
    gradients.push_back(std::move(g));
  }
  detail::Engine::Capture capture;
  capture.results.resize(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) {
      throw GraphError(fmt::format("grad: input {} {} does not require grad", i,
                                   x.defined() ? fmt::format("({} {})", x.dtype(), x.shape()) : std::string("(undefined)")));
    }
    if (x.grad_fn()) capture.outputs.push_back({{x.grad_fn().get(), x.impl()->output_nr}, i});
    else capture.leaves.push_back({x.impl().get(), i});
  }
  detail::Engine::run(roots, gradients, opts.retain_graph, opts.create_graph, &capture);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!capture.results[i].defined() && !opts.allow_unused) {
      throw GraphError(fmt::format("grad: the outputs do not depend on input {} ({} {}); pass allow_unused = true to "
                                   "get an undefined tensor for it", i, inputs[i].dtype(), inputs[i].shape()));
    }
  }
  return std::move(capture.results);
}

}  // namespace nabla
