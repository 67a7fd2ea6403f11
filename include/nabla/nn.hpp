// nabla/nn.hpp — the book's modules and the containers: Linear, activations, Dropout, Flatten,
// Reshape, Sequential, ModuleList, Residual, Identity. Module and the initializers are in
// nabla/nn_module.hpp; the layers by kind in nabla/nn_conv.hpp (convolution and pooling, included
// here), nabla/nn_layers.hpp (normalization, embedding) and nabla/nn_recurrent.hpp.
//
//   nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::standard_normal}, gen), nn::Sigmoid(),
//                      nn::Linear(30, 10, {.weight = nn::Init::standard_normal}, gen), nn::Sigmoid()};
//   Tensor a = net(x);                       // x is [batch, 784]: rows are examples
//
// Weights follow the book's layout, [n_out, n_in], and Linear computes x wᵀ + b.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/nn_conv.hpp"
#include "nabla/nn_module.hpp"
#include "nabla/ops.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

struct LinearOptions {
  Init weight = Init::scaled_normal;
  Init bias = Init::standard_normal;  // the book's choice
  bool has_bias = true;
  Dtype dtype = f32;
};

/// y = x wᵀ + b, with w [n_out, n_in] and b [n_out]; x is [batch, n_in].
class Linear : public Module {
 public:
  Linear(std::int64_t n_in, std::int64_t n_out, LinearOptions opts = {}, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }
  /// Undefined when the layer has no bias.
  const Tensor& bias() const { return bias_; }
  std::int64_t n_in() const { return n_in_; }
  std::int64_t n_out() const { return n_out_; }

 private:
  std::int64_t n_in_, n_out_;
  Tensor weight_, bias_;
};

/// An elementwise activation as a module.
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Sigmoid"; }
};
class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Tanh"; }
};
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "ReLU"; }
};
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double slope = 0.01) : slope_(slope) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  double slope() const { return slope_; }

 private:
  double slope_;
};
/// Softmax over the last axis (for use with nll_loss after log, or for probabilities).
class Softmax : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Softmax"; }
};

/// Inverted dropout: in training, each element is zeroed with probability p and the rest scaled
/// by 1/(1 − p), so evaluation (the identity) needs no rescaling. Draws from its own generator.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  /// The generator the masks come from (reseed it to reproduce a run).
  Generator& generator() { return gen_; }

 private:
  double p_;
  Generator gen_;
};

/// [N, ...] → [N, product of the rest].
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Flatten"; }
};

/// [N, ...] → [N, shape...]: e.g. Reshape({1, 28, 28}) turns rows of 784 pixels into images.
class Reshape : public Module {
 public:
  explicit Reshape(Shape shape) : shape_(shape) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  Shape shape_;
};

/// Modules applied in order; children are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  /// Takes modules by value: Sequential{nn::Linear(784, 30), nn::Sigmoid()}.
  template <class... Ms>
    requires(sizeof...(Ms) > 0 && (std::derived_from<std::remove_cvref_t<Ms>, Module> && ...))
  explicit Sequential(Ms&&... ms) {
    (push_back(std::make_shared<std::remove_cvref_t<Ms>>(std::forward<Ms>(ms))), ...);
  }
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  std::size_t size() const { return children().size(); }
  /// Module i; an index past the end is a ValueError naming it and the size.
  Module& operator[](std::size_t i) const;
};

/// x itself (a placeholder, or the shortcut of a Residual).
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string describe() const override { return "Identity"; }
};

/// Modules held in order and registered ("0", "1", ...) so their parameters and buffers are the
/// list's, but not called in a chain: model code indexes them (torch.nn.ModuleList). Calling the
/// list itself is an error.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  template <class... Ms>
    requires(sizeof...(Ms) > 0 && (std::derived_from<std::remove_cvref_t<Ms>, Module> && ...))
  explicit ModuleList(Ms&&... ms) {
    (push_back(std::make_shared<std::remove_cvref_t<Ms>>(std::forward<Ms>(ms))), ...);
  }
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  std::size_t size() const { return children().size(); }
  /// The i-th module; i out of range is a ValueError.
  Module& operator[](std::size_t i) const;
};

/// body(x) + shortcut(x), the shortcut the identity unless given (He et al. 2016's residual
/// block); children "body" and "shortcut". The two outputs must have one shape.
class Residual : public Module {
 public:
  explicit Residual(std::shared_ptr<Module> body, std::shared_ptr<Module> shortcut = nullptr);
  template <class B>
    requires std::derived_from<std::remove_cvref_t<B>, Module>
  explicit Residual(B&& body) : Residual(std::make_shared<std::remove_cvref_t<B>>(std::forward<B>(body))) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::shared_ptr<Module> body_, shortcut_;
};

}  // namespace nabla::nn
