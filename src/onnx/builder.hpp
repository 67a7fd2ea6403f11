// src/onnx/builder.hpp — the ONNX graph being written from two traces of one forward (internal).
//
// Trace a runs at the example's batch size, trace b at one more; they must call the same ops. Each
// traced op is written by its mapping (src/onnx/ops_map.cpp) through the Builder: names of its
// inputs (a parameter's state-dict name, a graph input, an earlier op's output, or a constant made
// an initializer), fresh names for its outputs, nodes, constants.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "protobuf.hpp"
#include "trace.hpp"

namespace nabla::onnx::detail {

/// One attribute of an ONNX node.
struct NodeAttr {
  enum Kind { kInt, kFloat, kInts, kFloats } kind;
  std::string name;
  std::int64_t i = 0;
  double f = 0;
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
};
inline NodeAttr int_attr(std::string name, std::int64_t v) { return {NodeAttr::kInt, std::move(name), v, 0, {}, {}}; }
inline NodeAttr float_attr(std::string name, double v) { return {NodeAttr::kFloat, std::move(name), 0, v, {}, {}}; }
inline NodeAttr ints_attr(std::string name, std::vector<std::int64_t> v) { return {NodeAttr::kInts, std::move(name), 0, 0, std::move(v), {}}; }

/// ONNX's TensorProto.DataType of a nabla dtype.
int onnx_dtype(Dtype d);

class Builder {
 public:
  /// The op being written: its call in trace a and in trace b.
  const TracedOp* a = nullptr;
  const TracedOp* b = nullptr;

  /// The name of input i of the current op.
  std::string in(std::size_t i);
  /// Names output k of the current op (a fresh name) and returns it.
  std::string out(std::size_t k = 0);
  /// Names fresh() must not return: the graph's inputs, outputs and parameters.
  std::unordered_set<std::string> taken;
  /// A fresh name for an intermediate value.
  std::string fresh(std::string_view hint);
  /// Appends a node.
  void node(std::string_view op_type, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
            const std::vector<NodeAttr>& attrs = {});
  /// An initializer holding int64 values (a shape, axes), 1-d, or a scalar when `scalar`.
  std::string const_i64(const std::vector<std::int64_t>& v, bool scalar = false);
  /// An initializer holding one number in dtype d (a scalar).
  std::string const_scalar(double v, Dtype d);
  /// An initializer holding t's values under `name`.
  void initializer(const std::string& name, const Tensor& t);
  /// Which dims of output k differ between the traces (the batch's dims).
  std::vector<bool> batch_dims_of_output(std::size_t k = 0) const;
  std::vector<bool> batch_dims_of_input(std::size_t i) const;

  /// A traced tensor's name, set for graph inputs, parameters, and op outputs.
  std::unordered_map<const void*, std::string> names;
  /// Parameters and buffers, written as initializers when an op first uses them.
  std::unordered_map<const void*, Tensor> unwritten;
  std::vector<pb::Message> nodes, initializers;

 private:
  std::map<std::string, int> counts_;
};

/// Writes one traced op (an ExportError naming it if it has no mapping).
void write_op(Builder& g);

}  // namespace nabla::onnx::detail
