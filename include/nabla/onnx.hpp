// nabla/onnx.hpp — exporting a model to ONNX (opset 18), for ONNX Runtime and any other runtime.
//
//   model.eval();
//   onnx::export_model(model, {example}, "model.onnx");
//
// The forward is traced on the example inputs: every op it calls (outside another op) is recorded
// with its attributes and tensors and written as ONNX nodes; parameters and buffers become
// initializers under their state-dict names ("0.weight"), any other tensor the forward uses is a
// constant. The trace runs twice, at the example's batch size and at one more, so a dimension
// that follows the batch is written as the symbolic "batch" (inputs, outputs, reshapes): the file
// runs at any batch size. The forward must take the same path at every batch size; an op with no
// ONNX mapping is an onnx::ExportError naming it. Dropout and batch norm follow the module's mode
// when traced: export in eval mode.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nabla/error.hpp"
#include "nabla/nn_module.hpp"
#include "nabla/tensor.hpp"

namespace nabla::onnx {

/// An op or a graph the exporter cannot write (no mapping, a batch-dependent constant, …).
class ExportError : public ValueError {
 public:
  using ValueError::ValueError;
};

struct ExportOptions {
  /// Graph input and output names; missing ones are "input", "input_1", … and "output", "output_1", ….
  std::vector<std::string> input_names = {}, output_names = {};
  /// Which dimension of each input is the batch (default 0 for every input; -1: none, a fixed shape).
  std::vector<std::int64_t> batch_dims = {};
  /// The graph's name in the file.
  std::string graph_name = "nabla";
};

/// A forward with several inputs and outputs (MultiheadAttention, a decoder layer).
using Forward = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

/// The ONNX model (the bytes of a ModelProto) of `forward` traced on `example_inputs`; `module`
/// names the parameters and buffers.
std::string export_bytes(const nn::Module& module, const Forward& forward, const std::vector<Tensor>& example_inputs,
                         const ExportOptions& options = {});

/// Writes `forward`'s model to `path` (atomically: a temporary file, then a rename).
void export_model(const nn::Module& module, const Forward& forward, const std::vector<Tensor>& example_inputs,
                  const std::string& path, const ExportOptions& options = {});
/// Writes module(x) for one input x.
void export_model(nn::Module& module, const std::vector<Tensor>& example_inputs, const std::string& path,
                  const ExportOptions& options = {});

}  // namespace nabla::onnx
