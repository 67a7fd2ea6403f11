// examples/char_gpt_model.hpp — the decoder-only transformer of nabla-char-gpt (and of bench_models'
// char_gpt row): token embedding plus learned or sinusoidal positions, `layers` pre-norm blocks of
// causal self-attention and a GELU MLP (nn::TransformerEncoderLayer with norm_first and is_causal:
// x + attn(norm1(x)), then x + mlp(norm2(x))), a final LayerNorm and a linear head, optionally tied
// to the token embedding (GPT-2's layout at a small size).
//
//   CharGpt model({.width = 96, .layers = 3, .heads = 4, .context = 128}, gen);
//   Tensor logits = model(chars);      // chars [T, N] int64 → logits [T·N, vocab]
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nabla/nabla.hpp>

namespace char_gpt {

struct GptConfig {
  std::int64_t vocab = 96;
  std::int64_t width = 96;     // d_model
  std::int64_t layers = 3;
  std::int64_t heads = 4;
  std::int64_t ff = 0;         // the MLP's hidden width; 0: 4 · width
  std::int64_t context = 128;  // the longest sequence (the positions' table)
  double dropout = 0;          // on the embeddings, the attention weights, and each residual branch
  bool learned_positions = false;
  bool tied = false;           // the head's weight is the token embedding's
  std::uint64_t seed = 0;      // dropout generators
};

class CharGpt : public nabla::nn::Module {
 public:
  CharGpt(const GptConfig& c, nabla::Generator& gen) : c_(c) {
    using namespace nabla;
    if (c.width % c.heads != 0) {
      throw ValueError(fmt::format("CharGpt: width {} is not divisible by heads {}", c.width, c.heads));
    }
    embedding_ = std::make_shared<nn::Embedding>(c.vocab, c.width, nn::EmbeddingOptions{}, gen);
    // N(0, 1) as torch.nn.Embedding; with a tied head N(0, 1/width), so that the head starts with
    // logits of order one.
    nn::init::normal_(embedding_->weight(), 0, c.tied ? 1 / std::sqrt(double(c.width)) : 1.0, gen);
    register_module("embedding", embedding_);
    if (c.learned_positions) {
      positions_ = std::make_shared<nn::Embedding>(c.context, c.width, nn::EmbeddingOptions{}, gen);
      nn::init::normal_(positions_->weight(), 0, c.tied ? 1 / std::sqrt(double(c.width)) : 1.0, gen);
      register_module("positions", positions_);
    } else {
      table_ = nn::sinusoidal_positional_encoding(c.context, c.width);
    }
    drop_ = std::make_shared<nn::Dropout>(c.dropout, c.seed);
    register_module("dropout", drop_);
    auto blocks = std::make_shared<nn::ModuleList>();
    for (std::int64_t i = 0; i < c.layers; ++i) {
      auto b = std::make_shared<nn::TransformerEncoderLayer>(
          c.width, c.heads,
          nn::TransformerLayerOptions{.dim_feedforward = c.ff > 0 ? c.ff : 4 * c.width, .dropout = c.dropout,
                                      .activation = "gelu", .norm_first = true, .seed = c.seed + 10 * std::uint64_t(i + 1)},
          gen);
      blocks_.push_back(b);
      blocks->push_back(b);
    }
    register_module("blocks", blocks);
    norm_ = std::make_shared<nn::LayerNorm>(Shape{c.width});
    register_module("norm", norm_);
    if (c.tied) {
      head_bias_ = register_parameter("head_bias", zeros({c.vocab}), false);
    } else {
      head_ = std::make_shared<nn::Linear>(c.width, c.vocab, nn::LinearOptions{}, gen);
      register_module("head", head_);
    }
  }

  /// chars [T, N] (T ≤ context) → next-character logits [T·N, vocab].
  nabla::Tensor forward(const nabla::Tensor& chars) override {
    using namespace nabla;
    const std::int64_t T = chars.shape()[0];
    if (chars.dim() != 2 || T > c_.context) {
      throw ShapeError(fmt::format("CharGpt: characters {}; expected [T, N] with T ≤ {}", chars.shape(), c_.context));
    }
    const Tensor pos = c_.learned_positions ? slice(positions_->weight(), 0, 0, T) : slice(table_, 0, 0, T);
    Tensor x = (*drop_)((*embedding_)(chars) + unsqueeze(pos, 1));  // [T, N, width]
    for (const auto& b : blocks_) x = (*b)(x, nn::EncoderForward{.is_causal = true});
    x = reshape((*norm_)(x), {-1, c_.width});
    if (c_.tied) return matmul(x, embedding_->weight(), {.trans_b = true}) + head_bias_;
    return (*head_)(x);
  }
  std::string describe() const override {
    return fmt::format("CharGpt(vocab {}, width {}, {} layers × {} heads, MLP {}, context {}, {} positions{}{})", c_.vocab,
                       c_.width, c_.layers, c_.heads, c_.ff > 0 ? c_.ff : 4 * c_.width, c_.context,
                       c_.learned_positions ? "learned" : "sinusoidal", c_.tied ? ", tied head" : "",
                       c_.dropout > 0 ? fmt::format(", dropout {}", c_.dropout) : "");
  }
  const GptConfig& config() const { return c_; }

 private:
  GptConfig c_;
  std::shared_ptr<nabla::nn::Embedding> embedding_, positions_;
  nabla::Tensor table_, head_bias_;
  std::shared_ptr<nabla::nn::Dropout> drop_;
  std::vector<std::shared_ptr<nabla::nn::TransformerEncoderLayer>> blocks_;
  std::shared_ptr<nabla::nn::LayerNorm> norm_;
  std::shared_ptr<nabla::nn::Linear> head_;
};

}  // namespace char_gpt
