// src/nn/modules.cpp — Module bookkeeping (parameters, buffers, state, dtype), Linear, activation
// modules, Dropout, Flatten, Reshape, Sequential, ModuleList, Residual.
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "nabla/autocast.hpp"
#include "nabla/inspect.hpp"
#include "nabla/nn.hpp"
#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"
#include "../tensor_impl.hpp"

namespace nabla::nn {

// ---- Module --------------------------------------------------------------------------------------

void Module::check_new_name(const std::string& name) const {
  for (const auto& [n, p] : params_) {
    if (n == name) throw ValueError(fmt::format("{}: '{}' is registered twice", describe(), name));
  }
  for (const auto& [n, b] : buffers_) {
    if (n == name) throw ValueError(fmt::format("{}: '{}' is registered twice", describe(), name));
  }
}

Tensor Module::register_parameter(std::string name, Tensor t, bool decay) {
  check_new_name(name);
  t.requires_grad(true);
  params_.emplace_back(name, Param{name, t, decay});
  return t;
}

Tensor Module::register_buffer(std::string name, Tensor t) {
  check_new_name(name);
  if (!t.defined()) throw ValueError(fmt::format("{}: buffer '{}' is undefined", describe(), name));
  buffers_.emplace_back(std::move(name), t);
  return t;
}

void Module::register_module(std::string name, std::shared_ptr<Module> m) {
  if (!m) throw ValueError(fmt::format("register_module: module '{}' is null", name));
  m->scope_name_ = name;
  children_.emplace_back(std::move(name), std::move(m));
}

void Module::collect(const std::string& prefix, std::vector<Param>& out) const {
  for (const auto& [name, p] : params_) out.push_back({prefix + name, p.tensor, p.decay});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<Param> Module::parameters() const {
  std::vector<Param> out;
  collect("", out);
  return out;
}

std::int64_t Module::parameter_count() const {
  std::int64_t n = 0;
  for (const Param& p : parameters()) n += p.tensor.numel();
  return n;
}

void Module::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) const {
  for (const auto& [name, b] : buffers_) out.push_back({prefix + name, b});
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

std::vector<Buffer> Module::buffers() const {
  std::vector<Buffer> out;
  collect_buffers("", out);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

std::map<std::string, Tensor> Module::state() const {
  std::map<std::string, Tensor> out;
  for (const Param& p : parameters()) out.emplace(p.name, p.tensor);
  for (const Buffer& b : buffers()) out.emplace(b.name, b.tensor);
  return out;
}

void Module::load_state(const std::map<std::string, Tensor>& state) {
  struct Entry {
    std::string name;
    Tensor tensor;
    const char* kind;
  };
  std::vector<Entry> entries;
  for (const Param& p : parameters()) entries.push_back({p.name, p.tensor, "parameter"});
  for (const Buffer& b : buffers()) entries.push_back({b.name, b.tensor, "buffer"});
  // Check everything first, so that a bad state changes nothing.
  std::set<std::string> known;
  for (const Entry& e : entries) {
    known.insert(e.name);
    auto it = state.find(e.name);
    if (it == state.end()) throw ValueError(fmt::format("load_state: {} '{}' is missing", e.kind, e.name));
    const Tensor& v = it->second;
    if (!v.defined() || v.shape() != e.tensor.shape() || v.dtype() != e.tensor.dtype()) {
      throw ValueError(fmt::format("load_state: '{}' is {} {}, the model has {} {}", e.name,
                                   v.defined() ? std::string(dtype_name(v.dtype())) : "undefined",
                                   v.defined() ? to_string(v.shape()) : "", e.tensor.dtype(), e.tensor.shape()));
    }
  }
  for (const auto& [name, v] : state) {
    if (!known.contains(name)) {
      throw ValueError(fmt::format("load_state: '{}' is not a parameter or buffer of this model", name));
    }
  }
  NoGradGuard no_grad;
  for (const Entry& e : entries) {
    Tensor t = e.tensor;
    t.copy_(state.at(e.name));
  }
}

Module::IncompatibleKeys Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::map<std::string, Tensor> own;  // parameters and buffers by name (sorted)
  for (const Param& p : parameters()) own.emplace(p.name, p.tensor);
  for (const Buffer& b : buffers()) own.emplace(b.name, b.tensor);
  IncompatibleKeys keys;
  for (const auto& [name, t] : own) {
    if (!state.contains(name)) keys.missing_keys.push_back(name);
  }
  for (const auto& [name, v] : state) {
    const auto it = own.find(name);
    if (it == own.end()) {
      keys.unexpected_keys.push_back(name);
      continue;
    }
    if (!v.defined()) throw ValueError(fmt::format("load_state_dict: {}: '{}' is an undefined tensor", describe(), name));
    if (v.shape() != it->second.shape()) {
      throw ShapeError(fmt::format("load_state_dict: {}: size mismatch for '{}': the state has {} {}, the model {} {}",
                                   describe(), name, v.dtype(), v.shape(), it->second.dtype(), it->second.shape()));
    }
  }
  if (strict && (!keys.missing_keys.empty() || !keys.unexpected_keys.empty())) {
    auto list = [](const std::vector<std::string>& names) {
      std::string out;
      for (std::size_t i = 0; i < names.size() && i < 10; ++i) out += fmt::format("{}'{}'", i == 0 ? "" : ", ", names[i]);
      if (names.size() > 10) out += fmt::format(" and {} more", names.size() - 10);
      return out;
    };
    std::string what;
    if (!keys.missing_keys.empty()) what += fmt::format("{} missing key(s): {}", keys.missing_keys.size(), list(keys.missing_keys));
    if (!keys.unexpected_keys.empty()) {
      what += fmt::format("{}{} unexpected key(s): {}", what.empty() ? "" : "; ", keys.unexpected_keys.size(), list(keys.unexpected_keys));
    }
    throw ValueError(fmt::format("load_state_dict: {}: {} (strict = false loads the keys both have)", describe(), what));
  }
  NoGradGuard no_grad;
  for (const auto& [name, v] : state) {
    const auto it = own.find(name);
    if (it != own.end()) it->second.copy_(v);  // handles: the module's own tensors; converts the dtype
  }
  return keys;
}

void Module::to(Dtype dtype) {
  if (!is_floating(dtype)) throw ValueError(fmt::format("{}: to({}): expected float32 or float64", describe(), dtype));
  auto convert = [dtype](const Tensor& t) {
    if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
    const Tensor c = t.detach().to(dtype);
    detail::TensorImpl& impl = *t.impl();
    // A graph that saved the old values sees a newer version, not the new bytes as the old dtype.
    c.impl()->storage->version = impl.storage->version + 1;
    impl.storage = c.impl()->storage;
    impl.dtype = dtype;
    impl.grad = Tensor{};
  };
  for (const Param& p : parameters()) convert(p.tensor);
  for (const Buffer& b : buffers()) convert(b.tensor);
}

// ---- initializers ------------------------------------------------------------------------------------

void init_(Tensor& t, Init init, std::int64_t n_in, std::int64_t n_out, Generator& gen) {
  Tensor v;
  switch (init) {
    case Init::uniform_fan_in: {
      const double r = 1 / std::sqrt(double(n_in));
      v = uniform(t.shape(), -r, r, t.dtype(), gen);
      break;
    }
    case Init::standard_normal: v = randn(t.shape(), t.dtype(), gen); break;
    case Init::scaled_normal: v = randn(t.shape(), t.dtype(), gen, 0, 1 / std::sqrt(double(n_in))); break;
    case Init::he_normal: v = randn(t.shape(), t.dtype(), gen, 0, std::sqrt(2 / double(n_in))); break;
    case Init::xavier_uniform: {
      const double r = std::sqrt(6 / double(n_in + n_out));
      v = uniform(t.shape(), -r, r, t.dtype(), gen);
      break;
    }
    case Init::zeros: v = zeros(t.shape(), t.dtype()); break;
  }
  NoGradGuard no_grad;
  t.copy_(v);
}

// ---- Linear ------------------------------------------------------------------------------------------

Linear::Linear(std::int64_t n_in, std::int64_t n_out, LinearOptions opts, Generator& gen) : n_in_(n_in), n_out_(n_out) {
  if (n_in <= 0 || n_out <= 0) {
    throw ValueError(fmt::format("Linear: sizes must be positive, got n_in {} and n_out {}", n_in, n_out));
  }
  if (!is_floating(opts.dtype)) throw ValueError("Linear: dtype must be float32 or float64");
  checked_bytes("Linear", Shape{n_out, n_in}, opts.dtype);  // the weight, before anything is made
  const OpScope scope("Linear");
  Tensor w = empty({n_out, n_in}, opts.dtype);
  init_(w, opts.weight, n_in, n_out, gen);
  weight_ = register_parameter("weight", w, true);
  if (opts.has_bias) {
    Tensor b = empty({n_out}, opts.dtype);
    init_(b, opts.bias, n_in, n_out, gen);
    bias_ = register_parameter("bias", b, false);
  }
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() != 2 || x.shape()[1] != n_in_) {
    throw ShapeError(fmt::format("{}: input is {}; expected [batch, {}]", describe(), x.shape(), n_in_));
  }
  if (x.dtype() != weight_.dtype() && !(autocast_enabled() && x.dtype() == Dtype::bf16)) {
    throw ValueError(fmt::format("{}: input is {} {}; the weights are {}; convert one with .to(dtype)", describe(), x.dtype(),
                                 x.shape(), weight_.dtype()));
  }
  Tensor z = matmul(x, weight_, {.trans_b = true});
  return bias_.defined() ? z + bias_ : z;
}

std::string Linear::describe() const { return fmt::format("Linear({}, {})", n_in_, n_out_); }

// ---- activations -------------------------------------------------------------------------------------

Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return leaky_relu(x, slope_); }
std::string LeakyReLU::describe() const { return fmt::format("LeakyReLU({})", slope_); }

// ---- shape ---------------------------------------------------------------------------------------------

Tensor Flatten::forward(const Tensor& x) { return flatten(x); }

Tensor Reshape::forward(const Tensor& x) {
  if (x.dim() == 0) {  // the first axis is the batch, kept; a 0-d tensor has none
    throw ShapeError(fmt::format("{}: expected input [N, …] with a batch axis, got a 0-d tensor", describe()));
  }
  Shape s{x.shape()[0]};
  for (std::int64_t d : shape_) s.push_back(d);
  return x.reshape(s);
}
std::string Reshape::describe() const { return fmt::format("Reshape({})", shape_); }

// ---- Sequential --------------------------------------------------------------------------------------

void Sequential::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(children().size()), std::move(m)); }

Tensor Module::operator()(const Tensor& x) {
  if (inspect::detail::anomaly_active()) [[unlikely]] {  // the module path, for anomaly messages
    Tensor y;
    run_scoped([&] { y = forward(x); });
    return y;
  }
  return forward(x);
}

void Module::run_scoped(const std::function<void()>& body) {
  if (inspect::detail::anomaly_active()) [[unlikely]] {
    const std::string label = dynamic_cast<const Sequential*>(this) != nullptr ? std::string("Sequential") : describe();
    inspect::ModuleScope scope(scope_name_.empty() ? label : fmt::format("[{}] {}", scope_name_, label));
    body();
    return;
  }
  body();
}

void ModuleList::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(children().size()), std::move(m)); }

Tensor ModuleList::forward(const Tensor&) {
  throw ValueError(fmt::format("{}: a ModuleList is not called; call its modules (list[i](x))", describe()));
}

Module& Sequential::operator[](std::size_t i) const {
  if (i >= size()) throw ValueError(fmt::format("Sequential: index {} is out of range for {} modules", i, size()));
  return *children()[i].second;
}

Module& ModuleList::operator[](std::size_t i) const {
  if (i >= size()) throw ValueError(fmt::format("ModuleList: index {} is out of range for {} modules", i, size()));
  return *children()[i].second;
}

std::string ModuleList::describe() const {
  std::string s = "ModuleList(";
  for (std::size_t i = 0; i < children().size(); ++i) s += (i ? ", " : "") + children()[i].second->describe();
  return s + ")";
}

Residual::Residual(std::shared_ptr<Module> body, std::shared_ptr<Module> shortcut)
    : body_(std::move(body)), shortcut_(shortcut ? std::move(shortcut) : std::make_shared<Identity>()) {
  register_module("body", body_);
  register_module("shortcut", shortcut_);
}

Tensor Residual::forward(const Tensor& x) {
  const Tensor a = (*body_)(x), b = (*shortcut_)(x);
  if (a.shape() != b.shape()) {
    throw ShapeError(fmt::format("{}: the body gives {} and the shortcut {} for input {}; they must match", describe(),
                                 a.shape(), b.shape(), x.shape()));
  }
  return a + b;
}

std::string Residual::describe() const {
  return fmt::format("Residual({}, shortcut {})", body_->describe(), shortcut_->describe());
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, m] : children()) h = (*m)(h);
  return h;
}

std::string Sequential::describe() const {
  std::string s = "Sequential(";
  for (std::size_t i = 0; i < children().size(); ++i) {
    s += (i ? ", " : "") + children()[i].second->describe();
  }
  return s + ")";
}

}  // namespace nabla::nn
