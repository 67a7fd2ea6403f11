// src/nn/layers.cpp — normalization layers, Embedding, transposed and 1-d convolution, adaptive
// pooling and upsampling (nabla/nn_layers.hpp).
#include <algorithm>
#include <limits>

#include <fmt/format.h>

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
  if (own.defined() && x.dtype() != own.dtype()) {
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

// ---- convolutions ----------------------------------------------------------------------------------------

ConvTranspose2d::ConvTranspose2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
                                 ConvTranspose2dOptions opts, Generator& gen)
    : in_(in_channels), out_(out_channels), kernel_(kernel),
      conv_{.stride = opts.stride, .padding = opts.padding, .output_padding = opts.output_padding} {
  if (in_channels <= 0 || out_channels <= 0 || kernel <= 0) {
    throw ValueError(fmt::format("ConvTranspose2d: channels and kernel must be positive, got {}, {}, {}", in_channels,
                                 out_channels, kernel));
  }
  if (opts.stride < 1 || opts.padding < 0 || opts.output_padding < 0 || opts.output_padding >= opts.stride) {
    throw ValueError(fmt::format("ConvTranspose2d: need stride ≥ 1, padding ≥ 0 and 0 ≤ output_padding < stride, got {}, {}, {}",
                                 opts.stride, opts.padding, opts.output_padding));
  }
  check_dtype("ConvTranspose2d", opts.dtype);
  const std::int64_t fan_in = out_channels * kernel * kernel;  // PyTorch's fan-in of a [C_in, C_out, k, k] weight
  Tensor w = empty({in_channels, out_channels, kernel, kernel}, opts.dtype);
  init_(w, opts.weight, fan_in, in_channels * kernel * kernel, gen);
  weight_ = register_parameter("weight", w, true);
  if (opts.has_bias) {
    Tensor b = empty({out_channels}, opts.dtype);
    init_(b, opts.bias, fan_in, in_channels * kernel * kernel, gen);
    bias_ = register_parameter("bias", b, false);
  }
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  if (x.dim() != 4 || x.shape()[1] != in_) {
    throw ShapeError(fmt::format("{}: input is {}; expected [N, {}, H, W]", describe(), x.shape(), in_));
  }
  return conv_transpose2d(x, weight_, bias_, conv_);
}

std::string ConvTranspose2d::describe() const {
  std::string extra;
  if (conv_.stride != 1) extra += fmt::format(", stride {}", conv_.stride);
  if (conv_.padding != 0) extra += fmt::format(", padding {}", conv_.padding);
  if (conv_.output_padding != 0) extra += fmt::format(", output_padding {}", conv_.output_padding);
  return fmt::format("ConvTranspose2d({}, {}, {}{})", in_, out_, kernel_, extra);
}

Conv1d::Conv1d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Conv1dOptions opts, Generator& gen)
    : in_(in_channels), out_(out_channels), kernel_(kernel),
      conv_{.stride = opts.stride, .padding = opts.padding, .dilation = opts.dilation, .groups = opts.groups} {
  if (in_channels <= 0 || out_channels <= 0 || kernel <= 0) {
    throw ValueError(fmt::format("Conv1d: channels and kernel must be positive, got {}, {}, {}", in_channels, out_channels, kernel));
  }
  if (opts.stride < 1 || opts.padding < 0 || opts.dilation < 1 || opts.groups < 1 || in_channels % opts.groups != 0 ||
      out_channels % opts.groups != 0) {
    throw ValueError(fmt::format("Conv1d: need stride ≥ 1, padding ≥ 0, dilation ≥ 1 and groups dividing both channel "
                                 "counts, got {}, {}, {}, {}", opts.stride, opts.padding, opts.dilation, opts.groups));
  }
  check_dtype("Conv1d", opts.dtype);
  const std::int64_t fan_in = in_channels / opts.groups * kernel;
  Tensor w = empty({out_channels, in_channels / opts.groups, kernel}, opts.dtype);
  init_(w, opts.weight, fan_in, out_channels / opts.groups * kernel, gen);
  weight_ = register_parameter("weight", w, true);
  if (opts.has_bias) {
    Tensor b = empty({out_channels}, opts.dtype);
    init_(b, opts.bias, fan_in, out_channels * kernel, gen);
    bias_ = register_parameter("bias", b, false);
  }
}

Tensor Conv1d::forward(const Tensor& x) {
  if (x.dim() != 3 || x.shape()[1] != in_) {
    throw ShapeError(fmt::format("{}: input is {}; expected [N, {}, L]", describe(), x.shape(), in_));
  }
  return conv1d(x, weight_, bias_, conv_);
}

std::string Conv1d::describe() const {
  std::string extra;
  if (conv_.stride != 1) extra += fmt::format(", stride {}", conv_.stride);
  if (conv_.padding != 0) extra += fmt::format(", padding {}", conv_.padding);
  if (conv_.dilation != 1) extra += fmt::format(", dilation {}", conv_.dilation);
  if (conv_.groups != 1) extra += fmt::format(", groups {}", conv_.groups);
  return fmt::format("Conv1d({}, {}, {}{})", in_, out_, kernel_, extra);
}

// ---- adaptive pooling and upsampling -------------------------------------------------------------------

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::int64_t out_h, std::int64_t out_w) : out_h_(out_h), out_w_(out_w > 0 ? out_w : out_h) {
  if (out_h < 1 || out_w < 0) throw ValueError(fmt::format("AdaptiveAvgPool2d: output size {}×{} must be positive", out_h, out_w));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  if (x.dim() != 4) throw ShapeError(fmt::format("{}: input is {}; expected [N, C, H, W]", describe(), x.shape()));
  return adaptive_avg_pool2d(x, out_h_, out_w_);
}

std::string AdaptiveAvgPool2d::describe() const { return fmt::format("AdaptiveAvgPool2d({}, {})", out_h_, out_w_); }

Upsample::Upsample(UpsampleOptions opts) : opts_(opts) {
  const bool by_scale = opts.scale_factor > 0 && opts.out_h == 0 && opts.out_w == 0;
  const bool by_size = opts.scale_factor == 0 && opts.out_h > 0 && opts.out_w > 0;
  if (!by_scale && !by_size) {
    throw ValueError(fmt::format("Upsample: give a positive scale_factor or a positive out_h and out_w, not both; got {}, {}×{}",
                                 opts.scale_factor, opts.out_h, opts.out_w));
  }
  if (by_scale) check_int_arg("Upsample", "scale_factor", opts.scale_factor, 1, kMaxNumel);
}

Tensor Upsample::forward(const Tensor& x) {
  if (x.dim() != 4) throw ShapeError(fmt::format("{}: input is {}; expected [N, C, H, W]", describe(), x.shape()));
  if (opts_.scale_factor > 0) {
    const std::string what = describe();
    return upsample_nearest2d(x, checked_mul(what, "the output height", x.shape()[2], opts_.scale_factor),
                              checked_mul(what, "the output width", x.shape()[3], opts_.scale_factor));
  }
  return upsample_nearest2d(x, opts_.out_h, opts_.out_w);
}

std::string Upsample::describe() const {
  return opts_.scale_factor > 0 ? fmt::format("Upsample(scale {})", opts_.scale_factor)
                                : fmt::format("Upsample({}×{})", opts_.out_h, opts_.out_w);
}

}  // namespace nabla::nn
