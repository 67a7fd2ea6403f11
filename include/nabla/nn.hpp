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
#include <functional>
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
  Init weight = Init::uniform_fan_in;  // PyTorch's default: U(±1/√n_in) (the book: scaled_normal)
  Init bias = Init::uniform_fan_in;    // PyTorch's default (the book: standard_normal)
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
/// Softmax along `dim` (torch.nn.Softmax(dim)); the last axis when not given.
class Softmax : public Module {
 public:
  explicit Softmax(int dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int dim() const { return dim_; }

 private:
  int dim_;
};
/// log softmax along `dim` (torch.nn.LogSoftmax(dim)), for nll_loss.
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int dim = -1) : dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  int dim() const { return dim_; }

 private:
  int dim_;
};

/// min(max(x, 0), 6) (torch.nn.ReLU6).
class ReLU6 : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "ReLU6"; }
};
/// x · ReLU6(x + 3) / 6 (torch.nn.Hardswish).
class Hardswish : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Hardswish"; }
};
/// x · tanh(softplus(x)) (torch.nn.Mish).
class Mish : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "Mish"; }
};
/// The Gaussian error linear unit, exact ("none") or its "tanh" approximation (torch.nn.GELU).
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::string approximate_;
};
/// x·sigmoid(x) (torch.nn.SiLU).
class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string describe() const override { return "SiLU"; }
};

struct PReLUOptions {
  std::int64_t num_parameters = 1;  // 1, or the number of channels (axis 1 of the input)
  double init = 0.25;
  Dtype dtype = f32;
};
/// max(0, x) + a·min(0, x) with a learned slope a (torch.nn.PReLU): one slope, or one per channel
/// (axis 1). Parameter "weight" [num_parameters].
class PReLU : public Module {
 public:
  explicit PReLU(PReLUOptions opts = {});
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }

 private:
  std::int64_t num_;
  Tensor weight_;
};

/// A function as a module (torch::nn::Functional): Functional([](const Tensor& x) { return relu(x); }).
class Functional : public Module {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> f, std::string name = "Functional");
  Tensor forward(const Tensor& x) override { return f_(x); }
  std::string describe() const override { return name_; }

 private:
  std::function<Tensor(const Tensor&)> f_;
  std::string name_;
};

/// Inverted dropout (torch.nn.Dropout): in training, each element is zeroed with probability p and
/// the rest scaled by 1/(1 − p), so evaluation (the identity) needs no rescaling. p in [0, 1]. The
/// masks come from default_generator() (reseeded by manual_seed), as PyTorch's, so two layers draw
/// different masks; given a seed, the layer draws from its own generator instead (the book's
/// programs do, to reproduce a run).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Dropout(double p, std::uint64_t seed);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  /// The generator the masks come from: the layer's own when seeded, else default_generator().
  Generator& generator() { return own_ ? *own_ : default_generator(); }
  double p() const { return p_; }

 private:
  double p_;
  std::unique_ptr<Generator> own_;
};

/// Channel dropout (torch.nn.Dropout2d): in training each channel of [N, C, H, W] (or [C, H, W])
/// is zeroed as a whole with probability p and the rest scaled by 1/(1 − p). Generators as Dropout.
class Dropout2d : public Module {
 public:
  explicit Dropout2d(double p = 0.5);
  Dropout2d(double p, std::uint64_t seed);
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  Generator& generator() { return own_ ? *own_ : default_generator(); }
  double p() const { return p_; }

 private:
  double p_;
  std::unique_ptr<Generator> own_;
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

namespace nabla {

/// Functional dropout (torch::dropout(x, p, train)): Dropout's mask when `training`, else x itself.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator& gen = default_generator());
/// Functional channel dropout (torch::dropout2d): as nn::Dropout2d.
Tensor dropout2d(const Tensor& x, double p = 0.5, bool training = true, Generator& gen = default_generator());
/// ReLU6, Hardswish, Mish and PReLU as functions (torch.nn.functional's names), composed of
/// differentiable ops (so any order of gradient works). prelu's weight has one entry, or one per
/// channel (axis 1 of x).
Tensor relu6(const Tensor& x);
Tensor hardswish(const Tensor& x);
Tensor mish(const Tensor& x);
Tensor prelu(const Tensor& x, const Tensor& weight);

}  // namespace nabla
