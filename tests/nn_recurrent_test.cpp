// Recurrent layers (nabla/nn_recurrent.hpp): gradchecked in float64 through several steps, the
// state carried between calls, and wrong shapes named (PyTorch's values: layers_reference_test.cpp).
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using doctest::Contains;
using nabla_test::check_grad;
using nabla_test::max_abs_diff;
using nabla_test::param;

TEST_CASE("gradcheck: LSTM, GRU and RNN layers through time, with their initial states") {
  Generator gen(1);
  nn::LSTM lstm(3, 2, {.num_layers = 2, .dtype = f64}, gen);
  Tensor x = param({4, 2, 3}, gen), h0 = param({2, 2, 2}, gen), c0 = param({2, 2, 2}, gen);
  CHECK(check_grad([&](const Tensor& x, const Tensor& h, const Tensor& c) {
          const nn::LstmOutput o = lstm.forward(x, {h, c});
          return sum(o.output * o.output) + sum(o.state.c);
        }, {x, h0, c0}));
  nn::GRU gru(3, 2, {.batch_first = true, .dtype = f64}, gen);
  Tensor xb = param({2, 3, 3}, gen), g0 = param({1, 2, 2}, gen);
  CHECK(check_grad([&](const Tensor& x, const Tensor& h) { return gru.forward(x, h).output; }, {xb, g0}));
  nn::RNN rnn(3, 2, {.dtype = f64}, gen);
  CHECK(check_grad([&](const Tensor& x) { return rnn(x); }, {x}));
  // The parameters' gradients too (each weight through every step).
  const nn::Param w = lstm.parameters()[1];  // a copy: parameters() returns a new vector
  CHECK(w.name == "weight_hh_l0");
  CHECK(check_grad([&](const Tensor&) { return lstm(x); }, {w.tensor}));
}

TEST_CASE("nn: an LSTM's state carries over between calls, equal to one call over the whole sequence") {
  Generator gen(2);
  nn::LSTM lstm(3, 4, {.dtype = f64}, gen);
  const Tensor x = randn({6, 2, 3}, f64, gen);
  const nn::LstmOutput whole = lstm.forward(x, {});
  const nn::LstmOutput first = lstm.forward(slice(x, 0, 0, 4), {});
  const nn::LstmOutput rest = lstm.forward(slice(x, 0, 4), first.state);
  CHECK(max_abs_diff(cat({first.output, rest.output}, 0), whole.output) < 1e-15);
  CHECK(max_abs_diff(rest.state.c, whole.state.c) < 1e-15);
  CHECK(whole.state.h.shape() == Shape{1, 2, 4});
  CHECK(max_abs_diff(select(whole.output, 0, 5), select(whole.state.h, 0, 0)) == 0);
  nn::LSTMCell cell(3, 4, {.dtype = f64}, gen);
  CHECK(cell(select(x, 0, 0)).shape() == Shape{2, 4});
}

TEST_CASE("nn: a recurrent layer given a wrong input or hidden-state shape names both") {
  nn::LSTM lstm(10, 20);
  const Tensor x = randn({7, 4, 10});
  CHECK_THROWS_WITH_AS(lstm.forward(x, {randn({1, 3, 20}), Tensor{}}),
                       "LSTM(10, 20): h0 is [1, 3, 20]; expected [1, 4, 20] for input [7, 4, 10]", ShapeError);
  CHECK_THROWS_WITH_AS(lstm.forward(x, {randn({1, 4, 20}), randn({2, 4, 20})}),
                       "LSTM(10, 20): c0 is [2, 4, 20]; expected [1, 4, 20] for input [7, 4, 10]", ShapeError);
  CHECK_THROWS_WITH_AS(lstm(randn({7, 4, 9})), "LSTM(10, 20): input is [7, 4, 9]; expected [T, N, 10]", ShapeError);
  nn::GRU gru(10, 20, {.num_layers = 2, .batch_first = true});
  CHECK_THROWS_WITH_AS(gru.forward(randn({4, 7, 10}), randn({1, 4, 20})),
                       "GRU(10, 20, 2 layers, batch first): h0 is [1, 4, 20]; expected [2, 4, 20] for input [4, 7, 10]",
                       ShapeError);
  nn::LSTMCell cell(10, 20);
  CHECK_THROWS_WITH_AS(cell.forward(randn({4, 10}), {randn({4, 21}), Tensor{}}),
                       "LSTMCell(10, 20): h is [4, 21]; expected [4, 20] for input [4, 10]", ShapeError);
  CHECK_THROWS_AS(nn::LSTM(0, 3), ValueError);
}

namespace {
template <class O>
constexpr bool has_num_layers = requires(O o) { o.num_layers; };
template <class O>
constexpr bool has_nonlinearity = requires(O o) { o.nonlinearity; };
}  // namespace

TEST_CASE("recurrent options: one struct per kind with PyTorch's fields; the nonlinearity is an RNN's") {
  static_assert(has_num_layers<nn::RNNOptions> && has_num_layers<nn::LSTMOptions> && has_num_layers<nn::GRUOptions>);
  static_assert(!has_num_layers<nn::RNNCellOptions> && !has_num_layers<nn::LSTMCellOptions> && !has_num_layers<nn::GRUCellOptions>);
  static_assert(has_nonlinearity<nn::RNNOptions> && has_nonlinearity<nn::RNNCellOptions>);
  static_assert(!has_nonlinearity<nn::LSTMOptions> && !has_nonlinearity<nn::GRUOptions> && !has_nonlinearity<nn::GRUCellOptions>);
  // PyTorch's order: num_layers, nonlinearity, bias, batch_first.
  nn::RNN rnn(3, 4, {.num_layers = 2, .nonlinearity = "relu", .bias = false, .batch_first = true});
  CHECK(rnn.describe() == "RNN(3, 4, 2 layers, batch first, no bias, relu)");
  CHECK(rnn.parameters().size() == 4);
  CHECK(rnn.forward(ones({5, 7, 3})).shape() == Shape{5, 7, 4});
  CHECK(amin(rnn.forward(ones({5, 7, 3}))).item() >= 0);  // relu
  nn::RNNCell cell(3, 4, {.bias = true, .nonlinearity = "relu"});
  CHECK(cell.describe() == "RNNCell(3, 4, relu)");
  CHECK(nn::GRUCell(3, 4, {.bias = false}).describe() == "GRUCell(3, 4, no bias)");
  CHECK_THROWS_WITH_AS(nn::RNN(3, 4, {.nonlinearity = "sigmoid"}), "RNN: nonlinearity must be \"tanh\" or \"relu\", got \"sigmoid\"",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::RNNCell(3, 4, {.nonlinearity = "ReLU"}), "RNNCell: nonlinearity must be \"tanh\" or \"relu\", got \"ReLU\"",
                       ValueError);
  CHECK_THROWS_WITH_AS(nn::GRUCell(0, 4), "GRUCell: need positive sizes and num_layers, got input 0, hidden 4, 1 layers", ValueError);
  // A layer converted with to() takes inputs of its new dtype.
  nn::GRU gru(3, 4);
  gru.to(f64);
  CHECK(gru.forward(ones({2, 1, 3}, f64)).dtype() == f64);
}
