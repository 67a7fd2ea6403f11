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
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nabla/nn.hpp"

namespace nabla::nn {

struct RecurrentOptions {
  std::int64_t num_layers = 1;  // layers stacked, each reading the one below (layers, not cells); 1 … 65536
  bool batch_first = false;     // input and output [N, T, C] instead of [T, N, C] (the state stays [L, N, H])
  bool bias = true;
  bool relu = false;            // RNN only: ReLU instead of tanh
  Dtype dtype = f32;
};

/// What the recurrent modules share: their weights, one set per layer (a cell has one).
class RecurrentBase : public Module {
 public:
  struct Weights {
    Tensor w_ih, w_hh, b_ih, b_hh;  // the biases undefined without bias
  };
  const std::vector<Weights>& weights() const { return weights_; }

 protected:
  /// Registers weight_ih{suffix}, weight_hh{suffix} (and the biases) for `gates` gates.
  void add_layer(const std::string& suffix, std::int64_t gates, std::int64_t in, std::int64_t hidden, bool bias, Dtype dtype,
                 Generator& gen);
  /// add_layer for each of opts.num_layers layers ("_l0", "_l1", …), the first reading `in` inputs.
  void add_layers(std::int64_t gates, std::int64_t in, std::int64_t hidden, const RecurrentOptions& opts, Generator& gen);
  std::vector<Weights> weights_;
};

/// An LSTM's hidden and cell state: [N, H] for a cell, [num_layers, N, H] for a layer.
struct LstmState {
  Tensor h, c;
};

/// One step of the gated recurrences on x [N, I] and the state [N, H] (undefined: zeros).
class RNNCell : public RecurrentBase {
 public:
  RNNCell(std::int64_t input_size, std::int64_t hidden_size, RecurrentOptions opts = {}, Generator& gen = default_generator());
  /// h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}); }
  std::string describe() const override;

 private:
  std::int64_t in_, hidden_;
  bool relu_;
};

class LSTMCell : public RecurrentBase {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, RecurrentOptions opts = {}, Generator& gen = default_generator());
  /// c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g), h' = σ(o) ⊙ tanh(c') (Hochreiter & Schmidhuber 1997).
  LstmState forward(const Tensor& x, const LstmState& state);
  /// h' from zero state.
  Tensor forward(const Tensor& x) override { return forward(x, {}).h; }
  std::string describe() const override;

 private:
  std::int64_t in_, hidden_;
};

class GRUCell : public RecurrentBase {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, RecurrentOptions opts = {}, Generator& gen = default_generator());
  /// h' = (1 − z) ⊙ n + z ⊙ h, n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)) (Cho et al. 2014).
  Tensor forward(const Tensor& x, const Tensor& h);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}); }
  std::string describe() const override;

 private:
  std::int64_t in_, hidden_;
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
  RNN(std::int64_t input_size, std::int64_t hidden_size, RecurrentOptions opts = {}, Generator& gen = default_generator());
  RecurrentOutput forward(const Tensor& x, const Tensor& h0);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}).output; }
  std::string describe() const override;

 private:
  std::int64_t in_, hidden_;
  RecurrentOptions opts_;
};

class LSTM : public RecurrentBase {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, RecurrentOptions opts = {}, Generator& gen = default_generator());
  LstmOutput forward(const Tensor& x, const LstmState& state);
  Tensor forward(const Tensor& x) override { return forward(x, LstmState{}).output; }
  std::string describe() const override;

 private:
  std::int64_t in_, hidden_;
  RecurrentOptions opts_;
};

class GRU : public RecurrentBase {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, RecurrentOptions opts = {}, Generator& gen = default_generator());
  RecurrentOutput forward(const Tensor& x, const Tensor& h0);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor{}).output; }
  std::string describe() const override;

 private:
  std::int64_t in_, hidden_;
  RecurrentOptions opts_;
};

}  // namespace nabla::nn
