// src/nn/lbfgs.cpp — L-BFGS with step(closure), as torch.optim.LBFGS (nabla/optim.hpp): the same
// iteration, history, stopping tests and strong-Wolfe line search (with its cubic interpolation),
// step for step, so that the parameters follow PyTorch's. All parameters are one vector of doubles
// here; they are read from and written back to each parameter in its own float type.
#include <cmath>
#include <deque>

#include <fmt/format.h>

#include "nabla/optim.hpp"

namespace nabla::optim {

namespace {

using Vec = std::vector<double>;

// Python's max(a, b) and min(a, b) (the first unless the second is strictly beyond it), so that
// ties and NaNs go the way PyTorch's do.
double py_max(double a, double b) { return b > a ? b : a; }
double py_min(double a, double b) { return b < a ? b : a; }

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
double abs_max(const Vec& a) {
  double m = 0;
  for (double v : a) m = py_max(m, std::abs(v));
  return m;
}

/// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, within the bounds
/// (by default the interval between x1 and x2); the middle of the bounds when the cubic has none.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, const double* bounds = nullptr) {
  double lo, hi;
  if (bounds != nullptr) {
    lo = bounds[0];
    hi = bounds[1];
  } else if (x1 <= x2) {
    lo = x1;
    hi = x2;
  } else {
    lo = x2;
    hi = x1;
  }
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, lo), hi);
  }
  return (lo + hi) / 2.0;
}

struct Evaluation {
  double loss;
  Vec grad;
};

struct LineSearchResult {
  double f;
  Vec g;
  double t;
  std::int64_t evals;
};

/// The strong-Wolfe line search of torch.optim.lbfgs (after minFunc): a bracketing phase, then a
/// zoom by cubic interpolation. obj(t) evaluates the loss and gradient at x + t d.
template <class Obj>
LineSearchResult strong_wolfe(Obj&& obj, double t, const Vec& d, double f, const Vec& g0, double gtd, double tolerance_change,
                              std::int64_t max_ls) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  const double d_norm = abs_max(d);
  Vec g = g0;
  Evaluation e = obj(t);
  double f_new = e.loss;
  Vec g_new = std::move(e.grad);
  std::int64_t evals = 1;
  double gtd_new = dot(g_new, d);
  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  Vec g_prev = g;
  bool done = false;
  std::int64_t ls_iter = 0;
  double bracket[2] = {0, 0}, bracket_f[2] = {0, 0}, bracket_gtd[2] = {0, 0};
  Vec bracket_g[2];
  int size = 0;
  while (ls_iter < max_ls) {
    if (f_new > (f + c1 * t * gtd) || (ls_iter > 1 && f_new >= f_prev)) {
      bracket[0] = t_prev, bracket[1] = t;
      bracket_f[0] = f_prev, bracket_f[1] = f_new;
      bracket_g[0] = g_prev, bracket_g[1] = g_new;
      bracket_gtd[0] = gtd_prev, bracket_gtd[1] = gtd_new;
      size = 2;
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {
      bracket[0] = t;
      bracket_f[0] = f_new;
      bracket_g[0] = g_new;
      size = 1;
      done = true;
      break;
    }
    if (gtd_new >= 0) {
      bracket[0] = t_prev, bracket[1] = t;
      bracket_f[0] = f_prev, bracket_f[1] = f_new;
      bracket_g[0] = g_prev, bracket_g[1] = g_new;
      bracket_gtd[0] = gtd_prev, bracket_gtd[1] = gtd_new;
      size = 2;
      break;
    }
    // Extrapolate.
    const double bounds[2] = {t + 0.01 * (t - t_prev), t * 10};
    const double tmp = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds);
    t_prev = tmp;
    f_prev = f_new;
    g_prev = g_new;
    gtd_prev = gtd_new;
    e = obj(t);
    f_new = e.loss;
    g_new = std::move(e.grad);
    ++evals;
    gtd_new = dot(g_new, d);
    ++ls_iter;
  }
  if (ls_iter == max_ls) {  // reached the most evaluations
    bracket[0] = 0, bracket[1] = t;
    bracket_f[0] = f, bracket_f[1] = f_new;
    bracket_g[0] = g, bracket_g[1] = g_new;
    size = 2;
  }
  // Zoom: shrink the bracket until a point satisfies the strong Wolfe conditions.
  bool insuf_progress = false;
  int low = 0, high = 1;
  if (!(bracket_f[0] <= bracket_f[size - 1])) low = 1, high = 0;
  while (!done && ls_iter < max_ls) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < tolerance_change) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    const double bmax = py_max(bracket[0], bracket[1]), bmin = py_min(bracket[0], bracket[1]);
    const double eps = 0.1 * (bmax - bmin);
    if (py_min(bmax - t, t - bmin) < eps) {  // too close to an end of the bracket
      if (insuf_progress || t >= bmax || t <= bmin) {
        t = std::abs(t - bmax) < std::abs(t - bmin) ? bmax - eps : bmin + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    e = obj(t);
    f_new = e.loss;
    g_new = std::move(e.grad);
    ++evals;
    gtd_new = dot(g_new, d);
    ++ls_iter;
    if (f_new > (f + c1 * t * gtd) || f_new >= bracket_f[low]) {
      bracket[high] = t;
      bracket_f[high] = f_new;
      bracket_g[high] = g_new;
      bracket_gtd[high] = gtd_new;
      if (bracket_f[0] <= bracket_f[1]) low = 0, high = 1;
      else low = 1, high = 0;
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;
      } else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {
        bracket[high] = bracket[low];
        bracket_f[high] = bracket_f[low];
        bracket_g[high] = bracket_g[low];
        bracket_gtd[high] = bracket_gtd[low];
      }
      bracket[low] = t;
      bracket_f[low] = f_new;
      bracket_g[low] = g_new;
      bracket_gtd[low] = gtd_new;
    }
  }
  return {bracket_f[low], bracket_g[low], bracket[low], evals};
}

}  // namespace

struct LBFGS::History {
  std::int64_t n_iter = 0, func_evals = 0;
  Vec d, prev_flat_grad;
  double t = 0, h_diag = 1, prev_loss = 0;
  std::deque<Vec> old_dirs, old_stps;
  std::deque<double> ro;
  Vec al;
};

LBFGS::LBFGS(std::vector<nn::Param> params, LBFGSOptions opts)
    : Optimizer("LBFGS", std::vector<ParamGroup>{ParamGroup{std::move(params)}}, opts.lr, 0.0), opts_(std::move(opts)),
      h_(std::make_shared<History>()) {
  if (opts_.max_iter < 1) throw ValueError(fmt::format("LBFGS: max_iter must be ≥ 1, got {}", opts_.max_iter));
  if (opts_.max_eval == -1) opts_.max_eval = opts_.max_iter * 5 / 4;
  if (opts_.max_eval < 1) throw ValueError(fmt::format("LBFGS: max_eval must be ≥ 1 (or −1 for max_iter · 5 / 4), got {}", opts_.max_eval));
  if (!(opts_.tolerance_grad >= 0) || !(opts_.tolerance_change >= 0)) {
    throw ValueError(fmt::format("LBFGS: tolerance_grad and tolerance_change must be ≥ 0, got {} and {}", opts_.tolerance_grad,
                                 opts_.tolerance_change));
  }
  if (opts_.history_size < 1) throw ValueError(fmt::format("LBFGS: history_size must be ≥ 1, got {}", opts_.history_size));
  if (!opts_.line_search_fn.empty() && opts_.line_search_fn != "strong_wolfe") {
    throw ValueError(fmt::format("LBFGS: line_search_fn is '{}'; expected \"\" (none) or \"strong_wolfe\"", opts_.line_search_fn));
  }
}

void LBFGS::update(const ParamUpdate<float>&) {}   // the work is step(closure)'s
void LBFGS::update(const ParamUpdate<double>&) {}

void LBFGS::step() {
  throw ValueError("LBFGS.step: L-BFGS evaluates the loss several times per step; call step(closure) with a closure that "
                   "zeroes the gradients, computes the loss, calls backward and returns the loss");
}

Tensor LBFGS::step(const Closure& closure) {
  if (!closure) throw ValueError("LBFGS.step: the closure is empty");
  const auto& ps = params();
  auto gather_flat_grad = [&] {
    Vec flat;
    for (const nn::Param& p : ps) {
      const Tensor g = p.tensor.grad();
      const std::int64_t n = p.tensor.numel();
      if (!g.defined()) {
        flat.insert(flat.end(), std::size_t(n), 0.0);
      } else if (g.dtype() == f32) {
        const float* v = g.data<float>();
        flat.insert(flat.end(), v, v + n);
      } else {
        const double* v = g.data<double>();
        flat.insert(flat.end(), v, v + n);
      }
    }
    if (opts_.maximize) {
      for (double& v : flat) v = -v;
    }
    return flat;
  };
  auto for_each_value = [&](auto&& fn) {  // fn(pointer to a float or double value, flat index)
    std::size_t off = 0;
    for (const nn::Param& p : ps) {
      Tensor w = p.tensor;
      const std::int64_t n = w.numel();
      if (w.dtype() == f32) {
        float* v = w.mutable_data<float>();
        for (std::int64_t i = 0; i < n; ++i) fn(v + i, off + std::size_t(i));
      } else {
        double* v = w.mutable_data<double>();
        for (std::int64_t i = 0; i < n; ++i) fn(v + i, off + std::size_t(i));
      }
      off += std::size_t(n);
    }
  };
  auto add_grad = [&](double t, const Vec& d) {
    for_each_value([&](auto* v, std::size_t k) { *v += decltype(+*v)(t * d[k]); });
  };
  auto clone_params = [&] {
    Vec x;
    for_each_value([&](auto* v, std::size_t) { x.push_back(double(*v)); });
    return x;
  };
  auto set_params = [&](const Vec& x) {
    for_each_value([&](auto* v, std::size_t k) { *v = decltype(+*v)(x[k]); });
  };
  auto evaluate = [&] {
    GradModeGuard grad_on(true);
    Tensor loss = closure();
    if (!loss.defined() || loss.numel() != 1) {
      throw ValueError(fmt::format("LBFGS.step: the closure returned {}; expected the loss, a tensor of one element",
                                   loss.defined() ? fmt::format("a tensor of shape {}", loss.shape()) : std::string("an undefined tensor")));
    }
    return loss;
  };
  auto value = [&](const Tensor& loss) { return opts_.maximize ? -loss.item() : loss.item(); };

  Optimizer::step();  // the checks of every optimizer, and the step count (update() does nothing)
  History& st = *h_;
  const double lr = this->lr(), tol_grad = opts_.tolerance_grad, tol_change = opts_.tolerance_change;
  const Tensor orig_loss = evaluate();
  double loss = value(orig_loss);
  std::int64_t current_evals = 1;
  st.func_evals += 1;
  Vec flat_grad = gather_flat_grad();
  if (abs_max(flat_grad) <= tol_grad) return orig_loss;  // optimal already

  Vec& d = st.d;
  double& t = st.t;
  std::int64_t n_iter = 0;
  while (n_iter < opts_.max_iter) {
    ++n_iter;
    ++st.n_iter;
    if (st.n_iter == 1) {
      d.resize(flat_grad.size());
      for (std::size_t i = 0; i < d.size(); ++i) d[i] = -flat_grad[i];
      st.old_dirs.clear();
      st.old_stps.clear();
      st.ro.clear();
      st.h_diag = 1;
    } else {
      // The curvature pair of the last step, y (the change of gradient) and s (the step).
      Vec y(flat_grad.size()), s(flat_grad.size());
      for (std::size_t i = 0; i < y.size(); ++i) {
        y[i] = flat_grad[i] - st.prev_flat_grad[i];
        s[i] = d[i] * t;
      }
      const double ys = dot(y, s);
      if (ys > 1e-10) {
        if (std::int64_t(st.old_dirs.size()) == opts_.history_size) {
          st.old_dirs.pop_front();
          st.old_stps.pop_front();
          st.ro.pop_front();
        }
        st.h_diag = ys / dot(y, y);
        st.old_dirs.push_back(std::move(y));
        st.old_stps.push_back(std::move(s));
        st.ro.push_back(1.0 / ys);
      }
      // The two-loop recursion: d = −H g.
      const std::size_t num_old = st.old_dirs.size();
      st.al.resize(std::size_t(opts_.history_size));
      Vec q(flat_grad.size());
      for (std::size_t i = 0; i < q.size(); ++i) q[i] = -flat_grad[i];
      for (std::size_t i = num_old; i-- > 0;) {
        st.al[i] = dot(st.old_stps[i], q) * st.ro[i];
        const double a = -st.al[i];
        for (std::size_t k = 0; k < q.size(); ++k) q[k] += a * st.old_dirs[i][k];
      }
      for (std::size_t k = 0; k < q.size(); ++k) q[k] *= st.h_diag;
      for (std::size_t i = 0; i < num_old; ++i) {
        const double be_i = dot(st.old_dirs[i], q) * st.ro[i];
        const double a = st.al[i] - be_i;
        for (std::size_t k = 0; k < q.size(); ++k) q[k] += a * st.old_stps[i][k];
      }
      d = std::move(q);
    }
    st.prev_flat_grad = flat_grad;
    st.prev_loss = loss;
    if (st.n_iter == 1) {
      double l1 = 0;
      for (double v : flat_grad) l1 += std::abs(v);
      t = py_min(1.0, 1.0 / l1) * lr;
    } else {
      t = lr;
    }
    const double gtd = dot(flat_grad, d);  // the directional derivative
    if (gtd > -tol_change) break;

    std::int64_t ls_func_evals = 0;
    bool opt_cond = false;
    if (!opts_.line_search_fn.empty()) {
      const Vec x_init = clone_params();
      auto obj = [&](double step) {
        add_grad(step, d);
        const double f = value(evaluate());
        Vec g = gather_flat_grad();
        set_params(x_init);
        return Evaluation{f, std::move(g)};
      };
      LineSearchResult r = strong_wolfe(obj, t, d, loss, flat_grad, gtd, tol_change, opts_.max_eval - current_evals);
      loss = r.f;
      flat_grad = std::move(r.g);
      t = r.t;
      ls_func_evals = r.evals;
      add_grad(t, d);
      opt_cond = abs_max(flat_grad) <= tol_grad;
    } else {
      add_grad(t, d);  // a fixed step
      if (n_iter != opts_.max_iter) {
        loss = value(evaluate());
        flat_grad = gather_flat_grad();
        opt_cond = abs_max(flat_grad) <= tol_grad;
        ls_func_evals = 1;
      }
    }
    current_evals += ls_func_evals;
    st.func_evals += ls_func_evals;
    if (n_iter == opts_.max_iter || current_evals >= opts_.max_eval || opt_cond) break;
    double step_max = 0;
    for (double v : d) step_max = py_max(step_max, std::abs(v * t));
    if (step_max <= tol_change) break;
    if (std::abs(loss - st.prev_loss) < tol_change) break;
  }
  return orig_loss;
}

}  // namespace nabla::optim
