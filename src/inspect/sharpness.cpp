// src/inspect/sharpness.cpp — the largest Hessian eigenvalue of a cost in the parameters, by power
// iteration on Hessian-vector products (nabla/inspect.hpp).
#include <cmath>

#include <fmt/format.h>

#include "nabla/autograd.hpp"
#include "nabla/inspect.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::inspect {

namespace {
double dot_all(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += sum(a[i] * b[i]).item();
  return s;
}
}  // namespace

Sharpness sharpness(nn::Module& net, const Tensor& x, const Tensor& labels,
                    const std::function<Tensor(const Tensor&, const Tensor&)>& cost, SharpnessOptions opts) {
  check_callable("sharpness", "cost", cost);
  if (opts.iterations < 1) throw ValueError(fmt::format("sharpness: iterations must be at least 1, got {}", opts.iterations));
  if (!(opts.tolerance >= 0) || !std::isfinite(opts.tolerance)) {
    throw ValueError(fmt::format("sharpness: tolerance must be a finite number ≥ 0, got {}", opts.tolerance));
  }
  std::vector<Tensor> params;
  for (const nn::Param& p : net.parameters()) params.push_back(p.tensor);
  if (params.empty()) throw ValueError(fmt::format("sharpness: {} has no parameters", net.describe()));
  GradModeGuard recording(true);
  const Tensor c = cost(net(x), labels);
  if (!c.defined() || c.numel() != 1) throw ShapeError("sharpness: the cost must be one value");
  // ∇C once, as a graph; each H v is then one more backward through it.
  const std::vector<Tensor> g = grad({c}, params, {}, {.create_graph = true, .allow_unused = true});
  Generator gen(opts.seed);
  std::vector<Tensor> v;
  for (const Tensor& p : params) v.push_back(randn(p.shape(), p.dtype(), gen));
  auto normalize = [](std::vector<Tensor>& u) {
    const double n = std::sqrt(dot_all(u, u));
    if (!(n > 0)) return false;
    NoGradGuard no_grad;
    for (Tensor& t : u) t = t * (1.0 / n);
    return true;
  };
  normalize(v);
  Sharpness out;
  for (int k = 0; k < opts.iterations; ++k) {
    Tensor gv;
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (!g[i].defined() || !g[i].requires_grad()) continue;
      const Tensor term = sum(g[i] * v[i]);
      gv = gv.defined() ? gv + term : term;
    }
    if (!gv.defined()) return out;  // the gradient is constant in the parameters: H = 0
    std::vector<Tensor> hv = grad({gv}, params, {}, {.retain_graph = true, .allow_unused = true});
    for (std::size_t i = 0; i < hv.size(); ++i) {
      if (!hv[i].defined()) hv[i] = zeros(params[i].shape(), params[i].dtype());
    }
    const double lambda = dot_all(v, hv);  // the Rayleigh quotient vᵀ H v, ‖v‖ = 1
    out.iterations = k + 1;
    const bool settled = k > 0 && std::abs(lambda - out.value) <= opts.tolerance * std::abs(lambda);
    out.value = lambda;
    if (settled || !normalize(hv)) break;
    v = std::move(hv);
  }
  return out;
}

}  // namespace nabla::inspect
