// src/autograd_functional.cpp — vjp, jvp, hvp, jacobian and hessian, from grad() (nabla/autograd.hpp).
#include <fmt/format.h>

#include "nabla/autograd.hpp"
#include "nabla/error.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::autograd {

namespace {

/// The inputs as the function sees them: fresh leaves that require grad (floating inputs), or the
/// inputs themselves under create_graph.
std::vector<Tensor> prepare(const char* who, const std::vector<Tensor>& inputs, bool create_graph) {
  std::vector<Tensor> xs;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined()) throw ValueError(fmt::format("{}: input {} is undefined", who, i));
    if (!is_floating(x.dtype())) throw ValueError(fmt::format("{}: input {} is {}; expected float32 or float64", who, i, x.dtype()));
    if (create_graph) {
      if (!x.requires_grad()) {
        throw GraphError(fmt::format("{}: with create_graph, input {} must require grad (the result is to be differentiated "
                                     "with respect to it)", who, i));
      }
      xs.push_back(x);
    } else {
      xs.push_back(x.detach().requires_grad(true));
    }
  }
  return xs;
}

void check_like(const char* who, const char* what, std::size_t i, const Tensor& t, const Tensor& like) {
  if (!t.defined() || t.shape() != like.shape() || t.dtype() != like.dtype()) {
    throw ShapeError(fmt::format("{}: {} {} is {}; expected {} {}", who, what, i,
                                 t.defined() ? fmt::format("{} {}", t.dtype(), t.shape()) : std::string("undefined"),
                                 like.dtype(), like.shape()));
  }
}

/// grad() with every unused input given zeros.
std::vector<Tensor> grads_or_zeros(const Tensor& y, const std::vector<Tensor>& xs, const Tensor& v, bool create_graph) {
  std::vector<Tensor> g = grad({y}, xs, {v}, {.retain_graph = true, .create_graph = create_graph, .allow_unused = true});
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (!g[i].defined()) g[i] = zeros(xs[i].shape(), xs[i].dtype());
  }
  return g;
}

Result finish(Tensor y, std::vector<Tensor> values, bool create_graph) {
  if (!create_graph) {
    y = y.detach();
    for (Tensor& t : values) t = t.detach();
  }
  return {std::move(y), std::move(values)};
}

Tensor call(const char* who, const Function& f, const std::vector<Tensor>& xs) {
  check_callable(who, "f", f);
  GradModeGuard recording(true);
  Tensor y = f(xs);
  if (!y.defined()) throw ValueError(fmt::format("{}: the function returned an undefined tensor", who));
  return y;
}

}  // namespace

Result vjp(const Function& f, const std::vector<Tensor>& inputs, const Tensor& v, bool create_graph) {
  const std::vector<Tensor> xs = prepare("vjp", inputs, create_graph);
  GradModeGuard recording(true);
  Tensor y = call("vjp", f, xs);
  check_like("vjp", "v for output", 0, v, y);
  if (!y.requires_grad()) {
    std::vector<Tensor> zero;
    for (const Tensor& x : xs) zero.push_back(zeros(x.shape(), x.dtype()));
    return finish(y, zero, create_graph);
  }
  return finish(y, grads_or_zeros(y, xs, v, create_graph), create_graph);
}

Result jvp(const Function& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& tangents, bool create_graph) {
  const std::vector<Tensor> xs = prepare("jvp", inputs, create_graph);
  if (tangents.size() != xs.size()) {
    throw ValueError(fmt::format("jvp: {} tangents for {} inputs; give one per input", tangents.size(), xs.size()));
  }
  for (std::size_t i = 0; i < xs.size(); ++i) check_like("jvp", "tangent", i, tangents[i], xs[i]);
  GradModeGuard recording(true);
  Tensor y = call("jvp", f, xs);
  if (!y.requires_grad()) return finish(y, {zeros(y.shape(), y.dtype())}, create_graph);
  // g(u) = uᵀ J is linear in u; its vjp with t is J t.
  Tensor u = zeros(y.shape(), y.dtype()).requires_grad(true);
  const std::vector<Tensor> g = grads_or_zeros(y, xs, u, true);
  std::vector<Tensor> roots, ts;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (!g[i].requires_grad()) continue;  // zero: contributes nothing
    roots.push_back(g[i]);
    ts.push_back(tangents[i]);
  }
  if (roots.empty()) return finish(y, {zeros(y.shape(), y.dtype())}, create_graph);
  std::vector<Tensor> jt = grad(roots, {u}, ts, {.retain_graph = true, .create_graph = create_graph, .allow_unused = true});
  if (!jt[0].defined()) jt[0] = zeros(y.shape(), y.dtype());
  return finish(y, {jt[0]}, create_graph);
}

Result hvp(const Function& f, const std::vector<Tensor>& inputs, const std::vector<Tensor>& v, bool create_graph) {
  const std::vector<Tensor> xs = prepare("hvp", inputs, create_graph);
  if (v.size() != xs.size()) throw ValueError(fmt::format("hvp: {} vectors for {} inputs; give one per input", v.size(), xs.size()));
  for (std::size_t i = 0; i < xs.size(); ++i) check_like("hvp", "v", i, v[i], xs[i]);
  GradModeGuard recording(true);
  Tensor y = call("hvp", f, xs);
  if (y.numel() != 1) throw ShapeError(fmt::format("hvp: the function must return one value, got {}", y.shape()));
  std::vector<Tensor> zero;
  for (const Tensor& x : xs) zero.push_back(zeros(x.shape(), x.dtype()));
  if (!y.requires_grad()) return finish(y, zero, create_graph);
  const std::vector<Tensor> g = grads_or_zeros(y, xs, ones(y.shape(), y.dtype()), true);
  Tensor gv;  // ∇f · v, a scalar
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (!g[i].requires_grad()) continue;
    const Tensor term = sum(g[i] * v[i]);
    gv = gv.defined() ? gv + term : term;
  }
  if (!gv.defined()) return finish(y, zero, create_graph);
  return finish(y, grads_or_zeros(gv, xs, ones(gv.shape(), gv.dtype()), create_graph), create_graph);
}

Tensor jacobian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  check_callable("jacobian", "f", f);
  const Tensor leaf = prepare("jacobian", {x}, false)[0];
  GradModeGuard recording(true);
  const Tensor y = f(leaf);
  if (!y.defined()) throw ValueError("jacobian: the function returned an undefined tensor");
  if (y.dim() + x.dim() > Shape::kMaxRank) {
    throw ShapeError(fmt::format("jacobian: output {} and input {} give a Jacobian of rank {}, past the maximum of {}",
                                 y.shape(), x.shape(), y.dim() + x.dim(), Shape::kMaxRank));
  }
  Shape out = y.shape();
  for (std::int64_t d : x.shape()) out.push_back(d);
  Tensor jac = zeros(out, x.dtype());
  if (!y.requires_grad()) return jac;
  const std::int64_t m = y.numel(), n = x.numel();
  Tensor rows = jac.reshape({m, n});
  for (std::int64_t o = 0; o < m; ++o) {
    Tensor e = zeros(y.shape(), y.dtype());
    e.reshape({-1}).set({o}, 1.0);
    const std::vector<Tensor> g = grad({y}, {leaf}, {e}, {.retain_graph = true, .allow_unused = true});
    if (!g[0].defined()) continue;
    NoGradGuard no_grad;
    const std::vector<double> row = g[0].to_vector<double>();
    for (std::int64_t j = 0; j < n; ++j) rows.set({o, j}, row[static_cast<std::size_t>(j)]);
  }
  return jac;
}

Tensor hessian(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  check_callable("hessian", "f", f);
  return jacobian(
      [&](const Tensor& t) {
        const Tensor y = f(t);
        if (!y.defined() || y.numel() != 1) {
          throw ShapeError(fmt::format("hessian: the function must return one value, got {}",
                                       y.defined() ? to_string(y.shape()) : std::string("undefined")));
        }
        if (!y.requires_grad()) return zeros(t.shape(), t.dtype());
        const std::vector<Tensor> g = grad({y}, {t}, {}, {.create_graph = true, .allow_unused = true});
        return g[0].defined() ? g[0] : zeros(t.shape(), t.dtype());
      },
      x);
}

}  // namespace nabla::autograd
