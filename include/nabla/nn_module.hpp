// nabla/nn_module.hpp — what every layer is made of: Module (named parameters, buffers and
// children, train/eval mode, state for checkpoints, dtype conversion), Param and Buffer as
// optimizers and checkpoints see them, and the initializers. The layers are declared by kind:
// nabla/nn.hpp (Linear, activations, Dropout, containers), nabla/nn_conv.hpp (convolution and
// pooling), nabla/nn_layers.hpp (normalization, embedding), nabla/nn_recurrent.hpp (RNN, LSTM, GRU).
//
// A Module owns named parameters (leaf tensors that require grad), named buffers (state that is
// not trained, such as batch norm's running statistics) and named child modules; parameters() and
// buffers() list them with dotted names ("0.weight", "1.running_mean"), and state() holds both, so
// checkpoints carry buffers too. Weights follow the book's layout, [n_out, n_in].
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::nn {

/// A parameter as optimizers and checkpoints see it.
struct Param {
  std::string name;   // dotted path: "0.weight"
  Tensor tensor;      // the leaf itself (a handle: updates change the module)
  bool decay = true;  // whether the book's L1/L2 terms apply (weights yes, biases no); torch's weight_decay ignores it
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
  /// Runs body() with this module on the anomaly module path, as operator()(x) runs forward(x). The
  /// call operators of modules whose forward takes several inputs and options use it
  /// (nn::MultiheadAttention's operator()(query, key, value, options)), so those calls keep the path.
  void run_scoped(const std::function<void()>& body);
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

  /// Clears every parameter's gradient (torch.nn.Module.zero_grad): drops it when `set_to_none`
  /// (PyTorch 2's default), else fills it with zeros.
  void zero_grad(bool set_to_none = true);

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

/// How to draw initial values. Layers default to PyTorch's: uniform_fan_in for Linear and
/// convolution weights and biases. The book's programs name theirs (standard_normal, scaled_normal).
enum class Init {
  uniform_fan_in,   // U(±1/√n_in): PyTorch's default (kaiming_uniform_(a = √5) for weights; biases)
  standard_normal,  // N(0, 1): network.py's weights and biases
  scaled_normal,    // N(0, 1/n_in): network2.py's weights (book ch. 3)
  xavier_uniform,   // U(±√(6/(n_in + n_out))): Glorot & Bengio (2010)
  he_normal,        // N(0, 2/n_in): He et al. (2015), for ReLU layers
  zeros,
};

/// Fills t (shape [n_out, n_in, ...] or [n_out]) in place; n_in and n_out are the fan-in and fan-out.
void init_(Tensor& t, Init init, std::int64_t n_in, std::int64_t n_out, Generator& gen);

}  // namespace nabla::nn
