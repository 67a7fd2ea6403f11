// examples/book/newton.cpp — book ch. 3, "other techniques for minimizing the cost": the Hessian
// technique against gradient descent and momentum. A small network ([49, 10, 10], tanh, softmax
// cross-entropy; Fashion-MNIST images averaged down to 7×7) is trained on 1,000 training images
// with full-batch steps of each method:
//   gradient descent    θ ← θ − η ∇C
//   momentum            v ← μ v − η ∇C,  θ ← θ + v
//   Newton (damped)     θ ← θ − (H + λ I)⁻¹ ∇C, with H the exact Hessian (610 × 610, from 610
//                       double backward passes) and λ adapted Levenberg–Marquardt style: a step that
//                       lowers C is taken and λ shrinks; one that does not is refused and λ grows
// and the training cost is plotted against the step and against wall time.
//   newton [--quick]      → docs/img/newton.png
#include <chrono>
#include <cmath>

#include "book.hpp"

extern "C" void dposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* lda, double* b, const int* ldb,
                       int* info);  // LAPACK, in OpenBLAS

using namespace nabla;

namespace {

constexpr std::int64_t kIn = 49, kHidden = 10, kOut = 10;
constexpr std::int64_t kParams = kHidden * kIn + kHidden + kOut * kHidden + kOut;

/// The network as a function of one parameter vector θ = (W1, b1, W2, b2), so that the Hessian in
/// all parameters is the Hessian of one function of one tensor.
/// The logits of x for parameters θ.
Tensor logits_at(const Tensor& theta, const Tensor& x) {
  std::int64_t at = 0;
  auto take = [&](std::int64_t n, Shape shape) {
    Tensor t = narrow(theta, 0, at, n).reshape(shape);
    at += n;
    return t;
  };
  const Tensor w1 = take(kHidden * kIn, {kHidden, kIn}), b1 = take(kHidden, {kHidden});
  const Tensor w2 = take(kOut * kHidden, {kOut, kHidden}), b2 = take(kOut, {kOut});
  return matmul(tanh(matmul(x, w1, {.trans_b = true}) + b1), w2, {.trans_b = true}) + b2;
}

Tensor cost_at(const Tensor& theta, const Tensor& x, const Tensor& labels) {
  return softmax_cross_entropy(logits_at(theta, x), labels);
}

double accuracy_at(const Tensor& theta, const data::Dataset& d) {
  NoGradGuard no_grad;
  const Tensor z = logits_at(theta, d.x());
  const auto p = argmax(z, 1).to_vector<std::int64_t>(), y = d.y().to_vector<std::int64_t>();
  std::int64_t right = 0;
  for (std::size_t i = 0; i < p.size(); ++i) right += p[i] == y[i];
  return double(right) / double(p.size());
}

/// 28×28 images averaged over 4×4 blocks to 7×7, as float64 rows.
data::Dataset shrink(const data::Dataset& d) {
  NoGradGuard no_grad;
  const std::int64_t n = d.size();
  return data::Dataset(avg_pool2d(d.x().reshape({n, 1, 28, 28}), 4).reshape({n, kIn}).to(f64), d.y());
}

struct Run {
  book::Series by_step, by_time;
  double accuracy = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the Hessian technique against gradient descent and momentum (book ch. 3)"};
  book::Options o;
  o.add_to(app);
  int gd_steps = 3000, newton_steps = 40;
  app.add_option("--gd-steps", gd_steps, "steps of gradient descent and of momentum")->capture_default_str();
  app.add_option("--newton-steps", newton_steps, "Newton steps (each one exact Hessian)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const data::Split split = data::load_fashion_mnist();
    const std::int64_t n = o.quick ? 200 : 1000;
    if (o.quick) gd_steps = 20, newton_steps = 3;
    const data::Dataset train = shrink(split.train.slice(0, n)), test = shrink(split.test);
    Generator gen(1);
    // N(0, 1/n_in) weights, N(0, 1) biases, the same start for every method.
    std::vector<double> init;
    for (auto [count, fan_in] : {std::pair{kHidden * kIn, kIn}, {kHidden, std::int64_t(1)}, {kOut * kHidden, kHidden},
                                 {kOut, std::int64_t(1)}}) {
      const auto v = randn({count}, f64, gen, 0.0, 1.0 / std::sqrt(double(fan_in))).to_vector();
      init.insert(init.end(), v.begin(), v.end());
    }
    const Tensor theta0 = from_vector(init, {kParams}, f64);
    const auto f = [&](const Tensor& t) { return cost_at(t, train.x(), train.y()); };
    using clock = std::chrono::steady_clock;

    // Gradient descent and momentum: full-batch steps, each with its best η of 0.05 · 2^k (k = 0 … 6)
    // by the training cost after a trial of a tenth of the steps — the cost being minimized, no
    // test data.
    auto first_order = [&](const std::string& label, double eta, double mu, int steps) {
      Run r{{label, {}, {}}, {label, {}, {}}};
      Tensor theta = theta0.clone(), v = zeros({kParams}, f64);
      const auto t0 = clock::now();
      for (int k = 0; k <= steps; ++k) {
        const Tensor t = theta.detach().requires_grad(true);
        const Tensor c = f(t);
        const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
        r.by_step.x.push_back(k), r.by_step.y.push_back(c.item());
        r.by_time.x.push_back(seconds), r.by_time.y.push_back(c.item());
        if (k == steps || !std::isfinite(c.item())) break;
        const Tensor g = grad({c}, {t})[0];
        NoGradGuard no_grad;
        v = v * mu - g * eta;
        theta = theta + v;
      }
      r.accuracy = accuracy_at(theta, test);
      return r;
    };
    auto best_eta = [&](double mu) {
      double best = 0.05, best_cost = INFINITY;
      for (int k = 0; k <= 6; ++k) {
        const double eta = 0.05 * std::pow(2.0, k);
        const double c = first_order("trial", eta, mu, std::max(gd_steps / 10, 2)).by_step.y.back();
        if (c < best_cost) best = eta, best_cost = c;
      }
      return best;
    };
    const double eta_gd = best_eta(0.0), eta_momentum = best_eta(0.9);
    const Run gd = first_order(fmt::format("gradient descent, η = {}", eta_gd), eta_gd, 0.0, gd_steps);
    const Run momentum = first_order(fmt::format("momentum, η = {}, μ = 0.9", eta_momentum), eta_momentum, 0.9, gd_steps);

    // Newton, damped: solve (H + λ I) d = −∇C with LAPACK's Cholesky (dposv); a failed
    // factorisation (H + λ I not positive definite) or a step that does not lower C raises λ.
    Run newton{{"Newton (exact Hessian, damped)", {}, {}}, {"Newton (exact Hessian, damped)", {}, {}}};
    {
      Tensor theta = theta0.clone();
      double lambda = 1.0;
      const auto t0 = clock::now();
      double c_now = f(theta).item();
      newton.by_step.x.push_back(0), newton.by_step.y.push_back(c_now);
      newton.by_time.x.push_back(0), newton.by_time.y.push_back(c_now);
      int refused = 0;
      for (int k = 1; k <= newton_steps; ++k) {
        const Tensor t = theta.detach().requires_grad(true);
        const std::vector<double> g = grad({f(t)}, {t})[0].to_vector();
        const std::vector<double> h = autograd::hessian(f, theta).to_vector();
        for (int attempt = 0; attempt < 30; ++attempt) {
          std::vector<double> a = h, d(g.size());
          for (std::int64_t i = 0; i < kParams; ++i) a[std::size_t(i * kParams + i)] += lambda;
          for (std::size_t i = 0; i < g.size(); ++i) d[i] = -g[i];
          const int np = int(kParams), one = 1;
          int info = 0;
          dposv_("L", &np, &one, a.data(), &np, d.data(), &np, &info);
          if (info == 0) {
            NoGradGuard no_grad;
            const Tensor trial = theta + from_vector(d, {kParams}, f64);
            const double c_trial = f(trial).item();
            if (c_trial < c_now) {
              theta = trial, c_now = c_trial, lambda = std::max(lambda / 3, 1e-8);
              break;
            }
          }
          lambda *= 3, ++refused;
        }
        const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
        newton.by_step.x.push_back(k), newton.by_step.y.push_back(c_now);
        newton.by_time.x.push_back(seconds), newton.by_time.y.push_back(c_now);
      }
      newton.accuracy = accuracy_at(theta, test);
      fmt::print("Newton: {} steps ({} refused and retried with more damping), final λ {:.3g}\n", newton_steps, refused, lambda);
    }
    for (const Run* r : std::initializer_list<const Run*>{&gd, &momentum, &newton}) {
      fmt::print("{:<36} training cost {:.4f} after {} steps, {:.2f} s; accuracy on the 10,000 test images {:.4f}\n",
                 r->by_step.label, r->by_step.y.back(), r->by_step.x.back(), r->by_time.x.back(), r->accuracy);
    }
    book::done(book::draw(o, "newton",
                          fmt::format("[49, 10, 10] on {} Fashion-MNIST images (7×7), full-batch steps", n),
                          {{"training cost against steps", "step", "cost", {gd.by_step, momentum.by_step, newton.by_step}, true, true},
                           {"training cost against time", "seconds", "cost", {gd.by_time, momentum.by_time, newton.by_time}, true,
                            true}}),
               "newton");
  } catch (const Error& e) {
    fmt::print(stderr, "newton: {}\n", e.what());
    return 1;
  }
  return 0;
}
