// BP1–BP4 (book ch. 2), written out literally in the book's column-vector convention with plain
// std::vector<double> arithmetic — no nabla op is used on this side — and compared with nabla's
// autodiff on a batch.
//
//   z^l = w^l a^{l−1} + b^l,   a^l = σ(z^l)                     (w^l is n_out × n_in)
//   BP1  δ^L = ∇_a C ⊙ σ'(z^L)
//   BP2  δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)
//   BP3  ∂C/∂b^l_j = δ^l_j
//   BP4  ∂C/∂w^l_jk = a^{l−1}_k δ^l_j
// For a batch the cost is the mean over examples, so the gradients are the mean of the per-example
// ones (book eq. 20–22 and network.py's update_mini_batch). With a softmax output layer BP1's
// Hadamard product becomes the Jacobian product δ^L_j = Σ_k ∂C/∂a_k · ∂a_k/∂z_j, ∂a_k/∂z_j =
// a_k (δ_kj − a_j) (eq. 78), which the book then reduces to δ^L = a^L − y (eq. 84).
#include <cmath>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;

namespace {

using Vec = std::vector<double>;
struct Mat {
  int rows = 0, cols = 0;
  Vec v;
  double operator()(int i, int j) const { return v[static_cast<std::size_t>(i * cols + j)]; }
};

enum class Act { sigmoid, tanh, relu };
enum class Cost { quadratic, cross_entropy, log_likelihood, log_likelihood_unfused };

double act(Act f, double z) {
  switch (f) {
    case Act::sigmoid: return 1 / (1 + std::exp(-z));
    case Act::tanh: return std::tanh(z);
    case Act::relu: return z > 0 ? z : 0;
  }
  return 0;
}

double act_prime(Act f, double z) {
  switch (f) {
    case Act::sigmoid: return act(f, z) * (1 - act(f, z));  // σ'(z) = σ(z)(1 − σ(z))
    case Act::tanh: return 1 - std::tanh(z) * std::tanh(z);
    case Act::relu: return z > 0 ? 1 : 0;
  }
  return 0;
}

struct Gradients {
  std::vector<Mat> nabla_w;
  std::vector<Vec> nabla_b;
};

/// The book's backprop(x, y) for one example, with hidden activation `hidden` and the output
/// layer of the cost (sigmoid for quadratic and cross-entropy, softmax for log-likelihood).
Gradients backprop(const std::vector<Mat>& weights, const std::vector<Vec>& biases, const Vec& x, const Vec& y,
                   Act hidden, Cost cost) {
  const std::size_t L = weights.size();
  // feedforward, storing every z^l and a^l
  std::vector<Vec> zs, activations{x};
  for (std::size_t l = 0; l < L; ++l) {
    const Mat& w = weights[l];
    const Vec& a = activations.back();
    Vec z(static_cast<std::size_t>(w.rows));
    for (int j = 0; j < w.rows; ++j) {
      z[j] = biases[l][j];
      for (int k = 0; k < w.cols; ++k) z[j] += w(j, k) * a[k];
    }
    Vec next(z.size());
    const bool last = l + 1 == L;
    if (last && (cost == Cost::log_likelihood || cost == Cost::log_likelihood_unfused)) {
      double mx = z[0], total = 0;
      for (double v : z) mx = std::max(mx, v);
      for (double v : z) total += std::exp(v - mx);
      for (std::size_t j = 0; j < z.size(); ++j) next[j] = std::exp(z[j] - mx) / total;
    } else {
      for (std::size_t j = 0; j < z.size(); ++j) next[j] = act(last ? Act::sigmoid : hidden, z[j]);
    }
    zs.push_back(z);
    activations.push_back(next);
  }

  Gradients g;
  g.nabla_w.resize(L);
  g.nabla_b.resize(L);
  const Vec& aL = activations.back();
  const Vec& zL = zs.back();
  Vec delta(aL.size());
  // BP1
  switch (cost) {
    case Cost::quadratic:  // ∇_a C = a − y
      for (std::size_t j = 0; j < aL.size(); ++j) delta[j] = (aL[j] - y[j]) * act_prime(Act::sigmoid, zL[j]);
      break;
    case Cost::cross_entropy:  // ∇_a C = (a − y) / (a (1 − a))  (eq. 63 differentiated)
      for (std::size_t j = 0; j < aL.size(); ++j) {
        delta[j] = (aL[j] - y[j]) / (aL[j] * (1 - aL[j])) * act_prime(Act::sigmoid, zL[j]);
      }
      break;
    case Cost::log_likelihood:
    case Cost::log_likelihood_unfused:  // C = −ln a_label: ∇_a C_k = −y_k / a_k; softmax Jacobian
      for (std::size_t j = 0; j < aL.size(); ++j) {
        delta[j] = 0;
        for (std::size_t k = 0; k < aL.size(); ++k) {
          const double dC_da = -y[k] / aL[k];
          const double da_dz = aL[k] * ((k == j ? 1 : 0) - aL[j]);
          delta[j] += dC_da * da_dz;
        }
      }
      break;
  }
  for (std::size_t l = L; l-- > 0;) {
    if (l + 1 < L) {  // BP2
      const Mat& w_next = weights[l + 1];
      Vec d(static_cast<std::size_t>(w_next.cols));
      for (int k = 0; k < w_next.cols; ++k) {
        double s = 0;
        for (int j = 0; j < w_next.rows; ++j) s += w_next(j, k) * delta[j];
        d[k] = s * act_prime(hidden, zs[l][k]);
      }
      delta = d;
    }
    g.nabla_b[l] = delta;  // BP3
    const Vec& a_prev = activations[l];
    Mat nw{static_cast<int>(delta.size()), static_cast<int>(a_prev.size()), {}};
    for (double dj : delta) {
      for (double ak : a_prev) nw.v.push_back(ak * dj);  // BP4
    }
    g.nabla_w[l] = nw;
  }
  return g;
}

double rel_error(const Vec& book, const Tensor& autodiff) {
  const Vec ad = autodiff.to_vector();
  REQUIRE(ad.size() == book.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < book.size(); ++i) {
    diff = std::max(diff, std::abs(book[i] - ad[i]));
    scale = std::max(scale, std::abs(book[i]));
  }
  return scale == 0 ? diff : diff / scale;
}

}  // namespace

TEST_CASE("BP1–BP4 written out literally agree with autodiff to 1e-10 in float64") {
  Generator gen(2024);
  double worst = 0;
  int networks = 0;
  const std::int64_t n = 7;  // batch
  for (int depth = 2; depth <= 6; ++depth) {  // layers with weights
    for (Act hidden : {Act::sigmoid, Act::tanh, Act::relu}) {
      for (Cost cost : {Cost::quadratic, Cost::cross_entropy, Cost::log_likelihood, Cost::log_likelihood_unfused}) {
        CAPTURE(depth);
        CAPTURE(static_cast<int>(hidden));
        CAPTURE(static_cast<int>(cost));
        std::vector<std::int64_t> sizes{static_cast<std::int64_t>(3 + gen.engine()() % 6)};
        for (int l = 0; l < depth; ++l) sizes.push_back(static_cast<std::int64_t>(2 + gen.engine()() % 6));

        // Parameters: nabla tensors in the book's layout (w^l is n_out × n_in), N(0, 1/n_in).
        std::vector<Tensor> W, B;
        std::vector<Mat> book_w;
        std::vector<Vec> book_b;
        for (int l = 0; l < depth; ++l) {
          const std::int64_t n_in = sizes[l], n_out = sizes[l + 1];
          W.push_back(randn({n_out, n_in}, f64, gen, 0, 1 / std::sqrt(double(n_in))).requires_grad(true));
          B.push_back(randn({n_out}, f64, gen).requires_grad(true));
          book_w.push_back({static_cast<int>(n_out), static_cast<int>(n_in), W.back().to_vector()});
          book_b.push_back(B.back().to_vector());
        }
        const std::int64_t k = sizes.back();
        Tensor X = randn({n, sizes[0]}, f64, gen);
        Tensor labels = nabla_test::labels(n, k, gen);
        const bool ll = cost == Cost::log_likelihood || cost == Cost::log_likelihood_unfused;
        Tensor Y = ll ? one_hot(labels, k, f64) : uniform({n, k}, 0.05, 0.95, f64, gen);

        // nabla: batch-major, z = a wᵀ + b.
        Tensor a = X, z;
        for (int l = 0; l < depth; ++l) {
          z = matmul(a, W[l], {.trans_b = true}) + B[l];
          if (l + 1 < depth) a = hidden == Act::sigmoid ? sigmoid(z) : hidden == Act::tanh ? tanh(z) : relu(z);
        }
        Tensor C;
        switch (cost) {
          case Cost::quadratic: C = quadratic_cost(sigmoid(z), Y); break;
          case Cost::cross_entropy: C = binary_cross_entropy(sigmoid(z), Y); break;
          case Cost::log_likelihood: C = softmax_cross_entropy(z, labels); break;
          case Cost::log_likelihood_unfused: C = nll_loss(log(softmax(z)), labels); break;
        }
        C.backward();

        // The book: per example, then the mean over the batch.
        std::vector<Mat> nabla_w = book_w;
        std::vector<Vec> nabla_b = book_b;
        for (auto& m : nabla_w) std::fill(m.v.begin(), m.v.end(), 0.0);
        for (auto& v : nabla_b) std::fill(v.begin(), v.end(), 0.0);
        const Vec xs = X.to_vector(), ys = Y.to_vector();
        for (std::int64_t i = 0; i < n; ++i) {
          const Vec x(xs.begin() + i * sizes[0], xs.begin() + (i + 1) * sizes[0]);
          const Vec y(ys.begin() + i * k, ys.begin() + (i + 1) * k);
          const Gradients g = backprop(book_w, book_b, x, y, hidden, cost);
          for (int l = 0; l < depth; ++l) {
            for (std::size_t j = 0; j < nabla_w[l].v.size(); ++j) nabla_w[l].v[j] += g.nabla_w[l].v[j] / double(n);
            for (std::size_t j = 0; j < nabla_b[l].size(); ++j) nabla_b[l][j] += g.nabla_b[l][j] / double(n);
          }
        }
        for (int l = 0; l < depth; ++l) {
          const double ew = rel_error(nabla_w[l].v, W[l].grad());
          const double eb = rel_error(nabla_b[l], B[l].grad());
          CHECK(ew <= 1e-10);
          CHECK(eb <= 1e-10);
          worst = std::max({worst, ew, eb});
        }
        ++networks;
      }
    }
  }
  fmt::print("BP1–BP4: {} networks (depth 2–6 × sigmoid/tanh/ReLU × 4 costs), worst relative error {:.3g}\n",
             networks, worst);
}

TEST_CASE("BP1 closed forms: δ^L = a^L − y for sigmoid + cross-entropy and softmax + log-likelihood") {
  Generator gen(7);
  const std::int64_t n = 5, k = 4;
  Tensor Y = uniform({n, k}, 0.05, 0.95, f64, gen);
  Tensor z = nabla_test::param({n, k}, gen);

  // sigmoid + cross-entropy (eq. 63 → δ^L = a − y): autodiff, and the book's BP1 by hand.
  binary_cross_entropy(sigmoid(z), Y).backward();
  const Vec a = sigmoid(z.detach()).to_vector(), y = Y.to_vector(), zv = z.to_vector();
  Vec closed(a.size()), bp1(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    closed[i] = (a[i] - y[i]) / double(n);
    bp1[i] = (a[i] - y[i]) / (a[i] * (1 - a[i])) * act_prime(Act::sigmoid, zv[i]) / double(n);
  }
  CHECK(rel_error(closed, z.grad()) <= 1e-10);
  CHECK(rel_error(closed, from_vector(bp1, {n, k}, f64)) <= 1e-10);

  // softmax + log-likelihood (eq. 80 → δ^L = a − y): fused and unfused.
  Tensor labels = nabla_test::labels(n, k, gen);
  const Vec p = softmax(z.detach()).to_vector(), onehot = one_hot(labels, k, f64).to_vector();
  for (std::size_t i = 0; i < p.size(); ++i) closed[i] = (p[i] - onehot[i]) / double(n);
  z.zero_grad();
  softmax_cross_entropy(z, labels).backward();
  CHECK(rel_error(closed, z.grad()) <= 1e-10);
  z.zero_grad();
  nll_loss(log(softmax(z)), labels).backward();
  CHECK(rel_error(closed, z.grad()) <= 1e-10);
}
