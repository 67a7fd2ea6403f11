// The fused LSTM (nabla::lstm_recurrence, the path nn::LSTM takes): gradchecked in float64 (first and
// second order) over several lengths, batches and options; equal to the composed cells (nn::LSTMCell
// stepped over the sequence) to 1e-12 in float64 and to the bit in float32's forward; equal to
// torch.nn.LSTM (tests/data/lstm_reference.json, scripts/lstm_reference.py) to 1e-12 with gradients.
#include <fstream>
#include <map>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

#include "test_util.hpp"
#include "torch_json.hpp"

using namespace nabla;
using nabla_test::check_grad;
using nabla_test::max_abs_diff;
using nabla_test::param;

namespace {

// The composed reference: one nn::LSTMCell per layer holding the layer's weights, stepped over the
// sequence (the path nn::LSTM took before the fused op). x [T, N, I] (batch_first: [N, T, I]).
nn::LstmOutput composed(const nn::LSTM& lstm, const Tensor& x, const nn::LstmState& state) {
  const nn::RecurrentBase::Spec& o = lstm.spec();
  Tensor seq = o.batch_first ? transpose(x, 0, 1) : x;
  std::vector<Tensor> hn, cn;
  for (std::int64_t l = 0; l < o.num_layers; ++l) {
    const nn::RecurrentBase::Weights& w = lstm.weights()[std::size_t(l)];
    nn::LstmState s{state.h.defined() ? select(state.h, 0, l) : Tensor{}, state.c.defined() ? select(state.c, 0, l) : Tensor{}};
    std::vector<Tensor> hs;
    // x W_ihᵀ + b_ih for all steps in one product, as nn::LSTM always computed it.
    const std::int64_t steps = seq.shape()[0], n = seq.shape()[1];
    Tensor xw = matmul(seq.reshape({steps * n, seq.shape()[2]}), w.w_ih, {.trans_b = true});
    if (w.b_ih.defined()) xw = xw + w.b_ih;
    const std::vector<Tensor> xws = split(xw, n, 0);
    for (std::int64_t t = 0; t < steps; ++t) {
      Tensor z = xws[std::size_t(t)];
      Tensor r = s.h.defined() ? matmul(s.h, w.w_hh, {.trans_b = true}) : Tensor{};
      if (w.b_hh.defined()) r = r.defined() ? r + w.b_hh : w.b_hh;
      if (r.defined()) z = z + r;
      const std::vector<Tensor> g = chunk(z, 4, 1);
      const Tensor in = sigmoid(g[0]) * tanh(g[2]);
      const Tensor c = s.c.defined() ? sigmoid(g[1]) * s.c + in : in;
      s = {sigmoid(g[3]) * tanh(c), c};
      hs.push_back(s.h);
    }
    hn.push_back(s.h);
    cn.push_back(s.c);
    seq = stack(hs, 0);
  }
  return {o.batch_first ? transpose(seq, 0, 1) : seq, {stack(hn, 0), stack(cn, 0)}};
}

// Σ output² + Σ h_n·1.5 + Σ c_n (every output reaches the cost).
Tensor cost(const nn::LstmOutput& o) { return sum(o.output * o.output) + sum(o.state.h) * 1.5 + sum(o.state.c); }

struct Case {
  std::int64_t in, hidden, layers, steps, batch;
  bool batch_first, bias, state;
};

const Case kCases[] = {
    {3, 2, 1, 1, 1, false, true, false}, {3, 2, 1, 4, 2, false, true, true},  {2, 3, 2, 3, 3, false, true, true},
    {3, 2, 1, 5, 2, true, true, true},   {2, 2, 2, 3, 2, true, false, false}, {4, 3, 1, 2, 1, false, true, true},
};

}  // namespace

TEST_CASE("fused LSTM: gradcheck (first and second order) over lengths, batches, states, batch_first, 2 layers") {
  Generator gen(11);
  for (const Case& c : kCases) {
    CAPTURE(c.steps);
    CAPTURE(c.batch);
    CAPTURE(c.layers);
    CAPTURE(c.batch_first);
    nn::LSTM lstm(c.in, c.hidden, {.num_layers = c.layers, .bias = c.bias, .batch_first = c.batch_first, .dtype = f64}, gen);
    const Tensor x = param(c.batch_first ? Shape{c.batch, c.steps, c.in} : Shape{c.steps, c.batch, c.in}, gen);
    if (c.state) {
      const Tensor h0 = param({c.layers, c.batch, c.hidden}, gen), c0 = param({c.layers, c.batch, c.hidden}, gen);
      CHECK(check_grad([&](const Tensor& x, const Tensor& h, const Tensor& cc) { return cost(lstm.forward(x, {h, cc})); },
                       {x, h0, c0}));
    } else {
      CHECK(check_grad([&](const Tensor& x) { return cost(lstm.forward(x, {})); }, {x}));
    }
    for (const nn::Param& p : lstm.parameters()) {  // every weight and bias, through every step
      CAPTURE(p.name);
      CHECK(check_grad([&](const Tensor&) { return cost(lstm.forward(x, {})); }, {p.tensor}));
    }
  }
}

TEST_CASE("fused LSTM: the op alone, gradchecked with each output on its own") {
  Generator gen(12);
  const Tensor xw = param({4, 3, 8}, gen), w = param({8, 2}, gen), bi = param({8}, gen), bh = param({8}, gen);
  const Tensor h0 = param({3, 2}, gen), c0 = param({3, 2}, gen);
  for (int k = 0; k < 3; ++k) {
    CAPTURE(k);
    CHECK(check_grad([&](const Tensor& a, const Tensor& b, const Tensor& h, const Tensor& c) {
            return lstm_recurrence(a, b, bi, bh, h, c)[std::size_t(k)];
          }, {xw, w, h0, c0}));
  }
  CHECK(check_grad([&](const Tensor& b1, const Tensor& b2) { return lstm_recurrence(xw, w, b1, b2, h0, c0)[0]; }, {bi, bh}));
  CHECK_THROWS_WITH_AS(lstm_recurrence(xw, param({8, 3}, gen), bi, bh, h0, c0),
                       "lstm: w_hh is [8, 3]; expected [8, 2] for xw [4, 3, 8]", ShapeError);
  CHECK_THROWS_WITH_AS(lstm_recurrence(xw, w, bi, bh, param({2, 2}, gen), c0),
                       "lstm: h0 is [2, 2]; expected [3, 2] for xw [4, 3, 8]", ShapeError);
  CHECK_THROWS_AS(lstm_recurrence(xw.to(f32), w, bi, bh, h0, c0), ValueError);
}

TEST_CASE("fused LSTM equals the composed cells: float64 to 1e-12 (values and gradients), float32 forward to the bit") {
  Generator gen(13);
  for (const Case& c : kCases) {
    for (Dtype dt : {f64, f32}) {
      CAPTURE(c.steps);
      CAPTURE(c.layers);
      CAPTURE(dt);
      nn::LSTM lstm(c.in, c.hidden * 8, {.num_layers = c.layers, .bias = c.bias, .batch_first = c.batch_first, .dtype = dt}, gen);
      const Tensor x = randn(c.batch_first ? Shape{c.batch, c.steps, c.in} : Shape{c.steps, c.batch, c.in}, dt, gen).requires_grad(true);
      nn::LstmState s;
      if (c.state) s = {randn({c.layers, c.batch, c.hidden * 8}, dt, gen), randn({c.layers, c.batch, c.hidden * 8}, dt, gen)};
      const nn::LstmOutput a = lstm.forward(x, s), b = composed(lstm, x, s);
      const double tol = dt == f64 ? 1e-12 : 0;
      CHECK(max_abs_diff(a.output, b.output) <= tol);
      CHECK(max_abs_diff(a.state.h, b.state.h) <= tol);
      CHECK(max_abs_diff(a.state.c, b.state.c) <= tol);
      // Gradients: float32 to rounding (the sums run in another order), float64 to 1e-12.
      const std::vector<nn::Param> ps = lstm.parameters();
      std::vector<Tensor> wrt{x};
      for (const nn::Param& p : ps) wrt.push_back(p.tensor);
      // allow_unused: with one step and no state, W_hh takes no part (the fused op gives it zeros).
      std::vector<Tensor> ga = grad({cost(a)}, wrt, {}, {.allow_unused = true}), gb = grad({cost(b)}, wrt, {}, {.allow_unused = true});
      for (std::size_t k = 0; k < wrt.size(); ++k) {
        CAPTURE(k);
        if (!ga[k].defined()) ga[k] = zeros_like(wrt[k]);
        if (!gb[k].defined()) gb[k] = zeros_like(wrt[k]);
        const double scale = std::max(1.0, max_abs_diff(gb[k], zeros_like(gb[k])));
        CHECK(max_abs_diff(ga[k], gb[k]) / scale <= (dt == f64 ? 1e-12 : 2e-5));
      }
    }
  }
}

TEST_CASE("fused LSTM: second derivatives (create_graph) equal the composed cells', a Hessian-vector product") {
  Generator gen(14);
  nn::LSTM lstm(3, 4, {.num_layers = 2, .dtype = f64}, gen);
  const Tensor x = randn({5, 2, 3}, f64, gen).requires_grad(true);
  const nn::LstmState s{randn({2, 2, 4}, f64, gen).requires_grad(true), randn({2, 2, 4}, f64, gen).requires_grad(true)};
  std::vector<Tensor> wrt{x, s.h, s.c};
  for (const nn::Param& p : lstm.parameters()) wrt.push_back(p.tensor);
  std::vector<Tensor> v;
  for (const Tensor& t : wrt) v.push_back(randn(t.shape(), f64, gen));
  auto hvp = [&](const nn::LstmOutput& o) {
    const std::vector<Tensor> g = grad({cost(o)}, wrt, {}, {.create_graph = true});
    Tensor gv = sum(g[0] * v[0]);
    for (std::size_t i = 1; i < g.size(); ++i) gv = gv + sum(g[i] * v[i]);
    return grad({gv}, wrt);
  };
  // x enters through a product (a non-leaf input of the fused op, as in a model).
  const std::vector<Tensor> ha = hvp(lstm.forward(x * 1.0, s)), hb = hvp(composed(lstm, x * 1.0, s));
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    CAPTURE(k);
    CHECK(max_abs_diff(ha[k], hb[k]) <= 1e-11);
  }
}

TEST_CASE("fused LSTM equals torch.nn.LSTM to 1e-12 in float64: outputs, h_n, c_n and every gradient") {
  std::ifstream in(std::string(NABLA_TEST_DATA_DIR) + "/lstm_reference.json");
  REQUIRE(in.good());
  const nlohmann::json all = nlohmann::json::parse(in);
  const auto& cases = all.at("cases");
  REQUIRE(cases.size() >= 6);
  double worst = 0;
  std::size_t compared = 0;
  for (const auto& c : cases) {
    const auto& p = c.at("params");
    CAPTURE(p.dump());
    nn::LSTM lstm(p.at("in"), p.at("hidden"),
                  {.num_layers = p.at("layers"), .bias = p.at("bias"), .batch_first = p.at("batch_first"), .dtype = f64});
    std::map<std::string, Tensor> state;
    for (const auto& [k, v] : c.at("state").items()) state.emplace(k, nabla_test::decode(v));
    lstm.load_state(state);
    std::vector<Tensor> xs;
    for (const auto& j : c.at("inputs")) xs.push_back(nabla_test::decode(j).requires_grad(true));
    const nn::LstmOutput o = lstm.forward(xs[0], xs.size() == 3 ? nn::LstmState{xs[1], xs[2]} : nn::LstmState{});
    const std::vector<Tensor> ys{o.output, o.state.h, o.state.c};
    Tensor total = zeros({}, f64);
    for (std::size_t k = 0; k < 3; ++k) {
      const double w = nabla_test::worst(ys[k], nabla_test::decode(c.at("outputs")[k]));
      CHECK(w <= 1e-12);
      worst = std::max(worst, w);
      total = total + sum(ys[k] * nabla_test::decode(c.at("weights")[k]));
    }
    total.backward();
    auto check = [&](const Tensor& got, const nlohmann::json& expected) {
      const double w = nabla_test::worst(got, nabla_test::decode(expected));
      CHECK(w <= 1e-12);
      worst = std::max(worst, w);
      ++compared;
    };
    for (std::size_t k = 0; k < xs.size(); ++k) check(xs[k].grad(), c.at("input_grads")[k]);
    for (const nn::Param& q : lstm.parameters()) {
      CAPTURE(q.name);
      check(q.tensor.grad(), c.at("param_grads").at(q.name));
    }
  }
  MESSAGE("torch.nn.LSTM cross-check: " << cases.size() << " cases, " << compared << " gradients; worst relative error " << worst);
}

TEST_CASE("LSTM dropout between layers: PyTorch's option, only in training, never after the last layer") {
  Generator gen(15);
  CHECK_THROWS_AS(nn::LSTM(3, 4, {.dropout = 1.5}), ValueError);
  nn::LSTM plain(3, 4, {.num_layers = 2, .dtype = f64}, gen);
  nn::LSTM drop(3, 4, {.num_layers = 2, .dropout = 0.5, .dtype = f64}, gen);
  drop.load_state(plain.state());
  const Tensor x = randn({5, 2, 3}, f64, gen);
  drop.eval();
  CHECK(max_abs_diff(drop(x), plain(x)) == 0);  // evaluation: no dropout
  drop.train();
  CHECK(max_abs_diff(drop(x), plain(x)) > 1e-3);  // training: the first layer's output is dropped
  nn::LSTM one(3, 4, {.dropout = 0.5, .dtype = f64}, gen);  // one layer: nothing between layers
  const nn::LSTM& ref = one;
  CHECK(max_abs_diff(one(x), composed(ref, x, {}).output) <= 1e-12);
}
