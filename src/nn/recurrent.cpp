// src/nn/recurrent.cpp — RNN, LSTM and GRU cells and layers (nabla/nn_recurrent.hpp), composed of
// matmul, sigmoid, tanh and chunk. A layer computes x W_ihᵀ + b_ih for all steps in one product,
// then one small product h W_hhᵀ per step.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "nabla/detail/trace.hpp"
#include "nabla/nn_recurrent.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::nn {

using Weights = RecurrentBase::Weights;

namespace {

constexpr std::int64_t kMaxLayers = 1 << 16;

void check_sizes(const RecurrentBase::Spec& s) {
  const std::string_view what = s.kind;
  const std::int64_t in = s.input_size, hidden = s.hidden_size;
  if (in <= 0 || hidden <= 0 || s.num_layers < 1) {
    throw ValueError(fmt::format("{}: need positive sizes and num_layers, got input {}, hidden {}, {} layers", what, in, hidden,
                                 s.num_layers));
  }
  if (!is_floating(s.dtype)) throw ValueError(fmt::format("{}: dtype must be float32 or float64, got {}", what, s.dtype));
  // Each layer is a module of its own, registered one by one: a sane bound, checked before that loop.
  check_int_arg(what, "num_layers", s.num_layers, 1, kMaxLayers);
  checked_bytes(what, Shape{checked_mul(what, "4 · hidden", 4, hidden), std::max(in, hidden)}, s.dtype);  // the largest weight, at most 4 gates
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const Tensor z = matmul(x, w, {.trans_b = true});
  return b.defined() ? z + b : z;
}

// h W_hhᵀ + b_hh; with no state (zeros) just the bias, or nothing.
Tensor recur(const Tensor& h, const Weights& w) { return h.defined() ? linear(h, w.w_hh, w.b_hh) : w.b_hh; }

Tensor plus(const Tensor& a, const Tensor& b) { return b.defined() ? a + b : a; }

Tensor rnn_step(const Tensor& xw, const Tensor& h, const Weights& w, bool relu_act) {
  const Tensor z = plus(xw, recur(h, w));
  return relu_act ? relu(z) : tanh(z);
}

LstmState lstm_step(const Tensor& xw, const LstmState& s, const Weights& w) {
  const std::vector<Tensor> g = chunk(plus(xw, recur(s.h, w)), 4, 1);  // i, f, g, o
  const Tensor input = sigmoid(g[0]) * tanh(g[2]);
  const Tensor c = s.c.defined() ? sigmoid(g[1]) * s.c + input : input;
  return {sigmoid(g[3]) * tanh(c), c};
}

Tensor gru_step(const Tensor& xw, const Tensor& h, const Weights& w) {
  const std::vector<Tensor> gx = chunk(xw, 3, 1);  // r, z, n
  const Tensor hh = recur(h, w);
  std::vector<Tensor> gh = hh.defined() ? chunk(hh, 3, -1) : std::vector<Tensor>(3);  // [N, 3H] or the bias [3H]
  const Tensor r = sigmoid(plus(gx[0], gh[0])), z = sigmoid(plus(gx[1], gh[1]));
  const Tensor n = tanh(gh[2].defined() ? gx[2] + r * gh[2] : gx[2]);
  return h.defined() ? n + z * (h - n) : n - z * n;  // (1 − z) n + z h
}

// Checks a cell's x [N, I] and a state tensor [N, H].
// An input or state of another dtype than the weights: named here, not by the matmul inside.
void check_dtype_of(const Module& m, std::string_view what, const Tensor& t, Dtype weights) {
  if (t.defined() && t.dtype() != weights) {
    throw ValueError(fmt::format("{}: {} is {} {}; the weights are {}; convert one with .to(dtype)", m.describe(), what,
                                 t.dtype(), t.shape(), weights));
  }
}
void check_cell(const Module& m, const Tensor& x, std::int64_t in, std::int64_t hidden, const Tensor& h, std::string_view name,
                Dtype dtype) {
  if (x.dim() != 2 || x.shape()[1] != in) {
    throw ShapeError(fmt::format("{}: input is {}; expected [N, {}]", m.describe(), x.shape(), in));
  }
  check_dtype_of(m, "input", x, dtype);
  check_dtype_of(m, name, h, dtype);
  if (h.defined() && h.shape() != Shape{x.shape()[0], hidden}) {
    throw ShapeError(fmt::format("{}: {} is {}; expected [{}, {}] for input {}", m.describe(), name, h.shape(), x.shape()[0],
                                 hidden, x.shape()));
  }
}

// A layer's input as [T, N, I], and checks of it and of a state tensor [L, N, H].
Tensor sequence(const RecurrentBase& m, const Tensor& x) {
  const RecurrentBase::Spec& o = m.spec();
  const std::int64_t in = o.input_size;
  if (x.dim() != 3 || x.shape()[2] != in) {
    throw ShapeError(fmt::format("{}: input is {}; expected {}", m.describe(), x.shape(),
                                 o.batch_first ? fmt::format("[N, T, {}]", in) : fmt::format("[T, N, {}]", in)));
  }
  if (x.shape()[0] == 0 || x.shape()[1] == 0) throw ShapeError(fmt::format("{}: input {} is empty", m.describe(), x.shape()));
  check_dtype_of(m, "input", x, m.weights()[0].w_ih.dtype());
  return o.batch_first ? transpose(x, 0, 1) : x;
}
void check_state(const RecurrentBase& m, const Tensor& t, std::string_view name, const Tensor& x) {
  const RecurrentBase::Spec& o = m.spec();
  const std::int64_t hidden = o.hidden_size;
  const std::int64_t n = o.batch_first ? x.shape()[0] : x.shape()[1];
  if (t.defined() && t.shape() != Shape{o.num_layers, n, hidden}) {
    throw ShapeError(fmt::format("{}: {} is {}; expected [{}, {}, {}] for input {}", m.describe(), name, t.shape(),
                                 o.num_layers, n, hidden, x.shape()));
  }
  check_dtype_of(m, name, t, m.weights()[0].w_ih.dtype());
}

// x W_ihᵀ + b_ih for every step at once: [T, N, I] → T tensors [N, G·H].
std::vector<Tensor> input_gates(const Tensor& seq, const Weights& w) {
  const std::int64_t t = seq.shape()[0], n = seq.shape()[1];
  const Tensor all = linear(seq.reshape({t * n, seq.shape()[2]}), w.w_ih, w.b_ih);
  return split(all, n, 0);
}

Tensor layer_state(const Tensor& t, std::int64_t layer) { return t.defined() ? select(t, 0, layer) : Tensor{}; }

}  // namespace

// ---- the base: checks, weights, description ------------------------------------------------------------

RecurrentBase::RecurrentBase(const Spec& s, Generator& gen) : spec_(s) {
  check_sizes(s);
  const double r = 1 / std::sqrt(double(s.hidden_size));  // torch.nn's U(±1/√H) for every weight and bias
  const std::int64_t rows = s.gates * s.hidden_size;
  for (std::int64_t l = 0; l < s.num_layers; ++l) {
    const std::string suffix = s.cell ? std::string() : fmt::format("_l{}", l);
    const std::int64_t in = l == 0 ? s.input_size : s.hidden_size;
    Weights w;
    w.w_ih = register_parameter("weight_ih" + suffix, uniform({rows, in}, -r, r, s.dtype, gen), true);
    w.w_hh = register_parameter("weight_hh" + suffix, uniform({rows, s.hidden_size}, -r, r, s.dtype, gen), true);
    if (s.bias) {
      w.b_ih = register_parameter("bias_ih" + suffix, uniform({rows}, -r, r, s.dtype, gen), false);
      w.b_hh = register_parameter("bias_hh" + suffix, uniform({rows}, -r, r, s.dtype, gen), false);
    }
    weights_.push_back(w);
  }
}

bool RecurrentBase::is_relu(std::string_view kind, const std::string& nonlinearity) {
  if (nonlinearity != "tanh" && nonlinearity != "relu") {
    throw ValueError(fmt::format("{}: nonlinearity must be \"tanh\" or \"relu\", got \"{}\"", kind, nonlinearity));
  }
  return nonlinearity == "relu";
}

std::string RecurrentBase::describe() const {
  const Spec& o = spec_;
  std::string extra;
  if (o.num_layers != 1) extra += fmt::format(", {} layers", o.num_layers);
  if (o.batch_first) extra += ", batch first";
  if (!o.bias) extra += ", no bias";
  if (o.relu) extra += ", relu";
  return fmt::format("{}({}, {}{})", o.kind, o.input_size, o.hidden_size, extra);
}

// ---- cells -----------------------------------------------------------------------------------------

RNNCell::RNNCell(std::int64_t input_size, std::int64_t hidden_size, RNNCellOptions o, Generator& gen)
    : RecurrentBase({.kind = "RNNCell", .gates = 1, .cell = true, .input_size = input_size, .hidden_size = hidden_size,
                     .bias = o.bias, .relu = is_relu("RNNCell", o.nonlinearity), .dtype = o.dtype},
                    gen) {}
Tensor RNNCell::forward(const Tensor& x, const Tensor& h) {
  check_cell(*this, x, spec().input_size, spec().hidden_size, h, "h", weights_[0].w_ih.dtype());
  return rnn_step(linear(x, weights_[0].w_ih, weights_[0].b_ih), h, weights_[0], spec().relu);
}

LSTMCell::LSTMCell(std::int64_t input_size, std::int64_t hidden_size, LSTMCellOptions o, Generator& gen)
    : RecurrentBase({.kind = "LSTMCell", .gates = 4, .cell = true, .input_size = input_size, .hidden_size = hidden_size,
                     .bias = o.bias, .dtype = o.dtype},
                    gen) {}
LstmState LSTMCell::forward(const Tensor& x, const LstmState& state) {
  check_cell(*this, x, spec().input_size, spec().hidden_size, state.h, "h", weights_[0].w_ih.dtype());
  check_cell(*this, x, spec().input_size, spec().hidden_size, state.c, "c", weights_[0].w_ih.dtype());
  return lstm_step(linear(x, weights_[0].w_ih, weights_[0].b_ih), state, weights_[0]);
}

GRUCell::GRUCell(std::int64_t input_size, std::int64_t hidden_size, GRUCellOptions o, Generator& gen)
    : RecurrentBase({.kind = "GRUCell", .gates = 3, .cell = true, .input_size = input_size, .hidden_size = hidden_size,
                     .bias = o.bias, .dtype = o.dtype},
                    gen) {}
Tensor GRUCell::forward(const Tensor& x, const Tensor& h) {
  check_cell(*this, x, spec().input_size, spec().hidden_size, h, "h", weights_[0].w_ih.dtype());
  return gru_step(linear(x, weights_[0].w_ih, weights_[0].b_ih), h, weights_[0]);
}

// ---- layers ---------------------------------------------------------------------------------------------

namespace {
template <class Step>
RecurrentOutput run_layers(const RecurrentBase& m, const Tensor& x, const Tensor& h0, Step step) {
  const RecurrentBase::Spec& o = m.spec();
  const std::vector<Weights>& ws = m.weights();
  Tensor seq = sequence(m, x);
  check_state(m, h0, "h0", x);
  std::vector<Tensor> finals;
  for (std::int64_t l = 0; l < o.num_layers; ++l) {
    Tensor h = layer_state(h0, l);
    std::vector<Tensor> hs;
    for (const Tensor& xw : input_gates(seq, ws[std::size_t(l)])) hs.push_back(h = step(xw, h, ws[std::size_t(l)]));
    finals.push_back(h);
    seq = stack(hs, 0);
  }
  return {o.batch_first ? transpose(seq, 0, 1) : seq, stack(finals, 0)};
}
}  // namespace

RNN::RNN(std::int64_t input_size, std::int64_t hidden_size, RNNOptions o, Generator& gen)
    : RecurrentBase({.kind = "RNN", .gates = 1, .cell = false, .input_size = input_size, .hidden_size = hidden_size,
                     .num_layers = o.num_layers, .bias = o.bias, .batch_first = o.batch_first,
                     .relu = is_relu("RNN", o.nonlinearity), .dtype = o.dtype},
                    gen) {}
RecurrentOutput RNN::forward(const Tensor& x, const Tensor& h0) {
  const bool r = spec().relu;
  return run_layers(*this, x, h0, [r](const Tensor& xw, const Tensor& h, const Weights& w) { return rnn_step(xw, h, w, r); });
}

GRU::GRU(std::int64_t input_size, std::int64_t hidden_size, GRUOptions o, Generator& gen)
    : RecurrentBase({.kind = "GRU", .gates = 3, .cell = false, .input_size = input_size, .hidden_size = hidden_size,
                     .num_layers = o.num_layers, .bias = o.bias, .batch_first = o.batch_first, .dtype = o.dtype},
                    gen) {}
RecurrentOutput GRU::forward(const Tensor& x, const Tensor& h0) { return run_layers(*this, x, h0, gru_step); }

LSTM::LSTM(std::int64_t input_size, std::int64_t hidden_size, LSTMOptions o, Generator& gen)
    : RecurrentBase({.kind = "LSTM", .gates = 4, .cell = false, .input_size = input_size, .hidden_size = hidden_size,
                     .num_layers = o.num_layers, .bias = o.bias, .batch_first = o.batch_first, .dtype = o.dtype},
                    gen),
      dropout_(o.dropout) {
  if (!(o.dropout >= 0 && o.dropout <= 1)) {
    throw ValueError(fmt::format("LSTM: dropout must be in [0, 1], got {}", o.dropout));
  }
}
LstmOutput LSTM::forward(const Tensor& x, const LstmState& state) {
  const Spec& o = spec();
  Tensor seq = sequence(*this, x);
  check_state(*this, state.h, "h0", x);
  check_state(*this, state.c, "c0", x);
  const std::int64_t steps = seq.shape()[0], n = seq.shape()[1];
  std::vector<Tensor> hn, cn;
  for (std::int64_t l = 0; l < o.num_layers; ++l) {
    const Weights& w = weights_[std::size_t(l)];
    if (l > 0 && dropout_ > 0 && is_training()) seq = nabla::dropout(seq, dropout_, true);  // between layers, as torch.nn.LSTM
    if (detail::tracing()) {  // onnx::export_model records the composed cells, which map to ONNX ops one by one
      LstmState s{layer_state(state.h, l), layer_state(state.c, l)};
      std::vector<Tensor> hs;
      for (const Tensor& xw : input_gates(seq, w)) {
        s = lstm_step(xw, s, w);
        hs.push_back(s.h);
      }
      hn.push_back(s.h);
      cn.push_back(s.c);
      seq = stack(hs, 0);
      continue;
    }
    // The fused recurrence (ops/recurrent.cpp): x W_ihᵀ for all steps in one product, the rest in one op.
    const Tensor xw = matmul(seq.reshape({steps * n, seq.shape()[2]}), w.w_ih, {.trans_b = true})
                          .reshape({steps, n, 4 * o.hidden_size});
    auto [out, h, c] = lstm_recurrence(xw, w.w_hh, w.b_ih, w.b_hh, layer_state(state.h, l), layer_state(state.c, l));
    hn.push_back(h);
    cn.push_back(c);
    seq = out;
  }
  return {o.batch_first ? transpose(seq, 0, 1) : seq, {stack(hn, 0), stack(cn, 0)}};
}

}  // namespace nabla::nn
