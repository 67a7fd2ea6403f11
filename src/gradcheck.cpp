// src/gradcheck.cpp — analytic Jacobian (one backward per output element) against central
// differences (two forwards per input element), entry by entry.
#include "nabla/gradcheck.hpp"

#include "nabla/autograd.hpp"
#include "nabla/toolkit.hpp"

#include <cmath>

#include <fmt/format.h>

namespace nabla {

std::string to_string(const GradcheckResult& r) {
  if (r.ok) return fmt::format("gradcheck: ok ({} entries, max |error| {:.3g})", r.entries, r.max_abs_error);
  return r.message;
}

std::ostream& operator<<(std::ostream& os, const GradcheckResult& r) { return os << to_string(r); }

namespace {

// Each float64 output's values (none for the others).
std::vector<std::vector<double>> values_of(const std::vector<Tensor>& outs) {
  std::vector<std::vector<double>> v(outs.size());
  for (std::size_t k = 0; k < outs.size(); ++k) {
    if (outs[k].defined() && outs[k].dtype() == Dtype::f64) v[k] = outs[k].to_vector<double>();
  }
  return v;
}

}  // namespace

GradcheckResult gradcheck_vector(const TensorFunction& f, const std::vector<Tensor>& inputs,
                                 GradcheckOptions opts) {
  check_callable("gradcheck", "f", f);
  return gradcheck_outputs([&f](const std::vector<Tensor>& xs) { return std::vector<Tensor>{f(xs)}; }, inputs, opts);
}

GradcheckResult gradcheck_outputs(const TensorsFunction& f, const std::vector<Tensor>& inputs,
                                  GradcheckOptions opts) {
  check_callable("gradcheck", "f", f);
  // Work on private leaf copies so the caller's tensors and their .grad stay as they were.
  std::vector<Tensor> xs;
  xs.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined()) throw ValueError(fmt::format("gradcheck: input {} is undefined", i));
    if (x.requires_grad() && x.dtype() != Dtype::f64) {
      throw ValueError(fmt::format("gradcheck: input {} is {} {}; finite differences need float64 "
                                   "(create it with dtype f64 or convert with .to(f64))",
                                   i, x.dtype(), x.shape()));
    }
    Tensor copy = x.detach().clone();
    xs.push_back(x.requires_grad() ? copy.requires_grad(true) : copy);
  }

  bool any = false;
  for (const Tensor& x : xs) any = any || x.requires_grad();
  if (!any) {
    std::vector<std::string> kinds;
    for (const Tensor& x : xs) kinds.push_back(fmt::format("{} {}", x.dtype(), x.shape()));
    throw ValueError(fmt::format("gradcheck: no input requires grad (inputs: {}); mark the float64 inputs to check with "
                                 ".requires_grad(true)",
                                 fmt::join(kinds, ", ")));
  }
  const std::vector<Tensor> outs = f(xs);
  if (outs.empty()) throw ValueError("gradcheck: the function returned no tensors");
  // Each float64 output is checked; int64 outputs (indices) have no gradient and are skipped.
  for (const Tensor& out : outs) {
    if (!out.defined() || (out.dtype() != Dtype::f64 && out.dtype() != Dtype::i64) ||
        (outs.size() == 1 && out.dtype() != Dtype::f64)) {
      throw ValueError(fmt::format("gradcheck: the function must return a float64 tensor, got {}",
                                   out.defined() ? std::string(dtype_name(out.dtype())) : "undefined"));
    }
  }
  const bool several = outs.size() > 1;

  // analytic[k][i][o * n_i + j] = d out_k[o] / d in[i][j], every output's before any input is perturbed.
  std::vector<std::vector<std::vector<double>>> analytic(outs.size());
  for (std::size_t k = 0; k < outs.size(); ++k) {
    const Tensor& out = outs[k];
    if (out.dtype() != Dtype::f64) continue;
    const std::int64_t m = out.numel();
    analytic[k].resize(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (xs[i].requires_grad()) analytic[k][i].assign(static_cast<std::size_t>(m * xs[i].numel()), 0.0);
    }
    if (!out.requires_grad()) continue;
    for (std::int64_t o = 0; o < m; ++o) {
      for (Tensor& x : xs) {
        if (x.requires_grad()) x.zero_grad();
      }
      Tensor seed = zeros(out.shape(), Dtype::f64);
      seed.mutable_data<double>()[o] = 1.0;
      out.backward(seed, {.retain_graph = true});
      for (std::size_t i = 0; i < xs.size(); ++i) {
        if (!xs[i].requires_grad() || !xs[i].grad().defined()) continue;
        const double* g = xs[i].grad().data<double>();
        const std::int64_t n = xs[i].numel();
        for (std::int64_t j = 0; j < n; ++j) analytic[k][i][static_cast<std::size_t>(o * n + j)] = g[j];
      }
    }
  }

  GradcheckResult result;
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].requires_grad()) continue;
    Tensor& x = xs[i];
    const std::int64_t n = x.numel();
    for (std::int64_t j = 0; j < n; ++j) {
      const double orig = x.data<double>()[j];
      // Read each output at once: it may be a view of x (reshape), which the next step changes.
      x.mutable_data<double>()[j] = orig + opts.eps;
      const std::vector<std::vector<double>> plus = values_of(f(xs));
      x.mutable_data<double>()[j] = orig - opts.eps;
      const std::vector<std::vector<double>> minus = values_of(f(xs));
      x.mutable_data<double>()[j] = orig;
      for (std::size_t k = 0; k < outs.size(); ++k) {
        if (outs[k].dtype() != Dtype::f64) continue;
        const std::vector<double>& p = plus[k];
        const std::vector<double>& q = minus[k];
        const std::int64_t m = outs[k].numel();
        for (std::int64_t o = 0; o < m; ++o) {
          const double numeric = (p[static_cast<std::size_t>(o)] - q[static_cast<std::size_t>(o)]) / (2 * opts.eps);
          const double a = analytic[k][i][static_cast<std::size_t>(o * n + j)];
          const double err = std::abs(a - numeric);
          ++result.entries;
          if (!(err <= result.max_abs_error)) result.max_abs_error = err;  // also records NaN
          if (result.ok && !(err <= opts.atol + opts.rtol * std::abs(numeric))) {
            result.ok = false;
            result.message = fmt::format(
                "gradcheck: d {}{} / d in[{}] differs at {}: analytic {:.6g}, numeric {:.6g} (atol {:g}, rtol {:g})",
                several ? fmt::format("out{}", k) : std::string("out"), index_string(outs[k].shape(), o), i,
                index_string(x.shape(), j), a, numeric, opts.atol, opts.rtol);
          }
        }
      }
    }
  }
  return result;
}

GradcheckResult gradgradcheck_outputs(const TensorsFunction& f, const std::vector<Tensor>& inputs, GradcheckOptions opts,
                                      std::uint64_t seed) {
  check_callable("gradgradcheck", "f", f);
  // The outputs' shapes, for the random vectors v_k.
  std::vector<Tensor> outs;
  {
    NoGradGuard no_grad;
    outs = f(inputs);
  }
  Generator gen(seed);
  std::vector<Tensor> all = inputs;
  std::vector<std::size_t> float_outputs;
  for (std::size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].defined() || outs[k].dtype() != Dtype::f64) continue;
    float_outputs.push_back(k);
    all.push_back(randn(outs[k].shape(), Dtype::f64, gen).requires_grad(true));
  }
  if (float_outputs.empty()) throw ValueError("gradgradcheck: the function returned no float64 tensor");
  const std::size_t n = inputs.size();
  // g(x, v): the vector–Jacobian products, one per input that requires grad, as a graph.
  const TensorsFunction vjp = [&](const std::vector<Tensor>& xs_vs) {
    GradModeGuard recording(true);  // gradcheck evaluates with grad mode off; grad() needs a graph
    std::vector<Tensor> xs(xs_vs.begin(), xs_vs.begin() + static_cast<std::ptrdiff_t>(n)), wrt;
    for (const Tensor& x : xs) {
      if (x.requires_grad()) wrt.push_back(x);
    }
    const std::vector<Tensor> ys = f(xs);
    std::vector<Tensor> roots, vs;
    for (std::size_t j = 0; j < float_outputs.size(); ++j) {
      const Tensor& y = ys[float_outputs[j]];
      if (!y.requires_grad()) continue;  // a constant output adds nothing
      roots.push_back(y);
      vs.push_back(xs_vs[n + j]);
    }
    std::vector<Tensor> gs;
    if (!roots.empty()) gs = grad(roots, wrt, vs, {.create_graph = true, .allow_unused = true});
    std::vector<Tensor> out;
    for (std::size_t i = 0; i < wrt.size(); ++i) {
      out.push_back(gs.empty() || !gs[i].defined() ? zeros(wrt[i].shape(), Dtype::f64) : gs[i]);
    }
    return out;
  };
  GradcheckResult r = gradcheck_outputs(vjp, all, opts);
  if (!r.ok) r.message = "gradgradcheck: " + r.message.substr(r.message.find(':') + 2);
  return r;
}

}  // namespace nabla
