// nabla/nn_transformer.hpp — attention and transformer layers with PyTorch's names, parameter names,
// defaults and semantics, so a PyTorch state_dict of the same model loads unchanged (load_state):
// MultiheadAttention, TransformerEncoderLayer / TransformerEncoder, TransformerDecoderLayer /
// TransformerDecoder, generate_square_subsequent_mask, and learned and sinusoidal positional embeddings.
//
//   nn::TransformerEncoderLayer layer(64, 4, {.dim_feedforward = 256, .batch_first = true});
//   nn::TransformerEncoder encoder(layer, 2);                  // children layers.0, layers.1 (copies)
//   Tensor y = encoder.forward(x, {.mask = nn::generate_square_subsequent_mask(T, f32)});
//
// Several inputs: Module::forward takes one tensor, so these modules add named forward methods with
// several tensors and an options struct (as libtorch's MultiheadAttentionImpl::forward(query, key,
// value, ...)), and call operators taking the same arguments that put the module on the anomaly module
// path (Module::run_scoped). forward(x) of the one-tensor interface is self-attention / the layer with no
// masks, so these modules also work inside Sequential.
//
// Masks follow torch.nn.MultiheadAttention, NOT scaled_dot_product_attention: a bool mask's true
// means the position may NOT be attended; a float mask is added to the scores (−inf drops a key).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nabla/nn.hpp"
#include "nabla/nn_layers.hpp"

namespace nabla::nn {

/// [T, T] of `dtype`: 0 on and below the diagonal, −inf above (nn.Transformer.generate_square_subsequent_mask).
Tensor generate_square_subsequent_mask(std::int64_t size, Dtype dtype = f32);

struct MultiheadAttentionOptions {
  double dropout = 0;            // on the attention weights, in training
  bool bias = true;              // in_proj_bias and out_proj.bias
  std::int64_t kdim = 0;         // key features; 0: embed_dim
  std::int64_t vdim = 0;         // value features; 0: embed_dim
  bool batch_first = false;      // [N, L, E] rather than [L, N, E]
  Dtype dtype = f32;
  std::uint64_t seed = 0;        // the dropout generator's seed
};

/// The options of MultiheadAttention::forward, with PyTorch's names and defaults.
struct MultiheadAttentionForward {
  Tensor key_padding_mask{};           // [N, S] ([S] unbatched): bool (true: padding, ignored) or float (added)
  bool need_weights = true;          // also return the attention weights (composed softmax path)
  Tensor attn_mask{};                  // [L, S] or [N·num_heads, L, S]: bool (true: not allowed) or float (added)
  bool average_attn_weights = true;  // weights averaged over the heads [N, L, S], else [N, num_heads, L, S]
  bool is_causal = false;            // a hint that attn_mask is the causal mask; with no attn_mask, the causal mask
};

struct AttentionOutput {
  Tensor output{};   // [L, N, E] ([N, L, E] batch first, [L, E] unbatched)
  Tensor weights{};  // undefined unless need_weights
};

/// torch.nn.MultiheadAttention: parameters in_proj_weight [3E, E] and in_proj_bias [3E] (or
/// q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim] when kdim or vdim ≠ E),
/// and the child out_proj (Linear: out_proj.weight [E, E], out_proj.bias [E]); PyTorch's initialization
/// (xavier uniform projections, zero biases, out_proj.weight U(±1/√E)). With need_weights false the
/// heads run through scaled_dot_product_attention (fused); with need_weights true through composed
/// softmax(q kᵀ/√d + mask) v, which also gives the weights. A row whose keys are all masked is NaN on
/// the weights path (as PyTorch's) and 0 on the fused path. embed_dim not divisible by num_heads, bad
/// input or mask shapes and dtypes are errors naming the module.
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, MultiheadAttentionOptions opts = {},
                     Generator& gen = default_generator());
  /// query [L, N, E], key [S, N, kdim], value [S, N, vdim] (batch first: [N, L, E] …; unbatched: [L, E] …).
  AttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                          const MultiheadAttentionForward& opts = {});
  /// forward(query, key, value, opts) on the anomaly module path.
  AttentionOutput operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                             const MultiheadAttentionForward& opts = {});
  using Module::operator();
  /// Self-attention without masks or weights: forward(x, x, x, {.need_weights = false}).output.
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  std::int64_t embed_dim() const { return embed_dim_; }
  std::int64_t num_heads() const { return heads_; }
  bool batch_first() const { return opts_.batch_first; }

 private:
  std::int64_t embed_dim_, heads_, kdim_, vdim_;
  MultiheadAttentionOptions opts_;
  bool packed_;  // in_proj_weight rather than q/k/v_proj_weight
  Tensor in_proj_weight_, q_weight_, k_weight_, v_weight_, in_proj_bias_;
  std::shared_ptr<Linear> out_proj_;
  Generator gen_;
};

struct TransformerLayerOptions {
  std::int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;  // pre-norm (x + f(norm(x))) rather than post-norm (norm(x + f(x)))
  bool bias = true;         // false is not supported yet (LayerNorm has no bias-free form here): a ValueError
  Dtype dtype = f32;
  std::uint64_t seed = 0;   // the dropout generators' seeds derive from it
};

struct EncoderForward {
  Tensor mask{};                  // src_mask: [S, S] or [N·nhead, S, S], MultiheadAttention's conventions
  Tensor src_key_padding_mask{};  // [N, S]
  bool is_causal = false;
};

/// torch.nn.TransformerEncoderLayer: children self_attn, linear1, dropout, linear2, norm1, norm2,
/// dropout1, dropout2 (PyTorch's names and order); the Linear layers initialized as PyTorch's
/// (weight and bias U(±1/√fan_in)).
class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(std::int64_t d_model, std::int64_t nhead, TransformerLayerOptions opts = {},
                          Generator& gen = default_generator());
  Tensor forward(const Tensor& src, const EncoderForward& opts);
  Tensor operator()(const Tensor& src, const EncoderForward& opts);
  using Module::operator();
  Tensor forward(const Tensor& src) override { return forward(src, EncoderForward{}); }
  std::string describe() const override;
  std::int64_t d_model() const { return d_model_; }
  std::int64_t nhead() const { return nhead_; }
  const TransformerLayerOptions& options() const { return opts_; }

 private:
  Tensor feed_forward(const Tensor& x);
  std::int64_t d_model_, nhead_;
  TransformerLayerOptions opts_;
  std::shared_ptr<MultiheadAttention> self_attn_;
  std::shared_ptr<Linear> linear1_, linear2_;
  std::shared_ptr<Dropout> dropout_, dropout1_, dropout2_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
};

/// torch.nn.TransformerEncoder: num_layers copies of `layer` (same options and values, as PyTorch's
/// deep copies) as children layers.0, layers.1, …, and the optional final `norm` as child "norm".
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const TransformerEncoderLayer& layer, std::int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  Tensor forward(const Tensor& src, const EncoderForward& opts);
  Tensor operator()(const Tensor& src, const EncoderForward& opts);
  using Module::operator();
  Tensor forward(const Tensor& src) override { return forward(src, EncoderForward{}); }
  std::string describe() const override;
  TransformerEncoderLayer& layer(std::size_t i) const;
  std::size_t num_layers() const { return layers_->size(); }

 private:
  std::shared_ptr<ModuleList> layers_;
  std::shared_ptr<LayerNorm> norm_;
};

struct DecoderForward {
  Tensor tgt_mask{};                  // [T, T] or [N·nhead, T, T]
  Tensor memory_mask{};               // [T, S] or [N·nhead, T, S]
  Tensor tgt_key_padding_mask{};      // [N, T]
  Tensor memory_key_padding_mask{};   // [N, S]
  bool tgt_is_causal = false;
  bool memory_is_causal = false;
};

/// torch.nn.TransformerDecoderLayer: children self_attn, multihead_attn, linear1, dropout, linear2,
/// norm1, norm2, norm3, dropout1, dropout2, dropout3.
class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(std::int64_t d_model, std::int64_t nhead, TransformerLayerOptions opts = {},
                          Generator& gen = default_generator());
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts = {});
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts = {});
  using Module::operator();
  /// A decoder layer needs memory: calling it with one tensor is a ValueError.
  Tensor forward(const Tensor& tgt) override;
  std::string describe() const override;
  std::int64_t d_model() const { return d_model_; }
  std::int64_t nhead() const { return nhead_; }
  const TransformerLayerOptions& options() const { return opts_; }

 private:
  std::int64_t d_model_, nhead_;
  TransformerLayerOptions opts_;
  std::shared_ptr<MultiheadAttention> self_attn_, multihead_attn_;
  std::shared_ptr<Linear> linear1_, linear2_;
  std::shared_ptr<Dropout> dropout_, dropout1_, dropout2_, dropout3_;
  std::shared_ptr<LayerNorm> norm1_, norm2_, norm3_;
};

/// torch.nn.TransformerDecoder: copies of `layer` as layers.0, …, and the optional final "norm".
class TransformerDecoder : public Module {
 public:
  TransformerDecoder(const TransformerDecoderLayer& layer, std::int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts = {});
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const DecoderForward& opts = {});
  using Module::operator();
  Tensor forward(const Tensor& tgt) override;
  std::string describe() const override;
  TransformerDecoderLayer& layer(std::size_t i) const;

 private:
  std::shared_ptr<ModuleList> layers_;
  std::shared_ptr<LayerNorm> norm_;
};

/// [T, d] sinusoidal positions (Vaswani et al. 2017): row p is sin(p·ω_i) at 2i and cos(p·ω_i) at 2i + 1
/// with ω_i = 10000^(−2i/d); an odd d drops the last cosine.
Tensor sinusoidal_positional_encoding(std::int64_t length, std::int64_t dim, Dtype dtype = f32);

/// Adds sinusoidal positions to x [..., T, dim] along axis −2 (batch-first [N, T, dim] or [T, dim]);
/// no parameters or buffers. T above max_len is a ShapeError.
class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(std::int64_t max_len, std::int64_t dim, Dtype dtype = f32);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t max_len_, dim_;
  Tensor table_;
};

/// Adds learned positions to x [..., T, dim] along axis −2: the child "embedding", an Embedding of
/// max_len rows (N(0, 1), as torch.nn.Embedding). T above max_len is a ShapeError.
class LearnedPositionalEmbedding : public Module {
 public:
  LearnedPositionalEmbedding(std::int64_t max_len, std::int64_t dim, Dtype dtype = f32,
                             Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return embedding_->weight(); }

 private:
  std::int64_t max_len_, dim_;
  std::shared_ptr<Embedding> embedding_;
};

}  // namespace nabla::nn
