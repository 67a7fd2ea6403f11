// src/onnx/trace.hpp — the recorder onnx::export_model traces a forward with (internal).
#pragma once

#include <string>
#include <vector>

#include "nabla/detail/trace.hpp"
#include "nabla/tensor.hpp"

namespace nabla::onnx::detail {

/// One op call as the forward made it: inputs may be undefined (an optional bias).
struct TracedOp {
  std::string op;
  nabla::detail::TraceAttrs attrs;
  std::vector<Tensor> inputs, outputs;
};

/// Records the outermost ops called on this thread while alive (not nested: one at a time).
class Recorder {
 public:
  Recorder();
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;
  std::vector<TracedOp> ops;

 private:
  bool was_;
};

/// The attribute `name` of an op (an ExportError naming the op if it did not report it).
const nabla::detail::TraceAttr& attr(const TracedOp& op, std::string_view name);
std::int64_t attr_int(const TracedOp& op, std::string_view name);
double attr_float(const TracedOp& op, std::string_view name);

}  // namespace nabla::onnx::detail
