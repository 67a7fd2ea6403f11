// nabla/nn_recurrent.hpp — recurrent layers with libtorch's names and PyTorch's equations and
// parameter names: RNNCell, LSTMCell, GRUCell for one step, and RNN, LSTM, GRU over a sequence.
//
//   nn::LSTM lstm(64, 256);                       // input [T, N, 64] (batch_first: [N, T, 64])
//   auto [out, state] = lstm.forward(x, {});      // out [T, N, 256]; state.h, state.c [1, N, 256]
//   auto [out2, s2] = lstm.forward(x2, state);    // carry the state on (detach it to truncate BPTT)
//
// Gates as torch.nn: an LSTM's i, f, g, o and a GRU's r, z, n are stacked in that order in
// weight_ih [G·H, I], weight_hh [G·H, H], bias_ih and bias_hh [G·H]; a layer names them
// weight_ih_l0, … per layer, so PyTorch's state_dict loads as it is. Initial values U(±1/√H).
// Each is composed of matmul, sigmoid, tanh and chunk, so every order of gradient is theirs.
// Options: one struct per kind, as PyTorch's (RNNOptions{.num_layers = 2, .nonlinearity = "relu"}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/nn.hpp"  // the modules nn code uses with these (Linear, Sequential, …)

namespace nabla::nn {

/// The options of each recurrent kind, with PyTorch's names, order and defaults (bidirectional layers
/// are not implemented; dropout between layers only for LSTM). `nonlinearity` is "tanh" or "relu".
struct RNNOptions {
  std::int64_t num_layers = 1;  // layers stacked, each reading the one below; 1 … 65536
  std::string nonlinearity = "tanh";
  bool bias = true;
  bool batch_first = false;  // input and output [N, T, C] instead of [T, N, C] (the state stays [L, N, H])
  Dtype dtype = f32;
};
struct LSTMOptions {
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0;  // in training, dropout on each layer's output but the last's (default generator)
  Dtype dtype = f32;
};
struct GRUOptions {
  std::int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  Dtype dtype = f32;
};
struct RNNCellOptions {
  bool bias = true;
  std::string nonlinearity = "tanh";
  Dtype dtype = f32;
};
struct LSTMCellOptions {
  bool bias = true;
  Dtype dtype = f32;
};
struct GRUCellOptions {
  bool bias = true;
  Dtype dtype = f32;
};

/// What the recurrent modules share: their sizes, checked when made (a ValueError naming the
/// layer), their weights, one set per layer (a cell has one), and their description.
class RecurrentBase : public Module {
 public:
  struct Weights {
    Tensor w_ih, w_hh, b_ih, b_hh;  // the biases undefined without bias
  };
  /// A layer's sizes and options, whatever its kind.
  struct Spec {
    std::string_view kind;  // "LSTM": names the layer in errors and describe()
    std::int64_t gates;     // 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n)
    bool cell;              // one step, parameters named weight_ih, …; else layers weight_ih_l0, …
    std::int64_t input_size, hidden_size;
    std::int64_t num_layers = 1;
    bool bias = true, batch_first = false;
    bool relu = false;      // an RNN's nonlinearity is relu, not tanh
    Dtype dtype = f32;
  };
  const std::vector<Weights>& weights() const { return weights_; }
  const Spec& spec() const { return spec_; }
  std::string describe() const override;

 protected:
  /// Checks the sizes (positive; num_layers in [1, 65536]; a float dtype; the weights within a
  /// tensor's limit), then registers weight_ih{suffix}, weight_hh{suffix} and the biases of each
  /// layer, drawn U(±1/√H).
  RecurrentBase(const Spec& spec, Generator& gen);
  /// Whether `nonlinearity` is "relu" ("tanh": false); anything else is a ValueError naming `kind`.
  static bool is_relu(std::string_view kind, const std::string& nonlinearity);
  std::vector<Weights> weights_;

 private:
  Spec spec_;
};

/// An LSTM's hidden and cell state: [N, H] for a cell, [num_layers, N, H] for a layer.
struct LstmState {
  Tensor h, c;
};

/// One step of the gated recurrences on x [N, I] and the state [N, H] (undefined: zeros).
class RNNCell : public RecurrentBase {
 public:
  RNNCell(std::int64_t input_size, std::int64_t hidden_size, RNNCellOptions opts = {}, Generator& gen = default_generator());
  /// h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}); }
};

class LSTMCell : public RecurrentBase {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, LSTMCellOptions opts = {}, Generator& gen = default_generator());
  /// c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c') (Hochreiter & Schmidhuber 1997).
  LstmState forward(const Tensor& x, const LstmState& state);
  /// h' from zero state.
  Tensor forward(const Tensor& x) override { return forward(x, {}).h; }
};

class GRUCell : public RecurrentBase {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, GRUCellOptions opts = {}, Generator& gen = default_generator());
  /// h' = (1 − z) ⊙ n + z ⊙ h, n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)) (Cho et al. 2014).
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}); }
};

/// A sequence's outputs (the last layer's h at every step) and the final state of every layer.
struct RecurrentOutput {
  Tensor output;  // [T, N, H] ([N, T, H] batch first)
  Tensor h;       // [num_layers, N, H]
};
struct LstmOutput {
  Tensor output;
  LstmState state;  // h and c, [num_layers, N, H]
};

/// The recurrent layers over a whole sequence (torch.nn.RNN, LSTM, GRU). The initial state may be
/// undefined (zeros); a wrong shape is a ShapeError naming the layer and both shapes.
class RNN : public RecurrentBase {
 public:
  RNN(std::int64_t input_size, std::int64_t hidden_size, RNNOptions opts = {}, Generator& gen = default_generator());
  RecurrentOutput forward(const Tensor& x, const Tensor& h0);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}).output; }
};

class LSTM : public RecurrentBase {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, LSTMOptions opts = {}, Generator& gen = default_generator());
  /// Each layer: x W_ihᵀ for all steps in one product, then the fused recurrence (nabla::lstm_recurrence:
  /// one pass per step for the gates and the cell, W_hh's gradient one product over all steps). The
  /// same values as LSTMCell stepped over the sequence, the reference it is tested against.
  LstmOutput forward(const Tensor& x, const LstmState& state);
  Tensor forward(const Tensor& x) override { return forward(x, LstmState{}).output; }

 private:
  double dropout_ = 0;
};

class GRU : public RecurrentBase {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, GRUOptions opts = {}, Generator& gen = default_generator());
  RecurrentOutput forward(const Tensor& x, const Tensor& h0);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}).output; }
};

}  // namespace nabla::nn
