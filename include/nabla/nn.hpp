// nabla/nn.hpp — modules: Module, Linear, Sequential, ModuleList, Residual, activations, Dropout,
// convolution and pooling; initializers. Normalization, embedding and recurrent layers are in
// nabla/nn_layers.hpp.
//
//   nn::Sequential net{nn::Linear(784, 30, {.weight = nn::Init::standard_normal}, gen), nn::Sigmoid(),
//                      nn::Linear(30, 10, {.weight = nn::Init::standard_normal}, gen), nn::Sigmoid()};
//   Tensor a = net(x);                       // x is [batch, 784]: rows are examples
//
// A Module owns named parameters (leaf tensors that require grad), named buffers (state that is
// not trained, such as batch norm's running statistics) and named child modules; parameters() and
// buffers() list them with dotted names ("0.weight", "1.running_mean"), and state() holds both, so
// checkpoints carry buffers too. Weights follow the book's layout, [n_out, n_in], and Linear
// computes x wᵀ + b.
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/ops.hpp"
#include "nabla/tensor.hpp"

namespace nabla::nn {

/// A parameter as optimizers and checkpoints see it.
struct Param {
  std::string name;   // dotted path: "0.weight"
  Tensor tensor;      // the leaf itself (a handle: updates change the module)
  bool decay = true;  // whether L1/L2 regularization applies (weights yes, biases no, as in the book)
};

/// A buffer: module state that is saved and loaded but not trained (no gradient).
struct Buffer {
  std::string name;  // dotted path: "1.running_mean"
  Tensor tensor;     // a handle: the module updates it in place
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;

  virtual Tensor forward(const Tensor& x) = 0;
  /// forward(x); in anomaly mode (nabla/inspect.hpp) it also adds the module to the module path
  /// ("[2] Linear(30, 10)" for a child registered as "2").
  Tensor operator()(const Tensor& x);
  /// A short description ("Linear(784, 30)"), used by Sequential's description and by errors.
  virtual std::string describe() const = 0;

  /// Every parameter of this module and its children, in registration order.
  std::vector<Param> parameters() const;
  /// The number of trainable values: the elements of every parameter (buffers not counted).
  std::int64_t parameter_count() const;
  /// Every buffer of this module and its children, in registration order (not in parameters()).
  std::vector<Buffer> buffers() const;
  /// Direct children, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  /// Training mode (dropout active) or evaluation mode (dropout is the identity); recursive.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Parameter and buffer values by name (handles, not copies).
  std::map<std::string, Tensor> state() const;
  /// Copies values into the parameters and buffers. Every name must exist with the same shape and
  /// dtype and every parameter and buffer must be given; otherwise a ValueError naming the first
  /// fault, and nothing is changed.
  void load_state(const std::map<std::string, Tensor>& state);

  /// What load_state_dict found in the state that did not fit the model (torch's _IncompatibleKeys):
  /// the model's names the state lacks, and the state's names the model lacks, each sorted.
  struct IncompatibleKeys {
    std::vector<std::string> missing_keys, unexpected_keys;
  };
  /// PyTorch's load_state_dict: copies every entry of `state` whose name is a parameter or buffer of
  /// this model, converting its dtype to the model's (a float16 checkpoint read as float32 into a
  /// float64 model, as torch's copy_ does). A shape that differs is a ShapeError ("size mismatch for
  /// 'fc.weight': ...") in either mode. strict: names missing from the state or unknown to the model
  /// are a ValueError listing them (up to 10 of each, and their counts); not strict: they are
  /// returned, and only the names both have are copied. Everything is checked before the first copy,
  /// so a refused state changes nothing. Takes io::load_torch's and io::load_safetensors' results
  /// as they are.
  IncompatibleKeys load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  /// Converts every floating parameter and buffer to `dtype` (f32 or f64) in place, so handles
  /// held elsewhere (a layer's weight()) see the new values; gradients are dropped. Convert before
  /// making an optimizer: its buffers keep the old dtype.
  void to(Dtype dtype);

 protected:
  /// Registers a parameter (made a leaf that requires grad) and returns its handle.
  Tensor register_parameter(std::string name, Tensor t, bool decay);
  /// Registers a buffer (no gradient) and returns its handle.
  Tensor register_buffer(std::string name, Tensor t);
  void register_module(std::string name, std::shared_ptr<Module> m);

 private:
  void collect(const std::string& prefix, std::vector<Param>& out) const;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) const;
  void check_new_name(const std::string& name) const;

  std::vector<std::pair<std::string, Param>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::string scope_name_;  // its name in the module that registered it, for the anomaly module path
  bool training_ = true;
};

/// How to draw initial values.
enum class Init {
  standard_normal,  // N(0, 1): network.py's weights and biases
  scaled_normal,    // N(0, 1/n_in): network2.py's weights (book ch. 3)
  xavier_uniform,   // U(±√(6/(n_in + n_out))): Glorot & Bengio (2010)
  he_normal,        // N(0, 2/n_in): He et al. (2015), for ReLU layers
  zeros,
};

/// Fills t (shape [n_out, n_in, ...] or [n_out]) in place; n_in and n_out are the fan-in and fan-out.
void init_(Tensor& t, Init init, std::int64_t n_in, std::int64_t n_out, Generator& gen);

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

struct Conv2dOptions {
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t dilation = 1;
  std::int64_t groups = 1;            // in and out channels both multiples of it
  Init weight = Init::scaled_normal;  // N(0, 1/n_in), n_in = in_channels / groups × kernel area (book ch. 3, 6)
  Init bias = Init::standard_normal;
  bool has_bias = true;
  Dtype dtype = f32;
};

/// 2-d convolution of [N, C, H, W] inputs with `out_channels` filters of kernel×kernel (book ch. 6);
/// weight [F, C/groups, k, k], bias [F]. Dilation and groups as torch.nn.Conv2d (see nabla::conv2d).
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Conv2dOptions opts = {},
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  std::int64_t in_, out_, kernel_;
  nabla::Conv2dOptions conv_;
  Tensor weight_, bias_;
};

/// Pooling over kernel×kernel windows (stride = kernel unless given): max, mean, or the book's L2.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t kernel_, stride_;
};
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t kernel_, stride_;
};
class L2Pool2d : public Module {
 public:
  explicit L2Pool2d(std::int64_t kernel, std::int64_t stride = 0) : kernel_(kernel), stride_(stride) {}
  Tensor forward(const Tensor& x) override;
  std::string describe() const override;

 private:
  std::int64_t kernel_, stride_;
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
