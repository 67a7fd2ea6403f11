// src/nn/transformer.cpp — TransformerEncoderLayer / TransformerEncoder and TransformerDecoderLayer /
// TransformerDecoder, as torch.nn's (children, initialization, norm_first, relu / gelu, dropout).
#include <cmath>

#include <fmt/format.h>

#include "nabla/nn_transformer.hpp"
#include "nabla/ops.hpp"

namespace nabla::nn {

namespace {

void check_layer_options(const std::string& who, std::int64_t d_model, std::int64_t nhead, const TransformerLayerOptions& o) {
  if (d_model <= 0 || nhead <= 0 || o.dim_feedforward <= 0) {
    throw ValueError(fmt::format("{}: d_model {}, nhead {} and dim_feedforward {} must be positive", who, d_model, nhead,
                                 o.dim_feedforward));
  }
  if (d_model % nhead != 0) throw ValueError(fmt::format("{}: d_model {} must be divisible by nhead {}", who, d_model, nhead));
  if (o.activation != "relu" && o.activation != "gelu") {
    throw ValueError(fmt::format("{}: activation must be \"relu\" or \"gelu\", got \"{}\"", who, o.activation));
  }
  if (!o.bias) throw ValueError(fmt::format("{}: bias = false is not supported yet", who));
}

/// A Linear with PyTorch's initialization: weight and bias U(±1/√n_in).
std::shared_ptr<Linear> torch_linear(std::int64_t n_in, std::int64_t n_out, Dtype dtype, Generator& gen) {
  auto m = std::make_shared<Linear>(n_in, n_out, LinearOptions{.dtype = dtype}, gen);
  const double r = 1 / std::sqrt(double(n_in));
  NoGradGuard no_grad;
  Tensor w = m->weight(), b = m->bias();
  w.copy_(uniform(w.shape(), -r, r, dtype, gen));
  b.copy_(uniform(b.shape(), -r, r, dtype, gen));
  return m;
}

/// A Linear applied over the last axis of x [..., n_in].
Tensor linear_last(Linear& m, const Tensor& x) {
  Shape out = x.shape();
  std::int64_t rows = 1;
  for (int i = 0; i + 1 < x.dim(); ++i) rows *= x.shape()[i];
  out[out.rank() - 1] = m.n_out();
  return reshape(m(reshape(x, {rows, m.n_in()})), out);
}

std::shared_ptr<LayerNorm> norm(std::int64_t d, const TransformerLayerOptions& o) {
  return std::make_shared<LayerNorm>(Shape{d}, LayerNormOptions{.eps = o.layer_norm_eps, .dtype = o.dtype});
}

MultiheadAttentionOptions attention_options(const TransformerLayerOptions& o, std::uint64_t seed) {
  return {.dropout = o.dropout, .bias = o.bias, .batch_first = o.batch_first, .dtype = o.dtype, .seed = seed};
}

Tensor activate(const std::string& activation, const Tensor& x) { return activation == "gelu" ? gelu(x) : relu(x); }

}  // namespace

// ---- TransformerEncoderLayer ----------------------------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(std::int64_t d_model, std::int64_t nhead, TransformerLayerOptions opts,
                                                 Generator& gen)
    : d_model_(d_model), nhead_(nhead), opts_(opts) {
  check_layer_options("TransformerEncoderLayer", d_model, nhead, opts);
  self_attn_ = std::make_shared<MultiheadAttention>(d_model, nhead, attention_options(opts, opts.seed), gen);
  linear1_ = torch_linear(d_model, opts.dim_feedforward, opts.dtype, gen);
  dropout_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 1);
  linear2_ = torch_linear(opts.dim_feedforward, d_model, opts.dtype, gen);
  norm1_ = norm(d_model, opts), norm2_ = norm(d_model, opts);
  dropout1_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 2);
  dropout2_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 3);
  register_module("self_attn", self_attn_);
  register_module("linear1", linear1_);
  register_module("dropout", dropout_);
  register_module("linear2", linear2_);
  register_module("norm1", norm1_);
  register_module("norm2", norm2_);
  register_module("dropout1", dropout1_);
  register_module("dropout2", dropout2_);
}

std::string TransformerEncoderLayer::describe() const {
  return fmt::format("TransformerEncoderLayer(d_model={}, nhead={})", d_model_, nhead_);
}

Tensor TransformerEncoderLayer::feed_forward(const Tensor& x) {
  return (*dropout2_)(linear_last(*linear2_, (*dropout_)(activate(opts_.activation, linear_last(*linear1_, x)))));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const EncoderForward& opts) {
  auto sa = [&](const Tensor& x) {
    return (*dropout1_)((*self_attn_)(x, x, x,
                                      {.key_padding_mask = opts.src_key_padding_mask, .need_weights = false,
                                       .attn_mask = opts.mask, .is_causal = opts.is_causal})
                            .output);
  };
  Tensor x = src;
  if (opts_.norm_first) {
    x = x + sa((*norm1_)(x));
    x = x + feed_forward((*norm2_)(x));
  } else {
    x = (*norm1_)(x + sa(x));
    x = (*norm2_)(x + feed_forward(x));
  }
  return x;
}

Tensor TransformerEncoderLayer::operator()(const Tensor& src, const EncoderForward& opts) {
  Tensor y;
  run_scoped([&] { y = forward(src, opts); });
  return y;
}

// ---- TransformerEncoder ----------------------------------------------------------------------------------------

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayer& layer, std::int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : layers_(std::make_shared<ModuleList>()), norm_(std::move(norm)) {
  if (num_layers <= 0) throw ValueError(fmt::format("TransformerEncoder: num_layers must be positive, got {}", num_layers));
  const auto state = layer.state();
  for (std::int64_t i = 0; i < num_layers; ++i) {  // copies, as PyTorch's deepcopy
    auto copy = std::make_shared<TransformerEncoderLayer>(layer.d_model(), layer.nhead(), layer.options());
    copy->load_state(state);
    copy->train(layer.is_training());
    layers_->push_back(copy);
  }
  register_module("layers", layers_);
  if (norm_) register_module("norm", norm_);
}

TransformerEncoderLayer& TransformerEncoder::layer(std::size_t i) const {
  return static_cast<TransformerEncoderLayer&>((*layers_)[i]);
}

Tensor TransformerEncoder::forward(const Tensor& src, const EncoderForward& opts) {
  Tensor x = src;
  for (std::size_t i = 0; i < layers_->size(); ++i) x = layer(i)(x, opts);
  return norm_ ? (*norm_)(x) : x;
}

Tensor TransformerEncoder::operator()(const Tensor& src, const EncoderForward& opts) {
  Tensor y;
  run_scoped([&] { y = forward(src, opts); });
  return y;
}

std::string TransformerEncoder::describe() const { return fmt::format("TransformerEncoder({} layers)", layers_->size()); }

// ---- TransformerDecoderLayer ----------------------------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(std::int64_t d_model, std::int64_t nhead, TransformerLayerOptions opts,
                                                 Generator& gen)
    : d_model_(d_model), nhead_(nhead), opts_(opts) {
  check_layer_options("TransformerDecoderLayer", d_model, nhead, opts);
  self_attn_ = std::make_shared<MultiheadAttention>(d_model, nhead, attention_options(opts, opts.seed), gen);
  multihead_attn_ = std::make_shared<MultiheadAttention>(d_model, nhead, attention_options(opts, opts.seed + 1), gen);
  linear1_ = torch_linear(d_model, opts.dim_feedforward, opts.dtype, gen);
  dropout_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 2);
  linear2_ = torch_linear(opts.dim_feedforward, d_model, opts.dtype, gen);
  norm1_ = norm(d_model, opts), norm2_ = norm(d_model, opts), norm3_ = norm(d_model, opts);
  dropout1_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 3);
  dropout2_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 4);
  dropout3_ = std::make_shared<Dropout>(opts.dropout, opts.seed + 5);
  register_module("self_attn", self_attn_);
  register_module("multihead_attn", multihead_attn_);
  register_module("linear1", linear1_);
  register_module("dropout", dropout_);
  register_module("linear2", linear2_);
  register_module("norm1", norm1_);
  register_module("norm2", norm2_);
  register_module("norm3", norm3_);
  register_module("dropout1", dropout1_);
  register_module("dropout2", dropout2_);
  register_module("dropout3", dropout3_);
}

std::string TransformerDecoderLayer::describe() const {
  return fmt::format("TransformerDecoderLayer(d_model={}, nhead={})", d_model_, nhead_);
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt) {
  (void)tgt;
  throw ValueError(fmt::format("{}: needs memory; call forward(tgt, memory, options)", describe()));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts) {
  auto sa = [&](const Tensor& x) {
    return (*dropout1_)((*self_attn_)(x, x, x,
                                      {.key_padding_mask = opts.tgt_key_padding_mask, .need_weights = false,
                                       .attn_mask = opts.tgt_mask, .is_causal = opts.tgt_is_causal})
                            .output);
  };
  auto mha = [&](const Tensor& x) {
    return (*dropout2_)((*multihead_attn_)(x, memory, memory,
                                           {.key_padding_mask = opts.memory_key_padding_mask, .need_weights = false,
                                            .attn_mask = opts.memory_mask, .is_causal = opts.memory_is_causal})
                            .output);
  };
  auto ff = [&](const Tensor& x) {
    return (*dropout3_)(linear_last(*linear2_, (*dropout_)(activate(opts_.activation, linear_last(*linear1_, x)))));
  };
  Tensor x = tgt;
  if (opts_.norm_first) {
    x = x + sa((*norm1_)(x));
    x = x + mha((*norm2_)(x));
    x = x + ff((*norm3_)(x));
  } else {
    x = (*norm1_)(x + sa(x));
    x = (*norm2_)(x + mha(x));
    x = (*norm3_)(x + ff(x));
  }
  return x;
}

Tensor TransformerDecoderLayer::operator()(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts) {
  Tensor y;
  run_scoped([&] { y = forward(tgt, memory, opts); });
  return y;
}

// ---- TransformerDecoder ----------------------------------------------------------------------------------------

TransformerDecoder::TransformerDecoder(const TransformerDecoderLayer& layer, std::int64_t num_layers,
                                       std::shared_ptr<LayerNorm> norm)
    : layers_(std::make_shared<ModuleList>()), norm_(std::move(norm)) {
  if (num_layers <= 0) throw ValueError(fmt::format("TransformerDecoder: num_layers must be positive, got {}", num_layers));
  const auto state = layer.state();
  for (std::int64_t i = 0; i < num_layers; ++i) {
    auto copy = std::make_shared<TransformerDecoderLayer>(layer.d_model(), layer.nhead(), layer.options());
    copy->load_state(state);
    copy->train(layer.is_training());
    layers_->push_back(copy);
  }
  register_module("layers", layers_);
  if (norm_) register_module("norm", norm_);
}

TransformerDecoderLayer& TransformerDecoder::layer(std::size_t i) const {
  return static_cast<TransformerDecoderLayer&>((*layers_)[i]);
}

Tensor TransformerDecoder::forward(const Tensor& tgt) {
  (void)tgt;
  throw ValueError(fmt::format("{}: needs memory; call forward(tgt, memory, options)", describe()));
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts) {
  Tensor x = tgt;
  for (std::size_t i = 0; i < layers_->size(); ++i) x = layer(i)(x, memory, opts);
  return norm_ ? (*norm_)(x) : x;
}

Tensor TransformerDecoder::operator()(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts) {
  Tensor y;
  run_scoped([&] { y = forward(tgt, memory, opts); });
  return y;
}

std::string TransformerDecoder::describe() const { return fmt::format("TransformerDecoder({} layers)", layers_->size()); }

}  // namespace nabla::nn
