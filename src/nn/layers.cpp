// src/nn/layers.cpp — normalization layers and Embedding (nabla/nn_layers.hpp).
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "nabla/autocast.hpp"
#include "nabla/nn_layers.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla::nn {

namespace {
void check_dtype(std::string_view layer, Dtype d) {
  if (!is_floating(d)) throw ValueError(fmt::format("{}: dtype must be float32 or float64, got {}", layer, d));
}
}  // namespace

// ---- batch normalization -------------------------------------------------------------------------

BatchNorm::BatchNorm(std::string kind, std::int64_t num_features, BatchNormOptions opts, std::vector<int> ranks)
    : kind_(std::move(kind)), features_(num_features), opts_(opts), ranks_(std::move(ranks)) {
  if (num_features <= 0) throw ValueError(fmt::format("{}: num_features must be positive, got {}", kind_, num_features));
  if (!(opts.eps > 0) || !(opts.momentum >= 0 && opts.momentum <= 1)) {
    throw ValueError(fmt::format("{}: need eps > 0 and momentum in [0, 1], got {} and {}", kind_, opts.eps, opts.momentum));
  }
  check_dtype(kind_, opts.dtype);
  if (opts.affine) {
    weight_ = register_parameter("weight", ones({num_features}, opts.dtype), true);
    bias_ = register_parameter("bias", zeros({num_features}, opts.dtype), false);
  }
  if (opts.track_running_stats) {
    running_mean_ = register_buffer("running_mean", zeros({num_features}, opts.dtype));
    running_var_ = register_buffer("running_var", ones({num_features}, opts.dtype));
    batches_ = register_buffer("num_batches_tracked", zeros({}, i64));
  }
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (std::find(ranks_.begin(), ranks_.end(), x.dim()) == ranks_.end() || x.shape()[1] != features_) {
    throw ShapeError(fmt::format("{}: input is {}; expected {}", describe(), x.shape(),
                                 ranks_.back() == 4 ? fmt::format("[N, {}, H, W]", features_)
                                                    : fmt::format("[N, {}] or [N, {}, L]", features_, features_)));
  }
  const Tensor& own = weight_.defined() ? weight_ : running_mean_;  // the layer's dtype (after any to())
  if (own.defined() && x.dtype() != own.dtype() && !(autocast_enabled() && x.dtype() == Dtype::bf16)) {
    throw ValueError(fmt::format("{}: input is {}, the layer is {}", describe(), x.dtype(), own.dtype()));
  }
  Tensor y = batch_norm(x, running_mean_, running_var_, weight_, bias_, is_training(), opts_.momentum, opts_.eps);
  if (is_training() && batches_.defined()) {  // counted once batch_norm has accepted the batch
    std::int64_t* count = batches_.mutable_data<std::int64_t>();
    if (*count < std::numeric_limits<std::int64_t>::max()) ++*count;  // in int64, saturating (a loaded count may be huge)
  }
  return y;
}

std::string BatchNorm::describe() const { return fmt::format("{}({})", kind_, features_); }

// ---- layer and group normalization ------------------------------------------------------------------

LayerNorm::LayerNorm(Shape normalized_shape, LayerNormOptions opts) : shape_(normalized_shape), opts_(opts) {
  if (shape_.rank() == 0 || shape_.numel() <= 0) {
    throw ValueError(fmt::format("LayerNorm: the normalized shape must be non-empty, got {}", shape_));
  }
  if (!(opts.eps > 0)) throw ValueError(fmt::format("LayerNorm: need eps > 0, got {}", opts.eps));
  check_dtype("LayerNorm", opts.dtype);
  if (opts.elementwise_affine) {
    weight_ = register_parameter("weight", ones(shape_, opts.dtype), true);
    bias_ = register_parameter("bias", zeros(shape_, opts.dtype), false);
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  bool fits = x.dim() >= shape_.rank();
  for (int i = 0; fits && i < shape_.rank(); ++i) fits = x.shape()[x.dim() - shape_.rank() + i] == shape_[i];
  if (!fits) throw ShapeError(fmt::format("{}: input is {}; expected [..., {}]", describe(), x.shape(), fmt::join(shape_, ", ")));
  return layer_norm(x, shape_, weight_, bias_, opts_.eps);
}

std::string LayerNorm::describe() const { return fmt::format("LayerNorm({})", shape_); }

GroupNorm::GroupNorm(std::int64_t num_groups, std::int64_t num_channels, GroupNormOptions opts)
    : groups_(num_groups), channels_(num_channels), opts_(opts) {
  if (num_groups <= 0 || num_channels <= 0 || num_channels % num_groups != 0) {
    throw ValueError(fmt::format("GroupNorm: {} channels do not split into {} groups", num_channels, num_groups));
  }
  if (!(opts.eps > 0)) throw ValueError(fmt::format("GroupNorm: need eps > 0, got {}", opts.eps));
  check_dtype("GroupNorm", opts.dtype);
  if (opts.affine) {
    weight_ = register_parameter("weight", ones({num_channels}, opts.dtype), true);
    bias_ = register_parameter("bias", zeros({num_channels}, opts.dtype), false);
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  if (x.dim() < 2 || x.shape()[1] != channels_) {
    throw ShapeError(fmt::format("{}: input is {}; expected [N, {}, ...]", describe(), x.shape(), channels_));
  }
  return group_norm(x, groups_, weight_, bias_, opts_.eps);
}

std::string GroupNorm::describe() const { return fmt::format("GroupNorm({}, {})", groups_, channels_); }

// ---- Embedding -------------------------------------------------------------------------------------------

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, EmbeddingOptions opts, Generator& gen)
    : num_(num_embeddings), dim_(embedding_dim) {
  if (num_embeddings <= 0 || embedding_dim <= 0) {
    throw ValueError(fmt::format("Embedding: sizes must be positive, got {} and {}", num_embeddings, embedding_dim));
  }
  check_dtype("Embedding", opts.dtype);
  checked_bytes("Embedding", Shape{num_embeddings, embedding_dim}, opts.dtype);  // before anything is made
  weight_ = register_parameter("weight", randn({num_embeddings, embedding_dim}, opts.dtype, gen), true);
}

Tensor Embedding::forward(const Tensor& indices) {
  if (indices.dtype() != i64) {
    throw ValueError(fmt::format("{}: indices are {} {}; expected int64", describe(), indices.dtype(), indices.shape()));
  }
  if (indices.dim() == Shape::kMaxRank) {
    throw ShapeError(fmt::format("{}: indices {} have {} axes; the output has one more, past the maximum rank of {}",
                                 describe(), indices.shape(), indices.dim(), Shape::kMaxRank));
  }
  check_indices(describe(), indices, num_);
  return embedding(indices, weight_);
}

std::string Embedding::describe() const { return fmt::format("Embedding({}, {})", num_, dim_); }

}  // namespace nabla::nn
