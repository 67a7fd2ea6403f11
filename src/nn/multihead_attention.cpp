// src/nn/multihead_attention.cpp — nn::MultiheadAttention (torch.nn.MultiheadAttention's parameters, masks and
// two paths: fused scaled_dot_product_attention without weights, composed softmax with them), the
// causal mask helper and the positional embeddings.
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "nabla/nn_transformer.hpp"
#include "nabla/ops.hpp"

namespace nabla::nn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// A MultiheadAttention mask (bool: true = not allowed; float: added) as an additive mask of `dtype`.
Tensor additive(const Tensor& mask, Dtype dtype, const std::string& who, const char* what) {
  if (mask.dtype() == b8) return masked_fill(zeros(mask.shape(), dtype), mask, -kInf);
  if (mask.dtype() != dtype) {
    throw ValueError(fmt::format("{}: {} is {} {}; expected bool or the inputs' dtype {}", who, what, mask.dtype(),
                                 mask.shape(), dtype));
  }
  return mask;
}

/// [L, S] of `dtype`: row i may attend keys j ≤ i (top-left aligned, as scaled_dot_product_attention).
Tensor causal_mask(std::int64_t l, std::int64_t s, Dtype dtype) {
  std::vector<double> v(static_cast<std::size_t>(l * s), 0.0);
  for (std::int64_t i = 0; i < l; ++i) {
    for (std::int64_t j = i + 1; j < s; ++j) v[static_cast<std::size_t>(i * s + j)] = -kInf;
  }
  return from_vector(std::span<const double>(v), {l, s}, dtype);
}

}  // namespace

Tensor generate_square_subsequent_mask(std::int64_t size, Dtype dtype) {
  if (size < 0) throw ValueError(fmt::format("generate_square_subsequent_mask: size must be ≥ 0, got {}", size));
  if (!is_floating(dtype)) throw ValueError(fmt::format("generate_square_subsequent_mask: dtype must be float32 or float64, got {}", dtype));
  return causal_mask(size, size, dtype);
}

// ---- MultiheadAttention ------------------------------------------------------------------------------------

MultiheadAttention::MultiheadAttention(std::int64_t embed_dim, std::int64_t num_heads, MultiheadAttentionOptions opts,
                                       Generator& gen)
    : embed_dim_(embed_dim), heads_(num_heads), kdim_(opts.kdim > 0 ? opts.kdim : embed_dim),
      vdim_(opts.vdim > 0 ? opts.vdim : embed_dim), opts_(opts), packed_(kdim_ == embed_dim && vdim_ == embed_dim),
      gen_(opts.seed) {
  if (embed_dim <= 0 || num_heads <= 0 || opts.kdim < 0 || opts.vdim < 0) {
    throw ValueError(fmt::format("MultiheadAttention: embed_dim {} and num_heads {} must be positive (kdim {}, vdim {} ≥ 0)",
                                 embed_dim, num_heads, opts.kdim, opts.vdim));
  }
  if (embed_dim % num_heads != 0) {
    throw ValueError(fmt::format("MultiheadAttention: embed_dim {} must be divisible by num_heads {}", embed_dim, num_heads));
  }
  if (!(opts.dropout >= 0 && opts.dropout < 1)) {
    throw ValueError(fmt::format("MultiheadAttention: dropout must be in [0, 1), got {}", opts.dropout));
  }
  if (!is_floating(opts.dtype)) throw ValueError("MultiheadAttention: dtype must be float32 or float64");
  const OpScope scope("MultiheadAttention");
  const std::int64_t e = embed_dim;
  auto xavier = [&](std::int64_t rows, std::int64_t cols) {
    Tensor w = empty({rows, cols}, opts.dtype);
    init_(w, Init::xavier_uniform, cols, rows, gen);
    return w;
  };
  if (packed_) {
    in_proj_weight_ = register_parameter("in_proj_weight", xavier(3 * e, e), true);
  } else {
    q_weight_ = register_parameter("q_proj_weight", xavier(e, e), true);
    k_weight_ = register_parameter("k_proj_weight", xavier(e, kdim_), true);
    v_weight_ = register_parameter("v_proj_weight", xavier(e, vdim_), true);
  }
  if (opts.bias) in_proj_bias_ = register_parameter("in_proj_bias", zeros({3 * e}, opts.dtype), false);
  out_proj_ = std::make_shared<Linear>(e, e, LinearOptions{.has_bias = opts.bias, .dtype = opts.dtype}, gen);
  {
    NoGradGuard no_grad;
    Tensor w = out_proj_->weight();  // PyTorch's Linear: kaiming_uniform(a = √5), U(±1/√E)
    w.copy_(uniform(w.shape(), -1 / std::sqrt(double(e)), 1 / std::sqrt(double(e)), opts.dtype, gen));
    if (opts.bias) {
      Tensor b = out_proj_->bias();
      b.copy_(zeros({e}, opts.dtype));
    }
  }
  register_module("out_proj", out_proj_);
}

std::string MultiheadAttention::describe() const {
  return fmt::format("MultiheadAttention(embed_dim={}, num_heads={})", embed_dim_, heads_);
}

Tensor MultiheadAttention::forward(const Tensor& x) { return forward(x, x, x, {.need_weights = false}).output; }

AttentionOutput MultiheadAttention::operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                               const MultiheadAttentionForward& opts) {
  AttentionOutput out;
  run_scoped([&] { out = forward(query, key, value, opts); });
  return out;
}

AttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                            const MultiheadAttentionForward& opts) {
  const std::string me = describe();
  const Dtype dt = out_proj_->weight().dtype();
  for (const Tensor* t : {&query, &key, &value}) {
    if (!t->defined()) throw ValueError(fmt::format("{}: query, key and value must be defined", me));
    if (t->dtype() != dt) {
      throw ValueError(fmt::format("{}: query, key and value must be {} like the weights; got {} {}", me, dt, t->dtype(),
                                   t->shape()));
    }
  }
  const int rank = query.dim();
  if ((rank != 2 && rank != 3) || key.dim() != rank || value.dim() != rank) {
    throw ShapeError(fmt::format("{}: query {}, key {}, value {}: expected all 3-d (batched) or all 2-d (unbatched)", me,
                                 query.shape(), key.shape(), value.shape()));
  }
  const bool batched = rank == 3;
  Tensor q = query, k = key, v = value, kpm = opts.key_padding_mask;
  if (!batched) {
    q = unsqueeze(q, 1), k = unsqueeze(k, 1), v = unsqueeze(v, 1);
    if (kpm.defined()) {
      if (kpm.dim() != 1) throw ShapeError(fmt::format("{}: key_padding_mask is {}; expected [S] for unbatched inputs", me, kpm.shape()));
      kpm = unsqueeze(kpm, 0);
    }
  } else if (opts_.batch_first) {
    q = transpose(q, 0, 1), k = transpose(k, 0, 1), v = transpose(v, 0, 1);
  }
  const std::int64_t l = q.shape()[0], n = q.shape()[1], s = k.shape()[0], e = embed_dim_, h = heads_, hd = e / h;
  if (q.shape()[2] != e || k.shape()[1] != n || k.shape()[2] != kdim_ || v.shape()[0] != s || v.shape()[1] != n ||
      v.shape()[2] != vdim_) {
    throw ShapeError(fmt::format("{}: query {}, key {}, value {}{}: expected query [L, N, {}], key [S, N, {}], value [S, N, {}]",
                                 me, query.shape(), key.shape(), value.shape(), opts_.batch_first ? " (batch first)" : "",
                                 e, kdim_, vdim_));
  }
  const OpScope scope("MultiheadAttention");

  // Projections: x [T, N, F] → [T, N, E].
  auto project = [&](const Tensor& x, const Tensor& w, std::int64_t part) {
    const std::int64_t t = x.shape()[0], f = x.shape()[2];
    Tensor y = matmul(reshape(x, {t * n, f}), w, {.trans_b = true});
    if (in_proj_bias_.defined()) y = y + slice(in_proj_bias_, 0, part * e, (part + 1) * e);
    return reshape(y, {t, n, e});
  };
  Tensor wq = packed_ ? slice(in_proj_weight_, 0, 0, e) : q_weight_;
  Tensor wk = packed_ ? slice(in_proj_weight_, 0, e, 2 * e) : k_weight_;
  Tensor wv = packed_ ? slice(in_proj_weight_, 0, 2 * e, 3 * e) : v_weight_;
  // [T, N, E] → [N, H, T, hd]
  auto heads = [&](const Tensor& x) {
    const std::int64_t t = x.shape()[0];
    return permute(reshape(x, {t, n, h, hd}), {1, 2, 0, 3});
  };
  const Tensor qh = heads(project(q, wq, 0)), kh = heads(project(k, wk, 1)), vh = heads(project(v, wv, 2));

  // Masks, merged into one additive mask broadcastable to [N, H, L, S].
  Tensor mask;
  bool causal_flag = false;
  if (opts.attn_mask.defined()) {
    const Tensor& am = opts.attn_mask;
    if (am.dim() == 2) {
      if (am.shape() != Shape{l, s}) throw ShapeError(fmt::format("{}: attn_mask is {}; expected [{}, {}] (L, S)", me, am.shape(), l, s));
      mask = additive(am, dt, me, "attn_mask");
    } else if (am.dim() == 3) {
      if (am.shape() != Shape{n * h, l, s}) {
        throw ShapeError(fmt::format("{}: attn_mask is {}; expected [{}, {}, {}] (N·num_heads, L, S)", me, am.shape(), n * h, l, s));
      }
      mask = reshape(additive(am, dt, me, "attn_mask"), {n, h, l, s});
    } else {
      throw ShapeError(fmt::format("{}: attn_mask is {}; expected 2-d [L, S] or 3-d [N·num_heads, L, S]", me, am.shape()));
    }
  } else if (opts.is_causal) {
    causal_flag = true;
  }
  if (kpm.defined()) {
    if (kpm.shape() != Shape{n, s}) throw ShapeError(fmt::format("{}: key_padding_mask is {}; expected [{}, {}] (N, S)", me, opts.key_padding_mask.shape(), n, s));
    const Tensor kp = reshape(additive(kpm, dt, me, "key_padding_mask"), {n, 1, 1, s});
    if (causal_flag) mask = causal_mask(l, s, dt), causal_flag = false;
    mask = mask.defined() ? mask + kp : kp;
  }
  if (causal_flag && opts.need_weights) mask = causal_mask(l, s, dt), causal_flag = false;
  const double p = is_training() ? opts_.dropout : 0.0;

  Tensor attn;  // [N, H, L, hd]
  Tensor weights;
  if (!opts.need_weights) {
    attn = scaled_dot_product_attention(qh, kh, vh, mask, p, causal_flag, std::nullopt, gen_);
  } else {
    Tensor scores = matmul(qh * (1 / std::sqrt(double(hd))), transpose(kh, 2, 3));  // [N, H, L, S]
    if (mask.defined()) scores = scores + mask;
    weights = softmax(scores, 3);
    if (p > 0) {
      Tensor keep = uniform(weights.shape(), 0, 1, dt, gen_);
      keep = where(lt(keep, 1 - p), 1 / (1 - p), zeros(weights.shape(), dt)).detach();
      weights = weights * keep;
    }
    attn = matmul(weights, vh);
  }
  Tensor out = reshape(permute(attn, {2, 0, 1, 3}), {l * n, e});
  out = reshape((*out_proj_)(out), {l, n, e});
  if (!batched) {
    out = squeeze(out, 1);
  } else if (opts_.batch_first) {
    out = transpose(out, 0, 1);
  }
  if (weights.defined()) {
    if (opts.average_attn_weights) weights = mean(weights, 1);
    if (!batched) weights = squeeze(weights, 0);
  }
  return {out, weights};
}

// ---- positional embeddings ---------------------------------------------------------------------------------

Tensor sinusoidal_positional_encoding(std::int64_t length, std::int64_t dim, Dtype dtype) {
  if (length < 0 || dim <= 0) {
    throw ValueError(fmt::format("sinusoidal_positional_encoding: length {} must be ≥ 0 and dim {} positive", length, dim));
  }
  if (!is_floating(dtype)) throw ValueError("sinusoidal_positional_encoding: dtype must be float32 or float64");
  std::vector<double> v(static_cast<std::size_t>(length * dim));
  for (std::int64_t p = 0; p < length; ++p) {
    for (std::int64_t i = 0; 2 * i < dim; ++i) {
      const double w = std::exp(-std::log(10000.0) * double(2 * i) / double(dim));
      v[static_cast<std::size_t>(p * dim + 2 * i)] = std::sin(double(p) * w);
      if (2 * i + 1 < dim) v[static_cast<std::size_t>(p * dim + 2 * i + 1)] = std::cos(double(p) * w);
    }
  }
  return from_vector(std::span<const double>(v), {length, dim}, dtype);
}

namespace {
void check_positions(const std::string& who, const Tensor& x, std::int64_t max_len, std::int64_t dim) {
  if (x.dim() < 2 || x.shape()[x.dim() - 1] != dim || x.shape()[x.dim() - 2] > max_len) {
    throw ShapeError(fmt::format("{}: input is {}; expected [..., T, {}] with T ≤ {}", who, x.shape(), dim, max_len));
  }
}
}  // namespace

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(std::int64_t max_len, std::int64_t dim, Dtype dtype)
    : max_len_(max_len), dim_(dim), table_(sinusoidal_positional_encoding(max_len, dim, dtype)) {}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) {
  check_positions(describe(), x, max_len_, dim_);
  if (x.dtype() != table_.dtype()) throw ValueError(fmt::format("{}: input is {}; expected {}", describe(), x.dtype(), table_.dtype()));
  return x + slice(table_, 0, 0, x.shape()[x.dim() - 2]);
}

std::string SinusoidalPositionalEncoding::describe() const {
  return fmt::format("SinusoidalPositionalEncoding({}, {})", max_len_, dim_);
}

LearnedPositionalEmbedding::LearnedPositionalEmbedding(std::int64_t max_len, std::int64_t dim, Dtype dtype, Generator& gen)
    : max_len_(max_len), dim_(dim), embedding_(std::make_shared<Embedding>(max_len, dim, EmbeddingOptions{.dtype = dtype}, gen)) {
  register_module("embedding", embedding_);
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x) {
  check_positions(describe(), x, max_len_, dim_);
  return x + slice(embedding_->weight(), 0, 0, x.shape()[x.dim() - 2]);
}

std::string LearnedPositionalEmbedding::describe() const {
  return fmt::format("LearnedPositionalEmbedding({}, {})", max_len_, dim_);
}

}  // namespace nabla::nn
