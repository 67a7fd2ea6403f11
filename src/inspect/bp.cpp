// src/inspect/bp.cpp — the book's backpropagation equations BP1–BP4 (ch. 2) written out in closed
// form, checked against autodiff on a user's network; per-layer learning speed (ch. 5).
//
// Row form, one row per example x: z^l = a^{l−1} (w^l)ᵀ + b^l, a^l = σ(z^l).
//   BP1  δ^L = ∇_a C ⊙ σ′(z^L)
//   BP2  δ^l = (δ^{l+1} w^{l+1}) ⊙ σ′(z^l)
//   BP3  ∂C/∂b^l_j = (1/n) Σ_x δ^{x,l}_j
//   BP4  ∂C/∂w^l_jk = (1/n) Σ_x a^{x,l−1}_k δ^{x,l}_j
// Autodiff's δ^l comes from a zero "probe" tensor added to z^l: ∂C/∂probe = ∂C/∂z^l = δ^l / n.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "nabla/inspect.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::inspect {
namespace {

enum class Act { identity, sigmoid, tanh, relu, leaky, softmax };

struct Layer {
  nn::Linear* linear = nullptr;
  nn::Module* act = nullptr;  // null: identity
  Act kind = Act::identity;
  double slope = 0;
  std::string name;
};

std::vector<Layer> parse(nn::Sequential& net, Cost cost, std::string_view who) {
  std::vector<Layer> layers;
  for (std::size_t i = 0; i < net.size(); ++i) {
    nn::Module& m = net[i];
    if (auto* lin = dynamic_cast<nn::Linear*>(&m)) {
      if (!lin->bias().defined()) {
        throw ValueError(fmt::format("{}: layer {} ({}) has no bias; BP3 needs one", who, i, m.describe()));
      }
      layers.push_back({lin, nullptr, Act::identity, 0, fmt::format("layer {}: {}", layers.size() + 1, m.describe())});
      continue;
    }
    Act kind;
    double slope = 0;
    if (dynamic_cast<nn::Sigmoid*>(&m)) kind = Act::sigmoid;
    else if (dynamic_cast<nn::Tanh*>(&m)) kind = Act::tanh;
    else if (dynamic_cast<nn::ReLU*>(&m)) kind = Act::relu;
    else if (auto* lk = dynamic_cast<nn::LeakyReLU*>(&m)) kind = Act::leaky, slope = lk->slope();
    else if (auto* sm = dynamic_cast<nn::Softmax*>(&m);
             sm && (sm->dim() == -1 || sm->dim() == 1) && cost == Cost::log_likelihood && i + 1 == net.size()) {
      kind = Act::softmax;  // over the classes of [batch, classes]
    }
    else {
      throw ValueError(fmt::format(
          "{}: module {} ({}) is not a Linear layer or an elementwise activation (Sigmoid, Tanh, ReLU, LeakyReLU{}); "
          "BP1–BP4 in closed form cover only those",
          who, i, m.describe(), cost == Cost::log_likelihood ? ", or a final Softmax over the classes" : ""));
    }
    if (layers.empty() || layers.back().act != nullptr) {
      throw ValueError(fmt::format("{}: module {} ({}) must follow a Linear layer", who, i, m.describe()));
    }
    layers.back().act = &m;
    layers.back().kind = kind;
    layers.back().slope = slope;
    layers.back().name += " → " + m.describe();
  }
  if (layers.empty()) throw ValueError(fmt::format("{}: the network has no Linear layer", who));
  const Act last = layers.back().kind;
  if (cost == Cost::cross_entropy && last != Act::sigmoid && last != Act::identity) {
    throw ValueError(fmt::format("{}: the cross-entropy cost needs a sigmoid output layer (or logits: a final Linear), "
                                 "got {}", who, layers.back().name));
  }
  if (cost == Cost::log_likelihood && last != Act::softmax && last != Act::identity) {
    throw ValueError(fmt::format("{}: the log-likelihood cost needs a softmax output layer (or logits: a final Linear), "
                                 "got {}", who, layers.back().name));
  }
  return layers;
}

using Matrix = std::vector<double>;  // row-major

// One autodiff pass through the network's own modules, with a probe on every z^l.
struct Trace {
  std::int64_t n = 0;
  std::vector<std::int64_t> width;  // n_out of each layer
  Matrix input;
  std::vector<Matrix> z, delta, gb, gw;
  Matrix targets;  // [n, n_out] (one-hot for log_likelihood)
};

Tensor cost_of(Cost cost, const Layer& last, const Tensor& z, const Tensor& a, const Tensor& y) {
  switch (cost) {
    case Cost::quadratic:
      return quadratic_cost(a, y);
    case Cost::cross_entropy:
      return last.kind == Act::identity ? binary_cross_entropy_with_logits(z, y) : binary_cross_entropy(a, y);
    case Cost::log_likelihood:
      return last.kind == Act::identity ? softmax_cross_entropy(z, y) : nll_loss(log(a), y);
  }
  return {};
}

void check_batch(std::string_view who, const std::vector<Layer>& layers, const Tensor& x, const Tensor& y, Cost cost) {
  const std::int64_t n_in = layers.front().linear->n_in(), n_out = layers.back().linear->n_out();
  if (x.dim() != 2 || x.shape()[1] != n_in || x.shape()[0] == 0) {
    throw ShapeError(fmt::format("{}: input {} does not fit the network; expected [n, {}] with n > 0", who, x.shape(), n_in));
  }
  if (cost == Cost::log_likelihood) {
    if (y.dtype() != i64 || y.dim() != 1 || y.shape()[0] != x.shape()[0]) {
      throw ShapeError(fmt::format("{}: the log-likelihood cost takes int64 labels [{}], got {} {}", who, x.shape()[0],
                                   y.dtype(), y.shape()));
    }
    check_indices(who, y, n_out, "label");
  } else if (y.dim() != 2 || y.shape()[0] != x.shape()[0] || y.shape()[1] != n_out || !is_floating(y.dtype())) {
    throw ShapeError(fmt::format("{}: targets are {} {}; expected floating [{}, {}]", who, y.dtype(), y.shape(),
                                 x.shape()[0], n_out));
  }
}

Trace autodiff(const std::vector<Layer>& layers, const Tensor& x, const Tensor& y, Cost cost) {
  Trace tr;
  tr.n = x.shape()[0];
  tr.input = x.to_vector();
  // The parameters' gradients are the user's: keep them, compute from zero, put them back.
  std::vector<std::pair<Tensor, Tensor>> kept;
  for (const Layer& l : layers) {
    for (const Tensor& p : {l.linear->weight(), l.linear->bias()}) {
      kept.emplace_back(p, p.grad());
      p.zero_grad();
    }
  }
  auto restore = [&] {
    for (auto& [p, g] : kept) {
      if (g.defined()) p.set_grad(g);
      else p.zero_grad();
    }
  };
  try {
    std::vector<Tensor> probes;
    Tensor a = x.to(layers.front().linear->weight().dtype()), z;
    for (const Layer& l : layers) {
      z = (*l.linear)(a);
      Tensor probe = zeros(z.shape(), z.dtype()).requires_grad(true);
      z = z + probe;
      probes.push_back(probe);
      tr.width.push_back(z.shape()[1]);
      tr.z.push_back(z.to_vector());
      a = l.act != nullptr ? l.act->forward(z) : z;
    }
    Tensor target = cost == Cost::log_likelihood ? y : y.to(z.dtype());
    cost_of(cost, layers.back(), z, a, target).backward();
    for (std::size_t l = 0; l < layers.size(); ++l) {
      Matrix d = probes[l].grad().to_vector();
      for (double& v : d) v *= double(tr.n);
      tr.delta.push_back(std::move(d));
      tr.gb.push_back(layers[l].linear->bias().grad().to_vector());
      tr.gw.push_back(layers[l].linear->weight().grad().to_vector());
    }
    tr.targets = cost == Cost::log_likelihood ? one_hot(y, tr.width.back(), f64).to_vector() : y.to_vector();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return tr;
}

double act(Act k, double z, double slope) {
  switch (k) {
    case Act::sigmoid: return 1 / (1 + std::exp(-z));
    case Act::tanh: return std::tanh(z);
    case Act::relu: return z > 0 ? z : 0;
    case Act::leaky: return z > 0 ? z : slope * z;
    default: return z;
  }
}

double act_prime(Act k, double z, double slope) {
  switch (k) {
    case Act::sigmoid: {
      const double s = 1 / (1 + std::exp(-z));
      return s * (1 - s);
    }
    case Act::tanh: return 1 - std::tanh(z) * std::tanh(z);
    case Act::relu: return z > 0 ? 1 : 0;
    case Act::leaky: return z > 0 ? 1 : slope;
    default: return 1;
  }
}

void diff(const Matrix& book, const Matrix& ad, double& abs_out, double& rel_out) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < book.size(); ++i) {
    worst = std::max(worst, std::abs(book[i] - ad[i]));
    scale = std::max(scale, std::abs(book[i]));
  }
  abs_out = worst;
  rel_out = worst == 0 ? 0 : worst / (scale > 0 ? scale : 1);
}

}  // namespace

BpReport bp_check(nn::Sequential& net, const Tensor& x, const Tensor& y, Cost cost) {
  const std::vector<Layer> layers = parse(net, cost, "bp_check");
  check_batch("bp_check", layers, x, y, cost);
  const Trace tr = autodiff(layers, x, y, cost);
  const std::int64_t n = tr.n;
  const std::size_t L = layers.size();

  // Forward in double from the parameter values.
  std::vector<Matrix> W(L), b(L), z(L), a(L + 1);
  std::vector<std::int64_t> in(L), out(L);
  a[0] = tr.input;
  for (std::size_t l = 0; l < L; ++l) {
    W[l] = layers[l].linear->weight().to_vector();
    b[l] = layers[l].linear->bias().to_vector();
    in[l] = layers[l].linear->n_in();
    out[l] = layers[l].linear->n_out();
    z[l].assign(n * out[l], 0);
    a[l + 1].assign(n * out[l], 0);
    for (std::int64_t x_ = 0; x_ < n; ++x_) {
      for (std::int64_t j = 0; j < out[l]; ++j) {
        double s = b[l][j];
        for (std::int64_t k = 0; k < in[l]; ++k) s += a[l][x_ * in[l] + k] * W[l][j * in[l] + k];
        z[l][x_ * out[l] + j] = s;
      }
    }
    const bool last = l + 1 == L;
    for (std::int64_t x_ = 0; x_ < n; ++x_) {
      double* zr = &z[l][x_ * out[l]];
      double* ar = &a[l + 1][x_ * out[l]];
      if (last && cost == Cost::log_likelihood) {  // softmax output layer (eq. 78)
        const double m = *std::max_element(zr, zr + out[l]);
        double s = 0;
        for (std::int64_t j = 0; j < out[l]; ++j) s += ar[j] = std::exp(zr[j] - m);
        for (std::int64_t j = 0; j < out[l]; ++j) ar[j] /= s;
      } else {
        const Act k = last && cost == Cost::cross_entropy ? Act::sigmoid : layers[l].kind;
        for (std::int64_t j = 0; j < out[l]; ++j) ar[j] = act(k, zr[j], layers[l].slope);
      }
    }
  }

  // BP1: the output error.
  std::vector<Matrix> delta(L);
  const std::size_t Lm = L - 1;
  delta[Lm].assign(n * out[Lm], 0);
  for (std::int64_t i = 0; i < n * out[Lm]; ++i) {
    const double av = a[L][i], yv = tr.targets[i], zv = z[Lm][i];
    switch (cost) {
      case Cost::quadratic:  // ∇_a C = a − y
        delta[Lm][i] = (av - yv) * act_prime(layers[Lm].kind, zv, layers[Lm].slope);
        break;
      case Cost::cross_entropy:  // ∇_a C = (a − y) / (a (1 − a)), σ′(z) = a (1 − a)
        delta[Lm][i] = (av - yv) / (av * (1 - av)) * act_prime(Act::sigmoid, zv, 0);
        break;
      case Cost::log_likelihood:  // eq. 84
        delta[Lm][i] = av - yv;
        break;
    }
  }
  // BP2: back through the layers.
  for (std::size_t l = Lm; l-- > 0;) {
    delta[l].assign(n * out[l], 0);
    for (std::int64_t x_ = 0; x_ < n; ++x_) {
      for (std::int64_t k = 0; k < out[l]; ++k) {
        double s = 0;
        for (std::int64_t j = 0; j < out[l + 1]; ++j) s += delta[l + 1][x_ * out[l + 1] + j] * W[l + 1][j * in[l + 1] + k];
        delta[l][x_ * out[l] + k] = s * act_prime(layers[l].kind, z[l][x_ * out[l] + k], layers[l].slope);
      }
    }
  }
  BpReport report;
  for (std::size_t l = 0; l < L; ++l) {
    // BP3 and BP4, averaged over the batch.
    Matrix gb(out[l], 0), gw(out[l] * in[l], 0);
    for (std::int64_t x_ = 0; x_ < n; ++x_) {
      for (std::int64_t j = 0; j < out[l]; ++j) {
        const double d = delta[l][x_ * out[l] + j] / double(n);
        gb[j] += d;
        for (std::int64_t k = 0; k < in[l]; ++k) gw[j * in[l] + k] += a[l][x_ * in[l] + k] * d;
      }
    }
    BpLayer r;
    r.name = layers[l].name;
    diff(delta[l], tr.delta[l], r.delta_abs, r.delta_rel);
    diff(gb, tr.gb[l], r.bias_abs, r.bias_rel);
    diff(gw, tr.gw[l], r.weight_abs, r.weight_rel);
    report.layers.push_back(std::move(r));
  }
  return report;
}

double BpReport::worst_relative() const {
  double w = 0;
  for (const BpLayer& l : layers) w = std::max({w, l.delta_rel, l.bias_rel, l.weight_rel});
  return w;
}

std::string BpReport::to_string() const {
  std::size_t width = 5;
  for (const BpLayer& l : layers) width = std::max(width, l.name.size());
  std::string s = fmt::format("BP1–BP4 (closed form) against autodiff: largest |difference| (relative to the largest value)\n"
                              "{:<{}}  {:>21}  {:>21}  {:>21}\n",
                              "layer", width, "δ (BP1/BP2)", "∂C/∂b (BP3)", "∂C/∂w (BP4)");
  for (const BpLayer& l : layers) {
    s += fmt::format("{:<{}}  {:>9.2e} ({:>9.2e})  {:>9.2e} ({:>9.2e})  {:>9.2e} ({:>9.2e})\n", l.name, width, l.delta_abs,
                     l.delta_rel, l.bias_abs, l.bias_rel, l.weight_abs, l.weight_rel);
  }
  s += fmt::format("worst relative difference: {:.3e}\n", worst_relative());
  return s;
}

std::vector<LayerSpeed> learning_speed(nn::Sequential& net, const Tensor& x, const Tensor& y, Cost cost,
                                       double saturation) {
  if (!(saturation >= 0 && saturation <= 1)) {
    throw ValueError(fmt::format("learning_speed: saturation is {}; expected a derivative σ′ in [0, 1]", saturation));
  }
  const std::vector<Layer> layers = parse(net, cost, "learning_speed");
  check_batch("learning_speed", layers, x, y, cost);
  const Trace tr = autodiff(layers, x, y, cost);
  std::vector<LayerSpeed> out;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    LayerSpeed s;
    s.name = layers[l].name;
    const std::int64_t w = tr.width[l];
    double d2 = 0;
    for (double v : tr.delta[l]) d2 += v * v;
    s.delta_norm = std::sqrt(d2 / double(tr.n));
    double b2 = 0, w2 = 0;
    for (double v : tr.gb[l]) b2 += v * v;
    for (double v : tr.gw[l]) w2 += v * v;
    s.bias_grad_norm = std::sqrt(b2);
    s.weight_grad_norm = std::sqrt(w2);
    const Act k = layers[l].kind;
    if (k == Act::sigmoid || k == Act::tanh) {
      std::int64_t sat = 0;
      for (double zv : tr.z[l]) sat += act_prime(k, zv, 0) < saturation;
      s.saturated = double(sat) / double(tr.z[l].size());
    }
    if (k == Act::relu || k == Act::leaky) {
      std::int64_t dead = 0;
      for (std::int64_t j = 0; j < w; ++j) {
        bool alive = false;
        for (std::int64_t x_ = 0; x_ < tr.n && !alive; ++x_) alive = tr.z[l][x_ * w + j] > 0;
        dead += !alive;
      }
      s.dead = double(dead) / double(w);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// ---- LearningMonitor -------------------------------------------------------------------------------

namespace {
std::string csv_number(double v) { return std::isnan(v) ? "" : fmt::format("{:.6g}", v); }
}  // namespace

LearningMonitor::LearningMonitor(std::string csv_path) : path_(std::move(csv_path)) {
  std::ofstream f(path_, std::ios::trunc);
  if (!(f << "step,epoch,layer,delta_norm,bias_grad_norm,weight_grad_norm,saturated,dead\n") || !f.flush()) {
    throw IoError(fmt::format("LearningMonitor: cannot write {}", path_));
  }
}

void LearningMonitor::record(std::int64_t step, double epoch, const std::vector<LayerSpeed>& layers) {
  std::ofstream f(path_, std::ios::app);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const LayerSpeed& s = layers[l];
    f << fmt::format("{},{:.6g},{},{},{},{},{},{}\n", step, epoch, l + 1, csv_number(s.delta_norm),
                     csv_number(s.bias_grad_norm), csv_number(s.weight_grad_norm), csv_number(s.saturated),
                     csv_number(s.dead));
  }
  if (!f.flush()) throw IoError(fmt::format("LearningMonitor: cannot append to {}", path_));
}

LearningPlotData LearningMonitor::write_plot_data(const std::string& dat_path) const {
  // The CSV interleaves layers; a plot draws lines only between consecutive rows, so regroup the
  // rows into one data block per layer: epoch, ‖∂C/∂b‖, saturated, dead.
  std::ifstream f(path_);
  std::string line;
  std::getline(f, line);
  std::map<int, std::string> blocks;
  LearningPlotData data;
  while (std::getline(f, line)) {
    std::vector<std::string> cols;
    std::size_t start = 0;
    for (std::size_t p; (p = line.find(',', start)) != std::string::npos; start = p + 1) cols.push_back(line.substr(start, p - start));
    cols.push_back(line.substr(start));
    if (cols.size() < 8) continue;
    data.saturated = data.saturated || !cols[6].empty();
    data.dead = data.dead || !cols[7].empty();
    blocks[std::atoi(cols[2].c_str())] += fmt::format("{} {} {} {}\n", cols[1], cols[4].empty() ? "NaN" : cols[4],
                                                      cols[6].empty() ? "NaN" : cols[6], cols[7].empty() ? "NaN" : cols[7]);
  }
  std::ofstream dat(dat_path, std::ios::trunc);
  for (const auto& [layer, rows] : blocks) {
    dat << "# layer " << layer << "\n" << rows << "\n\n";
    data.layers.push_back(layer);
  }
  if (!dat.flush()) throw IoError(fmt::format("LearningMonitor: cannot write {}", dat_path));
  return data;
}

}  // namespace nabla::inspect
