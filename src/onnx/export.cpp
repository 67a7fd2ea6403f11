// src/onnx/export.cpp — onnx::export_model: two traces of the forward, the graph, the ModelProto.
#include <fmt/format.h>

#include <cstring>
#include <unordered_set>

#include "builder.hpp"
#include "nabla/io.hpp"
#include "nabla/onnx.hpp"
#include "nabla/ops.hpp"

namespace nabla::onnx {
namespace detail {
namespace {

constexpr std::int64_t kIrVersion = 8;  // ONNX 1.13+: what opset 18 needs
constexpr std::int64_t kOpset = 18;

const void* id(const Tensor& t) { return t.impl().get(); }

pb::Message tensor_proto(const std::string& name, const Tensor& t, bool scalar = false) {
  pb::Message m;
  if (!scalar) {
    for (std::int64_t d : t.shape()) m.int64(1, d);
  }
  m.int64(2, onnx_dtype(t.dtype()));
  m.bytes(8, name);
  std::string raw;
  switch (t.dtype()) {
    case Dtype::f32: raw.assign(reinterpret_cast<const char*>(t.data<float>()), std::size_t(t.numel()) * 4); break;
    case Dtype::f64: raw.assign(reinterpret_cast<const char*>(t.data<double>()), std::size_t(t.numel()) * 8); break;
    case Dtype::i64: raw.assign(reinterpret_cast<const char*>(t.data<std::int64_t>()), std::size_t(t.numel()) * 8); break;
    case Dtype::b8:
      for (std::int64_t i = 0; i < t.numel(); ++i) raw.push_back(t.data<bool>()[i] ? 1 : 0);
      break;
    case Dtype::bf16: raw.assign(reinterpret_cast<const char*>(t.data<bfloat16>()), std::size_t(t.numel()) * 2); break;
  }
  m.bytes(9, raw);
  return m;
}

// ValueInfoProto: a name, an element type and a shape whose batch dims are "batch".
pb::Message value_info(const std::string& name, const Tensor& a, const Tensor& b) {
  pb::Message shape;
  for (int d = 0; d < a.dim(); ++d) {
    pb::Message dim;
    if (a.shape()[d] != b.shape()[d]) {
      dim.bytes(2, "batch");
    } else {
      dim.int64(1, a.shape()[d]);
    }
    shape.message(1, dim);
  }
  pb::Message tensor;
  tensor.int64(1, onnx_dtype(a.dtype()));
  tensor.message(2, shape);
  pb::Message type;
  type.message(1, tensor);
  pb::Message vi;
  vi.bytes(1, name);
  vi.message(2, type);
  return vi;
}

// The inputs at one more example: each input grown by one along its batch dim.
std::vector<Tensor> grown(const std::vector<Tensor>& xs, const std::vector<std::int64_t>& batch_dims) {
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const std::int64_t d = batch_dims[i];
    out.push_back(d < 0 ? xs[i] : cat({xs[i], narrow(xs[i], int(d), 0, 1)}, int(d)));
  }
  return out;
}

std::string name_at(const std::vector<std::string>& names, std::size_t i, const char* base) {
  if (i < names.size() && !names[i].empty()) return names[i];
  return i == 0 ? std::string(base) : fmt::format("{}_{}", base, i);
}

}  // namespace

int onnx_dtype(Dtype d) {
  switch (d) {
    case Dtype::f32: return 1;
    case Dtype::f64: return 11;
    case Dtype::i64: return 7;
    case Dtype::b8: return 9;
    case Dtype::bf16: return 16;  // BFLOAT16
  }
  return 0;
}

std::string Builder::fresh(std::string_view hint) {
  for (;;) {
    const int n = counts_[std::string(hint)]++;
    std::string name = n == 0 ? std::string(hint) : fmt::format("{}_{}", hint, n);
    if (taken.insert(name).second) return name;
  }
}

std::string Builder::in(std::size_t i) {
  if (i >= a->inputs.size() || !a->inputs[i].defined()) {
    throw ExportError(fmt::format("onnx export: op {} has no input {}", a->op, i));
  }
  const Tensor& t = a->inputs[i];
  if (auto it = names.find(id(t)); it != names.end()) {
    if (auto p = unwritten.find(id(t)); p != unwritten.end()) {
      initializer(it->second, p->second);
      unwritten.erase(p);
    }
    return it->second;
  }
  // A tensor the forward made outside the traced ops (a mask, a zero state): a constant, unless it
  // follows the batch, which a constant cannot.
  const Tensor& tb = b->inputs[i];
  if (tb.shape() != t.shape()) {
    throw ExportError(fmt::format("onnx export: input {} of op {} is a tensor made outside the traced ops whose shape follows "
                                  "the batch ({} here, {} at one more example); it cannot be a constant of the graph",
                                  i, a->op, t.shape(), tb.shape()));
  }
  std::string name = fresh("const");
  initializer(name, t);
  names[id(t)] = name;
  return name;
}

std::string Builder::out(std::size_t k) {
  std::string name = fresh(a->op);
  names[id(a->outputs.at(k))] = name;
  return name;
}

void Builder::node(std::string_view op_type, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                   const std::vector<NodeAttr>& attrs) {
  pb::Message n;
  for (const auto& s : inputs) n.bytes(1, s);
  for (const auto& s : outputs) n.bytes(2, s);
  n.bytes(3, fresh(fmt::format("{}_node", op_type)));
  n.bytes(4, op_type);
  for (const NodeAttr& at : attrs) {
    pb::Message m;
    m.bytes(1, at.name);
    switch (at.kind) {
      case NodeAttr::kInt: m.int64(3, at.i); m.int64(20, 2); break;
      case NodeAttr::kFloat: m.float32(2, float(at.f)); m.int64(20, 1); break;
      case NodeAttr::kInts: for (auto v : at.ints) m.int64(8, v); m.int64(20, 7); break;
      case NodeAttr::kFloats: for (auto v : at.floats) m.float32(7, float(v)); m.int64(20, 6); break;
    }
    n.message(5, m);
  }
  nodes.push_back(std::move(n));
}

std::string Builder::const_i64(const std::vector<std::int64_t>& v, bool scalar) {
  std::string name = fresh("const");
  initializers.push_back(tensor_proto(name, from_vector(std::span<const std::int64_t>(v), {std::int64_t(v.size())}), scalar));
  return name;
}

std::string Builder::const_scalar(double v, Dtype d) {
  std::string name = fresh("const");
  Tensor t = full({}, v, d);
  initializers.push_back(tensor_proto(name, t, true));
  return name;
}

void Builder::initializer(const std::string& name, const Tensor& t) { initializers.push_back(tensor_proto(name, t)); }

std::vector<bool> Builder::batch_dims_of_output(std::size_t k) const {
  const Shape& sa = a->outputs.at(k).shape();
  const Shape& sb = b->outputs.at(k).shape();
  std::vector<bool> v;
  for (int d = 0; d < sa.rank(); ++d) v.push_back(sa[d] != sb[d]);
  return v;
}
std::vector<bool> Builder::batch_dims_of_input(std::size_t i) const {
  const Shape& sa = a->inputs.at(i).shape();
  const Shape& sb = b->inputs.at(i).shape();
  std::vector<bool> v;
  for (int d = 0; d < sa.rank(); ++d) v.push_back(sa[d] != sb[d]);
  return v;
}

}  // namespace detail

std::string export_bytes(const nn::Module& module, const Forward& forward, const std::vector<Tensor>& example_inputs,
                         const ExportOptions& options) {
  using namespace detail;
  if (example_inputs.empty()) throw ExportError("onnx::export_model: no example inputs");
  std::vector<std::int64_t> batch_dims = options.batch_dims;
  if (!batch_dims.empty() && batch_dims.size() != example_inputs.size()) {
    throw ExportError(fmt::format("onnx::export_model: {} batch_dims for {} inputs", batch_dims.size(), example_inputs.size()));
  }
  batch_dims.resize(example_inputs.size(), 0);
  for (std::size_t i = 0; i < example_inputs.size(); ++i) {
    const Tensor& x = example_inputs[i];
    if (!x.defined()) throw ExportError(fmt::format("onnx::export_model: example input {} is an undefined tensor", i));
    if (batch_dims[i] >= x.dim() || batch_dims[i] < -1 || (batch_dims[i] >= 0 && x.shape()[int(batch_dims[i])] < 1)) {
      throw ExportError(fmt::format("onnx::export_model: batch dim {} of example input {} {} is not one of its non-empty dims",
                                    batch_dims[i], i, x.shape()));
    }
  }
  if (module.is_training()) {
    throw ExportError("onnx::export_model: the module is in training mode (dropout would be random, batch norm would use the "
                      "batch's statistics); call module.eval() before exporting");
  }
  const NoGradGuard no_grad;
  const std::vector<Tensor> inputs_b = grown(example_inputs, batch_dims);
  Recorder ra;
  std::vector<Tensor> outs_a = forward(example_inputs);
  std::vector<TracedOp> ops_a = std::move(ra.ops);
  ra.ops.clear();
  std::vector<Tensor> outs_b = forward(inputs_b);
  std::vector<TracedOp> ops_b = std::move(ra.ops);
  if (outs_a.empty()) throw ExportError("onnx::export_model: the forward returned no tensors");
  if (ops_a.size() != ops_b.size() || outs_a.size() != outs_b.size()) {
    throw ExportError(fmt::format("onnx::export_model: the forward called {} ops at batch size n and {} at n + 1; "
                                  "it must take the same path at every batch size", ops_a.size(), ops_b.size()));
  }

  Builder g;
  pb::Message graph;
  std::unordered_set<std::string> input_names;
  std::vector<pb::Message> graph_inputs, graph_outputs;
  for (std::size_t k = 0; k < outs_a.size(); ++k) {
    const std::string name = name_at(options.output_names, k, "output");
    if (!g.taken.insert(name).second) throw ExportError(fmt::format("onnx::export_model: output name '{}' given twice", name));
  }
  for (std::size_t i = 0; i < example_inputs.size(); ++i) {
    const std::string name = name_at(options.input_names, i, "input");
    if (!input_names.insert(name).second) throw ExportError(fmt::format("onnx::export_model: input name '{}' given twice", name));
    if (!g.taken.insert(name).second) throw ExportError(fmt::format("onnx::export_model: input name '{}' is also an output's", name));
    g.names[example_inputs[i].impl().get()] = name;
    graph_inputs.push_back(value_info(name, example_inputs[i], inputs_b[i]));
  }
  for (const auto& [name, t] : module.state()) {
    if (g.names.contains(t.impl().get())) continue;
    if (!g.taken.insert(name).second) {
      throw ExportError(fmt::format("onnx::export_model: the parameter name '{}' is also an input's or an output's", name));
    }
    g.names[t.impl().get()] = name;
    g.unwritten[t.impl().get()] = t;
  }
  for (std::size_t k = 0; k < ops_a.size(); ++k) {
    if (ops_a[k].op != ops_b[k].op || ops_a[k].inputs.size() != ops_b[k].inputs.size() ||
        ops_a[k].outputs.size() != ops_b[k].outputs.size()) {
      throw ExportError(fmt::format("onnx::export_model: op {} is {} at batch size n and {} at n + 1; the forward must take the "
                                    "same path at every batch size", k, ops_a[k].op, ops_b[k].op));
    }
    g.a = &ops_a[k];
    g.b = &ops_b[k];
    write_op(g);
  }
  for (std::size_t k = 0; k < outs_a.size(); ++k) {
    const std::string name = name_at(options.output_names, k, "output");
    auto it = g.names.find(outs_a[k].impl().get());
    if (it == g.names.end()) throw ExportError(fmt::format("onnx::export_model: output {} is not computed from the inputs", k));
    g.node("Identity", {it->second}, {name});
    graph_outputs.push_back(value_info(name, outs_a[k], outs_b[k]));
  }
  for (const auto& n : g.nodes) graph.message(1, n);
  graph.bytes(2, options.graph_name);
  for (const auto& t : g.initializers) graph.message(5, t);
  for (const auto& v : graph_inputs) graph.message(11, v);
  for (const auto& v : graph_outputs) graph.message(12, v);

  pb::Message opset;
  opset.bytes(1, "");
  opset.int64(2, kOpset);
  pb::Message model;
  model.int64(1, kIrVersion);
  model.bytes(2, "nabla");
  model.bytes(3, "0.1");
  model.message(7, graph);
  model.message(8, opset);
  return model.str();
}

void export_model(const nn::Module& module, const Forward& forward, const std::vector<Tensor>& example_inputs,
                  const std::string& path, const ExportOptions& options) {
  const std::string bytes = export_bytes(module, forward, example_inputs, options);
  io::write_file_atomic(path, std::as_bytes(std::span(bytes.data(), bytes.size())));
}

void export_model(nn::Module& module, const std::vector<Tensor>& example_inputs, const std::string& path,
                  const ExportOptions& options) {
  if (example_inputs.size() != 1) {
    throw ExportError(fmt::format("onnx::export_model: a module's forward takes one input, got {}; pass a Forward for several",
                                  example_inputs.size()));
  }
  export_model(module, [&](const std::vector<Tensor>& xs) { return std::vector<Tensor>{module(xs[0])}; }, example_inputs,
               path, options);
}

}  // namespace nabla::onnx
