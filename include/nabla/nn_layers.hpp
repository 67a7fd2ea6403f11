// nabla/nn_layers.hpp — normalization and embedding layers, with libtorch's names and PyTorch's
// semantics: batch, layer and group normalization, embeddings. (Convolution and pooling:
// nabla/nn_conv.hpp; recurrent layers: nabla/nn_recurrent.hpp.)
//
//   nn::Sequential net{nn::Conv2d(1, 16, 3, {.padding = 1}), nn::BatchNorm2d(16), nn::ReLU(), ...};
//   net.eval();   // batch norm now uses its running statistics
//
// Each checks its input's shape and names itself and the shapes when they are wrong.
#pragma once

#include <cstdint>
#include <string>

#include "nabla/nn.hpp"

namespace nabla::nn {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;              // running = (1 − momentum)·running + momentum·batch
  bool affine = true;                 // learned weight (ones) and bias (zeros)
  bool track_running_stats = true;    // buffers running_mean, running_var, num_batches_tracked
  Dtype dtype = f32;
};

/// Batch normalization per channel (Ioffe & Szegedy 2015), as torch.nn.BatchNorm1d/2d: in training
/// mode it normalizes with the batch's statistics and updates the running ones; in evaluation mode
/// (eval()) it uses the running ones. Buffers "running_mean" [C], "running_var" [C] and
/// "num_batches_tracked" (int64, 0-d), parameters "weight" and "bias" [C].
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  std::int64_t num_features() const { return features_; }

 protected:
  /// `ranks`: the input ranks the layer takes ({2, 3} for 1-d, {4} for 2-d).
  BatchNorm(std::string kind, std::int64_t num_features, BatchNormOptions opts, std::vector<int> ranks);

 private:
  std::string kind_;
  std::int64_t features_;
  BatchNormOptions opts_;
  std::vector<int> ranks_;
  Tensor weight_, bias_, running_mean_, running_var_, batches_;
};
/// Over [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(std::int64_t num_features, BatchNormOptions opts = {})
      : BatchNorm("BatchNorm1d", num_features, opts, {2, 3}) {}
};
/// Over [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(std::int64_t num_features, BatchNormOptions opts = {})
      : BatchNorm("BatchNorm2d", num_features, opts, {4}) {}
};

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;  // weight (ones) and bias (zeros) of the normalized shape
  Dtype dtype = f32;
};

/// Normalization of each sample over its trailing axes `normalized_shape` (Ba et al. 2016), as
/// torch.nn.LayerNorm; the same in training and evaluation.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, LayerNormOptions opts = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Shape shape_;
  LayerNormOptions opts_;
  Tensor weight_, bias_;
};

struct GroupNormOptions {
  double eps = 1e-5;
  bool affine = true;  // weight (ones) and bias (zeros) per channel
  Dtype dtype = f32;
};

/// Normalization of each sample over groups of channels (Wu & He 2018), as torch.nn.GroupNorm;
/// input [N, C, …] with C = num_channels, a multiple of num_groups.
class GroupNorm : public Module {
 public:
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels, GroupNormOptions opts = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  std::int64_t groups_, channels_;
  GroupNormOptions opts_;
  Tensor weight_, bias_;
};

struct EmbeddingOptions {
  Dtype dtype = f32;
};

/// A lookup table of `num_embeddings` vectors of `embedding_dim` entries, drawn N(0, 1) as
/// torch.nn.Embedding: int64 indices of any shape → [..., embedding_dim]. An index repeated in a
/// batch adds up its rows' gradients; an index out of range is an error naming it.
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim, EmbeddingOptions opts = {},
            Generator& gen = default_generator());
  Tensor forward(const Tensor& indices) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }

 private:
  std::int64_t num_, dim_;
  Tensor weight_;
};

}  // namespace nabla::nn
